// A real failover under load (issue 15, "Fleet mode under failure"): a real
// PostgreSQL primary with a real synchronous standby, four real authctld
// agents on one fleet.conf naming both (target_session_attrs = read-write),
// and forked logins through the real libpam and the built pam_authctl.so
// (store=agent) -- right codes, wrong codes, replays of used codes, over four
// users -- while the primary is SIGKILLed (its walsender stopped first, so the
// standby lags) and the standby promoted, round after round, each round
// failing back onto the rebuilt old primary. The agents are never restarted.
//
// Each round must show (tests/support/failover_support.hpp counts them): no
// code accepted twice, no failure a login was told about missing from the
// row, no acceptance missing from the row, every row opening and parsing,
// only PAM_AUTHINFO_UNAVAIL while there is no primary, and never a wrong
// verdict (a right, never tried code refused; a wrong code or a replay let in).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "failover_support.hpp"

namespace authctl {
namespace {

using test::failover::FailoverRig;
using test::failover::Options;
using test::failover::RoundFigures;

TEST(Failover, SynchronousStandbyPromotedUnderLoadLosesNothingRoundAfterRound)
{
    ASSERT_EQ(::geteuid(), 0U) << "fleet tests run as root";
    const auto t0 = std::chrono::steady_clock::now();
    Options opt;
    opt.sync = true;
    std::unique_ptr<FailoverRig> rig;
    try {
        rig = std::make_unique<FailoverRig>(opt);
    } catch (const std::exception& e) {
        FAIL() << e.what();
    }
    constexpr int kRounds = 3;
    RoundFigures total;
    for (int r = 1; r <= kRounds; ++r) {
        const RoundFigures f = rig->round();
        std::printf("[ info ] round %d: %zu logins, %zu successes, %zu failures told, %zu unavailable (%zu with no "
                    "primary), promote %.0f ms, gap %.0f ms\n",
                    r, f.logins, f.successes, f.told_failures, f.unavail, f.gap_logins, f.promote_ms, f.gap_ms);
        for (std::size_t i = 0; i < f.problems.size() && i < 20; ++i) ADD_FAILURE() << "round " << r << ": " << f.problems[i];
        EXPECT_EQ(f.accepted_twice, 0U) << "round " << r;
        EXPECT_EQ(f.lost_failures, 0U) << "round " << r;
        EXPECT_EQ(f.lost_acceptances, 0U) << "round " << r;
        EXPECT_EQ(f.right_refused, 0U) << "round " << r;
        EXPECT_EQ(f.wrong_verdicts, 0U) << "round " << r;
        EXPECT_EQ(f.gap_verdicts, 0U) << "round " << r;
        EXPECT_EQ(f.bad_rows, 0U) << "round " << r;
        // The load was real on both sides of the failover, and the gap was seen.
        EXPECT_GT(f.successes, 10U) << "round " << r;
        EXPECT_GT(f.told_failures, 10U) << "round " << r;
        EXPECT_GT(f.gap_logins, 0U) << "round " << r << ": no login ran while there was no primary";
        EXPECT_GT(f.gap_ms, 0.0) << "round " << r << ": no verdict after the failover";
        EXPECT_TRUE(rig->agents_alive()) << "an agent died";
        if (HasFailure()) {
            std::printf("%s\n", rig->agent_logs().c_str());
            break;
        }
        total.logins += f.logins;
    }
    std::printf("[ info ] %d failovers, %zu logins, %.1f s\n", kRounds, total.logins,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace
}  // namespace authctl
