// SPDX-License-Identifier: Apache-2.0
#include "authctl/admin.hpp"

#include <algorithm>

#include "authctl/fleet_merge.hpp"
#include "authctl/login.hpp"
#include "authctl/username.hpp"

namespace authctl {
namespace {

// Writes the record and ends the critical section: done only when both are.
Status store_changes(LockedRecord& held)
{
    if (auto st = held.commit(); !st) return st;
    return held.finish();
}

}  // namespace

Result<PendingEnrollment> prepare_enrollment(const EnrollParams& params, std::size_t recovery_count, std::int64_t now)
{
    auto e = new_enrollment(params, now);
    if (!e) return e.error();
    PendingEnrollment p;
    p.enrollment = std::move(*e);
    if (recovery_count > 0) {  // generate_recovery_codes enforces the upper bound
        auto codes = generate_recovery_codes(p.recovery, recovery_count);
        if (!codes) return codes.error();
        p.recovery_codes = std::move(*codes);
    }
    return p;
}

Result<bool> confirm_enrollment(PendingEnrollment& pending, std::string_view code, const Options& opts,
                                std::int64_t now)
{
    Enrollment& e = pending.enrollment;
    TypedCode typed;
    if (!normalize_code(code, e.digits, typed)) return false;
    Result<std::optional<std::uint64_t>> m = std::optional<std::uint64_t>{};
    if (e.type == OtpType::totp) {
        const auto range = totp_range(now, e.period, opts.window, e.last_step);
        if (!range) return false;
        m = find_counter(e.secret, e.algo, e.digits, typed.view(), range->first, range->last);
    } else {
        m = find_counter(e.secret, e.algo, e.digits, typed.view(), e.counter, e.counter + opts.hotp_window);
    }
    if (!m) return m.error();
    if (!*m) return false;
    if (e.type == OtpType::totp)
        e.last_step = **m;
    else
        e.counter = **m + 1;
    e.confirmed = true;
    return true;
}

Status store_enrollment(const Store& store, std::string_view user, PendingEnrollment&& pending, bool force,
                        const std::vector<std::string>& granted_groups)
{
    if (const std::size_t n = pending.enrollment.secret.size(); n < kMinSecretBytes)
        return make_error(Errc::invalid_argument, "the secret is " + std::to_string(n) +
                                                      " bytes, under the 10 (80 bits) authctl requires");
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (slot && slot->enrollment && !force)
        return make_error(Errc::exists,
                          "user '" + std::string(user) + "' is already enrolled (use --force to replace)");
    if (!slot) slot.emplace();
    // The same key again (a forced re-import): the codes used with the
    // enrollment in place stay used.
    if (slot->enrollment && same_enrollment(*slot->enrollment, pending.enrollment))
        merge_replay_state(pending.enrollment, *slot->enrollment);
    slot->enrollment = std::move(pending.enrollment);
    slot->recovery = std::move(pending.recovery);
    if (pending.account) slot->account = std::move(pending.account);
    for (const auto& g : granted_groups)
        if (std::find(slot->granted_groups.begin(), slot->granted_groups.end(), g) == slot->granted_groups.end())
            slot->granted_groups.push_back(g);
    return store_changes(*held);
}

Status record_granted_groups(const Store& store, std::string_view user, const std::vector<std::string>& groups)
{
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (!slot || !slot->enrollment)
        return make_error(Errc::not_found, "user '" + std::string(user) + "' is not enrolled");
    for (const auto& g : groups) {
        if (!valid_group_name(g)) return make_error(Errc::invalid_argument, "'" + g + "' is not a group name");
        if (std::find(slot->granted_groups.begin(), slot->granted_groups.end(), g) == slot->granted_groups.end())
            slot->granted_groups.push_back(g);
    }
    if (slot->granted_groups.size() > kMaxGrantedGroups)
        return make_error(Errc::invalid_argument, "more than " + std::to_string(kMaxGrantedGroups) + " granted groups");
    return store_changes(*held);
}

Result<ResetResult> reset_user(const Store& store, std::string_view user, bool is_root, const Options& opts,
                               std::int64_t now)
{
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    ResetResult r;
    if (!slot) return r;
    r.had_record = true;
    r.was_locked = lock_state(slot->tally, opts.lockout, is_root, now).locked || slot->tally.locked_until != 0;
    for (const SourceTally& s : slot->tally.sources) r.was_locked = r.was_locked || s.locked_until != 0;
    const bool ahead = clamp_to_now(slot->tally, opts.lockout, is_root, now);  // a clock that was ahead once
    const Tally& t = slot->tally;
    if (!ahead && t.failures == 0 && t.locked_until == 0 && t.sources.empty() && t.failures_since_success == 0)
        return r;
    r.cleared = reset_tally(slot->tally);
    if (auto st = store_changes(*held); !st) return st.error();
    return r;
}

Result<ResetResult> reset_user_source(const Store& store, std::string_view user, std::string_view source,
                                      bool is_root, const Options& opts, std::int64_t now)
{
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    ResetResult r;
    if (!slot) return r;
    const SourceTally* s = find_source(slot->tally, source);
    if (s == nullptr) return r;
    r.had_record = true;
    (void)is_root;
    (void)opts;
    r.was_locked = s->locked_until == kLockedForever || now < s->locked_until;
    r.cleared = reset_source(slot->tally, source).value_or(0);
    if (auto st = store_changes(*held); !st) return st.error();
    return r;
}

Status lock_user_source(const Store& store, std::string_view user, std::string_view source, std::int64_t until,
                        std::string_view by, std::int64_t now)
{
    if (until <= 0) return make_error(Errc::invalid_argument, "lock end must be in the future");
    if (source.empty()) return make_error(Errc::invalid_argument, "no source given");
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (!slot) slot.emplace();
    lock_source_until(slot->tally, source, until, by, now);
    return store_changes(*held);
}

Status lock_user(const Store& store, std::string_view user, std::int64_t until, std::string_view by)
{
    if (until <= 0) return make_error(Errc::invalid_argument, "lock end must be in the future");
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (!slot) slot.emplace();
    lock_until(slot->tally, until, by);
    return store_changes(*held);
}

Result<RemoveResult> remove_user(const Store& store, std::string_view user)
{
    auto held = store.lock(user);
    if (!held) return held.error();
    RemoveResult r;
    auto& slot = held->record();
    if (!slot) return r;
    r.existed = true;
    r.had_invitation = slot->invitation.has_value();
    r.granted_groups = slot->granted_groups;
    slot.reset();
    if (auto st = store_changes(*held); !st) return st.error();
    return r;
}

Result<std::vector<SecretBytes>> regenerate_recovery(const Store& store, std::string_view user, std::size_t count)
{
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (!slot || !slot->enrollment)
        return make_error(Errc::not_found, "user '" + std::string(user) + "' is not enrolled");
    RecoverySet next;
    auto codes = generate_recovery_codes(next, count);
    if (!codes) return codes.error();
    slot->recovery = std::move(next);
    if (auto st = store_changes(*held); !st) return st.error();
    return std::move(*codes);
}

Result<ResyncResult> resync_hotp(const Store& store, std::string_view user, std::string_view code1,
                                 std::string_view code2)
{
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (!slot || !slot->enrollment)
        return make_error(Errc::not_found, "user '" + std::string(user) + "' is not enrolled");
    Enrollment& e = *slot->enrollment;
    if (e.type != OtpType::hotp)
        return make_error(Errc::invalid_argument, "user '" + std::string(user) +
                                                      "' has a TOTP enrollment: its codes follow the clock, there "
                                                      "is no counter to resynchronise (check the phone's clock)");
    TypedCode first, second;
    if (!normalize_code(code1, e.digits, first) || !normalize_code(code2, e.digits, second))
        return make_error(Errc::invalid_argument, "each code must be " + std::to_string(e.digits) +
                                                      " digits (spaces or one '-' between groups allowed)");
    ResyncResult r;
    r.before = e.counter;
    // CODE1 at e.counter .. e.counter + count - 1, CODE2 one further, and
    // the new counter past it: none of them wraps.
    if (e.counter >= UINT64_MAX - 1) return r;  // an exhausted counter: nothing left to find
    const std::uint64_t count = std::min<std::uint64_t>(kResyncCounters, UINT64_MAX - 1 - e.counter);
    auto m = find_consecutive(e.secret, e.algo, e.digits, first.view(), second.view(), e.counter, count);
    if (!m) return m.error();
    if (!*m) return r;  // dropped: the section ends with nothing written
    r.found = true;
    r.matched = **m;
    r.after = **m + 2;
    e.counter = r.after;
    e.confirmed = true;
    if (auto st = store_changes(*held); !st) return st.error();
    return r;
}

StatusRow status_of(const Store& store, std::string_view user, const std::function<bool()>& is_root,
                    const Options& opts, std::int64_t now)
{
    return status_row(user, store.load(user), is_root, opts, now);
}

StatusRow status_row(std::string_view user, const Result<std::optional<UserRecord>>& rec,
                     const std::function<bool()>& is_root, const Options& opts, std::int64_t now)
{
    StatusRow row;
    row.user = std::string(user);
    if (!rec) {
        row.error = rec.error().message();
        return row;
    }
    if (!*rec) return row;
    const UserRecord& r = **rec;
    if (r.enrollment) {
        row.enrolled = true;
        row.type = r.enrollment->type;
        row.confirmed = r.enrollment->confirmed;
        if (r.enrollment->secret.size() < kMinSecretBytes) row.weak_secret_bytes = r.enrollment->secret.size();
    }
    row.failures = r.tally.failures;
    row.last_failure = r.tally.last_failure;
    row.last_source = r.tally.last_source;
    if (r.tally.locked_until != 0) row.lock = lock_state(r.tally, opts.lockout, is_root(), now);
    if (row.lock.locked) {
        row.lock_reason = r.tally.lock_reason;
        row.locked_by = r.tally.locked_by;
    }
    row.last_success = r.tally.last_success;
    row.last_success_source = r.tally.last_success_source;
    row.recovery_left = r.recovery.hashes.size();
    row.account = r.account;
    row.invitation = r.invitation;
    row.failures_since_success = r.tally.failures_since_success;
    row.sources_since_success = r.tally.sources_since_success;
    // Asked only when a source carries a lock, as for the user's.
    const bool root_asked = std::any_of(r.tally.sources.begin(), r.tally.sources.end(),
                                        [](const SourceTally& s) { return s.locked_until != 0; }) &&
                            is_root();
    for (const SourceTally& s : r.tally.sources) {
        // The source's own lock, whether or not the user's is in force too
        // (lock_state over the whole tally would answer with the user's, and
        // hide the source's): the user's lock is shown on the row.
        // What the record holds: a source's lock by failures is shown whether
        // or not authctl.conf sets per_source (a PAM line may set it alone).
        Tally own;
        own.sources.push_back(s);
        LockoutPolicy recorded = opts.lockout;
        recorded.per_source = true;
        StatusRow::Source out{s, lock_state(own, recorded, root_asked, now, s.source)};
        row.sources.push_back(std::move(out));
    }
    std::stable_sort(row.sources.begin(), row.sources.end(),
                     [](const StatusRow::Source& a, const StatusRow::Source& b) { return a.lock.locked > b.lock.locked; });
    return row;
}

Result<std::optional<AccountBinding>> rebind_user(const Store& store, std::string_view user,
                                                  const AccountBinding& account)
{
    if (auto st = validate_user_name(account.name); !st) return st.error();
    auto held = store.lock(user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (!slot) return make_error(Errc::not_found, "user '" + std::string(user) + "' has no record");
    std::optional<AccountBinding> before = slot->account;
    slot->account = account;
    if (auto st = store_changes(*held); !st) return st.error();
    return before;
}

BindingStatus binding_status(const std::optional<AccountBinding>& account, std::string_view user, bool exists,
                             std::optional<std::uint32_t> uid)
{
    BindingStatus out;
    // A bucket of names that do not exist (unknown_user_bucket) is nobody's.
    if (is_unknown_user_bucket(user)) return out;
    if (!exists) {
        out.state = BindingStatus::State::orphaned;
        out.why = "no such user";
        return out;
    }
    if (!account) return out;
    LoginContext ctx{user, false, {}, 0};
    ctx.uid = uid;
    if (auto st = check_binding(account, ctx); !st) {
        out.state = BindingStatus::State::orphaned;
        out.why = st.error().detail;
        return out;
    }
    out.state = BindingStatus::State::bound;
    return out;
}

const char* binding_state_name(BindingStatus::State s) noexcept
{
    switch (s) {
        case BindingStatus::State::unbound: return "unbound";
        case BindingStatus::State::bound: return "bound";
        case BindingStatus::State::orphaned: return "orphaned";
    }
    return "unbound";
}

}  // namespace authctl
