// SPDX-License-Identifier: Apache-2.0
#include "authctl/login.hpp"

#include "authctl/otp.hpp"
#include "login_detail.hpp"

namespace authctl {
namespace {

// What `code` matched among the counters a login looks at.
struct OtpMatch {
    std::optional<std::uint64_t> accepted;  // the counter to consume
    bool replayed = false;                  // it matched only a step or counter already used
};

// Matches `code` in one pass over the counters a login looks at, from the
// highest down (so a code valid at two counters is accepted at the higher,
// and cannot be used twice): TOTP, the whole window around now; HOTP, the
// look-ahead from the stored counter plus the counter accepted last. A match
// above the replay state is accepted; a match only at or below it (a TOTP
// step at or below last_step; HOTP, the last accepted counter) is a replay:
// the code typed twice, the one `enroll --confirm` took, or an observed one
// tried again. A replay is never accepted. The pass covers the same counters
// whatever the code, stopping at the first match from the highest down (a
// wrong code, the common case, costs the whole pass): TOTP's whole window, which before skipped the steps already used;
// for HOTP one counter more (counters skipped by pressing the button were
// never used and are not looked at). One pass, not two: a second
// find_counter would cost a MAC setup again.
Result<OtpMatch> match_otp(const Enrollment& e, const Options& opts, std::int64_t now, std::string_view code)
{
    OtpMatch out;
    TypedCode typed;  // "123 456" as the app shows it: the digits alone
    if (!normalize_code(code, e.digits, typed)) return out;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::uint64_t lowest_new = 0;  // the lowest counter that may be accepted
    if (e.type == OtpType::totp) {
        const auto window = totp_range(now, e.period, opts.window, std::nullopt);
        if (!window) return out;
        first = window->first;
        last = window->last;
        lowest_new = e.last_step ? *e.last_step + 1 : 0;
        if (e.last_step && *e.last_step >= last) lowest_new = last + 1;  // nothing new in the window
    } else {
        // A counter so high that counter + window + 1 would wrap is exhausted: nothing matches.
        if (e.counter > UINT64_MAX - opts.hotp_window - 1) return out;
        lowest_new = e.counter;
        last = e.counter + opts.hotp_window;
        // The last accepted counter too, while the range stays within find_counter's bound.
        first = e.counter > 0 && last - (e.counter - 1) <= 2 * kMaxWindow ? e.counter - 1 : e.counter;
    }
    auto m = find_counter(e.secret, e.algo, e.digits, typed.view(), first, last);
    if (!m) return m.error();
    if (!*m) return out;
    if (**m >= lowest_new)
        out.accepted = **m;
    else
        out.replayed = true;
    return out;
}

}  // namespace

// The source a decision counts: for root, a console terminal is the way in
// only through `login` (is_console_source); any other service on a console (su or
// sudo run from a console session, which may be a cloud serial console
// reachable over the network) is a source of its own, "tty:ttyS0/su".
std::string decision_source(const LoginContext& ctx)
{
    std::string s(ctx.source);
    if (ctx.is_root && is_console_source(s) && ctx.service != "login")
        s = sanitize_source(s + "/" + std::string(ctx.service));
    return s;
}

namespace detail {

AttemptResult fail(UserRecord& rec, const LoginContext& ctx, const Options& base)
{
    // A bucket of names that do not exist never sees a success: under the cap
    // on consecutive failures every bucket would end locked until reset by
    // scanning alone, and every made-up name would then look locked at once.
    LockoutPolicy policy = base.lockout;
    if (is_unknown_user_bucket(ctx.user)) policy.deny_consecutive = 0;
    AttemptResult r;
    r.outcome = Outcome::wrong_code;
    r.locked_now = record_failure(rec.tally, policy, ctx.is_root, ctx.now, ctx.source);
    r.lock = lock_state(rec.tally, policy, ctx.is_root, ctx.now, ctx.source);
    r.failures = r.lock.locked ? r.lock.failures : rec.tally.failures;
    r.now = ctx.now;
    return r;
}

// A clock that was ahead once (issue 19): stored failure and success times,
// locks by failures and a TOTP step accepted while it was ahead are brought
// back to what they would be now (clamp_to_now; a TOTP last_step past this
// window becomes the window's last step, so the codes of the current window,
// some perhaps used before the jump, stay refused, and new ones are accepted
// again within a window instead of once real time reaches the step).
// Returns true when anything was ahead.
bool clock_was_ahead(UserRecord& rec, const Options& opts, const LoginContext& ctx)
{
    bool ahead = clamp_to_now(rec.tally, opts.lockout, ctx.is_root, ctx.now);
    if (rec.enrollment && rec.enrollment->type == OtpType::totp && rec.enrollment->last_step) {
        const auto window = totp_range(ctx.now, rec.enrollment->period, opts.window, std::nullopt);
        // One step of slack: a login whose clock was read before it waited
        // for the lock may be a step behind the one that accepted a code.
        if (window && *rec.enrollment->last_step > window->last + 1) {
            rec.enrollment->last_step = window->last;
            ahead = true;
        }
    }
    return ahead;
}

}  // namespace detail

namespace {

using detail::check_clock;
using detail::clock_was_ahead;
using detail::fail;
using detail::finished;

}  // namespace

Status detail::check_clock(std::int64_t now)
{
    if (now <= 0) return make_error(Errc::invalid_argument, "the clock reads before 1970");
    return Ok{};
}

Status check_binding(const std::optional<AccountBinding>& account, const LoginContext& ctx)
{
    if (!account) return Ok{};
    const AccountBinding& b = *account;
    const std::string user(ctx.user);
    if (b.uid && ctx.uid) {
        if (*b.uid == *ctx.uid) return Ok{};
        return make_error(Errc::insecure, "the record of '" + sanitize_source(user) + "' belongs to uid " +
                                              std::to_string(*b.uid) + ", the account has uid " +
                                              std::to_string(*ctx.uid) + " (check, then `authctl rebind -u " +
                                              sanitize_source(user) + "`)");
    }
    if (b.name == ctx.user) return Ok{};
    return make_error(Errc::insecure, "the record of '" + sanitize_source(user) + "' belongs to user '" +
                                          sanitize_source(b.name) + "' (check, then `authctl rebind -u " +
                                          sanitize_source(user) + "`)");
}

Result<AttemptResult> attempt_code(const Store& store, const LoginContext& caller, const Options& opts,
                                   std::string_view code)
{
    // The caller's clock is checked before anything is locked, the store's
    // (when it has one) once it was read.
    if (auto st = check_clock(caller.now); !st) return st.error();
    auto held = store.lock(caller.user);
    if (!held) return held.error();
    LoginContext ctx = caller;
    ctx.now = held->now(caller.now);
    const std::string source = decision_source(caller);
    ctx.source = source;
    if (auto st = check_clock(ctx.now); !st) return st.error();
    auto& slot = held->record();
    AttemptResult r;
    r.now = ctx.now;
    const bool ahead = slot && clock_was_ahead(*slot, opts, ctx);
    if (slot) {
        const LockState ls = lock_state(slot->tally, opts.lockout, ctx.is_root, ctx.now, ctx.source);
        if (ls.locked) {
            r.outcome = Outcome::locked;
            r.failures = ls.failures;
            r.lock = ls;
            r.clock_ahead = ahead;
            if (ahead)  // the times brought back are written, so this is said once
                if (auto st = held->commit(); !st) return st.error();
            return finished(*held, r);
        }
    }
    if (!slot || !slot->enrollment) {
        // Counted and locked like a wrong code of an enrolled user, so that a
        // lock does not say "this account exists and is enrolled". The
        // module does the same for names that do not exist, in their bucket
        // (unknown_user_bucket).
        if (!slot) slot.emplace();
        r = fail(*slot, ctx, opts);
        r.outcome = Outcome::not_enrolled;
        r.clock_ahead = ahead;
        if (auto st = held->commit(); !st) return st.error();
        return finished(*held, r);
    }
    UserRecord& rec = *slot;
    // Before anything is counted or evaluated: another account's secret is
    // not tried at all (the refusal is the administrator's to clear).
    if (auto st = check_binding(rec.account, ctx); !st) return st.error();

    // Count first: the failure is on disk before the code is looked at, so an
    // attempt whose outcome cannot be recorded (disk full, a file-size limit
    // inherited by a setuid program) is never evaluated. A right code then
    // takes the count back in a second write; if that write fails, the
    // failure stays counted and the login fails: closed either way.
    const Tally before = rec.tally;
    r = fail(rec, ctx, opts);
    r.clock_ahead = ahead;
    if (auto st = held->commit(); !st) return st.error();

    Enrollment& e = *rec.enrollment;
    auto otp = match_otp(e, opts, ctx.now, code);
    if (!otp) return otp.error();
    bool accepted = false;
    if (otp->accepted) {
        if (e.type == OtpType::totp)
            e.last_step = *otp->accepted;
        else
            e.counter = *otp->accepted + 1;
        e.confirmed = true;
        accepted = true;
    } else {
        auto rc = match_recovery_code(rec.recovery, code);
        if (!rc) return rc.error();
        if (*rc) {
            rec.recovery.hashes.erase(rec.recovery.hashes.begin() + static_cast<std::ptrdiff_t>(**rc));
            r.used_recovery = true;
            // The codes were issued with this enrollment and shown only with
            // it: using one proves the user holds what enroll gave them.
            e.confirmed = true;
            accepted = true;
        }
    }
    if (!accepted) {
        // Still a failure, counted above: a replayed code is what the guard is
        // for (an observed code tried again), and telling it apart changes
        // only what the user is told and the log says.
        r.replayed = otp->replayed;
        return finished(*held, r);  // the failure written above is the record of this attempt
    }

    rec.tally = before;
    r.outcome = Outcome::success;
    r.locked_now = false;
    r.lock = {};
    const SinceSuccess since = record_success(rec.tally, ctx.now, ctx.source);
    r.failures = since.failures;
    r.sources = since.sources;
    r.recovery_left = rec.recovery.hashes.size();
    // Bind an unbound record (from before version 3) to the account that just
    // proved it holds the secret; refresh the name of a renamed account; fill
    // in the uid of a record bound by name only when this login knows it.
    AccountBinding bound{ctx.uid ? ctx.uid : (rec.account ? rec.account->uid : std::nullopt), std::string(ctx.user)};
    if (!rec.account || *rec.account != bound) rec.account = std::move(bound);
    if (auto st = held->commit(); !st) return st.error();
    return finished(*held, r);
}

std::string unknown_user_bucket(std::string_view name)
{
    // FNV-1a: a spread, not a secret (anyone may compute which names share a
    // bucket; sharing one only makes a name lock sooner).
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    constexpr char kHex[] = "0123456789abcdef";
    const auto b = static_cast<unsigned>((h ^ (h >> 32)) & 0xFFFU);
    std::string out(kUnknownBucketPrefix);
    out.push_back(kHex[(b >> 8) & 15U]);
    out.push_back(kHex[(b >> 4) & 15U]);
    out.push_back(kHex[b & 15U]);
    return out;
}

bool is_unknown_user_bucket(std::string_view name) noexcept
{
    return name.substr(0, kUnknownBucketPrefix.size()) == kUnknownBucketPrefix;
}

bool is_empty_answer(std::string_view answer) noexcept
{
    return answer.find_first_not_of(" \t") == std::string_view::npos;
}

Result<LockInfo> lock_info(const Store& store, const LoginContext& ctx, const Options& opts)
{
    auto snap = store.snapshot(ctx.user);
    if (!snap) return snap.error();
    LockInfo info;
    info.now = snap->clock.value_or(ctx.now);
    if (!snap->record) return info;
    const UserRecord& r = *snap->record;
    Tally t = r.tally;
    info.enrolled = r.enrollment.has_value();
    info.invited = detail::invitation_usable(r, info.now);
    if (clamp_to_now(t, opts.lockout, ctx.is_root, info.now)) {
        // Times a clock that was ahead left behind are brought back in the
        // record itself, under its lock: judged "unlock_time from now"
        // without writing, a lock would start again at every refusal (which
        // writes nothing) and last as long as the clock was ahead.
        auto held = store.lock(ctx.user);
        if (!held) return held.error();
        LoginContext at = ctx;
        at.now = held->now(ctx.now);
        if (auto st = check_clock(at.now); !st) return st.error();
        info.now = at.now;
        auto& slot = held->record();
        if (!slot) return finished(*held, LockInfo{{}, 0, false, info.now, false});
        info.clock_ahead = clock_was_ahead(*slot, opts, at);
        t = slot->tally;
        info.enrolled = slot->enrollment.has_value();
        info.invited = detail::invitation_usable(*slot, info.now);
        if (info.clock_ahead)
            if (auto st = held->commit(); !st) return st.error();
        if (auto st = held->finish(); !st) return st.error();
    }
    info.lock = lock_state(t, opts.lockout, ctx.is_root, info.now, decision_source(ctx));
    info.failures = info.lock.locked ? info.lock.failures : t.failures;
    return info;
}

Result<AttemptResult> record_external_failure(const Store& store, const LoginContext& caller, const Options& opts)
{
    if (auto st = check_clock(caller.now); !st) return st.error();
    auto held = store.lock(caller.user);
    if (!held) return held.error();
    LoginContext ctx = caller;
    ctx.now = held->now(caller.now);
    const std::string source = decision_source(caller);
    ctx.source = source;
    if (auto st = check_clock(ctx.now); !st) return st.error();
    auto& slot = held->record();
    if (!slot) slot.emplace();
    AttemptResult r;
    r.now = ctx.now;
    const bool ahead = clock_was_ahead(*slot, opts, ctx);
    const LockState ls = lock_state(slot->tally, opts.lockout, ctx.is_root, ctx.now, ctx.source);
    if (ls.locked) {
        r.outcome = Outcome::locked;
        r.failures = ls.failures;
        r.lock = ls;
        r.clock_ahead = ahead;
        if (ahead)
            if (auto st = held->commit(); !st) return st.error();
        return finished(*held, r);
    }
    r = fail(*slot, ctx, opts);
    r.clock_ahead = ahead;
    if (auto st = held->commit(); !st) return st.error();
    return finished(*held, r);
}

Result<AttemptResult> record_external_success(const Store& store, const LoginContext& caller, const Options& opts)
{
    if (auto st = check_clock(caller.now); !st) return st.error();
    auto held = store.lock(caller.user);
    if (!held) return held.error();
    LoginContext ctx = caller;
    ctx.now = held->now(caller.now);
    const std::string source = decision_source(caller);
    ctx.source = source;
    if (auto st = check_clock(ctx.now); !st) return st.error();
    auto& slot = held->record();
    AttemptResult r;
    r.now = ctx.now;
    r.outcome = Outcome::success;
    if (!slot) return finished(*held, r);
    Tally& t = slot->tally;
    r.clock_ahead = clock_was_ahead(*slot, opts, ctx);
    // A lock in force stands: another module's success (a right password) is
    // not the second factor, and lifting the lock with it would let a
    // password guesser past it (faillock's authsucc checks the lock too).
    if (const LockState ls = lock_state(t, opts.lockout, ctx.is_root, ctx.now, ctx.source); ls.locked) {
        r.outcome = Outcome::locked;
        r.failures = ls.failures;
        r.lock = ls;
        if (r.clock_ahead)
            if (auto st = held->commit(); !st) return st.error();
        return finished(*held, r);
    }
    const std::string key = sanitize_source(ctx.source);
    if (!r.clock_ahead && t.failures == 0 && t.locked_until == 0 && t.failures_since_success == 0 &&
        t.sources_since_success == 0 && find_source(t, key) == nullptr)
        return finished(*held, r);
    // Not a code authctl accepted, so last_success (shown by `authctl status`) stays.
    const SinceSuccess since = record_success(t, ctx.now, key, false);
    r.failures = since.failures;
    r.sources = since.sources;
    if (auto st = held->commit(); !st) return st.error();
    return finished(*held, r);
}

}  // namespace authctl
