// What every authctl command shares: the options (--conf, --dir), the store,
// user lookups, the one Errc → exit-code mapping, and how codes are read.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "authctl/options.hpp"
#include "authctl/result.hpp"
#include "authctl/store.hpp"

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
    std::string dir;   // empty: from the config file, else the default
    std::string conf;  // empty: /etc/security/authctl.conf if present
    bool json = false;
};

// The merged options: the config file, then --dir.
Options load_options(const Common& c);

// The store; `create` makes a missing state directory (root, 0700). Refuses
// early, with a clear message, when not run as root.
UserStore open_store(const Options& opts, bool create);

struct SystemUser {
    std::string name;  // pw_name
    unsigned uid = 0;
    unsigned gid = 0;
    std::string home;
};
// The user from the system's user database; Failure (exit 1) naming the user otherwise.
SystemUser require_user(const std::string& name);
std::optional<SystemUser> find_user(const std::string& name);

// Reads a code: from the terminal without echo (prompting on stderr) when
// stdin is a terminal, else one line from stdin.
std::string read_code(const std::string& prompt);

std::int64_t now();

// "3 minutes", "2 hours", ...
std::string human_duration(std::int64_t seconds);
// "2026-11-22 10:04:05" in UTC, or "-" for 0.
std::string utc_time(std::int64_t t);

}  // namespace authctl::cli
