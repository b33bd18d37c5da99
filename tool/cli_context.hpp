// SPDX-License-Identifier: Apache-2.0
// What every authctl command shares: the options (--conf, --dir), the store
// (this host's files or the fleet database: --store, --fleet-conf), user
// lookups, the one Errc → exit-code mapping, and how codes are read.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "authctl/options.hpp"
#include "authctl/result.hpp"
#include "authctl/store.hpp"
#include "pg_store.hpp"

namespace authctl::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // refused or failed: bad code, locked, not enrolled, audit findings, errors
inline constexpr int kExitUsage = 2;

// A failure to report: one line on stderr, then this exit code.
struct Failure : std::runtime_error {
    int code;
    Failure(int exit_code, const std::string& message) : std::runtime_error(message), code(exit_code) {}
};

// The one mapping from core errors to exit codes (and the message to print).
[[noreturn]] void fail(const Error& err);
[[noreturn]] void fail(int exit_code, const std::string& message);

struct Common {
    std::string dir;         // empty: from the config file, else the default
    std::string conf;        // empty: /etc/security/authctl.conf if present
    std::string store;       // "file", "fleet", or empty: the config file's store= decides
    std::string fleet_conf;  // empty: /etc/authctl/fleet.conf
    bool json = false;
};

// The merged options: the config file, then --dir. Refuses early, with a
// clear message, when not run as root.
Options load_options(const Common& c);

// The store a command works on, and the clock its decisions use.
struct StoreHandle {
    std::unique_ptr<Store> store;
    const fleet::PgStore* fleet = nullptr;  // the same object, when it is the fleet database

    const Store& operator*() const noexcept { return *store; }
    const Store* operator->() const noexcept { return store.get(); }
    // The fleet database's clock (one query), else this host's.
    std::int64_t now() const;
};

// True when the command works on the fleet database: --store fleet, or no
// --store and store=agent in the config file (this host is in fleet mode; the
// CLI then talks to the database itself, with fleet.conf's settings). --dir
// with the fleet is a usage error (Failure, exit 2): never silently ignored.
bool use_fleet(const Common& c, const Options& opts);

// The store use_fleet() selects. File store: `create` makes a missing state
// directory (root, 0700). Fleet: see open_fleet.
StoreHandle open_store(const Common& c, const Options& opts, bool create);

// As open_store, with the failure as a value (audit reports it as a finding).
Result<StoreHandle> try_open_store(const Common& c, const Options& opts, bool create);

// This host's file store (opts.dir), whatever use_fleet() says (fleet push/pull).
UserStore open_file_store(const Options& opts, bool create);

// The fleet database: removes PG* variables from the environment, reads
// fleet.conf (--fleet-conf) and its key file, then -- when `check_schema` --
// refuses a database without the authctl schema ("run 'authctl fleet init'")
// or with a newer one. Connecting is lazy: the schema check is the first query.
std::unique_ptr<fleet::PgStore> open_fleet(const Common& c, bool check_schema);
Result<std::unique_ptr<fleet::PgStore>> try_open_fleet(const Common& c, bool check_schema);

struct SystemUser {
    std::string name;  // pw_name
    unsigned uid = 0;
    unsigned gid = 0;
    std::string home;
};
// The user from the system's user database; Failure (exit 1) naming the user otherwise.
SystemUser require_user(const std::string& name);
std::optional<SystemUser> find_user(const std::string& name);
// As require_user, but a bucket of names that do not exist (":unknown:XXX",
// unknown_user_bucket) is accepted as itself (uid -1): the commands that only
// read or clear a record (status, reset, lock, remove) work on buckets too.
SystemUser require_record_user(const std::string& name);

// The uid a record is bound to on this store (issue 19): the user's uid on a
// host's own state directory; none on the fleet database, whose hosts may
// give one name different uids (a fleet's records are bound by name).
std::optional<std::uint32_t> binding_uid(const StoreHandle& store, const SystemUser& user);
inline AccountBinding account_binding(const StoreHandle& store, const SystemUser& user)
{
    return AccountBinding{binding_uid(store, user), user.name};
}

// Reads a code: from the terminal without echo (prompting on stderr) when
// stdin is a terminal, else one line from stdin.
std::string read_code(const std::string& prompt);

std::int64_t now();

// A name for a message or a table: control bytes as \xNN, so it stays one
// line and cannot drive the terminal (names from the fleet database are as
// trusted as whoever can write it).
std::string quoted_name(const std::string& name);

// For a record whose key is under kMinSecretBytes (status, audit): what it is and what to do.
std::string weak_secret_text(std::size_t bytes);

// "3 minutes", "2 hours", ...
std::string human_duration(std::int64_t seconds);
// "2026-11-22 10:04:05" in UTC, or "-" for 0.
std::string utc_time(std::int64_t t);
// "2026-11-22T10:04:05Z" (ISO 8601, UTC), for JSON.
std::string iso_utc(std::int64_t t);

// Who runs this command, for the record of a lock by hand: the audit login
// uid (/proc/self/loginuid: the user who logged in, also through sudo or su)
// mapped to a name, else "uid:N"; when the process has no login uid (a
// service, cron), the real uid the same way.
std::string admin_identity();

}  // namespace authctl::cli
