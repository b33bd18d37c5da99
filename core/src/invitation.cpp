// SPDX-License-Identifier: Apache-2.0
#include "authctl/invitation.hpp"

#include <algorithm>
#include <cstring>

#include "authctl/lockout.hpp"
#include "login_detail.hpp"

namespace authctl {
namespace {

using detail::check_clock;
using detail::clock_was_ahead;
using detail::fail;
using detail::finished;

// A nonce from the CSPRNG, never 0 and never `previous` (so a re-invitation
// always supersedes an offer made for the one it replaces).
Result<std::uint64_t> new_nonce(std::uint64_t previous)
{
    for (;;) {
        auto bytes = random_secret(sizeof(std::uint64_t));
        if (!bytes) return bytes.error();
        std::uint64_t n = 0;
        std::memcpy(&n, bytes->data(), sizeof n);
        if (n != 0 && n != previous) return n;
    }
}

Status check_params(const EnrollParams& p)
{
    if (p.type != OtpType::totp && p.type != OtpType::hotp)
        return make_error(Errc::invalid_argument, "the type must be totp or hotp");
    if (p.algo != HashAlgo::sha1 && p.algo != HashAlgo::sha256 && p.algo != HashAlgo::sha512)
        return make_error(Errc::invalid_argument, "the algorithm must be SHA1, SHA256 or SHA512");
    if (p.digits < kMinDigits || p.digits > kMaxDigits)
        return make_error(Errc::invalid_argument, "digits must be 6, 7 or 8");
    if (p.period < kMinPeriod || p.period > kMaxPeriod)
        return make_error(Errc::invalid_argument, "period must be 1 to 300 seconds");
    return Ok{};
}

// True when nothing but an (absent) invitation is in the record: uninvite
// then deletes it, as if the invitation had never been made.
bool empty_record(const UserRecord& r)
{
    const Tally& t = r.tally;
    return !r.enrollment && r.recovery.hashes.empty() && r.granted_groups.empty() && !r.invitation &&
           t.failures == 0 && t.first_failure == 0 && t.last_failure == 0 && t.last_source.empty() &&
           t.locked_until == 0 && t.last_success == 0 && t.failures_since_success == 0 &&
           t.sources_since_success == 0 && t.sources.empty();
}

using detail::invitation_usable;

}  // namespace

bool detail::invitation_usable(const UserRecord& r, std::int64_t now) noexcept
{
    if (!r.invitation) return false;
    const Invitation& inv = *r.invitation;
    if (inv.expires <= now) return false;
    if (r.enrollment && r.enrollment->confirmed && !inv.replace) return false;
    return true;
}

Result<InviteResult> invite_user(const Store& store, std::string_view user, const InviteRequest& req,
                                 std::int64_t now)
{
    if (now <= 0) return make_error(Errc::invalid_argument, "the clock reads before 1970");
    if (auto st = check_params(req.params); !st) return st.error();
    if (req.expires <= now) return make_error(Errc::invalid_argument, "the invitation would expire in the past");
    if (req.expires - now > kMaxInviteSeconds)
        return make_error(Errc::invalid_argument, "an invitation lasts at most 366 days");
    if (req.revoke_now && !req.replace)
        return make_error(Errc::invalid_argument, "--revoke-now goes with --replace");
    if (req.grant_groups.size() > kMaxGrantedGroups)
        return make_error(Errc::invalid_argument, "more than " + std::to_string(kMaxGrantedGroups) + " groups");
    for (const auto& g : req.grant_groups)
        if (!valid_group_name(g)) return make_error(Errc::invalid_argument, "'" + sanitize_source(g) + "' is not a group name");

    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    const bool enrolled = slot && slot->enrollment && slot->enrollment->confirmed;
    if (enrolled && !req.replace)
        return make_error(Errc::exists, "user '" + sanitize_source(user) +
                                            "' is already enrolled (--replace lets them enroll a new phone)");
    if (!slot) slot.emplace();
    UserRecord& rec = *slot;

    // The groups the record will have once the enrollment is confirmed must fit it.
    std::vector<std::string> groups;
    for (const auto& g : req.grant_groups)
        if (std::find(groups.begin(), groups.end(), g) == groups.end()) groups.push_back(g);
    std::size_t total = rec.granted_groups.size();
    for (const auto& g : groups)
        if (std::find(rec.granted_groups.begin(), rec.granted_groups.end(), g) == rec.granted_groups.end()) ++total;
    if (total > kMaxGrantedGroups)
        return make_error(Errc::invalid_argument, "the user would have more than " +
                                                      std::to_string(kMaxGrantedGroups) + " granted groups");

    InviteResult out;
    auto nonce = new_nonce(rec.invitation ? rec.invitation->nonce : 0);
    if (!nonce) return nonce.error();
    out.replaced_invitation = rec.invitation.has_value();
    Invitation inv;
    inv.nonce = *nonce;
    inv.created = now;
    inv.expires = req.expires;
    inv.params = req.params;
    if (inv.params.type == OtpType::hotp) inv.params.period = 30;  // not used by HOTP; as new_enrollment sets it
    inv.replace = req.replace;
    inv.invited_by = req.invited_by.empty() ? std::string()
                                            : sanitize_source(req.invited_by.substr(0, kMaxLockedByLength));
    inv.grant_groups = std::move(groups);
    if (req.revoke_now && rec.enrollment) {
        rec.enrollment.reset();
        rec.recovery = RecoverySet{};
        out.revoked = true;
    }
    // A record with nothing to protect is bound to the account invited; an
    // enrolled one keeps its binding (check_binding then guards the offer).
    if (req.account && !rec.enrollment) rec.account = req.account;
    rec.invitation = inv;
    out.invitation = std::move(inv);
    if (auto st = held->commit(); !st) return st.error();
    if (auto st = held->finish(); !st) return st.error();
    return out;
}

Status uninvite_user(const Store& store, std::string_view user)
{
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (!slot || !slot->invitation)
        return make_error(Errc::not_found, "user '" + sanitize_source(user) + "' has no invitation");
    slot->invitation.reset();
    if (empty_record(*slot)) slot.reset();  // made only for the invitation
    if (auto st = held->commit(); !st) return st;
    return held->finish();
}

Result<std::optional<InviteOffer>> offer_invited_enrollment(const Store& store, const LoginContext& ctx,
                                                            const Options& opts)
{
    if (auto st = check_clock(ctx.now); !st) return st.error();
    // A name that does not exist (its digest, or its bucket) has no invitation.
    if (ctx.unknown_name || is_unknown_user_bucket(ctx.user)) return std::optional<InviteOffer>{};
    auto snap = store.snapshot(ctx.user);
    if (!snap) return snap.error();
    const std::int64_t now = snap->clock.value_or(ctx.now);
    if (!snap->record || !invitation_usable(*snap->record, now)) return std::optional<InviteOffer>{};
    const UserRecord& rec = *snap->record;
    // A lock stands (a locked user is told so by the normal login), and a
    // record made for another account is not offered (the normal login
    // reports it).
    if (lock_state(rec.tally, opts.lockout, ctx.is_root, now, decision_source(ctx)).locked)
        return std::optional<InviteOffer>{};
    if (!check_binding(rec.account, ctx)) return std::optional<InviteOffer>{};
    const Invitation& inv = *rec.invitation;
    auto pending = prepare_enrollment(inv.params, kDefaultRecoveryCodes, now);
    if (!pending) return pending.error();
    InviteOffer offer;
    offer.pending = std::move(*pending);
    offer.pending.account = AccountBinding{ctx.uid, std::string(ctx.user)};
    offer.nonce = inv.nonce;
    offer.expires = inv.expires;
    offer.replace = inv.replace;
    offer.replaces_confirmed = rec.enrollment && rec.enrollment->confirmed;
    offer.grant_groups = inv.grant_groups;
    offer.invited_by = inv.invited_by;
    return std::optional<InviteOffer>(std::move(offer));
}

Result<InviteConfirmResult> confirm_invited_enrollment(const Store& store, const LoginContext& caller,
                                                       const Options& opts, InviteOffer& offer,
                                                       std::string_view code)
{
    using O = InviteConfirmResult::Outcome;
    if (auto st = check_clock(caller.now); !st) return st.error();
    if (caller.unknown_name || is_unknown_user_bucket(caller.user))
        return make_error(Errc::invalid_argument, "no invitation for a name that does not exist");
    auto held = store.lock(caller.user);
    if (!held) return held.error();
    LoginContext ctx = caller;
    ctx.now = held->now(caller.now);
    if (auto st = check_clock(ctx.now); !st) return st.error();
    const std::string source = decision_source(caller);
    ctx.source = source;

    InviteConfirmResult r;
    r.attempt.now = ctx.now;
    auto& slot = held->record();
    if (!slot) {
        r.outcome = O::superseded;
        return finished(*held, std::move(r));
    }
    UserRecord& rec = *slot;
    const bool ahead = clock_was_ahead(rec, opts, ctx);
    r.attempt.clock_ahead = ahead;
    // Whatever is decided without a write below, the times brought back are written.
    auto unchanged = [&]() -> Result<InviteConfirmResult> {
        if (ahead)
            if (auto st = held->commit(); !st) return st.error();
        return finished(*held, std::move(r));
    };
    if (const LockState ls = lock_state(rec.tally, opts.lockout, ctx.is_root, ctx.now, ctx.source); ls.locked) {
        r.outcome = O::locked;
        r.attempt.outcome = Outcome::locked;
        r.attempt.failures = ls.failures;
        r.attempt.lock = ls;
        return unchanged();
    }
    // An offer shown before any code (no confirmed enrollment then) never
    // replaces one that appeared since: that needs the code first.
    const bool has_confirmed = rec.enrollment && rec.enrollment->confirmed;
    if (!invitation_usable(rec, ctx.now) || rec.invitation->nonce != offer.nonce || offer.nonce == 0 ||
        (has_confirmed && !offer.replaces_confirmed)) {
        r.outcome = O::superseded;
        return unchanged();
    }
    if (auto st = check_binding(rec.account, ctx); !st) return st.error();

    // Counted before the code is looked at, as attempt_code counts.
    const Tally before = rec.tally;
    r.attempt = fail(rec, ctx, opts);
    r.attempt.clock_ahead = ahead;
    r.outcome = O::wrong_code;
    if (auto st = held->commit(); !st) return st.error();

    // A scratch copy: a wrong code leaves the offer as it was.
    PendingEnrollment& p = offer.pending;
    Enrollment trial = p.enrollment.clone();
    PendingEnrollment probe;
    probe.enrollment = std::move(trial);
    auto ok = confirm_enrollment(probe, code, opts, ctx.now);
    if (!ok) return ok.error();
    if (!*ok) return finished(*held, std::move(r));

    rec.tally = before;
    const SinceSuccess since = record_success(rec.tally, ctx.now, ctx.source);
    r.attempt = AttemptResult{};
    r.attempt.outcome = Outcome::success;
    r.attempt.failures = since.failures;
    r.attempt.sources = since.sources;
    r.attempt.clock_ahead = ahead;
    r.attempt.now = ctx.now;
    r.attempt.recovery_left = p.recovery.hashes.size();
    rec.enrollment = std::move(probe.enrollment);  // confirmed, its step or counter consumed
    rec.recovery = p.recovery;
    // The invitation's groups the caller kept in the offer (it leaves out
    // those the user is in already): never one the invitation does not name.
    std::vector<std::string> groups;
    for (const auto& g : rec.invitation->grant_groups)
        if (std::find(offer.grant_groups.begin(), offer.grant_groups.end(), g) != offer.grant_groups.end())
            groups.push_back(g);
    for (const auto& g : groups)
        if (std::find(rec.granted_groups.begin(), rec.granted_groups.end(), g) == rec.granted_groups.end())
            rec.granted_groups.push_back(g);
    rec.account = AccountBinding{ctx.uid ? ctx.uid : (rec.account ? rec.account->uid : std::nullopt),
                                 std::string(ctx.user)};
    rec.invitation.reset();
    if (auto st = held->commit(); !st) return st.error();
    if (auto st = held->finish(); !st) return st.error();
    r.outcome = O::enrolled;
    r.recovery_codes = std::move(p.recovery_codes);
    r.grant_groups = groups;
    p.enrollment.secret.wipe();
    return r;
}

Result<std::optional<InviteOffer>> LocalLogins::offer_invite(const LoginContext& ctx)
{
    return offer_invited_enrollment(store_, ctx, opts_);
}

Result<InviteConfirmResult> LocalLogins::confirm_invite(const LoginContext& ctx, InviteOffer& offer,
                                                        std::string_view code)
{
    return confirm_invited_enrollment(store_, ctx, opts_, offer, code);
}

}  // namespace authctl
