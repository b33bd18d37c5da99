// SPDX-License-Identifier: Apache-2.0
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
// code accepted twice, no wrong-code user's row holding fewer failures than
// the refusals its logins were told of (a net count: a wrong-code attempt
// with an unknown outcome whose commit landed adds a failure nobody was told
// of, and so could hide one lost -- the check catches losses beyond those),
// no acceptance missing from the row, every row opening and parsing,
// only PAM_AUTHINFO_UNAVAIL while there is no primary, and never a wrong
// verdict (a right, never tried code refused; a wrong code or a replay let in).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "failover_support.hpp"
#include "fleet_support.hpp"

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
        for (const auto& h : f.harness) ADD_FAILURE() << "round " << r << ": " << h;
        for (std::size_t i = 0; i < f.problems.size() && i < 20; ++i) ADD_FAILURE() << "round " << r << ": " << f.problems[i];
        EXPECT_EQ(f.accepted_twice, 0U) << "round " << r;
        EXPECT_EQ(f.lost_failures, 0U) << "round " << r;
        EXPECT_EQ(f.lost_acceptances, 0U) << "round " << r;
        EXPECT_EQ(f.right_refused, 0U) << "round " << r;
        EXPECT_EQ(f.problems.size(), 0U) << "round " << r;
        EXPECT_EQ(f.wrong_verdicts, 0U) << "round " << r;
        EXPECT_EQ(f.gap_verdicts, 0U) << "round " << r;
        EXPECT_EQ(f.bad_rows, 0U) << "round " << r;
        // The agents followed at once: no login that began after the promotion was left without a verdict.
        EXPECT_EQ(f.unavail_after_promotion, 0U) << "round " << r;
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

// The harness's replication commands, and a standby never used for a
// decision: an agent whose fleet.conf names only the (read-only) standby
// gets no connection at all, for writes or for reads.
TEST(Failover, StandbyPromoteCrashAndRebuildOnTheSamePortAndAStandbyIsNeverUsed)
{
    ASSERT_EQ(::geteuid(), 0U) << "fleet tests run as root";
    std::unique_ptr<test::PgTestServer> a, b;
    std::unique_ptr<fleet::PgStore> store;
    const std::string err = test::start_fleet_with_standby(a, b, store, test::PgTestServer::Sync::off);
    ASSERT_TRUE(err.empty()) << err;
    EXPECT_NE(a->port(), b->port());
    std::string out;
    ASSERT_EQ(a->psql("SELECT application_name || ' ' || state FROM pg_stat_replication", &out), 0);
    EXPECT_EQ(out, "pgt_" + std::to_string(b->port()) + " streaming");
    ASSERT_EQ(b->psql("SELECT pg_is_in_recovery()", &out), 0);
    EXPECT_EQ(out, "t");
    // The standby's own fleet.conf (read-write wanted): refused, reads included.
    {
        auto cfg = fleet::load_fleet_config(b->fleet_conf_path());
        ASSERT_TRUE(cfg) << cfg.error().message();
        auto ring = load_keyring(cfg->key_file);
        ASSERT_TRUE(ring) << ring.error().message();
        auto on_standby = fleet::PgStore::open(*cfg, std::move(*ring));
        ASSERT_TRUE(on_standby);
        auto held = (*on_standby)->lock("alice");
        ASSERT_FALSE(held) << "a decision's transaction on a read-only standby";
        EXPECT_NE(held.error().message().find("cannot connect"), std::string::npos) << held.error().message();
        EXPECT_FALSE((*on_standby)->snapshot("alice")) << "a read on a read-only standby";
    }
    // crash: the postmaster and every child gone at once; promote: writable.
    const pid_t old_pm = a->postmaster_pid();
    const int a_port = a->port();
    ASSERT_TRUE(a->crash());
    EXPECT_NE(::kill(old_pm, 0), 0) << "the crashed postmaster still exists";
    ASSERT_TRUE(b->promote());
    ASSERT_EQ(b->psql("SELECT pg_is_in_recovery()", &out), 0);
    EXPECT_EQ(out, "f");
    // The old primary rebuilt as the new one's (synchronous) standby, on its port.
    ASSERT_TRUE(a->rebuild_as_standby_of(*b, test::PgTestServer::Sync::on));
    EXPECT_EQ(a->port(), a_port);
    EXPECT_NE(a->postmaster_pid(), old_pm);
    ASSERT_EQ(b->psql("SELECT application_name || ' ' || sync_state FROM pg_stat_replication", &out), 0);
    EXPECT_EQ(out, "pgt_" + std::to_string(a_port) + " sync");
    // A two-host fleet.conf, the standby first: libpq passes over it to the primary.
    test::TempDir tmp;
    const std::string both = tmp / "fleet.conf";
    ASSERT_TRUE(test::PgTestServer::write_fleet_conf(both, {a.get(), b.get()}));
    const std::string text = test::read_file(both);
    EXPECT_NE(text.find("host = 127.0.0.1,127.0.0.1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("port = " + std::to_string(a_port) + "," + std::to_string(b->port()) + "\n"),
              std::string::npos)
        << text;
    auto cfg = fleet::load_fleet_config(both);
    ASSERT_TRUE(cfg) << cfg.error().message();
    auto ring = load_keyring(cfg->key_file);
    ASSERT_TRUE(ring);
    auto ha = fleet::PgStore::open(*cfg, std::move(*ring));
    ASSERT_TRUE(ha);
    auto held = (*ha)->lock("alice");
    ASSERT_TRUE(held) << held.error().message();
    held->record() = UserRecord{};
    held->record()->tally.failures = 1;
    ASSERT_TRUE(held->commit());
    ASSERT_TRUE(held->finish());
    // Stopped by pid: nothing left running.
    const pid_t pa = a->postmaster_pid(), pb = b->postmaster_pid();
    EXPECT_TRUE(a->stop());
    EXPECT_TRUE(b->stop());
    EXPECT_NE(::kill(pa, 0), 0);
    EXPECT_NE(::kill(pb, 0), 0);
}

// A host that accepts the TCP connection and then says nothing (a server
// hung: SIGSTOP) listed first, with connect_timeout = timeout: libpq would
// spend the whole decision's time on it. The agent cuts each host's connect
// timeout so that the list fits in the deadline, and reaches the primary.
TEST(Failover, AHungHostFirstInTheListStillLeavesTimeForThePrimary)
{
    ASSERT_EQ(::geteuid(), 0U) << "fleet tests run as root";
    std::unique_ptr<test::PgTestServer> a, b;
    std::unique_ptr<fleet::PgStore> store;
    const std::string err = test::start_fleet_with_standby(a, b, store, test::PgTestServer::Sync::off);
    ASSERT_TRUE(err.empty()) << err;
    test::TempDir tmp;
    const std::string path = tmp / "fleet.conf";
    ASSERT_TRUE(test::PgTestServer::write_fleet_conf(path, {b.get(), a.get()}));
    std::string text = test::read_file(path);
    const auto at = text.find("connect_timeout = 3\n");
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, 20, "connect_timeout = 5\n");
    test::write_file(path, text, 0600);
    auto cfg = fleet::load_fleet_config(path);
    ASSERT_TRUE(cfg) << cfg.error().message();
    ASSERT_EQ(cfg->timeout, 5U);
    auto ring = load_keyring(cfg->key_file);
    ASSERT_TRUE(ring);
    auto ha = fleet::PgStore::open(*cfg, std::move(*ring));
    ASSERT_TRUE(ha);
    ASSERT_TRUE(b->pause());
    const auto t0 = std::chrono::steady_clock::now();
    auto held = (*ha)->lock("alice");
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (held) {
        held->record() = UserRecord{};
        EXPECT_TRUE(held->commit());
        EXPECT_TRUE(held->finish());
    }
    ASSERT_TRUE(b->resume());
    EXPECT_TRUE(held) << held.error().message();
    // The hung host's share: 3 s (5 s over two hosts, rounded up to libpq's
    // whole seconds); without the cut it takes the whole 5 s and the lock fails.
    EXPECT_LT(waited, 4.9) << "the hung host took the whole deadline";
    std::printf("[ info ] hung host first: the primary reached after %.2f s\n", waited);
}

// A synchronous standby that stopped answering: every COMMIT on the primary
// waits for it. That wait must end in "outcome unknown" (PAM_AUTHINFO_UNAVAIL),
// never in a verdict: neither when the agent's own deadline ends it, nor when
// someone cancels the wait (pg_cancel_backend, a statement_timeout), after
// which PostgreSQL answers "COMMIT" with a WARNING -- the row committed on the
// primary alone, lost if it fails over now.
TEST(Failover, CommitWaitingForAStoppedSynchronousStandbyIsNeverAVerdict)
{
    ASSERT_EQ(::geteuid(), 0U) << "fleet tests run as root";
    std::unique_ptr<test::PgTestServer> pg, standby;
    std::unique_ptr<fleet::PgStore> store;
    const std::string err = test::start_fleet_with_standby(pg, standby, store, test::PgTestServer::Sync::on);
    ASSERT_TRUE(err.empty()) << err;
    EnrollParams p;
    p.type = OtpType::hotp;
    auto pending = prepare_enrollment(p, 0, std::time(nullptr));
    ASSERT_TRUE(pending);
    const SecretBytes key = pending->enrollment.secret.clone();
    ASSERT_TRUE(store_enrollment(*store, "alice", std::move(*pending), true));

    // A role or database setting must not hide that WARNING from the agent:
    // client_min_messages = error would make the COMMIT below look clean.
    ASSERT_EQ(pg->psql("ALTER ROLE authctl SET client_min_messages = error"), 0);
    ASSERT_EQ(pg->psql("ALTER DATABASE authctl SET client_min_messages = error"), 0);
    auto cfg = fleet::load_fleet_config(pg->fleet_conf_path());
    ASSERT_TRUE(cfg) << cfg.error().message();
    auto ring = load_keyring(cfg->key_file);
    ASSERT_TRUE(ring);
    auto fresh = fleet::PgStore::open(*cfg, std::move(*ring));  // new connections, under those settings
    ASSERT_TRUE(fresh) << fresh.error().message();

    ASSERT_TRUE(standby->pause());
    // 1. The wait cancelled by someone else: COMMIT answers "COMMIT" with a WARNING.
    {
        auto held = (*fresh)->lock("alice");
        ASSERT_TRUE(held) << held.error().message();
        ASSERT_TRUE(held->record());
        held->record()->tally.failures = 7;
        ASSERT_TRUE(held->commit());
        test::Children children;
        const pid_t canceller = children.spawn([&] {
            // until a backend waits for the standby, at most 4 s
            for (int i = 0; i < 80; ++i) {
                std::string out;
                if (pg->psql("SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
                             &out) == 0 &&
                    out == "1")
                    ::_exit(0);
                ::usleep(50000);
            }
            ::_exit(1);
        });
        const auto t0 = std::chrono::steady_clock::now();
        const Status st = held->finish();
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const int ws = children.reap(canceller);
        ASSERT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << "no COMMIT waited for the standby";
        ASSERT_FALSE(st) << "a COMMIT the standby never acknowledged was taken as a verdict";
        EXPECT_NE(st.error().message().find("commit outcome unknown"), std::string::npos) << st.error().message();
        EXPECT_LT(waited, 5.5);
    }
    // 2. Through an agent and the module: the agent's deadline ends the wait.
    test::TempDir tmp;
    ASSERT_EQ(::chmod(tmp.path().c_str(), 0755), 0);
    const std::string policy = tmp / "authctl.conf", confdir = tmp / "pam.d";
    ASSERT_EQ(::mkdir(confdir.c_str(), 0755), 0);
    test::write_file(policy, "deny = 0\n", 0644);
    test::AgentProc agent({"--fleet-conf", pg->fleet_conf_path(), "--conf", policy, "--socket", tmp / "agent.sock",
                           "--stderr"},
                          tmp / "authctld.log");
    ASSERT_TRUE(agent.start()) << agent.log();
    test::write_file(confdir + "/sync", "auth required " + std::string(AUTHCTL_PAM_MODULE) + " store=agent agent_socket=" +
                                          (tmp / "agent.sock") + " conf=" + policy + " nodelay\n",
                     0644);
    const std::string code0 = test::code_at(key, 0);
    const auto t0 = std::chrono::steady_clock::now();
    const auto hung = test::pam_run(confdir, "sync", "alice", {code0});
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(hung.rc, PAM_AUTHINFO_UNAVAIL) << "the right code, its COMMIT never acknowledged by the standby";
    EXPECT_LT(waited, 12.0);
    std::printf("[ info ] synchronous standby stopped: PAM_AUTHINFO_UNAVAIL after %.2f s\n", waited);
    // The standby back: the commit went through after all (that is what
    // "unknown" means), so the code is used: refused once more, the next one works.
    ASSERT_TRUE(standby->resume());
    std::string waiting = "1";
    for (int i = 0; i < 200 && waiting != "0"; ++i) {
        ::usleep(50000);
        pg->psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'", &waiting);
    }
    EXPECT_EQ(test::pam_run(confdir, "sync", "alice", {code0}).rc, PAM_AUTH_ERR) << "a code accepted twice";
    EXPECT_EQ(test::pam_run(confdir, "sync", "alice", {test::code_at(key, 1)}).rc, PAM_SUCCESS) << agent.log();
    if (HasFailure()) std::printf("%s\n", agent.log().c_str());
}

}  // namespace
}  // namespace authctl
