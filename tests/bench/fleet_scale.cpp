// SPDX-License-Identifier: Apache-2.0
// fleet_scale: how much login load one PostgreSQL primary takes, with
// simulated agents. Each simulated agent is what authctld is to the database:
// its own PgStore (its own pool of TLS + SCRAM connections, fleet.conf's
// settings) running core's login decisions (LocalLogins: lock_info, the
// prompt decision, then attempt_code, one transaction) -- without the Unix
// socket and the PAM module in front, which cost the agent's host, not the
// database.
//
//   fleet_scale --fleet-conf F [--rate R] [--agents N1,N2,...] [--seconds S]
//               [--warmup W] [--pool P] [--p99-limit MS]
//
// For each N in turn (a step): N simulated agents, each sending R logins a
// second on a fixed schedule (open loop: attempt i of an agent is due at
// start + (i + phase) / R whatever happened before), served by P worker
// threads per agent (P = the agent's pool size: a login needs a connection).
// A login's latency runs from when it was due to when its decision is back,
// so queueing behind a saturated database counts. Every login is a right
// HOTP code (a fresh counter for the user, one user per worker), so each is a
// full decision: a read, then lock, read, write, COMMIT. Users are enrolled
// (store_enrollment) before a step's clock starts; the first W seconds of a
// step are not counted (connections are opened then).
//
// Prints one line per step:
//   agents=N rate=R offered=O done=D per_second=X p50_ms= p99_ms= max_ms= errors=E refused=F
// (try=1, or try=2: a step over the limit -- p99 above --p99-limit, default
// 100, or errors -- is run once more, so that one stall of the shared machine
// does not end the search) and stops after a step over the limit twice. Exit 1 when a right code was refused (a bug), 2 on usage or setup errors.
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "authctl/admin.hpp"
#include "authctl/fleet_config.hpp"
#include "authctl/login.hpp"
#include "authctl/otp.hpp"
#include "authctl/sealed.hpp"
#include "pg_store.hpp"

using namespace authctl;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
    std::string fleet_conf;
    double rate = 10;
    std::vector<unsigned> agents{1, 2, 4, 8, 16, 32};
    double seconds = 10;
    double warmup = 1;
    unsigned pool = 2;
    double p99_limit_ms = 100;
};

[[noreturn]] void usage()
{
    std::fprintf(stderr,
                 "usage: fleet_scale --fleet-conf F [--rate R] [--agents N1,N2,...] [--seconds S] [--warmup W]"
                 " [--pool P] [--p99-limit MS]\n");
    std::exit(2);
}

Args parse(int argc, char** argv)
{
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (i + 1 >= argc) usage();
        const std::string v = argv[++i];
        if (k == "--fleet-conf") a.fleet_conf = v;
        else if (k == "--rate") a.rate = std::atof(v.c_str());
        else if (k == "--seconds") a.seconds = std::atof(v.c_str());
        else if (k == "--warmup") a.warmup = std::atof(v.c_str());
        else if (k == "--pool") a.pool = static_cast<unsigned>(std::atoi(v.c_str()));
        else if (k == "--p99-limit") a.p99_limit_ms = std::atof(v.c_str());
        else if (k == "--agents") {
            a.agents.clear();
            std::istringstream in(v);
            for (std::string n; std::getline(in, n, ',');) a.agents.push_back(static_cast<unsigned>(std::atoi(n.c_str())));
        } else usage();
    }
    if (a.fleet_conf.empty() || a.rate <= 0 || a.seconds <= 0 || a.warmup < 0 || a.pool < 1 || a.pool > 64 ||
        a.agents.empty())
        usage();
    for (unsigned n : a.agents)
        if (n < 1 || n > 2000) usage();
    return a;
}

[[noreturn]] void fail(const std::string& what)
{
    std::fprintf(stderr, "fleet_scale: %s\n", what.c_str());
    std::exit(2);
}

// One worker's user: its name, its HOTP key and the next counter to send.
struct SimUser {
    std::string name;
    SecretBytes key;
    std::uint64_t counter = 0;
    // Attempts with an unknown outcome (an error after the code was sent) since
    // the last verdict: each moved `counter` on, as a phone's button press does,
    // since the commit may have landed. While this stays within the look-ahead
    // (Options::hotp_window) the next code is accepted either way.
    std::uint64_t unsure = 0;
};

struct SimAgent {
    std::unique_ptr<fleet::PgStore> store;
    std::vector<SimUser> users;  // one per worker
    double phase = 0;            // 0..1: where in a period its first login falls
};

struct Sample {
    double ms;
    bool counted;  // due after the warm-up
};

struct StepResult {
    std::vector<double> latencies_ms;
    std::size_t errors = 0, refused = 0, done = 0;
};

double percentile(std::vector<double>& v, double p)
{
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv)
{
    const Args args = parse(argc, argv);
    fleet::scrub_pg_environment();
    auto cfg = fleet::load_fleet_config(args.fleet_conf);
    if (!cfg) fail(cfg.error().message());
    cfg->pool = args.pool;
    Options opts;
    const std::string_view zero = "0";
    if (auto st = apply_option(opts, "deny", &zero); !st) fail(st.error().message());

    std::vector<SimAgent> agents;
    std::mt19937 rng(12345);
    const auto add_agent = [&] {
        auto ring = load_keyring(cfg->key_file);
        if (!ring) fail(ring.error().message());
        auto store = fleet::PgStore::open(*cfg, std::move(*ring));
        if (!store) fail(store.error().message());
        SimAgent a;
        a.store = std::move(*store);
        a.phase = std::uniform_real_distribution<double>(0, 1)(rng);
        for (unsigned w = 0; w < args.pool; ++w) {
            EnrollParams p;
            p.type = OtpType::hotp;
            auto pending = prepare_enrollment(p, 0, std::time(nullptr));
            if (!pending) fail(pending.error().message());
            SimUser u;
            u.name = "sim" + std::to_string(agents.size()) + "w" + std::to_string(w);
            u.key = pending->enrollment.secret.clone();
            if (auto st = store_enrollment(*a.store, u.name, std::move(*pending), true); !st)
                fail("enrolling " + u.name + ": " + st.error().message());
            a.users.push_back(std::move(u));
        }
        agents.push_back(std::move(a));
    };

    int bug = 0;
    for (const unsigned n : args.agents) {
      while (agents.size() < n) add_agent();
      bool passed = false;
      for (int attempt = 1; attempt <= 2 && !passed; ++attempt) {
        StepResult res;
        std::mutex mu;
        const double total = args.warmup + args.seconds;
        const auto start = Clock::now() + std::chrono::milliseconds(200);
        const auto per_agent = static_cast<std::size_t>(args.rate * total);
        std::vector<std::thread> threads;
        std::vector<std::unique_ptr<std::atomic<std::size_t>>> next(n);
        for (auto& c : next) c = std::make_unique<std::atomic<std::size_t>>(0);
        for (unsigned a = 0; a < n; ++a) {
            for (unsigned w = 0; w < args.pool; ++w) {
                threads.emplace_back([&, a, w] {
                    SimAgent& ag = agents[a];
                    SimUser& user = ag.users[w];
                    LocalLogins logins(*ag.store, opts);
                    std::vector<Sample> mine;
                    std::size_t errors = 0, refused = 0;
                    for (;;) {
                        const std::size_t i = next[a]->fetch_add(1);
                        if (i >= per_agent) break;
                        const double due_s = (static_cast<double>(i) + ag.phase) / args.rate;
                        const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(due_s));
                        std::this_thread::sleep_until(due);
                        const std::string code = format_code(*hotp_value(user.key, user.counter, HashAlgo::sha1, 6), 6);
                        LoginContext ctx;
                        ctx.user = user.name;
                        ctx.source = "192.0.2.1";
                        ctx.service = "sshd";
                        ctx.now = std::time(nullptr);
                        auto info = logins.lock_info(ctx);
                        if (info) {
                            auto r = logins.attempt_code(ctx, code);
                            if (!r) {
                                // unknown outcome: if it committed, this code is used
                                ++errors;
                                ++user.counter;
                                ++user.unsure;
                            } else if (r->outcome == Outcome::success) {
                                ++user.counter;
                                user.unsure = 0;
                            } else if (user.unsure <= opts.hotp_window) {
                                ++refused;  // a right code, within the look-ahead whatever the errors did: a bug
                            } else {
                                ++errors;  // too many unknown outcomes in a row: out of the look-ahead
                            }
                        } else {
                            ++errors;  // nothing sent: the same code next time
                        }
                        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
                        mine.push_back({ms, due_s >= args.warmup});
                    }
                    std::lock_guard<std::mutex> lk(mu);
                    for (const auto& s : mine) {
                        if (!s.counted) continue;
                        res.latencies_ms.push_back(s.ms);
                        ++res.done;
                    }
                    res.errors += errors;
                    res.refused += refused;
                });
            }
        }
        for (auto& t : threads) t.join();
        const double offered = args.rate * n;
        const double per_second = static_cast<double>(res.done) / args.seconds;
        const double p50 = percentile(res.latencies_ms, 0.50);
        const double p99 = percentile(res.latencies_ms, 0.99);
        const double mx = res.latencies_ms.empty() ? 0 : res.latencies_ms.back();
        std::printf("agents=%u rate=%g offered=%g done=%zu per_second=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
                    "errors=%zu refused=%zu try=%d\n",
                    n, args.rate, offered, res.done, per_second, p50, p99, mx, res.errors, res.refused, attempt);
        std::fflush(stdout);
        if (res.refused > 0) bug = 1;
        passed = p99 <= args.p99_limit_ms && res.errors == 0;
      }
      if (!passed) break;
    }
    for (auto& a : agents)
        for (auto& u : a.users) (void)remove_user(*a.store, u.name);
    return bug;
}
