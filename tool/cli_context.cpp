// SPDX-License-Identifier: Apache-2.0
#include "cli_context.hpp"

#include <unistd.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <pwd.h>
#include <termios.h>

#include "authctl/fleet_config.hpp"
#include "authctl/text.hpp"
#include "authctl/login.hpp"
#include "authctl/sealed.hpp"
#include "authctl/secret.hpp"

namespace authctl::cli {

void fail(const Error& err)
{
    // Every error from core is a refusal or a failure of the command itself
    // (exit 1); usage errors (exit 2) are raised by the argument checks.
    throw Failure(kExitFailed, err.message());
}

void fail(int exit_code, const std::string& message)
{
    throw Failure(exit_code, message);
}

Options load_options(const Common& c)
{
    // Every command works on the root-only state: say so before anything else fails.
    if (::geteuid() != 0) fail(kExitFailed, "this command needs root: the state directory and its files are root-only");
    Options opts;
    const bool named = !c.conf.empty();
    if (auto st = apply_config_file(opts, named ? c.conf : kDefaultConfigFile, !named); !st) fail(st.error());
    if (!c.dir.empty()) {
        const std::string_view v = c.dir;
        if (auto st = apply_option(opts, "dir", &v); !st) fail(kExitUsage, "--dir: " + st.error().detail);
    }
    return opts;
}

namespace {

Result<UserStore> open_user_store(const Options& opts, bool create)
{
    return create ? UserStore::open_or_create(opts.dir) : UserStore::open(opts.dir);
}

}  // namespace

std::int64_t StoreHandle::now() const
{
    if (fleet == nullptr) return cli::now();
    auto t = fleet->db_time();
    if (!t) fail(t.error());
    return *t;
}

bool use_fleet(const Common& c, const Options& opts)
{
    // --fleet-conf names the fleet: it means --store fleet, and contradicts --store file.
    if (!c.fleet_conf.empty() && c.store == "file")
        fail(kExitUsage, "--fleet-conf is for the fleet database, not --store file");
    const bool fleet =
        c.store.empty() ? opts.store == StoreKind::agent || !c.fleet_conf.empty() : c.store == "fleet";
    // A state directory named on a host in fleet mode would otherwise be
    // silently ignored: say which store, rather than guess.
    if (fleet && !c.dir.empty())
        fail(kExitUsage, c.store.empty() ? "--dir names a state directory, but this host is in fleet mode "
                                           "(store=agent): add --store file to work on it"
                                         : "--dir is for --store file, not the fleet database");
    return fleet;
}

Result<std::unique_ptr<fleet::PgStore>> try_open_fleet(const Common& c, bool check_schema)
{
    // libpq would take host, user, password file, TLS settings... from PG*
    // variables: nothing of the fleet's connection comes from the caller.
    fleet::scrub_pg_environment();
    const std::string path = c.fleet_conf.empty() ? fleet::kDefaultFleetConfig : c.fleet_conf;
    auto cfg = fleet::load_fleet_config(path);
    if (!cfg) return cfg.error();
    auto keys = load_keyring(cfg->key_file);
    if (!keys) return keys.error();
    auto pg = fleet::PgStore::open(*cfg, std::move(*keys));
    if (!pg) return pg.error();
    if (check_schema) {
        if (auto st = (*pg)->check_schema(); !st) {
            if (st.error().code == Errc::not_found)
                return make_error(Errc::not_found, "fleet database has no authctl schema: run 'authctl fleet init'");
            return st.error();
        }
    }
    return std::move(*pg);
}

std::unique_ptr<fleet::PgStore> open_fleet(const Common& c, bool check_schema)
{
    auto pg = try_open_fleet(c, check_schema);
    if (!pg) fail(pg.error());
    return std::move(*pg);
}

Result<StoreHandle> try_open_store(const Common& c, const Options& opts, bool create)
{
    StoreHandle h;
    if (use_fleet(c, opts)) {
        auto pg = try_open_fleet(c, true);
        if (!pg) return pg.error();
        h.fleet = pg->get();
        h.store = std::move(*pg);
        return h;
    }
    auto s = open_user_store(opts, create);
    if (!s) return s.error();
    h.store = std::make_unique<UserStore>(std::move(*s));
    return h;
}

StoreHandle open_store(const Common& c, const Options& opts, bool create)
{
    auto h = try_open_store(c, opts, create);
    if (!h) fail(h.error());
    return std::move(*h);
}

UserStore open_file_store(const Options& opts, bool create)
{
    auto s = open_user_store(opts, create);
    if (!s) fail(s.error());
    return std::move(*s);
}

std::optional<SystemUser> find_user(const std::string& name)
{
    if (name.empty()) return std::nullopt;
    errno = 0;
    const passwd* pw = ::getpwnam(name.c_str());
    if (pw == nullptr || pw->pw_name == nullptr) return std::nullopt;
    return SystemUser{pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir != nullptr ? pw->pw_dir : ""};
}

namespace {


}  // namespace

std::optional<std::uint32_t> binding_uid(const StoreHandle& store, const SystemUser& user)
{
    if (store.fleet != nullptr) return std::nullopt;
    return static_cast<std::uint32_t>(user.uid);
}

SystemUser require_user(const std::string& name)
{
    auto u = find_user(name);
    if (!u) fail(kExitFailed, "no such user '" + quoted_name(name) + "' in the system's user database");
    return *u;
}

SystemUser require_record_user(const std::string& name)
{
    if (is_unknown_user_bucket(name)) return SystemUser{name, static_cast<unsigned>(-1), static_cast<unsigned>(-1), {}};
    return require_user(name);
}

std::string read_code(const std::string& prompt)
{
    std::cout.flush();  // whatever the code is for (a URI, a QR code) must be out first
    std::string line;
    if (::isatty(STDIN_FILENO) != 0) {
        std::cerr << prompt << std::flush;
        termios old{};
        const bool have = ::tcgetattr(STDIN_FILENO, &old) == 0;
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        if (have) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        std::getline(std::cin, line);
        if (have) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        std::cerr << "\n";
    } else {
        std::getline(std::cin, line);
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

std::int64_t now()
{
    return static_cast<std::int64_t>(std::time(nullptr));
}

std::string human_duration(std::int64_t s)
{
    if (s < 0) s = 0;
    auto unit = [](std::int64_t n, const char* u) { return std::to_string(n) + " " + u + (n == 1 ? "" : "s"); };
    if (s < 60) return unit(s, "second");
    if (s < 3600) return unit((s + 59) / 60, "minute");
    if (s < 86400) return unit((s + 3599) / 3600, "hour");
    return unit((s + 86399) / 86400, "day");
}

namespace {

std::string format_utc(std::int64_t t, const char* format)
{
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    ::gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}

}  // namespace

std::string utc_time(std::int64_t t)
{
    return t <= 0 ? "-" : format_utc(t, "%Y-%m-%d %H:%M:%S");
}

std::string iso_utc(std::int64_t t)
{
    return format_utc(t, "%Y-%m-%dT%H:%M:%SZ");
}

std::string admin_identity()
{
    constexpr unsigned kNoLoginUid = 4294967295U;  // (uid_t)-1: not set for this process
    unsigned uid = kNoLoginUid;
    if (std::ifstream in("/proc/self/loginuid"); in) {
        unsigned long long v = 0;
        if (in >> v && v <= kNoLoginUid) uid = static_cast<unsigned>(v);
    }
    if (uid == kNoLoginUid) uid = ::getuid();
    errno = 0;
    const passwd* pw = ::getpwuid(uid);
    if (pw != nullptr && pw->pw_name != nullptr && pw->pw_name[0] != '\0') return pw->pw_name;
    return "uid:" + std::to_string(uid);
}

// A name as typed, for a message: control bytes as \xNN, so the message stays
// one line and cannot drive the terminal.
std::string weak_secret_text(std::size_t bytes)
{
    return "weak secret: " + std::to_string(bytes) +
           (bytes == 1 ? " byte" : " bytes") + ", under the 10 (80 bits) authctl requires; enroll anew (authctl enroll --force)";
}

std::string quoted_name(const std::string& name)
{
    return escape_controls(name);
}

}  // namespace authctl::cli
