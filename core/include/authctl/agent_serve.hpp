// SPDX-License-Identifier: Apache-2.0
// The agent's side of fleet mode, as pure functions and one small state
// machine: what a decoded request asks of a LoginService and what the reply
// says, the log line of each decision, the readiness of the store (schema
// present and known), and the clock comparison. authctld (agent/) only does
// the I/O around them: sockets, threads, signals, syslog.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "authctl/agent_protocol.hpp"
#include "authctl/login.hpp"
#include "authctl/result.hpp"

namespace authctl::agent {

// Runs `req` on `logins` with a LoginContext built from it (user, is_root,
// source, service; now as given) and returns the reply. Never throws for a
// store error: it becomes ok == false with its errc and a one-line detail
// (error_reply). The code is passed through, never copied into the reply.
Reply serve_request(LoginService& logins, const Request& req, std::int64_t now);

// As above with now = time(nullptr).
Reply serve_request(LoginService& logins, const Request& req);

// An error as a reply: ok == false, the errc, and the detail made fit for the
// protocol (valid UTF-8 without control bytes, at most kMaxDetailBytes; bytes
// that do not fit become '?', an overlong detail is cut at a character).
Reply error_reply(const Error& err);

// "lock_info", "attempt", "external_failure", "external_success".
const char* op_name(Op op) noexcept;

// `s` for a log line: printable ASCII only (any other byte becomes '?'), at
// most `max` bytes ("..." marks a cut); "-" when empty.
std::string log_text(std::string_view s, std::size_t max = 128);

// The request's user for a log line: "(unknown name)" for a name's digest
// (Request::unknown_name), else log_text(user, 256).
std::string log_user(const Request& req);

enum class LogLevel { debug, info, notice, warning, error };

struct LogLine {
    LogLevel level = LogLevel::info;
    std::string text;
};

// The one log line of a served request: the user, the outcome (or the error
// with its message), failures and lock, then the service, source and op. Never
// the code. E.g. "user alice: wrong code (2 failures) (service=sshd source=10.0.0.7 op=attempt)".
// A bucket key that could not be had (bucket_key_error) is appended, at LogLevel::error.
LogLine decision_log(const Request& req, const Reply& rep);

// A warning when the host clock and the database's differ by more than
// `max_skew` seconds (either way), naming both and the difference; nullopt otherwise.
std::optional<std::string> clock_skew_warning(std::int64_t host_now, std::int64_t db_now, std::int64_t max_skew = 30);

// Whether requests may go to the store: the result of the store's last
// schema check (PgStore::check_schema), re-checked on a later request at most
// once per `retry` while it failed (database down, schema missing or newer
// than this build) and once per `recheck` while it passed. Thread-safe: one
// caller runs a due check, the others meanwhile get the last result at once.
class ServeGate {
public:
    using Check = std::function<Status()>;
    using Clock = std::chrono::steady_clock;

    // `initial` is the result of the check made before serving (at start or
    // when a reloaded store is swapped in), taken at `checked_at`.
    ServeGate(Status initial, Clock::time_point checked_at, std::chrono::milliseconds retry = std::chrono::seconds(1),
              std::chrono::milliseconds recheck = std::chrono::seconds(60));

    struct Admission {
        Status status;                      // Ok: serve; otherwise the error to reply with
        std::optional<LogLine> transition;  // set when this call's check changed the state: log it once
    };
    // Ok when the last check passed; runs `check` first when one is due and
    // no other caller is running it.
    Admission admit(const Check& check, Clock::time_point now);

private:
    std::mutex mu_;
    Status state_;
    Clock::time_point checked_at_;
    std::chrono::milliseconds retry_;
    std::chrono::milliseconds recheck_;
    bool checking_ = false;
};

// The log line for a store check's result ("store ready" or the error, with
// what it means for logins). Used for the first check and for transitions.
LogLine store_check_log(const Status& st, std::string_view where);

}  // namespace authctl::agent
