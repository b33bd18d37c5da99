// SPDX-License-Identifier: Apache-2.0
#include "agent_log.hpp"

#include <syslog.h>

#include <cstdio>

namespace authctl::agentd {
namespace {

bool g_stderr = false;
std::mutex g_stderr_mu;

int priority(LogLevel level) noexcept
{
    switch (level) {
        case LogLevel::debug: return LOG_DEBUG;
        case LogLevel::info: return LOG_INFO;
        case LogLevel::notice: return LOG_NOTICE;
        case LogLevel::warning: return LOG_WARNING;
        case LogLevel::error: return LOG_ERR;
    }
    return LOG_ERR;
}

const char* prefix(LogLevel level) noexcept
{
    switch (level) {
        case LogLevel::warning: return "warning: ";
        case LogLevel::error: return "error: ";
        default: return "";
    }
}

}  // namespace

void log_open(bool to_stderr)
{
    g_stderr = to_stderr;
    openlog("authctld", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
}

void log(LogLevel level, const std::string& text)
{
    syslog(LOG_AUTHPRIV | priority(level), "%s", text.c_str());
    if (g_stderr) {
        const std::lock_guard<std::mutex> lk(g_stderr_mu);
        std::fprintf(stderr, "authctld: %s%s\n", prefix(level), text.c_str());
        std::fflush(stderr);
    }
}

void log_fatal(const std::string& text)
{
    log(LogLevel::error, text);
    if (!g_stderr) std::fprintf(stderr, "authctld: %s\n", text.c_str());
}

std::optional<unsigned> LogThrottle::pass()
{
    const auto now = std::chrono::steady_clock::now();
    const std::lock_guard<std::mutex> lk(mu_);
    if (last_ && now - *last_ < interval_) {
        ++held_;
        return std::nullopt;
    }
    last_ = now;
    const unsigned held = held_;
    held_ = 0;
    return held;
}

}  // namespace authctl::agentd
