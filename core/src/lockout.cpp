// SPDX-License-Identifier: Apache-2.0
#include "authctl/lockout.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace authctl {
namespace {

// faillock's rule: root is locked only with even_deny_root (or root_unlock_time).
bool lock_applies(const LockoutPolicy& policy, bool is_root) noexcept
{
    return !is_root || policy.even_deny_root || policy.root_unlock_time_set;
}

// Root without even_deny_root, throttled per source instead of never locked.
bool root_throttled(const LockoutPolicy& policy, bool is_root) noexcept
{
    return is_root && !lock_applies(policy, is_root) && policy.root_throttle > 0;
}

bool lock_in_force(std::int64_t locked_until, std::int64_t now) noexcept
{
    return locked_until != 0 && (locked_until == kLockedForever || now < locked_until);
}

// faillock's counting rule, on one count: a failure within fail_interval of
// the previous one continues the count, a longer quiet spell restarts it. A
// `now` earlier than the last failure is normal under concurrency (the clock
// was read before waiting for the lock) or a clock step: it continues the
// count, never restarts it, and last_failure never moves backwards.
void count_failure(std::uint32_t& failures, std::int64_t& first, std::int64_t& last, const LockoutPolicy& policy,
                   std::int64_t now) noexcept
{
    const bool continues =
        failures > 0 && (now <= last || now - last <= static_cast<std::int64_t>(policy.fail_interval));
    if (!continues) {
        failures = 0;
        first = now;
    }
    if (failures < UINT32_MAX) ++failures;
    if (now > last) last = now;
}

// How long a lock by failures lasts: root_throttle for a throttled root,
// root_unlock_time for root when set, else unlock_time; 0 = until reset.
std::uint32_t lock_seconds(const LockoutPolicy& policy, bool is_root) noexcept
{
    if (root_throttled(policy, is_root)) return policy.root_throttle;
    return (is_root && policy.root_unlock_time_set) ? policy.root_unlock_time : policy.unlock_time;
}

// The end of a lock by failures that starts at `from`.
std::int64_t lock_end(const LockoutPolicy& policy, bool is_root, std::int64_t from) noexcept
{
    const std::uint32_t seconds = lock_seconds(policy, is_root);
    return (seconds == 0 || from > kLockedForever - 1 - seconds) ? kLockedForever : from + seconds;
}

SourceTally* find_entry(Tally& tally, std::string_view source) noexcept
{
    for (auto& s : tally.sources)
        if (s.source == source) return &s;
    return nullptr;
}

// The entry for `key` (already sanitised), created when missing; a full table
// first gives up the least useful entry: one not locked at `now` with the
// oldest failure, else the lock that ends first.
SourceTally& entry_for(Tally& tally, const std::string& key, std::int64_t now)
{
    if (SourceTally* s = find_entry(tally, key)) return *s;
    if (tally.sources.size() >= kMaxSources) {
        auto victim = tally.sources.begin();
        auto worse = [now](const SourceTally& a, const SourceTally& b) {
            const bool la = lock_in_force(a.locked_until, now);
            const bool lb = lock_in_force(b.locked_until, now);
            if (la != lb) return !la;  // an unlocked entry goes first
            if (la && a.locked_until != b.locked_until) return a.locked_until < b.locked_until;
            return a.last_failure < b.last_failure;
        };
        for (auto it = tally.sources.begin(); it != tally.sources.end(); ++it)
            if (worse(*it, *victim)) victim = it;
        tally.sources.erase(victim);
    }
    tally.sources.push_back(SourceTally{});
    tally.sources.back().source = key;
    return tally.sources.back();
}

}  // namespace

unsigned user_deny(const LockoutPolicy& policy) noexcept
{
    if (!policy.per_source) return policy.deny;
    if (policy.deny == 0) return 0;
    if (policy.deny_user_set) return policy.deny_user;
    return std::min<unsigned>(10 * policy.deny, kMaxDeny);
}

LockState lock_state(const Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now) noexcept
{
    if (!lock_in_force(tally.locked_until, now)) return {};
    // A throttled root is locked from everywhere (but its console) only by
    // the cap on consecutive failures or an administrator's lock.
    const bool applies = lock_applies(policy, is_root) ||
                         (root_throttled(policy, is_root) && (tally.lock_reason == LockReason::consecutive ||
                                                              tally.lock_reason == LockReason::admin));
    if (!applies) return {};
    if (tally.lock_reason == LockReason::consecutive)
        return {true, tally.locked_until, LockScope::codes, tally.failures_since_success};
    return {true, tally.locked_until, LockScope::user, tally.failures};
}

LockState lock_state(const Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now,
                     std::string_view source)
{
    const std::string key = sanitize_source(source);
    // Root's way in when nothing else works: its own console, unless
    // even_deny_root says root is to be locked like everyone.
    if (root_throttled(policy, is_root) && is_console_source(key)) return {};
    if (const LockState user = lock_state(tally, policy, is_root, now); user.locked) return user;
    const bool throttled = root_throttled(policy, is_root);
    if (!lock_applies(policy, is_root) && !throttled) return {};
    const SourceTally* s = find_source(tally, key);
    if (s == nullptr || !lock_in_force(s->locked_until, now)) return {};
    // An administrator's lock of a source holds in every mode; a lock by
    // failures only while per_source is on (turning it off returns to the
    // user-wide rule alone), or for a throttled root.
    if (!policy.per_source && !throttled && s->lock_reason != LockReason::admin) return {};
    return {true, s->locked_until, LockScope::source, s->failures};
}

bool record_failure(Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now, std::string_view source)
{
    const std::string key = sanitize_source(source);
    count_failure(tally.failures, tally.first_failure, tally.last_failure, policy, now);
    tally.last_source = key;
    if (tally.failures_since_success < UINT32_MAX) ++tally.failures_since_success;

    bool locked_now = false;
    const bool applies = lock_applies(policy, is_root);
    const bool throttled = root_throttled(policy, is_root);
    const bool console = throttled && is_console_source(key);
    if (policy.per_source || throttled) {
        SourceTally& s = entry_for(tally, key, now);
        // A source counts once since the last success (which clears every
        // entry's mark); a new entry has none.
        if (!s.since_success) {
            s.since_success = true;
            if (tally.sources_since_success < UINT32_MAX) ++tally.sources_since_success;
        }
        count_failure(s.failures, s.first_failure, s.last_failure, policy, now);
        if ((applies || (throttled && !console)) && policy.deny != 0 && s.failures >= policy.deny &&
            !lock_in_force(s.locked_until, now)) {
            // From now, not from a stored time (a clock that was ahead once).
            s.locked_until = lock_end(policy, is_root, now);
            s.lock_reason = LockReason::failures;
            s.locked_by.clear();
            locked_now = true;
        }
    }
    if (policy.deny == 0) return locked_now;
    // The cap on consecutive failures: it does not expire with fail_interval,
    // and only a success or an administrator's reset ends it.
    if ((applies || (throttled && !console)) && policy.deny_consecutive != 0 &&
        tally.failures_since_success >= policy.deny_consecutive &&
        !(lock_in_force(tally.locked_until, now) && tally.locked_until == kLockedForever)) {
        tally.locked_until = kLockedForever;
        tally.lock_reason = LockReason::consecutive;
        tally.locked_by.clear();
        return true;
    }
    const unsigned threshold = user_deny(policy);
    if (!applies || threshold == 0 || tally.failures < threshold) return locked_now;
    if (lock_state(tally, policy, is_root, now).locked) return locked_now;  // already locked (by hand)
    tally.locked_until = lock_end(policy, is_root, now);
    tally.lock_reason = LockReason::failures;
    tally.locked_by.clear();
    return true;
}

SinceSuccess record_success(Tally& tally, std::int64_t now, std::string_view source, bool code_accepted)
{
    const std::string key = sanitize_source(source);
    // Never moves backwards (a clock step, or a login that waited for the lock).
    if (code_accepted && now > tally.last_success) {
        tally.last_success = now;
        tally.last_success_source = key;
    }
    const SinceSuccess since{tally.failures_since_success, tally.sources_since_success};
    tally.failures_since_success = 0;
    tally.sources_since_success = 0;
    tally.failures = 0;
    tally.first_failure = 0;
    tally.locked_until = 0;
    tally.lock_reason = LockReason::unknown;
    tally.locked_by.clear();
    // This source's own count goes; other sources keep theirs (and their
    // locks): the owner's login from one place does not unlock a guesser's.
    // Their failures were told now: the next one counts its source again.
    std::erase_if(tally.sources, [&key](const SourceTally& s) { return s.source == key; });
    for (SourceTally& s : tally.sources) s.since_success = false;
    return since;
}

const char* lock_reason_name(LockReason r) noexcept
{
    switch (r) {
        case LockReason::failures: return "failures";
        case LockReason::admin: return "admin";
        case LockReason::consecutive: return "consecutive";
        case LockReason::unknown: break;
    }
    return "";
}

std::uint32_t reset_tally(Tally& tally) noexcept
{
    const std::uint32_t before = tally.failures;
    tally.failures = 0;
    tally.first_failure = 0;
    tally.locked_until = 0;
    tally.lock_reason = LockReason::unknown;
    tally.locked_by.clear();
    // An administrator's ban of a source (authctl lock --source) stays: a
    // reset of the user is for the owner, not for the address banned;
    // `reset --source` lifts it.
    std::erase_if(tally.sources, [](const SourceTally& src) { return src.lock_reason != LockReason::admin; });
    for (SourceTally& src : tally.sources) {
        src.failures = 0;
        src.first_failure = 0;
        src.since_success = false;
    }
    tally.failures_since_success = 0;
    tally.sources_since_success = 0;
    return before;
}

bool clamp_to_now(Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now) noexcept
{
    bool ahead = false;
    auto clamp = [&ahead, now](std::int64_t& t) {
        if (t > now + kClockSlack && t != kLockedForever) {
            t = now;
            ahead = true;
        }
    };
    // A lock by failures never ends later than one started now would.
    const std::uint32_t seconds = lock_seconds(policy, is_root);
    auto clamp_lock = [&ahead, now, seconds](std::int64_t& until, LockReason reason) {
        if (reason != LockReason::failures || until == 0 || until == kLockedForever || seconds == 0) return;
        if (until > now + static_cast<std::int64_t>(seconds) + kClockSlack) {
            until = now + static_cast<std::int64_t>(seconds);
            ahead = true;
        }
    };
    clamp(tally.first_failure);
    clamp(tally.last_failure);
    clamp(tally.last_success);
    clamp_lock(tally.locked_until, tally.lock_reason);
    for (SourceTally& s : tally.sources) {
        clamp(s.first_failure);
        clamp(s.last_failure);
        clamp_lock(s.locked_until, s.lock_reason);
    }
    return ahead;
}

bool is_console_source(std::string_view source) noexcept
{
    constexpr std::string_view kTty = "tty:";
    if (source.substr(0, kTty.size()) != kTty) return false;
    std::string_view tty = source.substr(kTty.size());
    if (tty == "console") return true;
    for (const std::string_view prefix : {"ttyS", "ttyAMA", "ttyUSB", "hvc", "xvc", "tty"}) {
        if (tty.substr(0, prefix.size()) != prefix) continue;
        const std::string_view num = tty.substr(prefix.size());
        return !num.empty() && num.size() <= 4 && num.find_first_not_of("0123456789") == std::string_view::npos;
    }
    return false;
}

std::optional<std::uint32_t> reset_source(Tally& tally, std::string_view source) noexcept
{
    for (auto it = tally.sources.begin(); it != tally.sources.end(); ++it) {
        if (it->source != source) continue;
        const std::uint32_t n = it->failures;
        tally.sources.erase(it);
        return n;
    }
    return std::nullopt;
}

void lock_source_until(Tally& tally, std::string_view source, std::int64_t until, std::string_view by, std::int64_t now)
{
    const std::string key = sanitize_source(source);
    if (until <= 0) {
        if (SourceTally* s = find_entry(tally, key)) {
            s->locked_until = 0;
            s->lock_reason = LockReason::unknown;
            s->locked_by.clear();
        }
        return;
    }
    SourceTally& s = entry_for(tally, key, now);
    s.locked_until = until;
    s.lock_reason = LockReason::admin;
    s.locked_by = sanitize_source(by.substr(0, kMaxLockedByLength));
}

const SourceTally* find_source(const Tally& tally, std::string_view source) noexcept
{
    for (const auto& s : tally.sources)
        if (s.source == source) return &s;
    return nullptr;
}

void lock_until(Tally& tally, std::int64_t until, std::string_view by)
{
    if (until <= 0) {
        tally.locked_until = 0;
        tally.lock_reason = LockReason::unknown;
        tally.locked_by.clear();
        return;
    }
    tally.locked_until = until;
    tally.lock_reason = LockReason::admin;
    tally.locked_by = sanitize_source(by.substr(0, kMaxLockedByLength));
}

std::string sanitize_source(std::string_view source)
{
    std::string out;
    const std::size_t n = source.size() < kMaxSourceLength ? source.size() : kMaxSourceLength;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(source[i]);
        out.push_back(c >= 0x21 && c <= 0x7E ? static_cast<char>(c) : '?');
    }
    if (out == "-") out = "?";  // "-" is the record's "none": a source so named would read back as none
    return out;
}

namespace {

// An IP address in `text` as its key, or "" when it is none.
// An IP address in `text` as its key ("" when it is none): IPv4 as itself,
// IPv6 as its /64.
std::string ip_key(std::string_view text)
{
    std::string ip = ip_address_text(text);
    if (ip.empty() || ip.find(':') == std::string::npos) return ip;
    unsigned char addr[16] = {};
    char out[INET6_ADDRSTRLEN] = {};
    if (inet_pton(AF_INET6, ip.c_str(), addr) != 1) return {};
    std::memset(addr + 8, 0, 8);  // the /64
    if (inet_ntop(AF_INET6, addr, out, sizeof out) == nullptr) return {};
    return std::string(out) + "/64";
}

std::string clip(std::string s)
{
    if (s.size() > kMaxSourceLength) s.resize(kMaxSourceLength);
    return s;
}

}  // namespace

std::string ip_address_text(std::string_view text)
{
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    // A %zone belongs only to an IPv6 literal, and only of zone-name bytes:
    // "198.51.100.5%x.evil.example" is a host name, not that address.
    if (const auto pct = text.find('%'); pct != std::string_view::npos) {
        const std::string_view zone = text.substr(pct + 1);
        if (text.substr(0, pct).find(':') == std::string_view::npos || zone.empty() ||
            zone.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                std::string_view::npos)
            return {};
        text = text.substr(0, pct);
    }
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return {};
    char buf[INET6_ADDRSTRLEN] = {};
    std::memcpy(buf, text.data(), text.size());
    unsigned char addr[16] = {};
    char out[INET6_ADDRSTRLEN] = {};
    if (inet_pton(AF_INET, buf, addr) == 1) {
        if (inet_ntop(AF_INET, addr, out, sizeof out) == nullptr) return {};
        return out;
    }
    if (inet_pton(AF_INET6, buf, addr) != 1) return {};
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(addr, kMapped, sizeof kMapped) == 0) {
        if (inet_ntop(AF_INET, addr + 12, out, sizeof out) == nullptr) return {};
        return out;
    }
    if (inet_ntop(AF_INET6, addr, out, sizeof out) == nullptr) return {};
    return out;
}

std::string source_key(std::string_view rhost, std::string_view tty, std::string_view service)
{
    if (!rhost.empty()) {
        if (std::string ip = ip_key(rhost); !ip.empty()) return ip;
        std::string host;
        const std::size_t n = std::min(rhost.size(), kMaxSourceLength);
        host.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            char c = rhost[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
            host.push_back(ok ? c : '?');
        }
        if (host == "-") host = "?";  // as sanitize_source: "-" is the record's "none"
        return host;
    }
    if (!tty.empty()) {
        if (tty.rfind("/dev/", 0) == 0) tty.remove_prefix(5);
        return clip(sanitize_source("tty:" + std::string(tty.substr(0, kMaxSourceLength))));
    }
    if (!service.empty()) return clip(sanitize_source("service:" + std::string(service.substr(0, kMaxSourceLength))));
    return {};
}

std::string source_key_from_text(std::string_view text)
{
    // "tty:/dev/pts/3" is the key of /dev/pts/3, as the module spells it.
    if (text.rfind("tty:", 0) == 0 && text.size() > 4) return source_key({}, text.substr(4), {});
    if (text.rfind("service:", 0) == 0 && text.size() > 8) return source_key({}, {}, text.substr(8));
    if (text.rfind("tty:", 0) == 0 || text.rfind("service:", 0) == 0) return sanitize_source(text);
    // An IPv6 key as `authctl status` shows it ("2001:db8:1:2::/64"): the
    // same /64 (the address part alone is an address in it).
    constexpr std::string_view kSlash64 = "/64";
    if (text.size() > kSlash64.size() && text.substr(text.size() - kSlash64.size()) == kSlash64) {
        const std::string_view addr = text.substr(0, text.size() - kSlash64.size());
        if (addr.find(':') != std::string_view::npos) {
            if (std::string ip = ip_key(addr); ip.size() > kSlash64.size() && ip.ends_with(kSlash64)) return ip;
        }
    }
    return source_key(text, {}, {});
}

}  // namespace authctl
