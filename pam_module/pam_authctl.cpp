// SPDX-License-Identifier: Apache-2.0
// pam_authctl.so: the PAM entry points. Each pam_sm_* is a wall (no exception
// crosses it) around one flow per mode; every decision is made in core/.
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>
#include <pwd.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <new>
#include <optional>

#include "authctl/agent_client.hpp"
#include "authctl/base32.hpp"
#include "authctl/enrollment.hpp"
#include "authctl/group_edit.hpp"
#include "authctl/invitation.hpp"
#include "authctl/login.hpp"
#include "authctl/otpauth_uri.hpp"
#include "authctl/qr.hpp"
#include "authctl/secret.hpp"
#include "authctl/store.hpp"
#include "authctl/text.hpp"
#include "authctl/username.hpp"
#include "module_context.hpp"
#include "pam_codes.hpp"

namespace authctl::pam {
namespace {

// Refuses after a store error. When the fleet could not decide (agent or
// database down or silent), the user is told so in one line, so that a login
// refused for that reason does not look like a wrong code; the reason itself
// goes to the log only.
int fail_closed(Session& s, const Options& opts, const std::string& user, const Error& err)
{
    s.log(LOG_ERR, user, "refused: " + err.message());
    const int rc = to_pam(err.code, opts.store);
    if (rc == PAM_AUTHINFO_UNAVAIL) s.tell(kFleetUnavailableMessage, true);
    return rc;
}

// Where this configuration's decisions are made: core over this host's state
// directory, or the fleet agent (which runs the same core over the database).
// The module itself never holds a database connection or a fleet secret.
// Built in place (no heap allocation on a login's path).
class Logins {
public:
    Status open(const Options& opts)
    {
        if (opts.store == StoreKind::agent) {
            service_ = &agent_.emplace(opts.agent_socket, std::chrono::seconds(opts.agent_timeout));
            return Ok{};
        }
        auto store = UserStore::open(opts.dir);
        if (!store) return store.error();
        service_ = &local_.emplace(store_.emplace(std::move(*store)), opts);
        return Ok{};
    }
    LoginService* operator->() const noexcept { return service_; }

private:
    std::optional<UserStore> store_;
    std::optional<LocalLogins> local_;
    std::optional<AgentLogins> agent_;
    LoginService* service_ = nullptr;
};

// What the auth phase returns for a locked user (refused without asking, or
// locked by this very failure): PAM_MAXTRIES, "do not try again". sshd then
// stops offering keyboard-interactive and password on this connection, so the
// client's retries (three by default) do not show the lock message three
// times. sudo takes it as a failed attempt; login and su end their retry
// loops at once (a locked user's retries would be refused anyway).
constexpr int kLockedResult = PAM_MAXTRIES;

// For the log: "account locked (N failures)" or "locked from this source (N failures)".
std::string lock_text(const LockState& lock)
{
    return std::string(lock.scope == LockScope::source ? "locked from this source (" : "account locked (") +
           failures_text(lock.failures) + ")";
}

// For the log when a failure locks: the account, or one source.
std::string locked_now_text(const LockState& lock, const std::string& source)
{
    if (lock.scope == LockScope::source)
        return "source " + (source.empty() ? std::string("-") : source) + " locked after " + failures_text(lock.failures);
    return "account locked after " + failures_text(lock.failures);
}

// A counted failure that locked the user or the source: logged, audited,
// told, and "do not try again".
int locked_by_this_failure(Session& s, const std::string& who, const AttemptResult& r, const std::string& source)
{
    s.log(LOG_WARNING, who, locked_now_text(r.lock, source));
    s.audit(who, {AuditEvent::lock, r.lock.scope});
    s.tell(lock_message(r.lock, r.now, source), true);
    return kLockedResult;
}

// A clock that was ahead once left times in the future in the record; the
// decision brought them back and wrote them, so this is said once.
template <typename R>
void note_clock_ahead(Session& s, const std::string& who, const R& r)
{
    if (r.clock_ahead)
        s.log(LOG_WARNING, who,
              "stored times were ahead of this clock (it was ahead when they were written): brought back to now");
}

// A name that does not exist was counted in its public bucket: the bucket
// key could not be read or made (said once per call).
template <typename R>
void note_bucket_key(Session& s, const std::string& who, const R& r, bool& said)
{
    if (r.bucket_key_error.empty() || said) return;
    s.log(LOG_ERR, who, r.bucket_key_error);
    said = true;
}

// A code that matched a step or counter already used (the confirmation of
// `authctl enroll --confirm`, a code typed twice, or someone else's replay).
constexpr const char* kCodeAlreadyUsedMessage = "That code was already used; wait for the next one.";

// After a recovery-code login: how many are left, and with 2 or fewer, how to get new ones.
std::string recovery_left_message(std::size_t left, const std::string& user)
{
    std::string text = "Recovery code accepted; " + (left == 0 ? std::string("none") : std::to_string(left)) + " left.";
    if (left <= 2)
        text += " Ask an administrator for new ones (authctl recovery -u " + user + ").";
    return text;
}

// Passes the conversation's own failures through; anything else it returns is a conversation error.
int conversation_error(int rc)
{
    return rc == PAM_BUF_ERR || rc == PAM_CONV_ERR || rc == PAM_INCOMPLETE || rc == PAM_ABORT ? rc : PAM_CONV_ERR;
}

// Enrollment at login by invitation (issue 17; core/include/authctl/invitation.hpp).
constexpr const char* kInviteLogInOverSsh =
    "You are invited to set up one-time codes: log in over ssh to finish enrolling.";
constexpr const char* kInviteSuperseded = "Your enrollment was completed or changed elsewhere; log in again.";
constexpr const char* kInviteReplaceSuperseded =
    "Your enrollment was changed elsewhere: the new phone was not enrolled.";
constexpr const char* kInviteReplaceNotDone =
    "The new phone was not enrolled; your old codes still work and the invitation stays for your next login.";
constexpr const char* kInvitePrompt = "Code shown by your app: ";
constexpr const char* kInviteSavedPrompt = "Press Enter once you have saved them: ";

// What the app's entry is called: this host's name, as `authctl enroll` names it.
std::string issuer_name()
{
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "authctl";
    return host;
}

std::string describe(const Enrollment& e)
{
    std::string d = e.type == OtpType::totp ? "TOTP" : "HOTP";
    d += std::string(", ") + algo_name(e.algo) + ", " + std::to_string(e.digits) + " digits";
    if (e.type == OtpType::totp) d += ", every " + std::to_string(e.period) + " s";
    return d;
}

// A string holding secret text, wiped when it goes.
struct WipedString {
    std::string text;
    ~WipedString() { wipe_string(text); }
};

// The heading, the QR code, the otpauth URI and the key in groups of 4.
Status show_offer(Session& s, const std::string& user, const InviteOffer& offer)
{
    const Enrollment& e = offer.pending.enrollment;
    WipedString uri;
    auto built = enrollment_uri(e, issuer_name(), user);
    if (!built) return built.error();
    uri.text = std::move(*built);
    auto qr = encode_qr(uri.text);
    if (!qr) return qr.error();
    WipedString drawn{render_utf8(*qr)};
    std::fill(qr->dark.begin(), qr->dark.end(), false);
    if (!drawn.text.empty() && drawn.text.back() == '\n') drawn.text.pop_back();  // each message is a line
    WipedString key{base32_encode(e.secret)};
    // Each secret line is built in one buffer reserved first (no temporary of
    // a concatenation, no reallocation leaving a copy behind), wiped after.
    constexpr std::string_view kLinkLead = "Or open this link on the phone: ";
    constexpr std::string_view kKeyLead = "Or enter this key in the app: ";
    WipedString key_line;
    key_line.text.reserve(kKeyLead.size() + key.text.size() + key.text.size() / 4 + 1);
    key_line.text.append(kKeyLead);
    for (std::size_t i = 0; i < key.text.size(); i += 4) {
        if (i > 0) key_line.text += ' ';
        key_line.text.append(key.text, i, 4);
    }
    WipedString link_line;
    link_line.text.reserve(kLinkLead.size() + uri.text.size());
    link_line.text.append(kLinkLead).append(uri.text);
    s.tell("You are invited to set up one-time codes for " + user + " (" + describe(e) +
           "). Scan this QR code with your authenticator app:");
    s.tell(drawn.text);
    s.tell(link_line.text);
    s.tell(key_line.text);
    return Ok{};
}

// After the enrollment is stored: the groups the invitation grants
// (gpasswd, bounded: a failure is logged and told, and the login goes on,
// since the enrollment is stored), then the recovery codes, once, ended by a
// prompt: sshd shows text sent after the last prompt only to an interactive
// shell session (not with a command, not on failure), so the codes go out
// as part of a prompt, which every client shows.
int finish_enrollment(Session& s, const Account& acct, InviteConfirmResult& r)
{
    // One deadline for the whole group step (up to kMaxGrantedGroups runs of
    // gpasswd): sshd's LoginGraceTime must not run out on it. Groups not
    // reached in time are logged and told like a failure.
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(kGpasswdModuleTimeoutMs);
    for (const auto& g : r.grant_groups) {
        if (is_member(acct.name, g)) continue;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            s.log(LOG_ERR, acct.name,
                  "enrolled by invitation, but group " + g + " was not reached: the group step took " +
                      std::to_string(kGpasswdModuleTimeoutMs / 1000) + " s");
            s.tell("Could not add you to group " + g + "; ask an administrator.", true);
            continue;
        }
        if (auto st = add_to_group(acct.name, g, static_cast<int>(left)); !st) {
            s.log(LOG_ERR, acct.name, "enrolled by invitation, but " + st.error().detail);
            s.tell("Could not add you to group " + g + "; ask an administrator.", true);
        } else {
            s.log(LOG_NOTICE, acct.name, "added to group " + g + " (invitation)");
        }
    }
    if (r.recovery_codes.empty()) return PAM_SUCCESS;
    s.tell("Keep these recovery codes somewhere safe; each works once:");
    for (auto& c : r.recovery_codes) {
        WipedString line;  // one buffer, no temporary copy of the code
        line.text.reserve(2 + c.view().size());
        line.text.append("  ").append(c.view());
        s.tell(line.text);
        c.wipe();
    }
    WipedString ignored;
    if (const int rc = s.ask_visible(kInviteSavedPrompt, ignored.text); rc != PAM_SUCCESS)
        return conversation_error(rc);  // the enrollment is stored all the same
    return PAM_SUCCESS;
}

// nullopt: go on with the normal login (no invitation, or the rule does not
// let this login enroll: the user sees what they saw before). Otherwise the
// result of the enrollment flow.
//
// Before the code (after_code false): an invitation for a user without a
// confirmed enrollment is offered instead of the code prompt. One that
// replaces a confirmed enrollment (--replace, not revoked) is not: the normal
// code check runs first (the old code or a recovery code; someone holding
// only the ssh key must not enroll their own phone), and after it succeeded
// this runs again with after_code true. The login has then succeeded: the
// result is PAM_SUCCESS whether the new phone is confirmed or not (wrong
// codes still counted, the invitation stays), except when a confirmation
// code locked the user (or the user was locked meanwhile): refused, as any
// lock refuses. When no offer comes back although `info` said invited (a
// parallel login enrolled meanwhile, or the invitation went), `info` is read
// again, so the caller's nullok decision sees the enrollment.
std::optional<int> enroll_by_invitation(Session& s, const Options& opts, const Account& acct, Logins& logins,
                                        LoginContext& ctx, LockInfo& info, bool after_code = false)
{
    const bool first_factor = invite_rule_holds(opts.invites, s.pam_env("SSH_AUTH_INFO_0"));
    // The caller is the user (sudo, su to oneself): telling them of their own
    // invitation tells nobody else anything. Not root: a service running as
    // root (login at a console) asking for root is no such caller.
    const bool caller_is_user = acct.uid != 0 && ::getuid() == static_cast<uid_t>(acct.uid);
    if (!first_factor && !caller_is_user) return std::nullopt;
    if (!first_factor || !s.can_show_text()) {
        // Nothing is offered here. An enrolled user (a --replace invitation)
        // logs in with the code they have; one not enrolled is told where to
        // enroll, then refused as an unenrolled user is (or nullok).
        if (info.invited && !info.enrolled) {
            s.tell_always(kInviteLogInOverSsh);
            s.log(LOG_NOTICE, acct.name,
                  std::string("invited, not enrolled here: ") +
                      (first_factor ? "the conversation cannot show the QR code" : "no first factor before this module"));
        }
        return std::nullopt;
    }
    auto offer = logins->offer_invite(ctx);
    if (!offer) {
        if (offer.error().code == Errc::unsupported) {  // store=agent: not yet
            s.debug(acct.name, "invitations: " + offer.error().message());
            return std::nullopt;
        }
        return fail_closed(s, opts, acct.name, offer.error());
    }
    if (!*offer) {
        if (info.invited && !after_code) {
            auto again = logins->lock_info(ctx);
            if (!again) return fail_closed(s, opts, acct.name, again.error());
            note_clock_ahead(s, acct.name, *again);
            info = std::move(*again);
        }
        return std::nullopt;
    }
    InviteOffer& o = **offer;
    if (o.replaces_confirmed && !after_code) return std::nullopt;  // the code first
    // Groups the user is in already are neither added nor recorded as
    // granted (a later `authctl remove` takes away only what authctl gave).
    o.grant_groups.erase(std::remove_if(o.grant_groups.begin(), o.grant_groups.end(),
                                        [&](const std::string& g) { return is_member(acct.name, g); }),
                         o.grant_groups.end());
    if (auto st = show_offer(s, acct.name, o); !st) return fail_closed(s, opts, acct.name, st.error());
    s.log(LOG_INFO, acct.name, "invitation: enrollment offered");
    const std::string source = s.source();
    for (unsigned attempt = 1; attempt <= kInviteConfirmTries; ++attempt) {
        WipedString answer;
        if (const int rc = s.ask_visible(kInvitePrompt, answer.text); rc != PAM_SUCCESS)
            return conversation_error(rc);  // nothing stored: the invitation stays
        if (is_empty_answer(answer.text)) {
            s.log(LOG_NOTICE, acct.name, "invitation: empty answer (not counted)");
            continue;
        }
        ctx.now = std::time(nullptr);
        auto r = logins->confirm_invite(ctx, o, answer.text);
        if (!r) return fail_closed(s, opts, acct.name, r.error());
        note_clock_ahead(s, acct.name, r->attempt);
        using O = InviteConfirmResult::Outcome;
        switch (r->outcome) {
            case O::enrolled:
                s.log(LOG_NOTICE, acct.name,
                      "enrolled by invitation (invited by " + (o.invited_by.empty() ? std::string("-") : o.invited_by) +
                          ")");
                return finish_enrollment(s, acct, *r);
            case O::wrong_code:
                s.log(LOG_NOTICE, acct.name,
                      "wrong confirmation code for the invitation (" + failures_text(r->attempt.failures) + ")");
                s.audit(acct.name, {AuditEvent::failure});
                if (r->attempt.locked_now) return locked_by_this_failure(s, acct.name, r->attempt, source);
                if (attempt < kInviteConfirmTries) s.tell("That code is not right; try again.", true);
                break;
            case O::locked:
                s.tell(lock_message(r->attempt.lock, r->attempt.now, source), true);
                s.log(LOG_NOTICE, acct.name, "invitation refused: " + lock_text(r->attempt.lock));
                s.audit(acct.name, {AuditEvent::refused, r->attempt.lock.scope});
                return kLockedResult;
            case O::superseded:
                s.tell(after_code ? kInviteReplaceSuperseded : kInviteSuperseded, true);
                s.log(LOG_NOTICE, acct.name, "invitation superseded (enrolled or changed elsewhere, or expired)");
                return after_code ? PAM_SUCCESS : PAM_AUTH_ERR;
        }
    }
    s.log(LOG_NOTICE, acct.name, "invitation not completed: no right code in " +
                                     std::to_string(kInviteConfirmTries) + " tries (the invitation stays)");
    if (after_code) {
        s.tell(kInviteReplaceNotDone, true);
        return PAM_SUCCESS;  // the login's own code was right
    }
    return PAM_AUTH_ERR;
}

// The second factor: refuse a locked user without asking, ask for the code,
// verify and record it in one critical section, tell the user what happened.
int authenticate_code(Session& s, const Options& opts, const Account& acct)
{
    s.arm_fail_delay();
    // A name that does not exist goes through the same steps in its bucket
    // (unknown_name_bucket, core maps it): the same prompt, counted and locked the same way,
    // so neither the prompt nor a lock says who exists.
    const std::string who = s.log_name(acct);
    Logins logins;
    if (auto st = logins.open(opts); !st) return fail_closed(s, opts, who, st.error());
    const std::string source = s.source();
    const std::string service = s.service();
    LoginContext ctx{acct.store_name, acct.is_root, source, std::time(nullptr), service,
                     acct.exists ? std::optional<std::uint32_t>(acct.uid) : std::nullopt};
    ctx.unknown_name = !acct.exists;
    bool key_error_said = false;

    auto info = logins->lock_info(ctx);
    if (!info) return fail_closed(s, opts, who, info.error());
    note_clock_ahead(s, who, *info);
    note_bucket_key(s, who, *info, key_error_said);
    if (info->lock.locked) {
        s.tell(lock_message(info->lock, info->now, source), true);
        s.log(LOG_NOTICE, who, "refused without asking: " + lock_text(info->lock));
        s.audit(who, {AuditEvent::refused, info->lock.scope});
        return kLockedResult;
    }
    // An invited user past a first factor enrolls here (before nullok: an
    // invitation is the way out of a nullok rollout).
    if (acct.exists)
        if (auto rc = enroll_by_invitation(s, opts, acct, logins, ctx, *info)) return *rc;
    if (!info->enrolled && opts.nullok && acct.exists) {
        s.log(LOG_INFO, who, "no enrollment; allowed by nullok");
        return PAM_SUCCESS;
    }

    std::string answer;
    const int rc = s.ask_code(answer);
    if (rc != PAM_SUCCESS) {
        wipe_string(answer);
        return conversation_error(rc);
    }
    if (is_empty_answer(answer)) {
        wipe_string(answer);
        s.log(LOG_NOTICE, who, "refused: empty answer (not counted)");
        return PAM_AUTH_ERR;
    }
    ctx.now = std::time(nullptr);  // the user may have taken a while to answer
    auto result = logins->attempt_code(ctx, answer);
    wipe_string(answer);
    if (!result) return fail_closed(s, opts, who, result.error());
    note_clock_ahead(s, who, *result);
    note_bucket_key(s, who, *result, key_error_said);

    switch (result->outcome) {
        case Outcome::success:
            if (result->failures > 0)
                s.tell(failures_since_message(result->failures, result->sources));
            if (result->used_recovery) s.tell(recovery_left_message(result->recovery_left, acct.name));
            s.log(LOG_INFO, who,
                  std::string("accepted ") +
                      (result->used_recovery
                           ? "a recovery code (" + std::to_string(result->recovery_left) + " left)"
                           : "a one-time code") +
                      (result->failures > 0 ? " after " + failures_text(result->failures) : "") +
                      (result->sources > 0 ? " from " + std::to_string(result->sources) + " source(s)" : ""));
            // A --replace invitation: the new phone is offered only now.
            if (acct.exists && info->invited)
                if (auto irc = enroll_by_invitation(s, opts, acct, logins, ctx, *info, true)) return *irc;
            return PAM_SUCCESS;
        case Outcome::wrong_code:
            // A replay is refused and counted like a wrong code; only the words differ.
            s.log(LOG_NOTICE, who,
                  (result->replayed ? "code already used (" : "wrong code (") + failures_text(result->failures) + ")");
            if (result->replayed) s.tell(kCodeAlreadyUsedMessage);
            s.audit(who, {AuditEvent::failure});
            if (result->locked_now) return locked_by_this_failure(s, who, *result, source);
            return PAM_AUTH_ERR;
        case Outcome::locked:
            s.tell(lock_message(result->lock, result->now, source), true);
            s.log(LOG_NOTICE, who, "refused: " + lock_text(result->lock));
            s.audit(who, {AuditEvent::refused, result->lock.scope});
            return kLockedResult;
        case Outcome::not_enrolled:
            if (opts.nullok && acct.exists) {
                s.log(LOG_INFO, who, "no enrollment; allowed by nullok");
                return PAM_SUCCESS;
            }
            // Counted like a wrong code (and locked like one).
            s.log(LOG_NOTICE, who,
                  std::string(acct.exists ? "refused: no enrollment (" : "refused: unknown user (") +
                      failures_text(result->failures) +
                      // The bucket (keyed by a hash of what was typed, perhaps
                      // a password typed at the user prompt): shown only
                      // where the name itself is (`audit`), for `authctl reset`.
                      (acct.exists || !opts.audit || result->bucket.empty() ? ")" : ", " + result->bucket + ")"));
            s.audit(who, {AuditEvent::failure});
            if (result->locked_now) return locked_by_this_failure(s, who, *result, source);
            return acct.exists ? PAM_AUTH_ERR : PAM_USER_UNKNOWN;
    }
    return PAM_SERVICE_ERR;
}

// faillock's preauth: refuse early, without a prompt, if the user is locked.
int preauth(Session& s, const Options& opts, const Account& acct)
{
    const std::string who = s.log_name(acct);  // a name that does not exist: its bucket's lock
    Logins logins;
    if (auto st = logins.open(opts); !st) return fail_closed(s, opts, who, st.error());
    const std::string source = s.source();
    const std::string service = s.service();
    LoginContext ctx{acct.store_name, acct.is_root, source, std::time(nullptr), service};
    ctx.unknown_name = !acct.exists;
    auto info = logins->lock_info(ctx);
    if (!info) return fail_closed(s, opts, who, info.error());
    note_clock_ahead(s, who, *info);
    bool key_error_said = false;
    note_bucket_key(s, who, *info, key_error_said);
    if (!info->lock.locked) return PAM_SUCCESS;
    s.arm_fail_delay();
    s.tell(lock_message(info->lock, info->now, source), true);
    s.log(LOG_NOTICE, who, "refused in preauth: " + lock_text(info->lock));
    s.audit(who, {AuditEvent::refused, info->lock.scope});
    return kLockedResult;
}

// faillock's authfail: an earlier module (e.g. pam_unix) failed; count it.
int authfail(Session& s, const Options& opts, const Account& acct)
{
    s.arm_fail_delay();
    const std::string who = s.log_name(acct);  // a name that does not exist: counted in its bucket
    Logins logins;
    if (auto st = logins.open(opts); !st) return fail_closed(s, opts, who, st.error());
    const std::string source = s.source();
    const std::string service = s.service();
    LoginContext ctx{acct.store_name, acct.is_root, source, std::time(nullptr), service};
    ctx.unknown_name = !acct.exists;
    auto result = logins->external_failure(ctx);
    if (!result) return fail_closed(s, opts, who, result.error());
    note_clock_ahead(s, who, *result);
    bool key_error_said = false;
    note_bucket_key(s, who, *result, key_error_said);
    if (result->outcome == Outcome::locked) {
        s.log(LOG_NOTICE, who, "failure while locked (not counted): " + lock_text(result->lock));
        s.audit(who, {AuditEvent::refused, result->lock.scope});
        return kLockedResult;
    }
    s.log(LOG_NOTICE, who, "authentication failure (" + failures_text(result->failures) + ")");
    s.audit(who, {AuditEvent::failure});
    if (result->locked_now) return locked_by_this_failure(s, who, *result, source);
    return PAM_AUTH_ERR;
}

// faillock's authsucc: an earlier module succeeded; clear the failures.
int authsucc(Session& s, const Options& opts, const Account& acct)
{
    if (!acct.exists) return PAM_IGNORE;
    Logins logins;
    if (auto st = logins.open(opts); !st) return fail_closed(s, opts, acct.name, st.error());
    const std::string source = s.source();
    const std::string service = s.service();
    auto result = logins->external_success(LoginContext{acct.name, acct.is_root, source, std::time(nullptr), service});
    if (!result) return fail_closed(s, opts, acct.name, result.error());
    note_clock_ahead(s, acct.name, *result);
    if (result->outcome == Outcome::locked) {
        // A lock in force is not lifted by another module's success.
        s.arm_fail_delay();
        s.tell(lock_message(result->lock, result->now, source), true);
        s.log(LOG_NOTICE, acct.name, "success of another module refused: " + lock_text(result->lock));
        s.audit(acct.name, {AuditEvent::refused, result->lock.scope});
        return kLockedResult;
    }
    if (result->failures > 0) {
        s.tell(failures_since_message(result->failures, result->sources));
        s.log(LOG_INFO, acct.name, "success after " + failures_text(result->failures));
    }
    return PAM_SUCCESS;
}

// The account phase: a locked user is denied even when auth was skipped
// (ssh public-key logins). Never resets anything.
int account(Session& s, const Options& opts, const Account& acct)
{
    if (!acct.exists) return PAM_IGNORE;
    Logins logins;
    if (auto st = logins.open(opts); !st) return fail_closed(s, opts, acct.name, st.error());
    const std::string source = s.source();
    const std::string service = s.service();
    const LoginContext ctx{acct.name, acct.is_root, source, std::time(nullptr), service};
    auto info = logins->lock_info(ctx);
    if (!info) return fail_closed(s, opts, acct.name, info.error());
    note_clock_ahead(s, acct.name, *info);
    if (!info->lock.locked) return PAM_SUCCESS;
    // The cap on consecutive failures stops code guessing; a key login
    // guesses nothing, so it is not refused by it (else a guesser who never
    // had a code right would shut the owner's keys out until a reset).
    if (info->lock.scope == LockScope::codes) {
        s.debug(acct.name, "locked for codes only (deny_consecutive): the account phase lets it pass");
        return PAM_SUCCESS;
    }
    s.tell(lock_message(info->lock, info->now, source), true);
    s.log(LOG_NOTICE, acct.name, "account denied: " + lock_text(info->lock));
    s.audit(acct.name, {AuditEvent::refused, info->lock.scope, true});
    return PAM_PERM_DENIED;
}

enum class Phase { auth, account };

// A configuration that cannot be read: refuse (sshd, sudo, su, ...), or step
// aside where refusing would take away root's console or stop cron
// (on_config_error in core decides which). Logged at LOG_CRIT either way. The
// user is the one the application (or an earlier module) named; nothing is
// asked for here.
int configuration_error(pam_handle_t* pamh, Phase phase, const std::string& why)
{
    const std::string service = item_string(pamh, PAM_SERVICE);
    const std::string tty = item_string(pamh, PAM_TTY);
    const std::string rhost = item_string(pamh, PAM_RHOST);
    const std::string user = item_string(pamh, PAM_USER);
    const struct passwd* pw = user.empty() ? nullptr : pam_modutil_getpwnam(pamh, user.c_str());
    const ConfigErrorContext at{service, tty, rhost, pw != nullptr && pw->pw_uid == 0, phase == Phase::account};
    const bool aside = on_config_error(at) == ConfigErrorAction::step_aside;
    const auto shown = [](const std::string& s) { return s.empty() ? std::string("-") : sanitize_source(s); };
    // A name the user database does not know may be a password typed at the
    // user prompt: "(unknown)", as without `audit` (which cannot be read here).
    const std::string who = !user.empty() && pw == nullptr ? std::string("(unknown)") : shown(user);
    pam_syslog(pamh, LOG_CRIT, "configuration error, %s (service=%s tty=%s rhost=%s user=%s): %s",
               aside ? "stepping aside" : "failing closed", shown(service).c_str(), shown(tty).c_str(),
               shown(rhost).c_str(), who.c_str(), why.c_str());
    return aside ? PAM_IGNORE : PAM_SERVICE_ERR;
}

int run(pam_handle_t* pamh, int flags, int argc, const char** argv, Phase phase)
{
    auto cfg = read_config(argc, argv);
    if (!cfg) return configuration_error(pamh, phase, cfg.error().message());
    if (phase == Phase::account && cfg->mode != Mode::code)
        return configuration_error(pamh, phase, "preauth/authfail/authsucc are auth-only");
    Session s(pamh, flags, cfg->opts);
    for (const auto& note : cfg->notes) pam_syslog(pamh, LOG_NOTICE, "%s", note.c_str());
    Account acct;
    if (const int rc = s.get_account(acct); rc != PAM_SUCCESS) {
        pam_syslog(pamh, LOG_NOTICE, "cannot determine the user: %s", pam_strerror(pamh, rc));
        return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : rc;
    }
    // A name the store cannot hold (encode_user_name is the store's own test,
    // including the length of the encoding) cannot be enrolled: treat it as
    // unknown, and say why when the user database does know it.
    if (auto stem = encode_user_name(acct.name); !stem) {
        if (acct.exists) s.log(LOG_NOTICE, acct.name, "treated as an unknown user: " + stem.error().message());
        acct.exists = false;
    } else if (is_unknown_user_bucket(acct.name)) {
        acct.exists = false;  // never an account's name; a name service that says so is not believed
    }
    // A name that does not exist is sent as its digest (ctx.unknown_name):
    // core, or the agent, counts it in its bucket under a key it keeps.
    acct.store_name = acct.exists ? acct.name : unknown_name_digest(acct.name);
    s.debug(s.log_name(acct), std::string("mode ") + (phase == Phase::account ? "account" : "auth"));
    // faillock's local_users_only: the tally modes leave users of a network
    // directory alone, returning success as pam_faillock does (a `sufficient`
    // authsucc line then ends the stack, as it would with faillock). Never
    // the code itself (a second factor is not waived), and never the account
    // phase (a lock the code set, or an administrator's, still holds).
    if (cfg->opts.local_users_only && phase == Phase::auth && cfg->mode != Mode::code && acct.exists &&
        !is_local_user(pamh, acct.name)) {
        s.debug(acct.name, "not in /etc/passwd: not tracked (local_users_only)");
        return PAM_SUCCESS;
    }
    if (phase == Phase::account) return account(s, cfg->opts, acct);
    switch (cfg->mode) {
        case Mode::code: return authenticate_code(s, cfg->opts, acct);
        case Mode::preauth: return preauth(s, cfg->opts, acct);
        case Mode::authfail: return authfail(s, cfg->opts, acct);
        case Mode::authsucc: return authsucc(s, cfg->opts, acct);
    }
    return PAM_SERVICE_ERR;
}

// The wall: nothing thrown inside reaches libpam or the host process.
int guarded(pam_handle_t* pamh, int flags, int argc, const char** argv, Phase phase) noexcept
{
    try {
        return run(pamh, flags, argc, argv, phase);
    } catch (const std::bad_alloc&) {
        pam_syslog(pamh, LOG_CRIT, "out of memory");
        return PAM_BUF_ERR;
    } catch (const std::exception& e) {
        pam_syslog(pamh, LOG_ERR, "internal error, failing closed: %s", e.what());
        return PAM_SERVICE_ERR;
    } catch (...) {
        pam_syslog(pamh, LOG_ERR, "internal error, failing closed");
        return PAM_SERVICE_ERR;
    }
}

}  // namespace
}  // namespace authctl::pam

extern "C" {

__attribute__((visibility("default"))) int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc,
                                                               const char** argv)
{
    return authctl::pam::guarded(pamh, flags, argc, argv, authctl::pam::Phase::auth);
}

__attribute__((visibility("default"))) int pam_sm_setcred(pam_handle_t*, int, int, const char**)
{
    return PAM_SUCCESS;  // no credentials to set; as pam_unix and pam_faillock do
}

__attribute__((visibility("default"))) int pam_sm_acct_mgmt(pam_handle_t* pamh, int flags, int argc, const char** argv)
{
    return authctl::pam::guarded(pamh, flags, argc, argv, authctl::pam::Phase::account);
}

}  // extern "C"
