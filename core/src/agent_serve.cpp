// SPDX-License-Identifier: Apache-2.0
#include "authctl/agent_serve.hpp"

#include <time.h>

#include <ctime>
#include <new>

#include "authctl/text.hpp"

namespace authctl::agent {
namespace {

// A lock's end for a log line: UTC, or "until reset".
std::string until_text(std::int64_t until)
{
    if (until == kLockedForever) return "until reset";
    const auto t = static_cast<std::time_t>(until);
    std::tm tm{};
    char buf[32];
    if (gmtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return "until " + std::to_string(until);
    return std::string("until ") + buf;
}

Reply ok_reply()
{
    Reply rep;
    rep.ok = true;
    return rep;
}

Reply run(LoginService& logins, const Request& req, std::int64_t now)
{
    LoginContext ctx{req.user, req.is_root, req.source, now, req.service};
    ctx.unknown_name = req.unknown_name;
    Reply rep = ok_reply();
    switch (req.op) {
        case Op::lock_info: {
            auto r = logins.lock_info(ctx);
            if (!r) return error_reply(r.error());
            rep.info = *r;
            return rep;
        }
        case Op::attempt: {
            auto r = logins.attempt_code(ctx, req.code);
            if (!r) return error_reply(r.error());
            rep.attempt = *r;
            return rep;
        }
        case Op::external_failure: {
            auto r = logins.external_failure(ctx);
            if (!r) return error_reply(r.error());
            rep.attempt = *r;
            return rep;
        }
        case Op::external_success: {
            auto r = logins.external_success(ctx);
            if (!r) return error_reply(r.error());
            rep.attempt = *r;
            return rep;
        }
    }
    return error_reply(make_error(Errc::invalid_argument, "unknown op"));
}

// "account locked" or "source locked", as the lock's scope says.
std::string locked_word(const LockState& lock)
{
    return lock.scope == LockScope::source ? "source locked " : "account locked ";
}

std::string context_tail(const Request& req)
{
    return " (service=" + log_text(req.service, 64) + " source=" + log_text(req.source) + " op=" + op_name(req.op) +
           ")";
}

LogLine attempt_line(const AttemptResult& a)
{
    switch (a.outcome) {
        case Outcome::success: {
            std::string text = a.used_recovery
                                   ? "accepted a recovery code (" + std::to_string(a.recovery_left) + " left)"
                                   : std::string("accepted the code");
            if (a.failures > 0) text += ", " + failures_text(a.failures) + " cleared";
            if (a.sources > 0) text += " (from " + std::to_string(a.sources) + " source" + (a.sources == 1 ? ")" : "s)");
            return {LogLevel::info, text};
        }
        case Outcome::wrong_code: {
            const std::string what = a.replayed ? "code already used" : "wrong code";
            if (a.locked_now)
                return {LogLevel::warning,
                        what + " (" + failures_text(a.failures) + "): " + locked_word(a.lock) + until_text(a.lock.until)};
            return {LogLevel::notice, what + " (" + failures_text(a.failures) + ")"};
        }
        case Outcome::locked:
            return {LogLevel::notice, "refused without evaluating: " + locked_word(a.lock) + until_text(a.lock.until) +
                                          " (" + failures_text(a.failures) + ")"};
        case Outcome::not_enrolled: return {LogLevel::info, "no enrollment"};
    }
    return {LogLevel::error, "unknown outcome"};
}

LogLine external_failure_line(const AttemptResult& a)
{
    if (a.outcome == Outcome::locked)
        return {LogLevel::notice,
                "failure of another module while locked (not counted, " + failures_text(a.failures) + ")"};
    if (a.locked_now)
        return {LogLevel::warning, "failure of another module recorded (" + failures_text(a.failures) +
                                       "): " + locked_word(a.lock) + until_text(a.lock.until)};
    return {LogLevel::notice, "failure of another module recorded (" + failures_text(a.failures) + ")"};
}

LogLine lock_info_line(const LockInfo& i)
{
    const std::string enrolled = i.enrolled ? "enrolled" : "not enrolled";
    if (i.lock.locked)
        return {LogLevel::notice, std::string("lock state: ") + (i.lock.scope == LockScope::source ? "source " : "") +
                                      "locked " + until_text(i.lock.until) + " (" + failures_text(i.failures) +
                                      ", " + enrolled + ")"};
    return {LogLevel::info, "lock state: not locked (" + failures_text(i.failures) + ", " + enrolled + ")"};
}

}  // namespace

Reply serve_request(LoginService& logins, const Request& req, std::int64_t now)
{
    try {
        return run(logins, req, now);
    } catch (const std::bad_alloc&) {
        return error_reply(make_error(Errc::io, "out of memory in the agent"));
    } catch (const std::exception& e) {
        return error_reply(make_error(Errc::io, std::string("internal error in the agent: ") + e.what()));
    }
}

Reply serve_request(LoginService& logins, const Request& req)
{
    return serve_request(logins, req, static_cast<std::int64_t>(::time(nullptr)));
}

Reply error_reply(const Error& err)
{
    Reply rep;
    rep.ok = false;
    rep.errc = err.code;
    std::string detail = err.detail;
    for (char& c : detail) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x20 || b == 0x7F) c = '?';
    }
    if (!valid_utf8(detail)) {
        for (char& c : detail) {
            if (static_cast<unsigned char>(c) >= 0x80) c = '?';
        }
    }
    if (detail.size() > kMaxDetailBytes) {
        std::size_t cut = kMaxDetailBytes - 3;
        // Back off over UTF-8 continuation bytes, to cut between characters.
        while (cut > 0 && (static_cast<unsigned char>(detail[cut]) & 0xC0U) == 0x80U) --cut;
        detail.resize(cut);
        detail += "...";
    }
    rep.detail = std::move(detail);
    return rep;
}

const char* op_name(Op op) noexcept
{
    switch (op) {
        case Op::lock_info: return "lock_info";
        case Op::attempt: return "attempt";
        case Op::external_failure: return "external_failure";
        case Op::external_success: return "external_success";
    }
    return "unknown";
}

std::string log_text(std::string_view s, std::size_t max)
{
    if (s.empty()) return "-";
    const bool cut = s.size() > max;
    if (cut) s = s.substr(0, max);
    std::string out;
    out.reserve(s.size() + 3);
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        out.push_back(b >= 0x20 && b < 0x7F ? c : '?');
    }
    if (cut) out += "...";
    return out;
}

LogLine decision_log(const Request& req, const Reply& rep)
{
    LogLine line;
    if (!rep.ok) {
        // An invalid user name is the caller's problem, not the store's.
        line.level = rep.errc == Errc::invalid_user ? LogLevel::notice : LogLevel::error;
        line.text = std::string("error, nothing decided: ") + errc_text(rep.errc) + ": " + log_text(rep.detail, 512);
    } else {
        switch (req.op) {
            case Op::lock_info: line = lock_info_line(rep.info); break;
            case Op::attempt: line = attempt_line(rep.attempt); break;
            case Op::external_failure: line = external_failure_line(rep.attempt); break;
            case Op::external_success:
                line = rep.attempt.outcome == Outcome::locked
                           ? LogLine{LogLevel::notice, "success of another module refused: locked (" +
                                                           failures_text(rep.attempt.failures) + ")"}
                           : LogLine{LogLevel::info, "success of another module recorded (" +
                                                         failures_text(rep.attempt.failures) + " cleared)"};
                break;
        }
    }
    if (rep.ok && rep.attempt.clock_ahead) {
        line.text += "; stored times were ahead of the clock (it was ahead when they were written): brought back";
        if (line.level == LogLevel::info || line.level == LogLevel::notice) line.level = LogLevel::warning;
    }
    if (rep.ok) {
        const std::string& key_error =
            req.op == Op::lock_info ? rep.info.bucket_key_error : rep.attempt.bucket_key_error;
        if (!key_error.empty()) {
            line.text += "; " + log_text(key_error, 512);
            line.level = LogLevel::error;
        }
    }
    line.text = "user " + log_user(req) + ": " + line.text + context_tail(req);
    return line;
}

std::string log_user(const Request& req)
{
    // The digest of a name that does not exist (perhaps a password typed at
    // the user prompt) is not logged: a digest of a weak password is the
    // password.
    return req.unknown_name ? std::string("(unknown name)") : log_text(req.user, 256);
}

std::optional<std::string> clock_skew_warning(std::int64_t host_now, std::int64_t db_now, std::int64_t max_skew)
{
    const std::int64_t diff = host_now - db_now;
    if (diff <= max_skew && diff >= -max_skew) return std::nullopt;
    const std::int64_t mag = diff < 0 ? -diff : diff;
    return "this host's clock is " + std::to_string(mag) + " s " + (diff > 0 ? "ahead of" : "behind") +
           " the database's (host " + std::to_string(host_now) + ", database " + std::to_string(db_now) +
           "): lockout times and TOTP steps follow the database's clock; fix this host's time synchronisation";
}

ServeGate::ServeGate(Status initial, Clock::time_point checked_at, std::chrono::milliseconds retry,
                     std::chrono::milliseconds recheck)
    : state_(std::move(initial)), checked_at_(checked_at), retry_(retry), recheck_(recheck)
{
}

ServeGate::Admission ServeGate::admit(const Check& check, Clock::time_point now)
{
    std::unique_lock<std::mutex> lk(mu_);
    const auto interval = state_.has_value() ? recheck_ : retry_;
    if (checking_ || now - checked_at_ < interval) return {state_, std::nullopt};
    checking_ = true;
    lk.unlock();

    Status st = Ok{};
    try {
        st = check();
    } catch (const std::bad_alloc&) {
        st = make_error(Errc::io, "out of memory checking the store");
    } catch (const std::exception& e) {
        st = make_error(Errc::io, std::string("checking the store: ") + e.what());
    } catch (...) {
        st = make_error(Errc::io, "checking the store: unknown exception");
    }

    lk.lock();
    checking_ = false;
    checked_at_ = now;
    const bool changed =
        state_.has_value() != st.has_value() ||
        (!st.has_value() && (state_.error().code != st.error().code || state_.error().detail != st.error().detail));
    state_ = st;
    Admission out{std::move(st), std::nullopt};
    if (changed) out.transition = store_check_log(out.status, "");
    return out;
}

LogLine store_check_log(const Status& st, std::string_view where)
{
    const std::string at = where.empty() ? std::string() : " (" + std::string(where) + ")";
    if (st) return {LogLevel::info, "store ready" + at + ": serving logins"};
    return {LogLevel::error,
            "store not usable" + at + ", every request is answered with an error until it is: " + st.error().message()};
}

}  // namespace authctl::agent
