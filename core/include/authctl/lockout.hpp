// SPDX-License-Identifier: Apache-2.0
// The lockout policy: faillock's options and meanings, as pure functions over a
// user's failure tally. Time is always passed in; nothing here reads a clock.
//
// Counting: a failure counts toward the lock while it follows the previous one
// within fail_interval; a longer quiet spell starts the count again at 1. When
// the count reaches deny the account is locked until now + unlock_time (or
// until an administrator resets it). A lock that has expired lets the user try
// again, but the count is kept, so one more failure inside fail_interval locks
// again at once (faillock does the same). A success or a reset clears the count.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace authctl {

inline constexpr std::int64_t kLockedForever = std::numeric_limits<std::int64_t>::max();

struct LockoutPolicy {
    unsigned deny = 3;                     // failures that lock; 0 = never lock
    std::uint32_t fail_interval = 900;     // seconds
    std::uint32_t unlock_time = 600;       // seconds; 0 = until an administrator resets
    bool even_deny_root = false;           // root is never locked without it
    std::uint32_t root_unlock_time = 600;  // seconds for root; 0 = never
    bool root_unlock_time_set = false;     // false: root uses unlock_time
};

inline constexpr unsigned kMaxDeny = 100;                // NIST SP 800-63B's ceiling
inline constexpr std::uint32_t kMaxInterval = 31536000;  // one year
inline constexpr std::size_t kMaxSourceLength = 128;

// Why locked_until is set. A record of format version 1 does not say
// (unknown); a lock is then shown without a reason.
enum class LockReason {
    unknown,   // no lock, or a lock from a version-1 record
    failures,  // record_failure reached deny
    admin,     // `authctl lock` (lock_until); locked_by says who
};

inline constexpr std::size_t kMaxLockedByLength = 64;

struct Tally {
    std::uint32_t failures = 0;
    std::int64_t first_failure = 0;  // Unix time of the first counted failure; 0 = none
    std::int64_t last_failure = 0;   // kept after a success, for `authctl status`
    std::string last_source;         // remote host or tty of the last failure; "" = unknown
    std::int64_t locked_until = 0;   // 0 = not locked; kLockedForever = until reset
    LockReason lock_reason = LockReason::unknown;  // set with locked_until, cleared with it
    std::string locked_by;           // admin locks: the administrator ("" = unknown); else ""
    std::int64_t last_success = 0;   // Unix time a code was last accepted; 0 = never (kept by reset)
    std::string last_success_source;  // remote host or tty of that login; "" = unknown
};

// "failures", "admin", or "" for unknown.
const char* lock_reason_name(LockReason r) noexcept;

struct LockState {
    bool locked = false;
    std::int64_t until = 0;  // meaningful when locked; kLockedForever = until reset
};

// Whether the tally locks the user at `now`. Root is never locked unless
// even_deny_root (or root_unlock_time) is set.
LockState lock_state(const Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now) noexcept;

// Counts one failure at `now` from `source` (sanitised: printable ASCII only,
// at most kMaxSourceLength bytes). Returns true when this failure locked the account.
bool record_failure(Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now, std::string_view source);

// Clears the count and any lock after a successful login at `now` from
// `source` (sanitised as for a failure), which become last_success and
// last_success_source; returns the number of failures that were counted since
// the previous success.
std::uint32_t record_success(Tally& tally, std::int64_t now, std::string_view source);

// An administrator's reset: clears count, lock and the lock's reason; returns
// the count cleared. The last success is kept.
std::uint32_t reset_tally(Tally& tally) noexcept;

// An administrator's lock until `until` (kLockedForever for no end), by `by`
// (sanitised as a source, at most kMaxLockedByLength bytes; "" = unknown);
// a value of 0 or less clears the lock and its reason.
void lock_until(Tally& tally, std::int64_t until, std::string_view by = {});

// Printable form of a source for the tally: bytes outside 0x21..0x7E become '?'.
std::string sanitize_source(std::string_view source);

}  // namespace authctl
