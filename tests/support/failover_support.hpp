// SPDX-License-Identifier: Apache-2.0
// A fleet failing over under load, for tests/fleet/failover_test.cpp (pass or
// fail, synchronous replication) and tests/fleet/failover_bench.cpp (figures,
// synchronous or asynchronous): a real primary and a real hot standby
// (pg_test_server.sh standby), four real authctld agents on one fleet.conf
// naming both servers (target_session_attrs = read-write), and forked logins
// through the real libpam and the built pam_authctl.so (store=agent) that go
// on while the primary is killed (SIGKILL) and the standby promoted.
//
// One round (FailoverRig::round):
//   1. the four users are enrolled afresh (HOTP) on the current primary;
//   2. four children log in, each through its own agent, until told to stop:
//        walker    right codes, counter after counter, never a code twice unless
//                  its last try had an unknown outcome (then that code once more);
//        wrong x2  wrong codes (deny = 0: each refusal is one recorded failure);
//        replayer  codes the walker was already told were accepted;
//      phase 0 logs in alice (walker) and bob (wrong codes); once the primary
//      is killed, each child moves on to phase 1: carol and dave;
//   3. after phase0_ms: with lag_ms > 0, the primary's walsender is stopped
//      (SIGSTOP) for lag_ms -- a standby lagging by that much: the primary's
//      commits are not on the standby -- then the primary is SIGKILLed with all
//      its processes (pg_test_server.sh crash) and, detect_ms later (the time a
//      failover manager takes to notice), the standby is promoted;
//   4. once every child has finished its phase-0 login, alice's and bob's rows
//      are read from the new primary (what survived the failover), then the
//      replayer replays all of alice's accepted codes (a lost acceptance shows
//      as a code accepted twice); phase 1 goes on for phase1_ms;
//   5. carol's and dave's rows are read, every row is opened and parsed, and
//      the old primary is rebuilt as a standby of the new one (same port, the
//      same mode): the next round fails back onto it.
// Every login is recorded (user, counter, kind, PAM result, start and end).
//
// What is counted (RoundFigures), all from the record of logins and the rows:
//   lost_failures     per wrong-code user, refusals told minus failures in its row (>= 0):
//                     a net count, so a lower bound: a wrong-code attempt with an unknown
//                     outcome (PAM_AUTHINFO_UNAVAIL) whose commit did land adds a failure
//                     to the row no refusal was told of, and can hide one lost
//   lost_acceptances  acceptances told whose counter the row has not passed
//   accepted_twice    (user, counter) pairs that let two logins in
//   right_refused     a right code never tried before refused as wrong (after a
//                     lost acceptance the user's codes run ahead of the row's
//                     counter, beyond the look-ahead: the user is shut out)
//   wrong_verdicts    a wrong code accepted, a result other than
//                     SUCCESS/AUTH_ERR/AUTHINFO_UNAVAIL
//   gap_verdicts      logins that started after the primary was gone and ended
//                     before the promotion began, yet got a verdict
//   bad_rows          rows that do not open or parse
//   unavail_after_promotion  logins started once the new primary took writes that
//                     still got PAM_AUTHINFO_UNAVAIL (an agent that did not follow)
// With synchronous replication all of these must be 0.
#pragma once

#include <security/pam_appl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent_proc.hpp"
#include "authctl/admin.hpp"
#include "authctl/fleet_config.hpp"
#include "authctl/sealed.hpp"
#include "load_support.hpp"
#include "pg_server.hpp"
#include "pg_store.hpp"

namespace authctl::test::failover {

inline constexpr int kAgents = 4;
inline constexpr int kChildren = 4;  // walker, wrong, wrong, replayer
inline constexpr int kUsers = 4;     // alice, bob (phase 0), carol, dave (phase 1)
inline constexpr int kMaxCounter = 4096;
inline constexpr std::size_t kMaxLogins = 200000;
inline const char* const kUserNames[kUsers] = {"alice", "bob", "carol", "dave"};

enum Kind : int { right_first = 0, right_retry = 1, wrong = 2, replay = 3 };

struct Login {
    int user = -1;
    int child = -1;
    int kind = -1;
    int rc = -1;
    std::int64_t counter = -1;
    std::int64_t start_us = 0, end_us = 0;  // steady clock
};

// Shared (MAP_SHARED) between the parent and the children of one round.
struct Shared {
    std::atomic<int> phase;             // 0: alice and bob; 1 (the primary is being killed): carol and dave
    std::atomic<int> replay_go;         // 1: the survivors are read; replay alice's accepted codes
    std::atomic<int> stop;              // 1: finish the current login and exit
    std::atomic<int> acked[kChildren];  // child moved to phase 1 (its phase-0 login is over)
    std::atomic<std::uint8_t> accepted[kUsers][kMaxCounter];  // the walker was told "accepted"
    std::atomic<int> walker_next[kUsers];
    std::atomic<std::size_t> n;
    Login logins[kMaxLogins];
};

inline std::int64_t now_us()
{
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Options {
    bool sync = true;
    int phase0_ms = 1500;  // load on the primary before the lag and the kill
    int lag_ms = 400;      // the primary's walsender stopped this long before the kill (0: none)
    int detect_ms = 600;   // from the primary gone to the promotion (a failover manager's detection)
    int phase1_ms = 1500;  // load after the survivors were read
};

struct RoundFigures {
    std::size_t logins = 0, successes = 0, told_failures = 0, unavail = 0, gap_logins = 0;
    std::size_t unavail_after_promotion = 0;  // started once the new primary took writes, yet no verdict
    std::size_t lost_failures = 0, lost_acceptances = 0, accepted_twice = 0, right_refused = 0, wrong_verdicts = 0,
                gap_verdicts = 0;
    std::size_t bad_rows = 0;
    double gap_ms = -1;      // from the primary gone to the first verdict of a login started after it
    double promote_ms = 0;   // pg_test_server.sh promote, until it accepts writes
    std::vector<std::string> problems;  // each violation counted above, in words
    std::vector<std::string> harness;   // what went wrong in the rig itself (a server, a child, a read)
};

class FailoverRig {
public:
    // Starts the primary, its standby, the four agents. Throws on failure.
    explicit FailoverRig(Options opt) : opt_(opt)
    {
        if (::geteuid() != 0) throw std::runtime_error("the failover rig runs as root");
        a_ = PgTestServer::start();
        b_ = PgTestServer::standby_of(*a_, mode());
        primary_ = a_.get();
        standby_ = b_.get();
        conf_dir_ = tmp_.path() + "/pam.d";
        policy_ = tmp_.path() + "/authctl.conf";
        ha_conf_ = tmp_.path() + "/fleet-ha.conf";
        if (::mkdir(conf_dir_.c_str(), 0755) != 0 || ::chmod(tmp_.path().c_str(), 0755) != 0)
            throw std::runtime_error("cannot set up " + tmp_.path());
        // a fleet.conf naming the standby first: libpq has to pass over it
        // (read-only) to find the primary, round after round
        if (!PgTestServer::write_fleet_conf(ha_conf_, {b_.get(), a_.get()}))
            throw std::runtime_error("pg_test_server fleet-conf failed");
        fleet::scrub_pg_environment();
        auto cfg = fleet::load_fleet_config(ha_conf_);
        if (!cfg) throw std::runtime_error(cfg.error().message());
        cfg_ = *cfg;
        auto ring = load_keyring(cfg_.key_file);
        if (!ring) throw std::runtime_error(ring.error().message());
        auto opened = fleet::PgStore::open(cfg_, std::move(*ring));
        if (!opened) throw std::runtime_error(opened.error().message());
        store_ = std::move(*opened);
        if (auto v = store_->init_schema(); !v) throw std::runtime_error(v.error().message());
        test::write_file(policy_, "# failover rig\ndeny = 0\n", 0644);
        const std::string base_conf = test::read_file(ha_conf_);
        const std::string key = test::read_file(cfg_.key_file);
        for (int i = 0; i < kAgents; ++i) {
            const std::string dir = tmp_.path() + "/server" + std::to_string(i);
            if (::mkdir(dir.c_str(), 0755) != 0) throw std::runtime_error("mkdir " + dir);
            test::write_file(dir + "/fleet.key", key, 0600);
            std::string conf;
            std::istringstream in(base_conf);
            for (std::string line; std::getline(in, line);) {
                if (line.rfind("socket", 0) == 0 || line.rfind("key_file", 0) == 0) continue;
                conf += line + "\n";
            }
            conf += "key_file = " + dir + "/fleet.key\nsocket = " + dir + "/agent.sock\n";
            test::write_file(dir + "/fleet.conf", conf, 0600);
            agents_.push_back(std::make_unique<AgentProc>(
                std::vector<std::string>{"--fleet-conf", dir + "/fleet.conf", "--conf", policy_, "--socket",
                                         dir + "/agent.sock", "--stderr"},
                dir + "/authctld.log"));
            const std::string line = std::string(AUTHCTL_PAM_MODULE) + " store=agent agent_socket=" + dir +
                                     "/agent.sock conf=" + policy_ + " nodelay\n";
            test::write_file(conf_dir_ + "/failover" + std::to_string(i), "auth required " + line, 0644);
        }
        for (auto& a : agents_)
            if (!a->start()) throw std::runtime_error("authctld did not start: " + a->log());
        void* m = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) throw std::runtime_error("mmap failed");
        shared_ = static_cast<Shared*>(m);
    }

    ~FailoverRig()
    {
        children_.kill_all();
        for (auto& a : agents_) a->kill();
        store_.reset();
        if (shared_ != nullptr) ::munmap(shared_, sizeof(Shared));
    }

    FailoverRig(const FailoverRig&) = delete;
    FailoverRig& operator=(const FailoverRig&) = delete;

    const PgTestServer& primary() const { return *primary_; }
    std::string agent_logs() const
    {
        std::string out;
        for (int i = 0; i < kAgents; ++i)
            out += "--- agent " + std::to_string(i) + " ---\n" + agents_[static_cast<std::size_t>(i)]->log();
        return out;
    }
    // Every agent still runs (none was restarted). AgentProc::alive: waitpid
    // WNOHANG (a zombie passes kill(pid, 0)); an agent found dead is reaped
    // there and its pid forgotten, so it is not waited for twice.
    bool agents_alive()
    {
        bool all = true;
        for (auto& a : agents_)
            if (!a->alive()) all = false;
        return all;
    }

    RoundFigures round()
    {
        RoundFigures f;
        auto fail = [&f](const std::string& what) { f.harness.push_back(what); };
        // 1. fresh users
        std::vector<SecretBytes> keys;
        for (const char* u : kUserNames) {
            (void)remove_user(*store_, u);
            EnrollParams p;
            p.type = OtpType::hotp;
            auto pending = prepare_enrollment(p, 0, std::time(nullptr));
            if (!pending) {
                fail("enroll: " + pending.error().message());
                return f;
            }
            keys.push_back(pending->enrollment.secret.clone());
            if (auto st = store_enrollment(*store_, u, std::move(*pending), true); !st) {
                fail(std::string("enroll ") + u + ": " + st.error().message());
                return f;
            }
        }
        std::vector<std::string> wrong;
        for (const auto& k : keys) wrong.push_back(wrong_code(k, 0, kMaxCounter + 25));
        std::memset(static_cast<void*>(shared_), 0, offsetof(Shared, logins));

        // 2. the children
        std::vector<pid_t> pids;
        for (int c = 0; c < kChildren; ++c)
            pids.push_back(children_.spawn([&, c] { child(c, keys, wrong); }));

        // 3. load, lag, kill, promote
        ::usleep(static_cast<useconds_t>(opt_.phase0_ms) * 1000);
        pid_t walsender = -1;
        if (opt_.lag_ms > 0) {
            std::string out;
            if (primary_->psql("SELECT pid FROM pg_stat_replication", &out) != 0 || out.empty())
                fail("no walsender on the primary: " + out);
            else
                walsender = static_cast<pid_t>(std::stol(out));
            if (walsender > 0) ::kill(walsender, SIGSTOP);
            ::usleep(static_cast<useconds_t>(opt_.lag_ms) * 1000);
        }
        shared_->phase.store(1);
        const std::int64_t kill_start = now_us();
        if (!primary_->crash()) fail("crash of the primary failed");
        const std::int64_t killed = now_us();
        ::usleep(static_cast<useconds_t>(opt_.detect_ms) * 1000);
        const std::int64_t promote_start = now_us();
        if (!standby_->promote()) fail("promote of the standby failed");
        const std::int64_t promoted = now_us();
        f.promote_ms = static_cast<double>(promoted - promote_start) / 1000.0;
        std::swap(primary_, standby_);  // standby_: the dead old primary

        // 4. survivors of phase 0, then the replays
        for (int i = 0; i < 3000; ++i) {
            bool all = true;
            for (int c = 0; c < kChildren; ++c) all = all && shared_->acked[c].load() != 0;
            if (all) break;
            ::usleep(10000);
        }
        for (int c = 0; c < kChildren; ++c)
            if (shared_->acked[c].load() == 0) fail("child " + std::to_string(c) + " still in phase 0 after 30 s");
        std::map<int, UserRecord> survived;
        for (int u : {0, 1}) {
            auto rec = store_->load(kUserNames[u]);
            if (!rec || !*rec) {
                fail(std::string("read ") + kUserNames[u] + " after the failover: " +
                     (rec ? std::string("no row") : rec.error().message()));
                survived[u] = UserRecord{};
            } else {
                survived[u] = std::move(**rec);
            }
        }
        shared_->replay_go.store(1);
        ::usleep(static_cast<useconds_t>(opt_.phase1_ms) * 1000);
        shared_->stop.store(1);
        for (pid_t pid : pids) {
            const int ws = children_.reap(pid);
            if (!(WIFEXITED(ws) && WEXITSTATUS(ws) == 0)) fail("a login child ended with " + describe(ws));
        }

        // 5. the rows at the end, every row opened
        for (int u : {2, 3}) {
            auto rec = store_->load(kUserNames[u]);
            if (!rec || !*rec) {
                fail(std::string("read ") + kUserNames[u] + ": " + (rec ? std::string("no row") : rec.error().message()));
                survived[u] = UserRecord{};
            } else {
                survived[u] = std::move(**rec);
            }
        }
        std::size_t rows = 0;
        const auto scanned = store_->scan([&](const std::string&, Result<std::optional<UserRecord>>&& r) {
            ++rows;
            if (!r) ++f.bad_rows;
        });
        if (!scanned) fail("scan: " + scanned.error().message());
        if (rows != static_cast<std::size_t>(kUsers)) fail("scan saw " + std::to_string(rows) + " rows, not 4");

        evaluate(f, survived, killed, promote_start, promoted);
        (void)kill_start;

        // the old primary, rebuilt as the new one's standby: the next round fails back onto it
        if (!standby_->rebuild_as_standby_of(*primary_, mode())) fail("rebuilding the old primary as a standby failed");
        return f;
    }

private:
    PgTestServer::Sync mode() const { return opt_.sync ? PgTestServer::Sync::on : PgTestServer::Sync::off; }

    test::PamRun login(int agent, int user, const std::string& code)
    {
        return test::pam_run(conf_dir_, "failover" + std::to_string(agent), kUserNames[user], {code});
    }

    void record(int c, int user, int kind, std::int64_t counter, int rc, std::int64_t start)
    {
        const std::size_t i = shared_->n.fetch_add(1);
        if (i >= kMaxLogins) return;
        Login& l = shared_->logins[i];
        l.user = user;
        l.child = c;
        l.kind = kind;
        l.counter = counter;
        l.rc = rc;
        l.start_us = start;
        l.end_us = now_us();
    }

    // A child's life: logins until stop, phase by phase. Ends the process.
    void child(int c, const std::vector<SecretBytes>& keys, const std::vector<std::string>& wrong)
    {
        unsigned seed = static_cast<unsigned>(::getpid());
        int phase = 0;
        int next = 0;            // walker: the counter to send
        bool unknown = false;    // walker: its last try of `next` had an unknown outcome
        bool replayed0 = false;  // replayer: alice's accepted codes replayed after the failover
        while (shared_->stop.load() == 0) {
            if (phase == 0 && shared_->phase.load() == 1) {
                phase = 1;
                next = 0;
                unknown = false;
                shared_->acked[c].store(1);
            }
            const int agent = c % kAgents;
            int rc = -1;
            const std::int64_t start = now_us();
            if (c == 0) {  // walker
                const int user = phase == 0 ? 0 : 2;
                if (next >= kMaxCounter) {
                    ::usleep(10000);
                    continue;
                }
                rc = login(agent, user, code_at(keys[static_cast<std::size_t>(user)],
                                                static_cast<std::uint64_t>(next)))
                         .rc;
                record(c, user, unknown ? right_retry : right_first, next, rc, start);
                if (rc == PAM_SUCCESS) shared_->accepted[user][next].store(1);
                if (rc == PAM_SUCCESS || rc == PAM_AUTH_ERR) {
                    ++next;
                    unknown = false;
                    shared_->walker_next[user].store(next);
                } else {
                    unknown = true;
                }
            } else if (c == 1 || c == 2) {  // wrong codes
                const int user = phase == 0 ? 1 : 3;
                rc = login(agent, user, wrong[static_cast<std::size_t>(user)]).rc;
                record(c, user, Kind::wrong, -1, rc, start);
            } else {  // replayer
                if (phase == 1 && shared_->replay_go.load() != 0 && !replayed0) {
                    replayed0 = true;
                    for (int k = 0; k < shared_->walker_next[0].load() && shared_->stop.load() == 0; ++k) {
                        if (shared_->accepted[0][k].load() == 0) continue;
                        const std::int64_t s = now_us();
                        const int r = login(agent, 0, code_at(keys[0], static_cast<std::uint64_t>(k))).rc;
                        record(c, 0, Kind::replay, k, r, s);
                    }
                    continue;
                }
                const int user = phase == 0 ? 0 : 2;
                const int upto = shared_->walker_next[user].load();
                if (upto == 0) {
                    ::usleep(5000);
                    continue;
                }
                const int k = static_cast<int>(::rand_r(&seed) % static_cast<unsigned>(upto));
                if (shared_->accepted[user][k].load() == 0) continue;
                rc = login(agent, user, code_at(keys[static_cast<std::size_t>(user)], static_cast<std::uint64_t>(k)))
                         .rc;
                record(c, user, Kind::replay, k, rc, start);
            }
            if (rc == PAM_AUTHINFO_UNAVAIL) ::usleep(20000);  // as a user would, a moment later
        }
        ::_exit(0);
    }

    void evaluate(RoundFigures& f, const std::map<int, UserRecord>& rows, std::int64_t killed,
                  std::int64_t promote_start, std::int64_t promoted)
    {
        const std::size_t n = std::min(shared_->n.load(), kMaxLogins);
        if (shared_->n.load() > kMaxLogins) f.harness.push_back("more logins than the record holds");
        std::map<std::pair<int, std::int64_t>, int> accepted;  // (user, counter) -> logins let in
        std::size_t told_failures[kUsers] = {};
        std::int64_t first_verdict = -1;
        for (std::size_t i = 0; i < n; ++i) {
            const Login& l = shared_->logins[i];
            ++f.logins;
            const std::string who = std::string(kUserNames[l.user]) + " counter " + std::to_string(l.counter);
            if (l.rc == PAM_SUCCESS) {
                ++f.successes;
                ++accepted[{l.user, l.counter}];
                if (l.kind == Kind::wrong) {
                    ++f.wrong_verdicts;
                    f.problems.push_back("a wrong code let " + who + " in");
                }  // a replay let in: counted with accepted_twice
            } else if (l.rc == PAM_AUTH_ERR) {
                ++f.told_failures;
                ++told_failures[l.user];
                if (l.kind == Kind::right_first) {
                    ++f.right_refused;
                    f.problems.push_back("a right, never tried code refused as wrong: " + who);
                }
            } else if (l.rc == PAM_AUTHINFO_UNAVAIL) {
                ++f.unavail;
                if (l.start_us >= promoted) ++f.unavail_after_promotion;
            } else {
                ++f.wrong_verdicts;
                f.problems.push_back("PAM result " + std::to_string(l.rc) + " for " + who);
            }
            const bool verdict = l.rc == PAM_SUCCESS || l.rc == PAM_AUTH_ERR;
            if (l.start_us >= killed && l.end_us <= promote_start) {
                ++f.gap_logins;
                if (verdict) {
                    ++f.gap_verdicts;
                    f.problems.push_back("a verdict while no primary was there: " + who);
                }
            }
            if (verdict && l.start_us >= killed && (first_verdict < 0 || l.end_us < first_verdict))
                first_verdict = l.end_us;
        }
        if (first_verdict >= 0) f.gap_ms = static_cast<double>(first_verdict - killed) / 1000.0;
        for (const auto& [key, times] : accepted)
            if (times > 1) {
                ++f.accepted_twice;
                f.problems.push_back(std::string("accepted ") + std::to_string(times) + " times: " +
                                     kUserNames[key.first] + " counter " + std::to_string(key.second));
            }
        for (const auto& [key, times] : accepted) {
            const auto it = rows.find(key.first);
            if (it == rows.end() || !it->second.enrollment) continue;
            // the row must have passed every counter a login was told was accepted
            // (replays after the read do not count: they come later)
            if (static_cast<std::uint64_t>(key.second) >= it->second.enrollment->counter) {
                bool told_before_read = false;
                for (std::size_t i = 0; i < n && !told_before_read; ++i) {
                    const Login& l = shared_->logins[i];
                    told_before_read = l.user == key.first && l.counter == key.second && l.rc == PAM_SUCCESS &&
                                       l.kind != Kind::replay;
                }
                if (told_before_read) {
                    ++f.lost_acceptances;
                    f.problems.push_back(std::string("acceptance lost: ") + kUserNames[key.first] + " counter " +
                                         std::to_string(key.second) + ", the row's counter is " +
                                         std::to_string(it->second.enrollment->counter));
                }
            }
        }
        for (int u : {1, 3}) {
            const auto it = rows.find(u);
            const std::size_t recorded = it == rows.end() ? 0 : it->second.tally.failures;
            if (recorded < told_failures[u]) {
                f.lost_failures += told_failures[u] - recorded;
                f.problems.push_back(std::string("failures lost: ") + kUserNames[u] + " was told " +
                                     std::to_string(told_failures[u]) + " refusals, its row has " +
                                     std::to_string(recorded));
            }
        }
    }

    Options opt_;
    test::TempDir tmp_;
    std::unique_ptr<PgTestServer> a_, b_;
    PgTestServer* primary_ = nullptr;
    PgTestServer* standby_ = nullptr;
    std::string conf_dir_, policy_, ha_conf_;
    fleet::FleetConfig cfg_;
    std::unique_ptr<fleet::PgStore> store_;
    std::vector<std::unique_ptr<AgentProc>> agents_;
    Children children_;
    Shared* shared_ = nullptr;
};

}  // namespace authctl::test::failover
