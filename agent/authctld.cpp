// SPDX-License-Identifier: Apache-2.0
// authctld: the fleet agent. pam_authctl.so (store=agent) sends each login
// decision here over a root-only Unix socket; the agent runs the core login
// logic over the PostgreSQL store (agent/pg_store.hpp) and answers. It holds
// the database connections, the credentials and the fleet key, so the PAM
// module loads no libpq and no TLS library and never sees a secret.
//
//   authctld [--fleet-conf PATH] [--conf PATH] [--socket PATH] [--stderr] [--check]
//
// Settings come from fleet.conf (database, key file, socket, pool) and
// authctl.conf (the lockout and code policy); nothing from the environment
// except systemd's LISTEN_PID/LISTEN_FDS. Exit status: 0 stopped cleanly (or
// --check passed), 1 a configuration or start-up error (or --check failed),
// 2 a usage error. See authctld(8).
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "agent_log.hpp"
#include "agent_server.hpp"
#include "agent_socket.hpp"
#include "authctl/fleet_config.hpp"
#include "authctl/options.hpp"
#include "authctl/sealed.hpp"
#include "pg_store.hpp"

namespace authctl::agentd {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: authctld [--fleet-conf PATH] [--conf PATH] [--socket PATH] [--stderr] [--check]\n"
    "  --fleet-conf PATH  fleet settings (default /etc/authctl/fleet.conf; root, 0600)\n"
    "  --conf PATH        lockout and code policy (default /etc/security/authctl.conf, may be absent)\n"
    "  --socket PATH      listen here instead of fleet.conf's socket (ignored under systemd socket activation)\n"
    "  --stderr           log to stderr as well as syslog (foreground runs, tests)\n"
    "  --check            connect, check the schema, print one line, exit 0 (usable) or 1\n";

struct Args {
    std::string fleet_conf = fleet::kDefaultFleetConfig;
    std::string conf = kDefaultConfigFile;
    bool conf_given = false;
    std::string socket;
    bool to_stderr = false;
    bool check = false;
};

// nullopt after printing a usage error (or the help, with `help` set).
std::optional<Args> parse_args(int argc, char** argv, bool& help)
{
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::string_view key = arg;
        std::optional<std::string> value;
        if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            key = arg.substr(0, eq);
            value = std::string(arg.substr(eq + 1));
        }
        const auto take = [&]() -> std::optional<std::string> {
            if (value) return value;
            if (i + 1 >= argc) return std::nullopt;
            return std::string(argv[++i]);
        };
        if (key == "--fleet-conf" || key == "--conf" || key == "--socket") {
            auto v = take();
            if (!v || v->empty()) {
                std::fprintf(stderr, "authctld: %s needs a path\n%s", std::string(key).c_str(), kUsage);
                return std::nullopt;
            }
            if (key == "--fleet-conf") a.fleet_conf = *v;
            if (key == "--conf") {
                a.conf = *v;
                a.conf_given = true;
            }
            if (key == "--socket") a.socket = *v;
        } else if (!value && arg == "--stderr") {
            a.to_stderr = true;
        } else if (!value && arg == "--check") {
            a.check = true;
        } else if (!value && (arg == "--help" || arg == "-h")) {
            help = true;
            std::fputs(kUsage, stdout);
            return std::nullopt;
        } else {
            std::fprintf(stderr, "authctld: unknown argument '%s'\n%s", std::string(arg).c_str(), kUsage);
            return std::nullopt;
        }
    }
    return a;
}

// fleet.conf, authctl.conf and the keyring, a store over them, and its first
// schema check: at start and on every SIGHUP.
Result<std::shared_ptr<Backend>> load_backend(const Args& a)
{
    auto cfg = fleet::load_fleet_config(a.fleet_conf);
    // Each error names its file (and line).
    if (!cfg) return cfg.error();
    Options opts;
    if (auto st = apply_config_file(opts, a.conf, !a.conf_given); !st) return st.error();
    auto ring = load_keyring(cfg->key_file);
    if (!ring) return ring.error();
    auto store = fleet::PgStore::open(*cfg, std::move(*ring));
    if (!store) return store.error();
    Status checked = (*store)->check_schema();
    return std::make_shared<Backend>(std::move(*cfg), std::move(*store), std::move(opts), std::move(checked));
}

int check_only(const Backend& b)
{
    if (!b.initial_check) {
        std::fprintf(stderr, "authctld: %s: %s\n", b.store->describe().c_str(),
                     b.initial_check.error().message().c_str());
        return kExitFailed;
    }
    std::string clock;
    if (auto db = b.store->db_time(); db) {
        const auto skew = agent::clock_skew_warning(static_cast<std::int64_t>(::time(nullptr)), *db);
        clock = skew ? "; warning: " + *skew : "; clocks agree";
    }
    std::printf("authctld: ok: %s: schema usable%s\n", b.store->describe().c_str(), clock.c_str());
    return kExitOk;
}

ServerLimits limits_for(const fleet::FleetConfig& cfg)
{
    ServerLimits l;
    l.workers = std::clamp(cfg.pool * 2U, 2U, 64U);
    l.max_connections = 64;
    l.io_timeout = std::chrono::seconds(2);
    // What one request can take at worst: reading it, a few bounded database
    // operations (each at most `timeout`, a connection at most
    // `connect_timeout`), writing the reply; then a margin.
    l.drain_timeout = 2 * l.io_timeout + std::chrono::seconds(4 * cfg.timeout + cfg.connect_timeout + 1);
    return l;
}

int run(int argc, char** argv)
{
    // Before anything can connect: libpq must find nothing in the environment.
    fleet::scrub_pg_environment();
    bool help = false;
    auto args = parse_args(argc, argv, help);
    if (!args) return help ? kExitOk : kExitUsage;
    log_open(args->to_stderr);

    // Blocked here, before any thread exists, so every thread inherits the
    // mask and the signals arrive only through the signalfd.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &sigs, nullptr) != 0) {
        log_fatal("cannot block signals");
        return kExitFailed;
    }
    signal(SIGPIPE, SIG_IGN);

    auto backend = load_backend(*args);
    if (!backend) {
        log_fatal("cannot start: " + backend.error().message());
        return kExitFailed;
    }
    if (args->check) return check_only(**backend);
    log(agent::store_check_log((*backend)->initial_check, (*backend)->store->describe()));

    auto activated = activated_socket();
    if (!activated) {
        log_fatal("cannot start: " + activated.error().message());
        return kExitFailed;
    }
    ListenSocket sock;
    if (*activated) {
        sock = std::move(**activated);
        if (!args->socket.empty()) log(LogLevel::notice, "--socket ignored: systemd passed the socket to serve");
    } else {
        auto bound = bind_socket(args->socket.empty() ? (*backend)->cfg.socket : args->socket);
        if (!bound) {
            log_fatal("cannot start: " + bound.error().message());
            return kExitFailed;
        }
        sock = std::move(*bound);
    }

    const UniqueFd sigfd(signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd.valid()) {
        log_fatal(std::string("cannot start: signalfd: ") + std::strerror(errno));
        unlink_socket(sock);
        return kExitFailed;
    }
    const ServerLimits limits = limits_for((*backend)->cfg);
    Server server(
        std::move(sock), std::move(*backend), [a = *args] { return load_backend(a); }, limits);
    return server.run(sigfd.get());
}

}  // namespace
}  // namespace authctl::agentd

int main(int argc, char** argv)
{
    try {
        return authctl::agentd::run(argc, argv);
    } catch (const std::bad_alloc&) {
        authctl::agentd::log_fatal("out of memory");
    } catch (const std::exception& e) {
        authctl::agentd::log_fatal(std::string("internal error: ") + e.what());
    } catch (...) {
        authctl::agentd::log_fatal("internal error");
    }
    return 1;
}
