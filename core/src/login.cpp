#include "authctl/login.hpp"

#include "authctl/otp.hpp"

namespace authctl {
namespace {

// Which counter, if any, `code` matches for this enrollment. Never a TOTP step
// at or below last_step.
Result<std::optional<std::uint64_t>> match_otp(const Enrollment& e, const Options& opts, std::int64_t now,
                                               std::string_view code)
{
    if (!is_code_syntax(code, e.digits)) return std::optional<std::uint64_t>{};
    if (e.type == OtpType::totp) {
        const auto range = totp_range(now, e.period, opts.window, e.last_step);
        if (!range) return std::optional<std::uint64_t>{};
        return find_counter(e.secret, e.algo, e.digits, code, range->first, range->last);
    }
    // A counter so high that counter + window + 1 would wrap is exhausted: nothing matches.
    if (e.counter > UINT64_MAX - opts.hotp_window - 1) return std::optional<std::uint64_t>{};
    return find_counter(e.secret, e.algo, e.digits, code, e.counter, e.counter + opts.hotp_window);
}

AttemptResult fail(UserRecord& rec, const LoginContext& ctx, const Options& opts)
{
    AttemptResult r;
    r.outcome = Outcome::wrong_code;
    r.locked_now = record_failure(rec.tally, opts.lockout, ctx.is_root, ctx.now, ctx.source);
    r.failures = rec.tally.failures;
    r.lock = lock_state(rec.tally, opts.lockout, ctx.is_root, ctx.now);
    return r;
}

}  // namespace

Result<AttemptResult> attempt_code(const UserStore& store, const LoginContext& ctx, const Options& opts,
                                   std::string_view code)
{
    auto held = store.lock(ctx.user);
    if (!held) return held.error();
    auto& slot = held->record();
    AttemptResult r;
    if (slot) {
        const LockState ls = lock_state(slot->tally, opts.lockout, ctx.is_root, ctx.now);
        if (ls.locked) {
            r.outcome = Outcome::locked;
            r.failures = slot->tally.failures;
            r.lock = ls;
            return r;
        }
    }
    if (!slot || !slot->enrollment) {
        r.outcome = Outcome::not_enrolled;
        return r;
    }
    UserRecord& rec = *slot;
    Enrollment& e = *rec.enrollment;

    auto otp = match_otp(e, opts, ctx.now, code);
    if (!otp) return otp.error();
    if (*otp) {
        if (e.type == OtpType::totp)
            e.last_step = **otp;
        else
            e.counter = **otp + 1;
        e.confirmed = true;
        r.outcome = Outcome::success;
        r.failures = record_success(rec.tally);
        r.recovery_left = rec.recovery.hashes.size();
    } else {
        auto rc = match_recovery_code(rec.recovery, code);
        if (!rc) return rc.error();
        if (*rc) {
            rec.recovery.hashes.erase(rec.recovery.hashes.begin() + static_cast<std::ptrdiff_t>(**rc));
            r.outcome = Outcome::success;
            r.used_recovery = true;
            r.failures = record_success(rec.tally);
            r.recovery_left = rec.recovery.hashes.size();
        } else {
            r = fail(rec, ctx, opts);
        }
    }
    if (auto st = held->commit(); !st) return st.error();
    return r;
}

Result<LockInfo> lock_info(const UserStore& store, const LoginContext& ctx, const Options& opts)
{
    auto rec = store.load(ctx.user);
    if (!rec) return rec.error();
    LockInfo info;
    if (!*rec) return info;
    const UserRecord& r = **rec;
    info.lock = lock_state(r.tally, opts.lockout, ctx.is_root, ctx.now);
    info.failures = r.tally.failures;
    info.enrolled = r.enrollment.has_value();
    return info;
}

Result<AttemptResult> record_external_failure(const UserStore& store, const LoginContext& ctx, const Options& opts)
{
    auto held = store.lock(ctx.user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (!slot) slot.emplace();
    AttemptResult r;
    const LockState ls = lock_state(slot->tally, opts.lockout, ctx.is_root, ctx.now);
    if (ls.locked) {
        r.outcome = Outcome::locked;
        r.failures = slot->tally.failures;
        r.lock = ls;
        return r;
    }
    r = fail(*slot, ctx, opts);
    if (auto st = held->commit(); !st) return st.error();
    return r;
}

Result<std::uint32_t> record_external_success(const UserStore& store, const LoginContext& ctx)
{
    auto held = store.lock(ctx.user);
    if (!held) return held.error();
    auto& slot = held->record();
    if (!slot) return std::uint32_t{0};
    if (slot->tally.failures == 0 && slot->tally.locked_until == 0) return std::uint32_t{0};
    const std::uint32_t cleared = record_success(slot->tally);
    if (auto st = held->commit(); !st) return st.error();
    return cleared;
}

}  // namespace authctl
