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

struct Tally {
    std::uint32_t failures = 0;
    std::int64_t first_failure = 0;  // Unix time of the first counted failure; 0 = none
    std::int64_t last_failure = 0;   // kept after a success, for `authctl status`
    std::string last_source;         // remote host or tty of the last failure; "" = unknown
    std::int64_t locked_until = 0;   // 0 = not locked; kLockedForever = until reset
};

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

// Clears the count and any lock after a successful login; returns the number of
// failures that were counted since the previous success.
std::uint32_t record_success(Tally& tally) noexcept;

// An administrator's reset: clears count and lock; returns the count cleared.
std::uint32_t reset_tally(Tally& tally) noexcept;

// An administrator's lock until `until` (kLockedForever for no end); a value
// of 0 or less clears the lock.
void lock_until(Tally& tally, std::int64_t until) noexcept;

// Printable form of a source for the tally: bytes outside 0x21..0x7E become '?'.
std::string sanitize_source(std::string_view source);

}  // namespace authctl
