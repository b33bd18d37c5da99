// SPDX-License-Identifier: Apache-2.0
#include "authctl/lockout.hpp"

namespace authctl {
namespace {

bool lock_applies(const LockoutPolicy& policy, bool is_root) noexcept
{
    return !is_root || policy.even_deny_root || policy.root_unlock_time_set;
}

}  // namespace

LockState lock_state(const Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now) noexcept
{
    if (!lock_applies(policy, is_root) || tally.locked_until == 0) return {};
    if (tally.locked_until == kLockedForever || now < tally.locked_until) return {true, tally.locked_until};
    return {};
}

bool record_failure(Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now, std::string_view source)
{
    // A `now` earlier than the last failure is normal under concurrency (the
    // clock was read before waiting for the lock) or a clock step: it continues
    // the count, never restarts it, and last_failure never moves backwards.
    const bool continues =
        tally.failures > 0 &&
        (now <= tally.last_failure || now - tally.last_failure <= static_cast<std::int64_t>(policy.fail_interval));
    if (!continues) {
        tally.failures = 0;
        tally.first_failure = now;
    }
    if (tally.failures < UINT32_MAX) ++tally.failures;
    if (now > tally.last_failure) tally.last_failure = now;
    tally.last_source = sanitize_source(source);

    if (policy.deny == 0 || tally.failures < policy.deny || !lock_applies(policy, is_root)) return false;
    if (lock_state(tally, policy, is_root, now).locked) return false;  // already locked by hand
    const std::uint32_t seconds =
        (is_root && policy.root_unlock_time_set) ? policy.root_unlock_time : policy.unlock_time;
    const std::int64_t from = tally.last_failure;
    tally.locked_until = (seconds == 0 || from > kLockedForever - 1 - seconds) ? kLockedForever : from + seconds;
    tally.lock_reason = LockReason::failures;
    tally.locked_by.clear();
    return true;
}

std::uint32_t record_success(Tally& tally, std::int64_t now, std::string_view source)
{
    // Never moves backwards (a clock step, or a login that waited for the lock).
    if (now > tally.last_success) {
        tally.last_success = now;
        tally.last_success_source = sanitize_source(source);
    }
    return reset_tally(tally);
}

const char* lock_reason_name(LockReason r) noexcept
{
    switch (r) {
        case LockReason::failures: return "failures";
        case LockReason::admin: return "admin";
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
    return before;
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
    return out;
}

}  // namespace authctl
