// SPDX-License-Identifier: Apache-2.0
// Enrollment at the user's own login, by invitation (issue 17). The
// administrator invites (`authctl invite`): the user's record gets an
// Invitation and no secret. At the user's next login past a first factor the
// module asks offer_invited_enrollment for an offer (a fresh secret drawn in
// memory, nothing written), shows it, and hands the typed code to
// confirm_invited_enrollment, which stores the enrollment and consumes the
// invitation in one locked write, only when the code matches and the
// invitation is still the one offered. So a kill -9 at any point leaves the
// invitation or the confirmed enrollment, never an unconfirmed secret.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authctl/admin.hpp"
#include "authctl/enrollment.hpp"
#include "authctl/login.hpp"
#include "authctl/options.hpp"
#include "authctl/record.hpp"
#include "authctl/result.hpp"
#include "authctl/store.hpp"

namespace authctl {

inline constexpr std::int64_t kDefaultInviteSeconds = 7 * 24 * 3600;
inline constexpr std::int64_t kMaxInviteSeconds = 366 * 24 * 3600;
inline constexpr unsigned kInviteConfirmTries = 3;  // wrong confirmation codes per login

// Errc::unsupported's detail from the fleet (AgentLogins) and the CLI's refusal under store=agent.
inline constexpr std::string_view kInviteUnsupportedWithAgent =
    "enrollment at login is not available with store=agent yet";

struct InviteRequest {
    EnrollParams params;                    // what the new enrollment will use
    std::int64_t expires = 0;               // Unix time, > now, <= now + kMaxInviteSeconds
    std::vector<std::string> grant_groups;  // valid_group_name each, <= kMaxGrantedGroups
    bool replace = false;                   // the user is enrolled: let a new phone replace it
    bool revoke_now = false;                // with replace: delete the old enrollment now
    std::string invited_by;                 // who (sanitised as locked_by), for status and the log
    std::optional<AccountBinding> account;  // the account it is for (bound like an enrollment)
};

struct InviteResult {
    Invitation invitation;       // as stored
    bool replaced_invitation = false;  // an earlier invitation was replaced
    bool revoked = false;        // revoke_now deleted a confirmed enrollment
};

// Stores an invitation for `user` (one critical section). Refuses with
// Errc::exists a user with a confirmed enrollment unless `replace`; with
// Errc::invalid_argument an expiry not in (now, now + kMaxInviteSeconds], bad
// parameters or groups, revoke_now without replace. An existing invitation is
// replaced (a new nonce: a login holding an offer for the old one is then
// superseded). The tally and any lock are kept.
Result<InviteResult> invite_user(const Store& store, std::string_view user, const InviteRequest& req,
                                 std::int64_t now);

// Removes the invitation; Errc::not_found when there is none. Nothing else changes.
Status uninvite_user(const Store& store, std::string_view user);

// What the module shows and then confirms: a fresh enrollment (unconfirmed,
// secret in memory only) for the invitation with `nonce`.
struct InviteOffer {
    PendingEnrollment pending;  // enrollment + recovery codes drawn for it
    std::uint64_t nonce = 0;
    std::int64_t expires = 0;
    bool replace = false;
    // The record held a confirmed enrollment when offered (a --replace
    // invitation, not revoked): the module asks for the current code (or a
    // recovery code) first and offers only after it succeeded. Confirmation
    // refuses (superseded) an offer made without one once the record has one.
    bool replaces_confirmed = false;
    std::vector<std::string> grant_groups;  // the caller may leave out those the user is in already
    std::string invited_by;  // the invitation's, for the module's log line
};

// Read-only (no write, no lock held afterwards): an offer when ctx.user has an
// unexpired invitation and no confirmed enrollment (or the invitation
// replaces one), is not locked (lock_state for ctx.source), and the record's
// binding allows ctx (check_binding). nullopt otherwise -- the caller then
// runs the normal login, so an uninvited user sees exactly what they saw.
Result<std::optional<InviteOffer>> offer_invited_enrollment(const Store& store, const LoginContext& ctx,
                                                            const Options& opts);

struct InviteConfirmResult {
    enum class Outcome {
        enrolled,    // stored, invitation consumed; recovery_codes to show once
        wrong_code,  // counted as a failure (attempt says how; locked_now may be set)
        locked,      // the user (or this source) is locked: nothing evaluated
        superseded,  // the invitation is gone, changed (nonce), expired, or another login enrolled first
    };
    Outcome outcome = Outcome::wrong_code;
    AttemptResult attempt;                    // the tally's view, as attempt_code reports it
    std::vector<SecretBytes> recovery_codes;  // enrolled: plain text, shown once
    std::vector<std::string> grant_groups;    // enrolled: to apply now (recorded in granted_groups)
};

// One critical section under the user's lock: re-reads the record; refuses a
// locked user (outcome locked) and an invitation that is not the offer's
// (superseded); records a failure before evaluating, as attempt_code does;
// checks `code` against the offer (confirm_enrollment: window of opts,
// normalize_code); on a match stores the enrollment confirmed (its step or
// counter consumed), its recovery hashes, the grant groups in
// granted_groups, binds the record to ctx, clears the failure, removes the
// invitation -- all in the one write. Once enrolled, the recovery codes move
// from the offer to the result and the offer's secret is wiped; a wrong code
// leaves the offer as it was (the user may try again).
Result<InviteConfirmResult> confirm_invited_enrollment(const Store& store, const LoginContext& ctx,
                                                       const Options& opts, InviteOffer& offer,
                                                       std::string_view code);

}  // namespace authctl
