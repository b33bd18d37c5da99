// SPDX-License-Identifier: Apache-2.0
// Enrollment by invitation (issue 17) with many processes at once, as
// parallel ssh logins of one invited user are: each draws its own offer and
// confirms it with its own right code, and exactly one is enrolled (the
// others are superseded); SIGKILL at any moment leaves the invitation or the
// confirmed enrollment, never a secret stored without confirmation.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <random>

#include "authctl/invitation.hpp"
#include "authctl/otp.hpp"
#include "test_support.hpp"

namespace authctl {
namespace {

constexpr std::int64_t T0 = 1700000010;
constexpr int kError = 10;
constexpr int kNoOffer = 11;

class InviteRace : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "the store requires root-owned files; run as root";
        dir_ = tmp_ / "state";
        auto s = UserStore::open_or_create(dir_);
        ASSERT_TRUE(s) << s.error().message();
    }

    UserStore store() const { return std::move(UserStore::open(dir_).value()); }

    void invite(const std::string& user)
    {
        InviteRequest req;
        req.expires = T0 + 3600;
        req.grant_groups = {"wheel"};
        auto r = invite_user(store(), user, req, T0);
        ASSERT_TRUE(r) << r.error().message();
    }

    // A login's whole enrollment: its own offer, confirmed with its own right code.
    static int enroll_at_login(const UserStore& s, const std::string& user)
    {
        const LoginContext ctx{user, false, "192.0.2.9", T0, "sshd", 1000};
        Options opts;
        auto offer = offer_invited_enrollment(s, ctx, opts);
        if (!offer) return kError;
        if (!*offer) return kNoOffer;
        const Enrollment& e = (*offer)->pending.enrollment;
        auto v = hotp_value(e.secret, totp_step(T0, e.period), e.algo, e.digits);
        if (!v) return kError;
        auto r = confirm_invited_enrollment(s, ctx, opts, **offer, format_code(*v, e.digits));
        if (!r) return kError;
        return static_cast<int>(r->outcome);
    }

    // Forks n children released together, each running fn in a fresh store handle.
    std::vector<pid_t> start(int n, const std::function<int(const UserStore&)>& fn)
    {
        int gate[2];
        EXPECT_EQ(::pipe(gate), 0);
        std::vector<pid_t> pids;
        for (int i = 0; i < n; ++i) {
            const pid_t pid = ::fork();
            if (pid == 0) {
                ::close(gate[1]);
                char c;
                while (::read(gate[0], &c, 1) < 0 && errno == EINTR) {
                }
                auto s = UserStore::open(dir_);
                ::_exit(s ? fn(*s) : kError);
            }
            pids.push_back(pid);
        }
        ::close(gate[0]);
        ::close(gate[1]);
        return pids;
    }

    static std::vector<int> wait_all(const std::vector<pid_t>& pids)
    {
        std::vector<int> codes;
        for (pid_t pid : pids) {
            int ws = 0;
            ::waitpid(pid, &ws, 0);
            codes.push_back(WIFEXITED(ws) ? WEXITSTATUS(ws) : 100 + WTERMSIG(ws));
        }
        return codes;
    }

    test::TempDir tmp_;
    std::string dir_;
};

constexpr int kEnrolled = static_cast<int>(InviteConfirmResult::Outcome::enrolled);
constexpr int kSuperseded = static_cast<int>(InviteConfirmResult::Outcome::superseded);

TEST_F(InviteRace, SixteenParallelLoginsOfOneInvitedUserEnrollExactlyOnce)
{
    invite("alice");
    const auto codes = wait_all(start(16, [](const UserStore& s) { return enroll_at_login(s, "alice"); }));
    std::map<int, int> m;
    for (int c : codes) ++m[c];
    EXPECT_EQ(m[kEnrolled], 1);
    // The others were offered before or after the winner wrote: superseded, or no offer at all.
    EXPECT_EQ(m[kSuperseded] + m[kNoOffer], 15);
    EXPECT_EQ(m.count(kError), 0U);
    auto rec = store().load("alice");
    ASSERT_TRUE(rec && *rec);
    ASSERT_TRUE((*rec)->enrollment);
    EXPECT_TRUE((*rec)->enrollment->confirmed);
    EXPECT_FALSE((*rec)->invitation);
    EXPECT_EQ((*rec)->tally.failures, 0U);  // a superseded confirmation is not a failure
    EXPECT_EQ((*rec)->granted_groups, std::vector<std::string>{"wheel"});
}

TEST_F(InviteRace, SigkillDuringEnrollmentLeavesTheInvitationOrTheConfirmedEnrollment)
{
    std::mt19937 rng(20261130);
    const int rounds = 40;
    int killed = 0, enrolled = 0, still_invited = 0;
    for (int round = 0; round < rounds; ++round) {
        const std::string user = "u" + std::to_string(round);
        invite(user);
        auto pids = start(4, [user](const UserStore& s) {
            for (;;) enroll_at_login(s, user);  // until killed
            return 0;
        });
        // An enrollment costs tens of milliseconds (ten recovery codes through
        // PBKDF2): kills before, during and after it.
        timespec pause{0, 5000000L + static_cast<long>(rng() % 300000000)};  // 5..305 ms
        ::nanosleep(&pause, nullptr);
        for (pid_t pid : pids) ::kill(pid, SIGKILL);
        for (int c : wait_all(pids)) killed += c == 100 + SIGKILL ? 1 : 0;
        auto rec = store().load(user);
        ASSERT_TRUE(rec) << "round " << round << ": " << rec.error().message();
        ASSERT_TRUE(rec->has_value()) << "round " << round << ": the record vanished";
        const UserRecord& r = **rec;
        if (r.enrollment) {
            ASSERT_TRUE(r.enrollment->confirmed) << "round " << round << ": a secret stored without confirmation";
            ASSERT_FALSE(r.invitation) << "round " << round << ": enrolled and still invited";
            ASSERT_FALSE(r.recovery.hashes.empty()) << "round " << round;
            ++enrolled;
        } else {
            ASSERT_TRUE(r.invitation) << "round " << round << ": neither invitation nor enrollment";
            ++still_invited;
        }
    }
    EXPECT_EQ(killed, rounds * 4);
    EXPECT_GT(enrolled, 0) << "no login got to enroll: the test proved nothing";
    std::printf("[ info ] %d rounds: %d enrolled, %d still invited when the logins were killed\n", rounds, enrolled,
                still_invited);
}

}  // namespace
}  // namespace authctl
