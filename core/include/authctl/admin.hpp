// SPDX-License-Identifier: Apache-2.0
// What the administrator's tool does to the store, as core operations: every
// one a single critical section under the user's lock, each either done
// completely or not at all. The CLI only parses arguments and prints.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authctl/enrollment.hpp"
#include "authctl/lockout.hpp"
#include "authctl/options.hpp"
#include "authctl/record.hpp"
#include "authctl/result.hpp"
#include "authctl/store.hpp"

namespace authctl {

inline constexpr std::size_t kDefaultRecoveryCodes = 10;

// A new enrollment, not stored yet: the secret, and the recovery codes to show once.
struct PendingEnrollment {
    Enrollment enrollment;
    RecoverySet recovery;
    std::vector<SecretBytes> recovery_codes;  // plain text, shown once
    std::optional<AccountBinding> account;    // the account it is for; store_enrollment binds the record to it
};

// Draws a new secret and `recovery_count` recovery codes (0..kMaxRecoveryCodes).
Result<PendingEnrollment> prepare_enrollment(const EnrollParams& params, std::size_t recovery_count, std::int64_t now);

// Checks a code against a pending enrollment (as a login would, with the
// window of `opts`, the code read by normalize_code). On a match the enrollment is marked confirmed and the
// matched step/counter is consumed, so the same code cannot then log in.
Result<bool> confirm_enrollment(PendingEnrollment& pending, std::string_view code, const Options& opts,
                                std::int64_t now);

// Stores a pending enrollment for `user`. Refuses (Errc::exists) to replace an
// existing enrollment unless `force`, and (Errc::invalid_argument) a secret
// under kMinSecretBytes. The failure tally (and any lock) is kept. Replacing
// an enrollment with the same key and parameters (same_enrollment: a
// re-import) keeps the higher replay state of the two (merge_replay_state),
// so a code already used stays refused.
// `granted_groups` are recorded so that remove_user can undo them.
Status store_enrollment(const Store& store, std::string_view user, PendingEnrollment&& pending, bool force,
                        const std::vector<std::string>& granted_groups = {});

// Adds groups to the list recorded for an enrolled user.
Status record_granted_groups(const Store& store, std::string_view user, const std::vector<std::string>& groups);

struct ResetResult {
    bool had_record = false;
    std::uint32_t cleared = 0;  // failures cleared
    bool was_locked = false;    // the lock in force before the reset
};
// Clears the failures and any lock, the user's and every source's. Nothing is
// created for a user with no record.
Result<ResetResult> reset_user(const Store& store, std::string_view user, bool is_root, const Options& opts,
                               std::int64_t now);

// Clears one source's failures and lock (`source` a source key); the user's
// own count and lock stay. had_record is false when the record has no entry
// for that source.
Result<ResetResult> reset_user_source(const Store& store, std::string_view user, std::string_view source,
                                      bool is_root, const Options& opts, std::int64_t now);

// Locks one source (a source key) by hand until `until`, recording `by`;
// creates a tally-only record for a user with none. Logins from other sources
// are not affected; it holds with or without per_source.
Status lock_user_source(const Store& store, std::string_view user, std::string_view source, std::int64_t until,
                        std::string_view by, std::int64_t now);

// Locks by hand until `until` (kLockedForever for no end), recording the
// reason (admin) and `by`, the administrator (see lock_until); creates a
// tally-only record for a user with none.
Status lock_user(const Store& store, std::string_view user, std::int64_t until, std::string_view by = {});

struct RemoveResult {
    bool existed = false;
    bool had_invitation = false;              // an invitation (issue 17) went with it
    std::vector<std::string> granted_groups;  // to undo
};
// Deletes the user's record (enrollment, recovery codes, tally, invitation).
Result<RemoveResult> remove_user(const Store& store, std::string_view user);

// Binds the user's record to `account` (`authctl rebind`, issue 19): after a
// server move that changed uids, or once an administrator has checked that a
// refused record belongs to this account after all. Returns the binding it
// replaced (nullopt: the record was unbound). Errc::not_found without a record.
Result<std::optional<AccountBinding>> rebind_user(const Store& store, std::string_view user,
                                                  const AccountBinding& account);

// Whether a record still belongs to its account, for `status` and `audit`.
struct BindingStatus {
    enum class State { unbound, bound, orphaned };
    State state = State::unbound;
    std::string why;  // orphaned: "no such user", or check_binding's reason
};
// `exists`: the user is in the user database; `uid`: its uid there, or
// nullopt where uids are not compared (the fleet database: bound by name).
// Orphaned: the user does not exist, or check_binding refuses the record.
BindingStatus binding_status(const std::optional<AccountBinding>& account, std::string_view user, bool exists,
                             std::optional<std::uint32_t> uid);
const char* binding_state_name(BindingStatus::State s) noexcept;  // "unbound", "bound", "orphaned"

// Replaces the recovery codes of an enrolled user; Errc::not_found when not enrolled.
Result<std::vector<SecretBytes>> regenerate_recovery(const Store& store, std::string_view user, std::size_t count);

// HOTP resynchronisation (`authctl resync`): how far past the stored counter
// CODE1 is looked for. A token pressed more often than that needs a new enrollment.
inline constexpr std::uint64_t kResyncCounters = 1000;

struct ResyncResult {
    bool found = false;         // false: no pair matched; nothing changed
    std::uint64_t before = 0;   // the stored counter (the next one a login accepts)
    std::uint64_t matched = 0;  // found: CODE1's counter (CODE2's is the next)
    std::uint64_t after = 0;    // found: the new stored counter, past CODE2's
};
// Sets the HOTP counter of `user` past two consecutive codes: CODE1 at one of
// the kResyncCounters counters from the stored one on, CODE2 at the next
// (the lowest such pair; codes read by normalize_code). One critical section
// under the user's lock; marks the enrollment confirmed (the codes prove the
// token). A pair not found changes nothing and counts no failure (an
// administrator runs it, not a login), nor does a success clear any failure or
// lock (`reset` does). Errc::not_found when not enrolled; Errc::invalid_argument
// for a TOTP enrollment (its codes follow the clock) or a code that is not
// the enrollment's digits.
Result<ResyncResult> resync_hotp(const Store& store, std::string_view user, std::string_view code1,
                                 std::string_view code2);

// One line of `authctl status`.
struct StatusRow {
    std::string user;
    bool enrolled = false;
    OtpType type = OtpType::totp;
    bool confirmed = false;
    std::uint32_t failures = 0;
    std::int64_t last_failure = 0;
    std::string last_source;
    LockState lock;
    LockReason lock_reason = LockReason::unknown;  // of the lock in force (lock.locked); else unknown
    std::string locked_by;                         // admin locks: who; "" = unknown
    std::int64_t last_success = 0;                 // 0 = never (or not recorded: a version-1 record)
    std::string last_success_source;
    std::size_t recovery_left = 0;                 // unused recovery codes
    std::size_t weak_secret_bytes = 0;             // a key under kMinSecretBytes (an old record): its size; else 0
    std::uint32_t failures_since_success = 0;      // since the last success, from every source
    std::uint32_t sources_since_success = 0;       // distinct sources of those (per_source)
    struct Source {
        SourceTally tally;
        LockState lock;  // in force at `now`
    };
    std::vector<Source> sources;  // every per-source entry of the record, locked ones first
    std::optional<AccountBinding> account;  // the account the record is bound to (nullopt: unbound)
    std::optional<Invitation> invitation;   // `authctl invite` (issue 17), expired or not
    std::string error;  // set when the record could not be read (the rest is then empty)
};

// The status of one user (a user with no record is a row with nothing set).
// `is_root` (a user database lookup) is asked only for a record that carries a
// lock, the one case its answer changes: a listing of many users mostly
// without locks then costs one file read per user.
StatusRow status_of(const Store& store, std::string_view user, const std::function<bool()>& is_root,
                    const Options& opts, std::int64_t now);

// The same row from a record already read (a listing's Store::scan, or
// load()): `rec` is the read's result. status_of is load() then this.
StatusRow status_row(std::string_view user, const Result<std::optional<UserRecord>>& rec,
                     const std::function<bool()>& is_root, const Options& opts, std::int64_t now);

}  // namespace authctl
