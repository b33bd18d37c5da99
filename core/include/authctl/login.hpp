// SPDX-License-Identifier: Apache-2.0
// The decisions of a login, each in one critical section under the user's
// lock: is the user locked, is the code valid and unused, and the recording of
// the outcome. The PAM module and `authctl verify` call these; neither decides
// anything itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "authctl/lockout.hpp"
#include "authctl/options.hpp"
#include "authctl/result.hpp"
#include "authctl/store.hpp"

namespace authctl {

// Who is logging in, from where, and when. `now` is the caller's clock (the
// module and the CLI pass time(nullptr); tests pass what they need). A store
// with a clock of its own (the fleet database) decides by its clock instead.
struct LoginContext {
    std::string_view user;
    bool is_root = false;      // uid 0, or a member of admin_group (faillock's meaning)
    std::string_view source;   // the source key (source_key()), for the tally
    std::int64_t now = 0;
    std::string_view service = {};  // the PAM service, for the agent's log lines
    // The account's uid from the user database, for the record's binding
    // (check_binding). nullopt: not known here (the fleet agent, whose hosts
    // may give one name different uids): the binding is then checked by name.
    std::optional<std::uint32_t> uid = std::nullopt;
};

// Whether a record bound to `account` may be used for the login of ctx.user (uid ctx.uid): an
// unbound record may (a version-1/2 record; attempt_code binds it at its next
// success); a bound one when its uid equals ctx.uid, or, where either uid is
// unknown, when its name equals ctx.user. A record whose uid matches but whose
// name does not is the same account renamed (usermod -l) and may be used (its
// name is updated at the next success). Else Errc::insecure, naming both
// uids or names and `authctl rebind`: the record was made for another account
// (the user deleted and the name reused with a new uid, or a file copied or
// renamed to another user), and its secret must not log this one in.
Status check_binding(const std::optional<AccountBinding>& account, const LoginContext& ctx);

enum class Outcome {
    success,       // the code (or a recovery code) was accepted and consumed
    wrong_code,    // evaluated and wrong, replayed or malformed; counted (replayed says which)
    locked,        // refused without evaluating; not counted
    not_enrolled,  // the user has no enrollment: counted as a failure (locked_now, lock) all the same
};

struct AttemptResult {
    Outcome outcome = Outcome::wrong_code;
    // success: failed attempts since the previous success; wrong_code: the
    // user's count now (the locking scope's when locked_now); locked: the
    // locking scope's count (lock.scope says whose)
    std::uint32_t failures = 0;
    std::uint32_t sources = 0;   // success: from how many sources those failures came (per_source)
    bool locked_now = false;     // wrong_code: this failure locked the account
    LockState lock;              // locked / locked_now: until when
    bool replayed = false;       // wrong_code: a code already used (a step at or below the last
                                 // accepted, or the HOTP counter accepted last); refused and counted all the same
    bool used_recovery = false;  // success through a recovery code
    bool clock_ahead = false;    // stored times were ahead of the clock and were brought back (log it)
    std::size_t recovery_left = 0;
    std::int64_t now = 0;  // the time the decision was made by (the store's clock where it has one)
};

// Verifies `code` for ctx.user: refuses a locked user without evaluating,
// then records a failure on disk *before* evaluating (an attempt that cannot
// be recorded is never evaluated), accepts a TOTP step at most once (never one
// at or below the last accepted), advances the HOTP counter past the match,
// consumes a recovery code (which confirms the enrollment, as a one-time code
// does), and on success takes the failure back, clears the count and records
// the time and source as the last success -- all before the lock is released.
// A refused code that matches a TOTP step at or below the last accepted
// (within the window) or the HOTP counter accepted last is reported as
// `replayed` (still counted; never accepted). The code is read as
// normalize_code reads it ("123 456" is 123456); one it does not take is
// tried as a recovery code, else counted as wrong. The result is
// returned only once the store acknowledged every write (LockedRecord::finish). Errc::invalid_argument
// when ctx.now <= 0 (a clock before 1970 is not trusted). An enrolled record
// bound to another account (check_binding) is refused with its error before
// anything is evaluated or counted; a success binds an unbound record to
// ctx.user and ctx.uid.
Result<AttemptResult> attempt_code(const Store& store, const LoginContext& ctx, const Options& opts,
                                   std::string_view code);

// Names that do not exist are counted and locked like real ones (so that a
// lock does not tell which accounts exist), each in one of 4096 buckets: the
// record ":unknown:XXX", XXX three hex digits of a hash of the name. A bucket
// is an ordinary record (a tally only) in whichever store the module uses,
// so the table is bounded whatever names attackers send, and a fleet shares
// it. No account name contains ':' (passwd's separator), so no bucket is an
// account.
inline constexpr std::string_view kUnknownBucketPrefix = ":unknown:";
std::string unknown_user_bucket(std::string_view name);
bool is_unknown_user_bucket(std::string_view name) noexcept;

// An answer with nothing in it but spaces or tabs (the user pressed Enter):
// not a guess. The module refuses it without evaluating or counting it.
bool is_empty_answer(std::string_view answer) noexcept;

struct LockInfo {
    LockState lock;              // for ctx.source: the user's lock, else that source's
    std::uint32_t failures = 0;  // the locking scope's count when locked, else the user's
    bool enrolled = false;  // the record holds an enrollment
    std::int64_t now = 0;   // the time the state was judged at
    bool clock_ahead = false;  // stored times were ahead of the clock and were brought back (log it)
    // The record holds an invitation (issue 17) that could be taken up now:
    // unexpired, and no confirmed enrollment unless it replaces one. For the
    // module's "log in over ssh to finish enrolling" where it cannot offer.
    // Not carried by the agent protocol (false with store=agent).
    bool invited = false;
};

// The lock state (for a login from ctx.source), failure count and enrollment
// of ctx.user from one consistent read, without the lock (for the prompt decision, preauth, the account phase
// and status). A user with no record is unlocked and not enrolled.
Result<LockInfo> lock_info(const Store& store, const LoginContext& ctx, const Options& opts);

// Records one failure of another module (faillock's authfail), unless the user
// is already locked. Creates a tally-only record for a user with none.
Result<AttemptResult> record_external_failure(const Store& store, const LoginContext& ctx, const Options& opts);

// Records a success of another module (faillock's authsucc): clears the
// user's failures and this source's, unless the user or this source is locked
// (outcome locked, nothing changed: as faillock, a lock in force is not lifted
// by a password). Outcome success with what was counted since the previous
// success. No record is created.
Result<AttemptResult> record_external_success(const Store& store, const LoginContext& ctx, const Options& opts);

// The source a decision counts for ctx: ctx.source, except for root on a
// console through another service than `login` (su or sudo from a console
// session, which may be a cloud serial console reachable over the network):
// a source of its own, "tty:ttyS0/su".
std::string decision_source(const LoginContext& ctx);

// Enrollment at login by invitation (invitation.hpp, issue 17).
struct InviteOffer;
struct InviteConfirmResult;

// The decisions a PAM phase asks for, wherever the store is: over a
// Store in this process (LocalLogins), or through the fleet agent
// (AgentLogins, agent_client.hpp), which runs LocalLogins over the database.
// offer_invite and confirm_invite are offer_invited_enrollment and
// confirm_invited_enrollment (invitation.hpp, which a caller of them includes);
// the fleet agent answers them with Errc::unsupported.
class LoginService {
public:
    virtual ~LoginService() = default;
    virtual Result<LockInfo> lock_info(const LoginContext& ctx) = 0;
    virtual Result<AttemptResult> attempt_code(const LoginContext& ctx, std::string_view code) = 0;
    virtual Result<AttemptResult> external_failure(const LoginContext& ctx) = 0;
    virtual Result<AttemptResult> external_success(const LoginContext& ctx) = 0;
    virtual Result<std::optional<InviteOffer>> offer_invite(const LoginContext& ctx) = 0;
    virtual Result<InviteConfirmResult> confirm_invite(const LoginContext& ctx, InviteOffer& offer,
                                                       std::string_view code) = 0;
};

class LocalLogins final : public LoginService {
public:
    LocalLogins(const Store& store, const Options& opts) : store_(store), opts_(opts) {}
    Result<LockInfo> lock_info(const LoginContext& ctx) override { return authctl::lock_info(store_, ctx, opts_); }
    Result<AttemptResult> attempt_code(const LoginContext& ctx, std::string_view code) override
    {
        return authctl::attempt_code(store_, ctx, opts_, code);
    }
    Result<AttemptResult> external_failure(const LoginContext& ctx) override
    {
        return record_external_failure(store_, ctx, opts_);
    }
    Result<AttemptResult> external_success(const LoginContext& ctx) override
    {
        return record_external_success(store_, ctx, opts_);
    }
    // Defined in invitation.cpp.
    Result<std::optional<InviteOffer>> offer_invite(const LoginContext& ctx) override;
    Result<InviteConfirmResult> confirm_invite(const LoginContext& ctx, InviteOffer& offer,
                                               std::string_view code) override;

private:
    const Store& store_;
    const Options& opts_;
};

}  // namespace authctl
