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
//
// Per source (per_source): the same rule is applied to each (user, source)
// pair, with deny, so a guesser locks only the address it guesses from; and to
// the user as a whole, with deny_user, counting every source's failures, so
// that however many addresses a guesser holds, at most deny_user codes are
// evaluated before the user is locked from everywhere. The sources live in a
// bounded table (kMaxSources): evicting one never lowers the user-wide count.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace authctl {

inline constexpr std::int64_t kLockedForever = std::numeric_limits<std::int64_t>::max();

struct LockoutPolicy {
    unsigned deny = 3;                     // failures that lock; 0 = never lock
    std::uint32_t fail_interval = 900;     // seconds
    std::uint32_t unlock_time = 600;       // seconds; 0 = until an administrator resets
    bool even_deny_root = false;           // root is never locked without it
    std::uint32_t root_unlock_time = 600;  // seconds for root; 0 = never
    bool root_unlock_time_set = false;     // false: root uses unlock_time
    bool per_source = false;               // count and lock per (user, source); deny_user for the user
    unsigned deny_user = 0;                // per_source: failures from all sources that lock the user
    bool deny_user_set = false;            // false: deny_user is min(10 x deny, kMaxDeny)
    // Root without even_deny_root (faillock never locks it): deny failures
    // from one source lock root from that source for this many seconds
    // (never on a local console). 0: faillock's rule, root is never locked.
    std::uint32_t root_throttle = 60;
    // Failures since the last success (however far apart: this count does
    // not expire with fail_interval) that lock the user until an
    // administrator resets it: NIST SP 800-63B's cap on consecutive failures.
    // 0: no cap. Not with deny = 0 (nothing locks then).
    unsigned deny_consecutive = 100;
};

inline constexpr std::uint32_t kMaxRootThrottle = 86400;
inline constexpr unsigned kMaxDenyConsecutive = 100000;

// A stored time more than this far ahead of the clock was written while the
// clock was ahead (clamp_to_now).
inline constexpr std::int64_t kClockSlack = 60;

// The user-wide threshold: deny without per_source; with it, deny_user when
// set, else 10 x deny capped at kMaxDeny (0 when deny is 0: nothing locks).
unsigned user_deny(const LockoutPolicy& policy) noexcept;

inline constexpr unsigned kMaxDeny = 100;                // NIST SP 800-63B's ceiling
inline constexpr std::uint32_t kMaxInterval = 31536000;  // one year
inline constexpr std::size_t kMaxSourceLength = 128;
inline constexpr std::size_t kMaxSources = 32;  // per-source entries a record keeps

// Why locked_until is set. A record of format version 1 does not say
// (unknown); a lock is then shown without a reason.
enum class LockReason {
    unknown,   // no lock, or a lock from a version-1 record
    failures,  // record_failure reached deny
    admin,     // `authctl lock` (lock_until); locked_by says who
    consecutive,  // deny_consecutive failures since the last success: until reset
};

inline constexpr std::size_t kMaxLockedByLength = 64;

// One source's tally (per_source). `source` is a source key (source_key()).
struct SourceTally {
    std::string source;
    std::uint32_t failures = 0;
    std::int64_t first_failure = 0;
    std::int64_t last_failure = 0;
    std::int64_t locked_until = 0;                 // 0 = not locked; kLockedForever = until reset
    LockReason lock_reason = LockReason::unknown;  // set with locked_until
    std::string locked_by;                         // admin locks: who
    bool since_success = false;  // it failed since the last success: counted in sources_since_success
};

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
    // What the owner is told at the next successful login: failures (from
    // every source, however far apart) and distinct sources since the last
    // success (a success of another module included). Sources are counted
    // exactly while no more than kMaxSources failed: one evicted from the
    // table and back again is counted again.
    std::uint32_t failures_since_success = 0;
    std::uint32_t sources_since_success = 0;
    std::vector<SourceTally> sources;  // per_source: at most kMaxSources
};

// "failures", "admin", or "" for unknown.
const char* lock_reason_name(LockReason r) noexcept;

// Which lock refuses: the user's (from everywhere) or one source's.
// codes: the user's lock that refuses codes (and the lockout modes) but not
// the account phase -- the cap on consecutive failures (deny_consecutive),
// which a key login, guessing nothing, does not meet.
enum class LockScope : std::uint8_t { user = 0, source = 1, codes = 2 };

struct LockState {
    bool locked = false;
    std::int64_t until = 0;  // meaningful when locked; kLockedForever = until reset
    LockScope scope = LockScope::user;
    std::uint32_t failures = 0;  // the locking scope's count (the user's, or the source's)
};

// Whether the tally locks the user at `now`, from everywhere. Root is never
// locked unless even_deny_root (or root_unlock_time) is set.
LockState lock_state(const Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now) noexcept;

// Whether a login from `source` (a source key) is refused at `now`: the
// user's lock, else (per_source, or an administrator's lock of the source)
// that source's lock. Another source's lock never refuses it.
LockState lock_state(const Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now,
                     std::string_view source);

// Counts one failure at `now` from `source` (sanitised: printable ASCII only,
// at most kMaxSourceLength bytes): on the user, and with per_source on the
// source's entry (created, evicting the least useful one when the table is
// full: an unlocked one with the oldest failure first, else the lock that
// ends first). Returns true when this failure locked the user or the source.
bool record_failure(Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now, std::string_view source);

struct SinceSuccess {
    std::uint32_t failures = 0;  // failed attempts since the previous success
    std::uint32_t sources = 0;   // from how many sources (counted with per_source)
};

// Clears the user's count and lock and the source's own entry after a
// successful login at `now` from `source` (sanitised as for a failure), which
// become last_success and last_success_source (unless !code_accepted: another
// module's success, faillock's authsucc); other sources' entries (and their
// locks) stay. Returns what was counted since the previous success.
SinceSuccess record_success(Tally& tally, std::int64_t now, std::string_view source, bool code_accepted = true);

// An administrator's reset: clears count, lock and the lock's reason, every
// source's entry and the failures since the last success (so the cap on
// consecutive failures starts again); returns the count cleared. The last
// success is kept.
std::uint32_t reset_tally(Tally& tally) noexcept;

// An administrator's reset of one source (a source key): removes its entry;
// returns its failures, or nullopt when the record has no entry for it.
std::optional<std::uint32_t> reset_source(Tally& tally, std::string_view source) noexcept;

// An administrator's lock of one source until `until` (kLockedForever for no
// end), by `by`; enforced whether or not per_source is set. A value of 0 or
// less clears the source's lock.
void lock_source_until(Tally& tally, std::string_view source, std::int64_t until, std::string_view by, std::int64_t now);

// The table entry for a source key, or nullptr.
const SourceTally* find_source(const Tally& tally, std::string_view source) noexcept;

// An administrator's lock until `until` (kLockedForever for no end), by `by`
// (sanitised as a source, at most kMaxLockedByLength bytes; "" = unknown);
// a value of 0 or less clears the lock and its reason.
void lock_until(Tally& tally, std::int64_t until, std::string_view by = {});

// A clock that was ahead once: brings every stored time that is more than
// kClockSlack ahead of `now` back to `now` (failure times, the last
// success), and a lock by failures that would end later than one started now
// would to the end one started now would have. Locks by hand are left as
// set. Returns true when anything was ahead (the caller logs it once: the
// record is written with the times brought back).
bool clamp_to_now(Tally& tally, const LockoutPolicy& policy, bool is_root, std::int64_t now) noexcept;

// True for a source key of this machine's own console ("tty:tty1",
// "tty:ttyS0", "tty:console", "tty:hvc0", ...; never a pseudo-terminal).
bool is_console_source(std::string_view source) noexcept;

// Printable form of a source for the tally: bytes outside 0x21..0x7E become
// '?', and a lone "-" (the record's spelling of "none") becomes "?".
std::string sanitize_source(std::string_view source);

// The source key of a login, what the tally counts per source and shows:
//  - rhost an IPv4 address (or IPv4-mapped IPv6): dotted quad ("192.0.2.7");
//  - rhost an IPv6 address (a %zone dropped, [brackets] allowed): its /64
//    ("2001:db8:1:2::/64"), as one attacker holds a whole /64;
//  - any other rhost, a host name: lower-cased, bytes outside [a-z0-9._-]
//    shown as '?' (so never ':' or '/', never mistaken for the two below);
//  - no rhost: "tty:" + tty (a leading "/dev/" dropped), else "service:" +
//    service, sanitised; "" when all three are empty.
// At most kMaxSourceLength bytes.
std::string source_key(std::string_view rhost, std::string_view tty, std::string_view service);

// The canonical text of an IP address in an rhost ("192.0.2.7",
// "2001:db8::1"; an IPv4-mapped IPv6 address as its IPv4 address; [brackets]
// and, on an IPv6 literal only, a %zone of zone-name bytes allowed), or ""
// when it is not one (a host name).
std::string ip_address_text(std::string_view rhost);

// An administrator's --source ADDR as a source key: "tty:..." and
// "service:..." as given (sanitised), anything else as an rhost.
std::string source_key_from_text(std::string_view text);

}  // namespace authctl
