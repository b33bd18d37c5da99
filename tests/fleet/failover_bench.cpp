// SPDX-License-Identifier: Apache-2.0
// fleet_failover_bench: what a failover costs the fleet's guarantees, with
// synchronous or asynchronous streaming replication. The rig of
// tests/fleet/failover_test.cpp (tests/support/failover_support.hpp): a real
// primary and hot standby (PostgreSQL 15, TLS), four real authctld agents on a
// fleet.conf naming both (target_session_attrs = read-write), and forked
// logins through libpam and the built pam_authctl.so (store=agent): one child
// walking a user's HOTP codes, two sending wrong codes (deny = 0), one
// replaying codes already accepted, over four users. Each round: load for
// --phase0-ms; the primary's walsender stopped (SIGSTOP) for --lag-ms, so the
// standby lags by that much while logins go on (the honest version of "the
// standby is a little behind": with an idle, quick standby on loopback the
// window is a few milliseconds and async loses nothing most of the time, which
// says nothing about a standby on a busy link); the primary SIGKILLed with all
// its processes; --detect-ms later the standby promoted; the rows of the
// phase-0 users read from the new primary; their accepted codes replayed; load
// for --phase1-ms; the old primary rebuilt as the new standby (same mode): the
// next round fails back onto it. Needs root, postgresql-15, nss_wrapper.
//
//   fleet_failover_bench [--mode sync|async] [--rounds N] [--lag-ms N]
//                        [--phase0-ms N] [--detect-ms N] [--phase1-ms N]
//   defaults: --mode sync --rounds 5 --lag-ms 400 --phase0-ms 1500 --detect-ms 600 --phase1-ms 1500
//
// Output: ONE line on stdout, key=value separated by spaces:
//   mode=async rounds=5 lag_ms=400 logins=.. successes=.. told_failures=.. unavail=..
//   gap_logins=.. lost_failures=.. lost_acceptances=.. codes_accepted_twice=.. right_refused=..
//   wrong_verdicts=.. gap_verdicts=.. bad_rows=.. unavail_after_promotion=.. gap_ms_p50=.. gap_ms_max=..
//   promote_ms_p50=..
// where (totals over the rounds)
//   logins, successes       logins run; logins told PAM_SUCCESS
//   told_failures           logins told PAM_AUTH_ERR (each one is a failure the row must hold)
//   unavail                 logins told PAM_AUTHINFO_UNAVAIL (no verdict: database gone, or the
//                           commit's outcome unknown)
//   gap_logins              logins that started after the primary was gone and ended before the
//                           promotion began (each must be unavail)
//   lost_failures           refusals told minus failures in the wrong-code users' rows after the
//                           failover (a lower bound: an unknown-outcome attempt that did commit
//                           can hide one lost)
//   lost_acceptances        acceptances told whose counter the user's row had not passed after
//                           the failover
//   codes_accepted_twice    (user, code) pairs that let two logins in (a lost acceptance, replayed)
//   right_refused           right codes never tried before refused as wrong: after a lost
//                           acceptance the user's next codes are beyond the row's HOTP look-ahead
//                           (the walker does not resynchronise: each of its later codes counts)
//   wrong_verdicts          a wrong code accepted, or a PAM result other than success/auth_err/unavail
//   gap_verdicts            a verdict given while there was no primary
//   bad_rows                rows that did not open or parse
//   unavail_after_promotion logins started after the new primary took writes that still got
//                           PAM_AUTHINFO_UNAVAIL (an agent slow to follow the failover)
//   gap_ms_p50, gap_ms_max  from the primary gone to the first verdict of a login started after
//                           it (includes --detect-ms and the promotion), median and maximum
//   promote_ms_p50          pg_test_server.sh promote until the new primary accepts writes
// On stderr: each violation in words (20 at most), and every error of the rig
// itself as "round N: harness: ..." (a server that did not start, promote or
// rebuild; a child that died; a row that could not be read).
//
// Exit status: 0; 1 in sync mode when lost_failures, lost_acceptances,
// codes_accepted_twice, right_refused, wrong_verdicts, gap_verdicts or bad_rows is not 0 (in
// async mode losses are the measurement, but wrong_verdicts, gap_verdicts and
// bad_rows still fail it); 2 usage; 3 the rig could not be set up or a round
// could not run (a server that did not start, promote or rebuild).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "failover_support.hpp"

namespace {

int usage()
{
    std::fprintf(stderr,
                 "usage: fleet_failover_bench [--mode sync|async] [--rounds N] [--lag-ms N] [--phase0-ms N]"
                 " [--detect-ms N] [--phase1-ms N]\n");
    return 2;
}

double percentile(std::vector<double> v, double p)
{
    if (v.empty()) return -1;
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

}  // namespace

int main(int argc, char** argv)
{
    if (std::getenv("NSS_WRAPPER_PASSWD") == nullptr) {
        ::setenv("NSS_WRAPPER_PASSWD", AUTHCTL_TEST_PASSWD, 1);
        ::setenv("NSS_WRAPPER_GROUP", AUTHCTL_TEST_GROUP, 1);
        ::setenv("NSS_WRAPPER_DISABLE_DEEPBIND", "1", 1);
        std::string preload = AUTHCTL_NSS_WRAPPER;
        if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0')
            preload += std::string(":") + old;
        ::setenv("LD_PRELOAD", preload.c_str(), 1);
        std::string asan = "verify_asan_link_order=0";
        if (const char* old = std::getenv("ASAN_OPTIONS"); old != nullptr && *old != '\0')
            asan += std::string(":") + old;
        ::setenv("ASAN_OPTIONS", asan.c_str(), 1);
        ::execv("/proc/self/exe", argv);
        std::perror("re-exec with nss_wrapper");
        return 3;
    }
    authctl::test::failover::Options opt;
    opt.sync = true;
    int rounds = 5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) return usage();
        const std::string v = argv[++i];
        char* end = nullptr;
        const long n = std::strtol(v.c_str(), &end, 10);
        const bool number = !v.empty() && *end == '\0' && n >= 0 && n <= 600000;
        if (a == "--mode" && (v == "sync" || v == "async"))
            opt.sync = v == "sync";
        else if (a == "--rounds" && number && n >= 1 && n <= 100)
            rounds = static_cast<int>(n);
        else if (a == "--lag-ms" && number)
            opt.lag_ms = static_cast<int>(n);
        else if (a == "--phase0-ms" && number && n >= 100)
            opt.phase0_ms = static_cast<int>(n);
        else if (a == "--detect-ms" && number)
            opt.detect_ms = static_cast<int>(n);
        else if (a == "--phase1-ms" && number && n >= 100)
            opt.phase1_ms = static_cast<int>(n);
        else
            return usage();
    }
    if (::geteuid() != 0) {
        std::fprintf(stderr, "fleet_failover_bench: must run as root\n");
        return 3;
    }
    std::unique_ptr<authctl::test::failover::FailoverRig> rig;
    try {
        rig = std::make_unique<authctl::test::failover::FailoverRig>(opt);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fleet_failover_bench: %s\n", e.what());
        return 3;
    }
    authctl::test::failover::RoundFigures t;
    std::vector<double> gaps, promotes;
    std::size_t shown = 0;
    bool harness = false;
    for (int r = 1; r <= rounds && !harness; ++r) {
        const auto f = rig->round();
        t.logins += f.logins;
        t.successes += f.successes;
        t.told_failures += f.told_failures;
        t.unavail += f.unavail;
        t.gap_logins += f.gap_logins;
        t.unavail_after_promotion += f.unavail_after_promotion;
        t.lost_failures += f.lost_failures;
        t.lost_acceptances += f.lost_acceptances;
        t.accepted_twice += f.accepted_twice;
        t.right_refused += f.right_refused;
        t.wrong_verdicts += f.wrong_verdicts;
        t.gap_verdicts += f.gap_verdicts;
        t.bad_rows += f.bad_rows;
        if (f.gap_ms >= 0) gaps.push_back(f.gap_ms);
        promotes.push_back(f.promote_ms);
        for (const auto& p : f.harness) {
            harness = true;
            std::fprintf(stderr, "fleet_failover_bench: round %d: harness: %s\n", r, p.c_str());
        }
        for (const auto& p : f.problems)
            if (shown++ < 20) std::fprintf(stderr, "fleet_failover_bench: round %d: %s\n", r, p.c_str());
    }
    std::printf("mode=%s rounds=%d lag_ms=%d logins=%zu successes=%zu told_failures=%zu unavail=%zu gap_logins=%zu "
                "lost_failures=%zu lost_acceptances=%zu codes_accepted_twice=%zu right_refused=%zu wrong_verdicts=%zu "
                "gap_verdicts=%zu bad_rows=%zu unavail_after_promotion=%zu gap_ms_p50=%.0f gap_ms_max=%.0f "
                "promote_ms_p50=%.0f\n",
                opt.sync ? "sync" : "async", rounds, opt.lag_ms, t.logins, t.successes, t.told_failures, t.unavail,
                t.gap_logins, t.lost_failures, t.lost_acceptances, t.accepted_twice, t.right_refused, t.wrong_verdicts,
                t.gap_verdicts, t.bad_rows, t.unavail_after_promotion, percentile(gaps, 0.5), percentile(gaps, 1.0), percentile(promotes, 0.5));
    std::fflush(stdout);
    if (harness) return 3;
    if (t.wrong_verdicts != 0 || t.gap_verdicts != 0 || t.bad_rows != 0) return 1;
    if (opt.sync && (t.lost_failures != 0 || t.lost_acceptances != 0 || t.accepted_twice != 0 || t.right_refused != 0))
        return 1;
    return 0;
}
