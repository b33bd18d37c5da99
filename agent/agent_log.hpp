// SPDX-License-Identifier: Apache-2.0
// authctld's log: syslog (LOG_AUTHPRIV, ident "authctld"), and stderr too
// with --stderr (tests, foreground runs). One line per call; the text is
// written as given, so callers pass it through authctl::agent::log_text
// wherever it holds something a client sent.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "authctl/agent_serve.hpp"

namespace authctl::agentd {

using agent::LogLevel;
using agent::LogLine;

// Opens syslog; `to_stderr` copies every line to stderr.
void log_open(bool to_stderr);

void log(LogLevel level, const std::string& text);

// A line that ends the process (a configuration error at start): logged, and
// on stderr even without --stderr.
void log_fatal(const std::string& text);
inline void log(const LogLine& line)
{
    log(line.level, line.text);
}

// At most one line per `interval` for a repeating event (refused peers, a full
// connection cap): pass() says whether to log now and how many were held back since.
class LogThrottle {
public:
    explicit LogThrottle(std::chrono::milliseconds interval = std::chrono::seconds(1)) : interval_(interval) {}
    // nullopt: hold this one back; else the number held back before it.
    std::optional<unsigned> pass();

private:
    std::mutex mu_;
    std::chrono::milliseconds interval_;
    std::optional<std::chrono::steady_clock::time_point> last_;
    unsigned held_ = 0;
};

}  // namespace authctl::agentd
