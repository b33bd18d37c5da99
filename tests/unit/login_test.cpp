// SPDX-License-Identifier: Apache-2.0
// The login decisions end to end over a real store, with the clock injected:
// right, wrong, replayed and out-of-window codes, HOTP look-ahead, recovery
// codes, lockout and its expiry, root, and the faillock-style hooks.
#include "authctl/login.hpp"

#include <gtest/gtest.h>

#include <set>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "authctl/admin.hpp"
#include "authctl/enrollment.hpp"
#include "test_support.hpp"

namespace authctl {
namespace {

constexpr std::int64_t T0 = 1700000010;  // step 56666667 at 30 s, 10 s into it

class LoginTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "the store requires root-owned files; run as root";
        dir_ = tmp_ / "state";
        auto s = UserStore::open_or_create(dir_);
        ASSERT_TRUE(s) << s.error().message();
        store_.emplace(std::move(*s));
    }

    void enroll(const std::string& user, EnrollParams params = {}, std::size_t recovery = 0)
    {
        auto held = store_->lock(user);
        ASSERT_TRUE(held);
        UserRecord r;
        auto e = new_enrollment(params, T0);
        ASSERT_TRUE(e);
        r.enrollment = std::move(*e);
        if (recovery > 0) {
            auto codes = generate_recovery_codes(r.recovery, recovery);
            ASSERT_TRUE(codes);
            for (auto& c : *codes) recovery_codes_.emplace_back(c.view());
        }
        held->record() = std::move(r);
        ASSERT_TRUE(held->commit());
    }

    Enrollment enrollment(const std::string& user)
    {
        auto r = store_->load(user);
        EXPECT_TRUE(r && r->has_value());
        return (*r)->enrollment->clone();
    }

    std::string code_at(const std::string& user, std::uint64_t counter)
    {
        const Enrollment e = enrollment(user);
        auto v = hotp_value(e.secret, counter, e.algo, e.digits);
        EXPECT_TRUE(v);
        return format_code(*v, e.digits);
    }

    std::string totp(const std::string& user, std::int64_t now)
    {
        return code_at(user, totp_step(now, enrollment(user).period));
    }

    AttemptResult attempt(const std::string& user, const std::string& code, std::int64_t now, bool root = false)
    {
        LoginContext ctx{user, root, "192.0.2.1", now};
        auto r = attempt_code(*store_, ctx, opts_, code);
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : AttemptResult{};
    }

    Tally tally(const std::string& user) { return (*store_->load(user))->tally; }

    // The bucket of a name that does not exist, under this store's key.
    std::string bucket(const std::string& name)
    {
        auto key = store_->bucket_key();
        EXPECT_TRUE(key) << key.error().message();
        auto b = unknown_user_bucket(name, key ? &*key : nullptr);
        EXPECT_TRUE(b);
        return b ? *b : std::string();
    }

    // A login from `source` (a source key, as the module passes it).
    AttemptResult attempt_from(const std::string& user, const std::string& code, std::int64_t now,
                               const std::string& source)
    {
        LoginContext ctx{user, false, source, now};
        auto r = attempt_code(*store_, ctx, opts_, code);
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : AttemptResult{};
    }

    LockInfo info_from(const std::string& user, std::int64_t now, const std::string& source)
    {
        auto r = lock_info(*store_, LoginContext{user, false, source, now}, opts_);
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : LockInfo{};
    }

    // A code that is wrong at `now` (and at the steps around it).
    std::string wrong_code(const std::string& user, std::int64_t now)
    {
        for (int n = 0; n < 1000000; n += 111111) {
            std::string c = std::to_string(100000 + n).substr(0, 6);
            bool valid = false;
            for (int d = -2; d <= 2; ++d) valid = valid || c == totp(user, now + 30 * d);
            if (!valid) return c;
        }
        ADD_FAILURE() << "no wrong code found";
        return "";
    }

    test::TempDir tmp_;
    std::string dir_;
    std::optional<UserStore> store_;
    Options opts_;
    std::vector<std::string> recovery_codes_;
};

TEST_F(LoginTest, RightCodeSucceedsAndConfirms)
{
    enroll("alice");
    EXPECT_FALSE(enrollment("alice").confirmed);
    const auto r = attempt("alice", totp("alice", T0), T0);
    EXPECT_EQ(r.outcome, Outcome::success);
    EXPECT_EQ(r.failures, 0U);
    EXPECT_TRUE(enrollment("alice").confirmed);
    EXPECT_EQ(enrollment("alice").last_step, std::optional<std::uint64_t>(totp_step(T0, 30)));
}

TEST_F(LoginTest, WrongCodeCountsAndIsReported)
{
    enroll("alice");
    std::string wrong = totp("alice", T0);
    wrong[0] = wrong[0] == '9' ? '0' : static_cast<char>(wrong[0] + 1);
    const auto r = attempt("alice", wrong, T0);
    EXPECT_EQ(r.outcome, Outcome::wrong_code);
    EXPECT_EQ(r.failures, 1U);
    EXPECT_FALSE(r.locked_now);
    EXPECT_EQ(tally("alice").failures, 1U);
    EXPECT_EQ(tally("alice").last_source, "192.0.2.1");
}

TEST_F(LoginTest, ReplayedCodeIsRefusedAndCounted)
{
    enroll("alice");
    const std::string code = totp("alice", T0);
    const auto first = attempt("alice", code, T0);
    EXPECT_EQ(first.outcome, Outcome::success);
    EXPECT_FALSE(first.replayed);
    const auto again = attempt("alice", code, T0 + 1);
    EXPECT_EQ(again.outcome, Outcome::wrong_code);
    EXPECT_EQ(again.failures, 1U);
    EXPECT_TRUE(again.replayed) << "told apart from a wrong code, still counted";
    EXPECT_EQ(tally("alice").failures, 1U);
    EXPECT_EQ(enrollment("alice").last_step, std::optional<std::uint64_t>(totp_step(T0, 30)));
}

// The first login right after `enroll --confirm`, in the same step; an older
// step than the last accepted; a wrong code; a step outside the window.
TEST_F(LoginTest, AReplayIsToldApartFromAWrongCodeOnlyInsideTheWindow)
{
    enroll("alice");
    opts_.lockout.deny = 0;  // count, never lock: every attempt below is evaluated
    const std::string newer = totp("alice", T0 + 30);
    const std::string older = totp("alice", T0 - 30);
    ASSERT_EQ(attempt("alice", newer, T0).outcome, Outcome::success);
    auto r = attempt("alice", older, T0);  // never used, but at or below the last accepted step
    EXPECT_EQ(r.outcome, Outcome::wrong_code);
    EXPECT_TRUE(r.replayed);
    std::string wrong = totp("alice", T0);
    // A code of no step in the window (retry until it is none of them).
    for (char c = '0'; c <= '9'; ++c) {
        wrong[0] = c;
        bool any = false;
        for (int d = -2; d <= 2; ++d) any = any || wrong == totp("alice", T0 + 30 * d);
        if (!any) break;
    }
    r = attempt("alice", wrong, T0);
    EXPECT_EQ(r.outcome, Outcome::wrong_code);
    EXPECT_FALSE(r.replayed);
    // Ten minutes on: the used step is outside the window, and its code is just wrong.
    r = attempt("alice", newer, T0 + 600);
    EXPECT_EQ(r.outcome, Outcome::wrong_code);
    EXPECT_FALSE(r.replayed);
    EXPECT_EQ(tally("alice").failures, 3U) << "every one counted";
    // A malformed answer is never a replay.
    EXPECT_FALSE(attempt("alice", newer + "0", T0).replayed);
}

TEST_F(LoginTest, AnHotpCodeOfTheLastAcceptedCounterIsAReplay)
{
    EnrollParams p;
    p.type = OtpType::hotp;
    enroll("hugo", p);
    opts_.hotp_window = 2;
    opts_.lockout.deny = 0;
    ASSERT_EQ(attempt("hugo", code_at("hugo", 2), T0).outcome, Outcome::success);  // counter now 3
    ASSERT_EQ(attempt("hugo", code_at("hugo", 5), T0).outcome, Outcome::success);  // counter now 6
    auto r = attempt("hugo", code_at("hugo", 5), T0);
    EXPECT_EQ(r.outcome, Outcome::wrong_code);
    EXPECT_TRUE(r.replayed) << "the code just used, typed again";
    r = attempt("hugo", code_at("hugo", 4), T0);
    EXPECT_EQ(r.outcome, Outcome::wrong_code);
    EXPECT_FALSE(r.replayed) << "skipped by the button, never used: just wrong";
    r = attempt("hugo", code_at("hugo", 2), T0);
    EXPECT_EQ(r.outcome, Outcome::wrong_code);
    EXPECT_FALSE(r.replayed) << "only the last accepted counter is looked at";
    EXPECT_EQ(enrollment("hugo").counter, 6U) << "a replay never moves the counter";
    EXPECT_EQ(tally("hugo").failures, 3U);
}

TEST_F(LoginTest, ASuccessRecordsTheLastSuccessAndAFailureLockSaysWhy)
{
    enroll("sam");
    const std::string code = totp("sam", T0);
    ASSERT_EQ(attempt("sam", code, T0).outcome, Outcome::success);
    EXPECT_EQ(tally("sam").last_success, T0);
    EXPECT_EQ(tally("sam").last_success_source, "192.0.2.1");
    for (int i = 0; i < 3; ++i) attempt("sam", code, T0 + 1);  // three replays lock
    EXPECT_EQ(tally("sam").lock_reason, LockReason::failures);
    EXPECT_EQ(tally("sam").last_success, T0) << "kept across failures";
    // Another module's success does not lift a lock in force (as faillock's authsucc)...
    auto refused = record_external_success(*store_, LoginContext{"sam", false, "tty2", T0 + 2}, opts_);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->outcome, Outcome::locked);
    EXPECT_EQ(tally("sam").lock_reason, LockReason::failures);
    // ...once the lock has run out it clears the count and the lock's reason, but is not a code authctl accepted.
    ASSERT_TRUE(record_external_success(*store_, LoginContext{"sam", false, "tty2", T0 + 700}, opts_));
    EXPECT_EQ(tally("sam").lock_reason, LockReason::unknown);
    EXPECT_EQ(tally("sam").locked_until, 0);
    EXPECT_EQ(tally("sam").last_success, T0);
}

TEST_F(LoginTest, OlderStepRefusedOnceANewerOneWasAccepted)
{
    enroll("alice");
    const std::string older = totp("alice", T0 - 30);  // previous step, inside the window
    const std::string newer = totp("alice", T0 + 30);  // next step, inside the window
    EXPECT_EQ(attempt("alice", newer, T0).outcome, Outcome::success);
    EXPECT_EQ(attempt("alice", older, T0).outcome, Outcome::wrong_code);
    EXPECT_EQ(attempt("alice", totp("alice", T0), T0).outcome, Outcome::wrong_code);
}

TEST_F(LoginTest, ACodeThatRepeatsInsideTheWindowIsStillAcceptedOnlyOnce)
{
    // RFC 4226 key: steps 153567 and 153569 share the code 468457. At step
    // 153568 with window 1 both are in range; the second use must fail.
    enroll("rhea");
    {
        auto held = store_->lock("rhea");
        ASSERT_TRUE(held);
        const std::string k = "12345678901234567890";
        held->record()->enrollment->secret = SecretBytes(reinterpret_cast<const std::uint8_t*>(k.data()), k.size());
        ASSERT_TRUE(held->commit());
    }
    const std::int64_t now = 153568LL * 30 + 5;
    EXPECT_EQ(attempt("rhea", "468457", now).outcome, Outcome::success);
    EXPECT_EQ(enrollment("rhea").last_step, std::optional<std::uint64_t>(153569));
    EXPECT_EQ(attempt("rhea", "468457", now).outcome, Outcome::wrong_code);
}

TEST_F(LoginTest, AFailureThatCannotBeRecordedIsNeverEvaluated)
{
    // A file-size limit (inherited through a setuid program) makes the
    // failure's write fail. The attempt must then fail without the code being
    // looked at, and must not slip past the count. Run in a child: the limit
    // is per process.
    enroll("fred");
    // A success two steps back fills last_step, so a later success rewrites a
    // record of the same size, while a failure (two 10-digit times) grows it.
    ASSERT_EQ(attempt("fred", totp("fred", T0 - 60), T0 - 60).outcome, Outcome::success);
    const std::string right = totp("fred", T0);
    const std::string rec = dir_ + "/fred.rec";
    struct stat st {};
    ASSERT_EQ(::stat(rec.c_str(), &st), 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::signal(SIGXFSZ, SIG_IGN);
        rlimit lim{static_cast<rlim_t>(st.st_size), static_cast<rlim_t>(st.st_size)};
        ::setrlimit(RLIMIT_FSIZE, &lim);
        auto s = UserStore::open(dir_);
        Options o;
        int errors = 0;
        for (int i = 0; i < 20; ++i) {
            auto r = attempt_code(*s, LoginContext{"fred", false, "192.0.2.1", T0}, o, "000000");
            if (!r) ++errors;
        }
        // The right code cannot log in either: its failure is written first.
        auto ok = attempt_code(*s, LoginContext{"fred", false, "192.0.2.1", T0}, o, right);
        ::_exit(errors == 20 && !ok ? 0 : 1);
    }
    int ws = 0;
    ASSERT_EQ(::waitpid(pid, &ws, 0), pid);
    ASSERT_TRUE(WIFEXITED(ws));
    EXPECT_EQ(WEXITSTATUS(ws), 0) << "an attempt was evaluated although its failure could not be recorded";
    EXPECT_EQ(enrollment("fred").last_step, std::optional<std::uint64_t>(totp_step(T0 - 60, 30)))
        << "the right code was consumed";
    EXPECT_EQ(tally("fred").failures, 0U);
    EXPECT_EQ(attempt("fred", right, T0).outcome, Outcome::success);
}

TEST_F(LoginTest, ClockBefore1970IsRefused)
{
    enroll("tom");
    LoginContext ctx{"tom", false, "", 0};
    auto r = attempt_code(*store_, ctx, opts_, "123456");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    ctx.now = -1;
    EXPECT_FALSE(record_external_failure(*store_, ctx, opts_));
    EXPECT_FALSE(record_external_success(*store_, ctx, opts_));
    EXPECT_TRUE(store_->load("tom"));  // still readable
}

TEST_F(LoginTest, WindowAcceptsNeighbourStepsOnly)
{
    enroll("alice");
    EXPECT_EQ(attempt("alice", totp("alice", T0 - 30), T0).outcome, Outcome::success);
    enroll("bob");
    EXPECT_EQ(attempt("bob", totp("bob", T0 - 60), T0).outcome, Outcome::wrong_code);
    EXPECT_EQ(attempt("bob", totp("bob", T0 + 60), T0).outcome, Outcome::wrong_code);
    opts_.window = 2;
    EXPECT_EQ(attempt("bob", totp("bob", T0 + 60), T0).outcome, Outcome::success);
    opts_.window = 0;
    enroll("carol");
    EXPECT_EQ(attempt("carol", totp("carol", T0 - 30), T0).outcome, Outcome::wrong_code);
    EXPECT_EQ(attempt("carol", totp("carol", T0), T0).outcome, Outcome::success);
}

TEST_F(LoginTest, OtherAlgorithmsDigitsAndPeriods)
{
    EnrollParams p;
    p.algo = HashAlgo::sha512;
    p.digits = 8;
    p.period = 60;
    enroll("dora", p);
    const std::string code = totp("dora", T0);
    EXPECT_EQ(code.size(), 8U);
    EXPECT_EQ(attempt("dora", code, T0).outcome, Outcome::success);
    EXPECT_EQ(enrollment("dora").last_step, std::optional<std::uint64_t>(totp_step(T0, 60)));
}

TEST_F(LoginTest, HotpAdvancesAndLooksAhead)
{
    EnrollParams p;
    p.type = OtpType::hotp;
    enroll("hugo", p);
    EXPECT_EQ(attempt("hugo", code_at("hugo", 0), T0).outcome, Outcome::success);
    EXPECT_EQ(enrollment("hugo").counter, 1U);
    EXPECT_EQ(attempt("hugo", code_at("hugo", 0), T0).outcome, Outcome::wrong_code);  // replay
    // The user pressed the button a few times: counter 4 is inside the look-ahead of 5.
    EXPECT_EQ(attempt("hugo", code_at("hugo", 4), T0).outcome, Outcome::success);
    EXPECT_EQ(enrollment("hugo").counter, 5U);
    EXPECT_EQ(attempt("hugo", code_at("hugo", 3), T0).outcome, Outcome::wrong_code);  // behind the counter
    // Beyond the look-ahead (5 + 5 = 10 is the last accepted): 11 is refused.
    EXPECT_EQ(attempt("hugo", code_at("hugo", 11), T0).outcome, Outcome::wrong_code);
    EXPECT_EQ(attempt("hugo", code_at("hugo", 10), T0).outcome, Outcome::success);
    EXPECT_EQ(enrollment("hugo").counter, 11U);
}

// Codes as the apps show them: "123 456", "123-456" (normalize_code).
TEST_F(LoginTest, ACodeTypedInGroupsIsTheSameCode)
{
    opts_.lockout.deny = 0;  // every attempt evaluated
    enroll("gina");
    const std::string code = totp("gina", T0);
    const std::string spaced = code.substr(0, 3) + " " + code.substr(3);
    auto r = attempt("gina", " " + spaced + " ", T0);
    EXPECT_EQ(r.outcome, Outcome::success);
    // The same step typed another way is still that step: a replay.
    r = attempt("gina", code.substr(0, 3) + "-" + code.substr(3), T0);
    EXPECT_EQ(r.outcome, Outcome::wrong_code);
    EXPECT_TRUE(r.replayed);
    const std::string next = totp("gina", T0 + 30);
    EXPECT_EQ(attempt("gina", next.substr(0, 3) + "-" + next.substr(3), T0).outcome, Outcome::success);
    // Anything else is a wrong code, counted.
    for (const std::string& bad : {next.substr(0, 3) + "  " + next.substr(3), next.substr(0, 3) + "--" + next.substr(3),
                                   next.substr(0, 3) + " - " + next.substr(3), next.substr(0, 3) + "a" + next.substr(4)})
        EXPECT_EQ(attempt("gina", bad, T0).outcome, Outcome::wrong_code) << bad;
    EXPECT_EQ(tally("gina").failures, 4U);
    // Eight digits in two groups of four.
    EnrollParams p;
    p.digits = 8;
    enroll("otto", p);
    const std::string eight = totp("otto", T0);
    EXPECT_EQ(attempt("otto", eight.substr(0, 4) + " " + eight.substr(4), T0).outcome, Outcome::success);
    // HOTP too.
    p = {};
    p.type = OtpType::hotp;
    enroll("hans", p);
    const std::string h = code_at("hans", 0);
    EXPECT_EQ(attempt("hans", h.substr(0, 2) + " " + h.substr(2, 2) + " " + h.substr(4), T0).outcome,
              Outcome::success);
    EXPECT_EQ(enrollment("hans").counter, 1U);
}

TEST_F(LoginTest, HotpCounterAtTheEndOfItsRangeMatchesNothingAndStaysReadable)
{
    EnrollParams p;
    p.type = OtpType::hotp;
    enroll("max", p);
    {
        auto held = store_->lock("max");
        ASSERT_TRUE(held);
        held->record()->enrollment->counter = UINT64_MAX - 3;
        ASSERT_TRUE(held->commit());
    }
    EXPECT_EQ(attempt("max", code_at("max", UINT64_MAX - 3), T0).outcome, Outcome::wrong_code);
    auto rec = store_->load("max");
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_EQ((*rec)->enrollment->counter, UINT64_MAX - 3);
}

TEST_F(LoginTest, RecoveryCodeWorksExactlyOnce)
{
    enroll("ruth", {}, 3);
    ASSERT_EQ(recovery_codes_.size(), 3U);
    auto r = attempt("ruth", recovery_codes_[1], T0);
    EXPECT_EQ(r.outcome, Outcome::success);
    EXPECT_TRUE(r.used_recovery);
    EXPECT_EQ(r.recovery_left, 2U);
    EXPECT_EQ(attempt("ruth", recovery_codes_[1], T0).outcome, Outcome::wrong_code);
    EXPECT_EQ(attempt("ruth", recovery_codes_[0], T0).outcome, Outcome::success);
}

// The recovery codes are issued with the enrollment and shown only with it:
// using one proves the user holds what enroll gave them.
TEST_F(LoginTest, ARecoveryCodeConfirmsTheEnrollment)
{
    enroll("ruth", {}, 2);
    ASSERT_FALSE(enrollment("ruth").confirmed);
    const auto r = attempt("ruth", recovery_codes_[0], T0);
    ASSERT_EQ(r.outcome, Outcome::success);
    EXPECT_TRUE(enrollment("ruth").confirmed);
    EXPECT_EQ(enrollment("ruth").last_step, std::nullopt) << "no step consumed by a recovery code";
    EXPECT_EQ(tally("ruth").last_success, T0);
}

TEST_F(LoginTest, LockAfterDenyThenRefusalWithoutEvaluation)
{
    enroll("lena");
    for (int i = 1; i <= 3; ++i) {
        const auto r = attempt("lena", "000000", T0 + i);
        if (r.outcome == Outcome::success) GTEST_SKIP() << "000000 happened to be valid";
        EXPECT_EQ(r.outcome, Outcome::wrong_code);
        EXPECT_EQ(r.locked_now, i == 3);
    }
    // Locked: even the right code is refused, and the refusal is not counted.
    const auto r = attempt("lena", totp("lena", T0 + 10), T0 + 10);
    EXPECT_EQ(r.outcome, Outcome::locked);
    EXPECT_EQ(r.lock.until, T0 + 3 + 600);
    EXPECT_EQ(tally("lena").failures, 3U);
    EXPECT_FALSE(enrollment("lena").last_step.has_value());  // the code was not consumed
    auto info = lock_info(*store_, LoginContext{"lena", false, "", T0 + 10}, opts_);
    ASSERT_TRUE(info);
    EXPECT_TRUE(info->lock.locked);
    EXPECT_EQ(info->failures, 3U);
    EXPECT_TRUE(info->enrolled);
    // After unlock_time the right code works and reports the failures.
    const std::int64_t later = T0 + 3 + 600;
    const auto ok = attempt("lena", totp("lena", later), later);
    EXPECT_EQ(ok.outcome, Outcome::success);
    EXPECT_EQ(ok.failures, 3U);
    EXPECT_EQ(tally("lena").failures, 0U);
}

TEST_F(LoginTest, UnlockTimeNeverHoldsUntilReset)
{
    opts_.lockout.unlock_time = 0;
    enroll("nina");
    for (int i = 0; i < 3; ++i) attempt("nina", "abc", T0);
    const std::int64_t much_later = T0 + 10LL * 365 * 86400;
    EXPECT_EQ(attempt("nina", totp("nina", much_later), much_later).outcome, Outcome::locked);
    {
        auto held = store_->lock("nina");
        ASSERT_TRUE(held);
        EXPECT_EQ(reset_tally(held->record()->tally), 3U);
        ASSERT_TRUE(held->commit());
    }
    EXPECT_EQ(attempt("nina", totp("nina", much_later), much_later).outcome, Outcome::success);
}

TEST_F(LoginTest, RootIsNotLockedUnlessEvenDenyRoot)
{
    // Issue 19, point 2: root without even_deny_root is no longer evaluated
    // without limit: deny wrong codes from one source throttle it there for
    // root_throttle (60 s); other sources and its console stay open, and it is
    // never locked user-wide by failures.
    enroll("root");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(attempt("root", "abc", T0, true).outcome, Outcome::wrong_code);
    EXPECT_EQ(attempt("root", totp("root", T0), T0, true).outcome, Outcome::locked) << "throttled from 192.0.2.1";
    LoginContext console{"root", true, "tty:tty1", T0 + 1};
    auto c = attempt_code(*store_, console, opts_, totp("root", T0 + 1));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->outcome, Outcome::success) << "never on its console";
    EXPECT_EQ(attempt("root", totp("root", T0 + 62), T0 + 62, true).outcome, Outcome::success)
        << "the throttle lasts 60 s, not unlock_time";
    opts_.lockout.even_deny_root = true;
    for (int i = 0; i < 3; ++i) attempt("root", "abc", T0 + 70, true);
    EXPECT_EQ(attempt("root", totp("root", T0 + 100), T0 + 100, true).outcome, Outcome::locked);
    console.now = T0 + 100;
    c = attempt_code(*store_, console, opts_, totp("root", T0 + 100));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->outcome, Outcome::locked) << "even_deny_root: locked everywhere, the console too";
}

TEST_F(LoginTest, NotEnrolledChangesNothing)
{
    // Issue 19, point 1: an unenrolled name is counted and locked like an
    // enrolled one (a lock must not say "this account exists and is
    // enrolled"), so its record now holds a tally.
    const auto r = attempt("nobody-here", "123456", T0);
    EXPECT_EQ(r.outcome, Outcome::not_enrolled);
    EXPECT_EQ(r.failures, 1U);
    auto rec = store_->load("nobody-here");
    ASSERT_TRUE(rec && rec->has_value());
    EXPECT_FALSE((*rec)->enrollment.has_value()) << "counted, never enrolled";
    EXPECT_EQ((*rec)->tally.failures, 1U);
    attempt("nobody-here", "123456", T0);
    EXPECT_TRUE(attempt("nobody-here", "123456", T0).locked_now);
    EXPECT_EQ(attempt("nobody-here", "123456", T0).outcome, Outcome::locked);
}

TEST_F(LoginTest, HostileInputIsAWrongCodeNotACrash)
{
    opts_.lockout.deny = 0;
    enroll("ivy", {}, 2);
    const std::string inputs[] = {std::string(),
                                  std::string("      "),
                                  std::string("abcdef"),
                                  std::string(10000, '1'),
                                  std::string("12\0"
                                              "456",
                                              6),
                                  std::string("\xff\xfe"),
                                  std::string(100000, 'a'),
                                  std::string("-------------------")};
    for (const auto& input : inputs) EXPECT_EQ(attempt("ivy", input, T0).outcome, Outcome::wrong_code);
    EXPECT_EQ(tally("ivy").failures, std::size(inputs));
    EXPECT_EQ(attempt("ivy", totp("ivy", T0), T0).outcome, Outcome::success);
}

TEST_F(LoginTest, CorruptRecordIsAnErrorNeverNotEnrolled)
{
    enroll("zoe");
    test::write_file(dir_ + "/zoe.rec", "authctl-user 1\ntype totp\n");
    LoginContext ctx{"zoe", false, "", T0};
    auto r = attempt_code(*store_, ctx, opts_, "123456");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::corrupt);
    EXPECT_FALSE(lock_info(*store_, ctx, opts_));
    EXPECT_EQ(test::read_file(dir_ + "/zoe.rec"), "authctl-user 1\ntype totp\n");  // untouched
}

// issue 19, point 5: a record is bound to its account's uid.
TEST_F(LoginTest, ARecordBoundToAnotherUidIsRefusedUncountedAndUnevaluated)
{
    enroll("frank");
    {
        auto held = store_->lock("frank");
        ASSERT_TRUE(held);
        held->record()->account = AccountBinding{1001U, "frank"};
        ASSERT_TRUE(held->commit());
    }
    const std::string right = totp("frank", T0);
    // frank deleted and the name given to a new account with uid 1002.
    LoginContext ctx{"frank", false, "192.0.2.1", T0};
    ctx.uid = 1002U;
    auto r = attempt_code(*store_, ctx, opts_, right);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::insecure);
    EXPECT_NE(r.error().detail.find("belongs to uid 1001, the account has uid 1002"), std::string::npos)
        << r.error().detail;
    EXPECT_NE(r.error().detail.find("authctl rebind -u frank"), std::string::npos);
    EXPECT_EQ(tally("frank").failures, 0U);                        // not counted
    EXPECT_FALSE(enrollment("frank").last_step.has_value());        // not consumed
    // The account it belongs to logs in with it.
    ctx.uid = 1001U;
    r = attempt_code(*store_, ctx, opts_, right);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->outcome, Outcome::success);
}

TEST_F(LoginTest, AnUnboundRecordIsBoundAtItsNextSuccessAndARenamedOneByUid)
{
    enroll("gina");  // as a version-2 record: no binding
    LoginContext ctx{"gina", false, "192.0.2.1", T0};
    ctx.uid = 1005U;
    auto r = attempt_code(*store_, ctx, opts_, "000000");  // a failure binds nothing
    ASSERT_TRUE(r);
    EXPECT_FALSE((*store_->load("gina"))->account);
    r = attempt_code(*store_, ctx, opts_, totp("gina", T0));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->outcome, Outcome::success);
    ASSERT_TRUE((*store_->load("gina"))->account);
    EXPECT_EQ(*(*store_->load("gina"))->account, (AccountBinding{1005U, "gina"}));
    // bob's record renamed to alice's file: bob's uid, refused for alice's.
    {
        auto held = store_->lock("alice");
        ASSERT_TRUE(held);
        held->record() = (*store_->load("gina"))->clone();
        ASSERT_TRUE(held->commit());
    }
    LoginContext alice{"alice", false, "192.0.2.1", T0 + 60};
    alice.uid = 1000U;
    r = attempt_code(*store_, alice, opts_, totp("alice", T0 + 60));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::insecure);
    // Without a uid (the fleet agent), the name decides.
    alice.uid = std::nullopt;
    r = attempt_code(*store_, alice, opts_, totp("alice", T0 + 60));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().detail.find("belongs to user 'gina'"), std::string::npos) << r.error().detail;
    // The same uid under a new name (usermod -l): the same account; the name follows.
    alice.uid = 1005U;
    r = attempt_code(*store_, alice, opts_, totp("alice", T0 + 60));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->outcome, Outcome::success);
    EXPECT_EQ(*(*store_->load("alice"))->account, (AccountBinding{1005U, "alice"}));
}

TEST_F(LoginTest, ExternalFailuresAndSuccessShareTheTally)
{
    LoginContext ctx{"pam-user", false, "tty1", T0};
    for (int i = 1; i <= 3; ++i) {
        auto r = record_external_failure(*store_, ctx, opts_);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->outcome, Outcome::wrong_code);
        EXPECT_EQ(r->failures, static_cast<std::uint32_t>(i));
    }
    auto locked = record_external_failure(*store_, ctx, opts_);
    ASSERT_TRUE(locked);
    EXPECT_EQ(locked->outcome, Outcome::locked);
    EXPECT_EQ(tally("pam-user").failures, 3U);  // refusals while locked are not counted
    EXPECT_FALSE((*store_->load("pam-user"))->enrollment);
    // Locked: another module's success is refused and changes nothing.
    auto refused = record_external_success(*store_, ctx, opts_);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->outcome, Outcome::locked);
    EXPECT_EQ(tally("pam-user").failures, 3U);
    ctx.now += 3600;  // the lock has run out
    auto cleared = record_external_success(*store_, ctx, opts_);
    ASSERT_TRUE(cleared);
    EXPECT_EQ(cleared->outcome, Outcome::success);
    EXPECT_EQ(cleared->failures, 3U);
    EXPECT_FALSE(lock_info(*store_, ctx, opts_)->lock.locked);
    EXPECT_FALSE(lock_info(*store_, ctx, opts_)->enrolled);
    // A success for a user with no record creates nothing.
    ASSERT_TRUE(record_external_success(*store_, LoginContext{"ghost", false, "", T0}, opts_));
    EXPECT_FALSE(store_->load("ghost")->has_value());
}

// --- per source (issue 16), end to end over the file store ------------------

constexpr const char* kGuesser = "192.0.2.66";
constexpr const char* kOwner = "2001:db8:1:2::/64";

TEST_F(LoginTest, PerSourceLocksTheGuessersAddressAndTheOwnerLogsInFromAnother)
{
    opts_.lockout.per_source = true;
    enroll("alice");
    const std::string wrong = wrong_code("alice", T0);
    for (int i = 1; i <= 3; ++i) {
        const auto r = attempt_from("alice", wrong, T0 + i, kGuesser);
        EXPECT_EQ(r.outcome, Outcome::wrong_code);
        EXPECT_EQ(r.locked_now, i == 3) << i;
        EXPECT_EQ(r.failures, static_cast<std::uint32_t>(i));
        if (i == 3) {
            EXPECT_TRUE(r.lock.locked);
            EXPECT_EQ(r.lock.scope, LockScope::source);
            EXPECT_EQ(r.lock.failures, 3U);
            EXPECT_EQ(r.lock.until, T0 + 3 + 600);
        }
    }
    // The guesser's address is refused, even with the right code, without evaluating it.
    const auto refused = attempt_from("alice", totp("alice", T0 + 5), T0 + 5, kGuesser);
    EXPECT_EQ(refused.outcome, Outcome::locked);
    EXPECT_EQ(refused.lock.scope, LockScope::source);
    EXPECT_EQ(refused.failures, 3U);
    EXPECT_EQ(refused.lock.failures, 3U);
    EXPECT_FALSE(enrollment("alice").last_step.has_value()) << "the code was not consumed";
    EXPECT_EQ(tally("alice").failures, 3U) << "a refusal is not counted";
    // The account phase: the guesser's address is denied, the owner's not.
    const LockInfo guesser = info_from("alice", T0 + 5, kGuesser);
    EXPECT_TRUE(guesser.lock.locked);
    EXPECT_EQ(guesser.lock.scope, LockScope::source);
    EXPECT_EQ(guesser.failures, 3U);
    const LockInfo owner = info_from("alice", T0 + 5, kOwner);
    EXPECT_FALSE(owner.lock.locked);
    EXPECT_EQ(owner.failures, 3U) << "unlocked: the user's count";
    EXPECT_TRUE(owner.enrolled);
    // The owner from another address logs in at once, and is told what happened.
    const auto ok = attempt_from("alice", totp("alice", T0 + 40), T0 + 40, kOwner);
    EXPECT_EQ(ok.outcome, Outcome::success);
    EXPECT_EQ(ok.failures, 3U) << "failed attempts since the last success";
    EXPECT_EQ(ok.sources, 1U) << "from one source";
    // A success from the owner's address does not unlock the guesser's.
    const auto still = attempt_from("alice", totp("alice", T0 + 70), T0 + 70, kGuesser);
    EXPECT_EQ(still.outcome, Outcome::locked);
    EXPECT_EQ(still.lock.scope, LockScope::source);
    const Tally t = tally("alice");
    EXPECT_EQ(t.failures, 0U);
    EXPECT_EQ(t.last_success_source, kOwner);
    ASSERT_EQ(t.sources.size(), 1U);
    EXPECT_EQ(t.sources[0].source, kGuesser);
    EXPECT_EQ(t.sources[0].lock_reason, LockReason::failures);
    // Once the lock has run out, the guesser's address may try again.
    const std::int64_t later = T0 + 3 + 600;
    EXPECT_EQ(attempt_from("alice", wrong_code("alice", later), later, kGuesser).outcome, Outcome::wrong_code);
}

TEST_F(LoginTest, DenyUserFromManySourcesLocksTheOwnerToo)
{
    opts_.lockout.per_source = true;
    opts_.lockout.deny_user = 5;
    opts_.lockout.deny_user_set = true;
    enroll("bert");
    const std::string wrong = wrong_code("bert", T0);
    for (int i = 1; i <= 5; ++i) {
        const auto r = attempt_from("bert", wrong, T0 + i, "203.0.113." + std::to_string(i));
        EXPECT_EQ(r.outcome, Outcome::wrong_code);
        EXPECT_EQ(r.locked_now, i == 5) << i;
        if (i == 5) {
            EXPECT_EQ(r.lock.scope, LockScope::user);
            EXPECT_EQ(r.failures, 5U);
        }
    }
    // The owner's right code from a source that never failed is refused: the user is locked everywhere.
    const auto r = attempt_from("bert", totp("bert", T0 + 10), T0 + 10, kOwner);
    EXPECT_EQ(r.outcome, Outcome::locked);
    EXPECT_EQ(r.lock.scope, LockScope::user);
    EXPECT_EQ(r.lock.failures, 5U);
    EXPECT_EQ(r.lock.until, T0 + 5 + 600);
    const LockInfo info = info_from("bert", T0 + 10, kOwner);
    EXPECT_TRUE(info.lock.locked);
    EXPECT_EQ(info.lock.scope, LockScope::user);
    // After unlock_time the owner gets in and hears of 5 failures from 5 sources.
    const auto ok = attempt_from("bert", totp("bert", T0 + 5 + 600), T0 + 5 + 600, kOwner);
    EXPECT_EQ(ok.outcome, Outcome::success);
    EXPECT_EQ(ok.failures, 5U);
    EXPECT_EQ(ok.sources, 5U);
}

TEST_F(LoginTest, ExternalFailuresAndSuccessPerSource)
{
    opts_.lockout.per_source = true;
    opts_.lockout.deny = 2;
    LoginContext a{"carl", false, kGuesser, T0};
    LoginContext b{"carl", false, "tty:pts/3", T0};
    for (int i = 1; i <= 2; ++i) {
        auto r = record_external_failure(*store_, a, opts_);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->outcome, Outcome::wrong_code);
        EXPECT_EQ(r->locked_now, i == 2);
    }
    auto locked = record_external_failure(*store_, a, opts_);
    ASSERT_TRUE(locked);
    EXPECT_EQ(locked->outcome, Outcome::locked);
    EXPECT_EQ(locked->lock.scope, LockScope::source);
    EXPECT_EQ(tally("carl").failures, 2U) << "refusals while locked are not counted";
    auto other = record_external_failure(*store_, b, opts_);
    ASSERT_TRUE(other);
    EXPECT_EQ(other->outcome, Outcome::wrong_code) << "another source still counts";
    EXPECT_FALSE(other->locked_now);
    EXPECT_EQ(other->failures, 3U) << "the user's count";
    // authsucc from the locked source is refused and changes nothing (a
    // password does not lift a lock in force).
    const std::string before = test::read_file(dir_ + "/carl.rec");
    auto refused = record_external_success(*store_, a, opts_);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->outcome, Outcome::locked);
    EXPECT_EQ(refused->lock.scope, LockScope::source);
    EXPECT_EQ(refused->failures, 2U);
    EXPECT_EQ(test::read_file(dir_ + "/carl.rec"), before);
    // From the other source it clears that source and the user's count; the guesser stays locked.
    auto cleared = record_external_success(*store_, b, opts_);
    ASSERT_TRUE(cleared);
    EXPECT_EQ(cleared->outcome, Outcome::success);
    EXPECT_EQ(cleared->failures, 3U);
    EXPECT_EQ(cleared->sources, 2U);
    Tally t = tally("carl");
    EXPECT_EQ(t.failures, 0U);
    EXPECT_EQ(t.last_success, 0) << "another module's success is not a code accepted";
    ASSERT_EQ(t.sources.size(), 1U);
    EXPECT_EQ(t.sources[0].source, kGuesser);
    EXPECT_TRUE(lock_info(*store_, a, opts_)->lock.locked);
    EXPECT_FALSE(lock_info(*store_, b, opts_)->lock.locked);
    // Once the guesser's lock has run out, its next failures count it as a
    // source again (it was told of at the last success), exactly once.
    a.now = b.now = T0 + 601;
    ASSERT_TRUE(record_external_failure(*store_, a, opts_));
    b.now = T0 + 602;
    ASSERT_TRUE(record_external_failure(*store_, b, opts_));
    a.now = T0 + 3000;  // past fail_interval: A's count starts again, below deny
    ASSERT_TRUE(record_external_failure(*store_, a, opts_));
    t = tally("carl");
    EXPECT_EQ(t.failures_since_success, 3U);
    EXPECT_EQ(t.sources_since_success, 2U);
    b.now = T0 + 3001;
    cleared = record_external_success(*store_, b, opts_);
    ASSERT_TRUE(cleared);
    EXPECT_EQ(cleared->outcome, Outcome::success);
    EXPECT_EQ(cleared->failures, 3U);
    EXPECT_EQ(cleared->sources, 2U);
    // The user-wide lock refuses authsucc from every source.
    opts_.lockout.deny_user = 2;
    opts_.lockout.deny_user_set = true;
    LoginContext c{"carl", false, "service:sudo", T0 + 3002};
    ASSERT_TRUE(record_external_failure(*store_, c, opts_));
    auto two = record_external_failure(*store_, c, opts_);  // the second since the success: deny_user
    ASSERT_TRUE(two);
    EXPECT_TRUE(two->locked_now);
    auto user_locked = record_external_success(*store_, b, opts_);
    ASSERT_TRUE(user_locked);
    EXPECT_EQ(user_locked->outcome, Outcome::locked);
    EXPECT_EQ(user_locked->lock.scope, LockScope::user);
    EXPECT_EQ(user_locked->lock.failures, 2U);
    // An administrator's reset clears the count since the last success too
    // (issue 19, point 3: the cap on consecutive failures starts again after
    // a reset), so the next success has nothing to tell and writes nothing.
    opts_.lockout.deny_user_set = false;
    ASSERT_TRUE(reset_user(*store_, "carl", false, opts_, T0 + 3003));
    EXPECT_EQ(tally("carl").failures_since_success, 0U);
    EXPECT_EQ(tally("carl").sources_since_success, 0U);
    const std::string quiet = test::read_file(dir_ + "/carl.rec");
    auto told = record_external_success(*store_, LoginContext{"carl", false, "10.0.0.1", T0 + 3004}, opts_);
    ASSERT_TRUE(told);
    EXPECT_EQ(told->outcome, Outcome::success);
    EXPECT_EQ(told->failures, 0U) << "the reset cleared the count since the last success";
    EXPECT_EQ(told->sources, 0U);
    EXPECT_EQ(test::read_file(dir_ + "/carl.rec"), quiet);
}

TEST_F(LoginTest, AnAdministratorsSourceLockResetAndStatusPerSource)
{
    enroll("dora");  // per_source off: an administrator's source lock holds anyway
    ASSERT_TRUE(lock_user_source(*store_, "dora", source_key_from_text("tty:/dev/pts/3"), T0 + 1000, "bob", T0));
    const auto refused = attempt_from("dora", totp("dora", T0), T0, source_key("", "/dev/pts/3", "login"));
    EXPECT_EQ(refused.outcome, Outcome::locked);
    EXPECT_EQ(refused.lock.scope, LockScope::source);
    EXPECT_EQ(refused.lock.until, T0 + 1000);
    EXPECT_EQ(attempt_from("dora", totp("dora", T0), T0, kOwner).outcome, Outcome::success);
    EXPECT_FALSE(lock_user_source(*store_, "dora", "tty:pts/3", 0, "bob", T0)) << "a lock end must be given";
    EXPECT_FALSE(lock_user_source(*store_, "dora", "", T0 + 5, "bob", T0)) << "a source must be given";
    // status: the user's state and each source's own lock, locked first;
    // a source's lock shown even while the user's is in force too.
    opts_.lockout.per_source = true;
    const std::string wrong = wrong_code("dora", T0 + 60);
    for (int i = 0; i < 2; ++i) attempt_from("dora", wrong, T0 + 60, "198.51.100.9");  // below deny
    for (int i = 0; i < 3; ++i) attempt_from("dora", wrong, T0 + 60, kGuesser);         // locked
    ASSERT_TRUE(lock_user(*store_, "dora", T0 + 5000, "eve"));
    auto row = status_of(*store_, "dora", [] { return false; }, opts_, T0 + 61);
    ASSERT_TRUE(row.error.empty()) << row.error;
    EXPECT_TRUE(row.lock.locked);
    EXPECT_EQ(row.failures_since_success, 5U);
    EXPECT_EQ(row.sources_since_success, 2U);
    ASSERT_EQ(row.sources.size(), 3U);
    EXPECT_TRUE(row.sources[0].lock.locked);
    EXPECT_TRUE(row.sources[1].lock.locked);
    EXPECT_FALSE(row.sources[2].lock.locked);
    EXPECT_EQ(row.sources[2].tally.source, "198.51.100.9");
    for (int i = 0; i < 2; ++i) EXPECT_EQ(row.sources[i].lock.scope, LockScope::source);
    // reset --source: that source only.
    auto none = reset_user_source(*store_, "dora", "203.0.113.200", false, opts_, T0 + 62);
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->had_record);
    auto one = reset_user_source(*store_, "dora", source_key_from_text(kGuesser), false, opts_, T0 + 62);
    ASSERT_TRUE(one);
    EXPECT_TRUE(one->had_record);
    EXPECT_TRUE(one->was_locked);
    EXPECT_EQ(one->cleared, 3U);
    Tally t = tally("dora");
    EXPECT_EQ(find_source(t, kGuesser), nullptr);
    EXPECT_NE(find_source(t, "tty:pts/3"), nullptr);
    EXPECT_EQ(t.failures, 5U) << "the user's count stays";
    EXPECT_EQ(t.lock_reason, LockReason::admin) << "and the user's lock";
    // reset -u: everything but the source an administrator locked by hand
    // (issue 16 review, f826f8e: a reset keeps an administrator's bans).
    auto all = reset_user(*store_, "dora", false, opts_, T0 + 63);
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->was_locked);
    t = tally("dora");
    ASSERT_EQ(t.sources.size(), 1U);
    EXPECT_EQ(t.sources[0].source, "tty:pts/3");
    EXPECT_EQ(t.sources[0].lock_reason, LockReason::admin);
    EXPECT_EQ(t.locked_until, 0);
    EXPECT_EQ(attempt_from("dora", totp("dora", T0 + 90), T0 + 90, kGuesser).outcome, Outcome::success);
}

TEST(EmptyAnswer, OnlyNothingSpacesAndTabsAreEmpty)
{
    EXPECT_TRUE(is_empty_answer(""));
    EXPECT_TRUE(is_empty_answer(" "));
    EXPECT_TRUE(is_empty_answer(" \t \t"));
    EXPECT_FALSE(is_empty_answer("0"));
    EXPECT_FALSE(is_empty_answer(" 1 "));
    EXPECT_FALSE(is_empty_answer("\n"));
    EXPECT_FALSE(is_empty_answer(std::string_view("\0", 1)));
}


// --- issue 19, point 1: every name counted and locked the same ---------------

TEST(UnknownUserBucket, StableBoundedAndSpread)
{
    SecretBytes key(kBucketKeyBytes);
    for (std::size_t i = 0; i < key.size(); ++i) key.data()[i] = static_cast<std::uint8_t>(i * 7 + 1);
    const auto bucket = [&key](const std::string& name) { return *unknown_user_bucket(name, &key); };
    const std::string b = bucket("mallory");
    EXPECT_EQ(b, bucket("mallory")) << "stable";
    ASSERT_EQ(b.size(), kUnknownBucketPrefix.size() + 3);
    EXPECT_EQ(b.substr(0, kUnknownBucketPrefix.size()), ":unknown:");
    EXPECT_EQ(b.find_first_not_of("0123456789abcdef", kUnknownBucketPrefix.size()), std::string::npos) << b;
    EXPECT_TRUE(is_unknown_user_bucket(b));
    for (const char* name : {"alice", "root", "unknown:abc", "unknown", ":unknow", ""})
        EXPECT_FALSE(is_unknown_user_bucket(name)) << name;
    EXPECT_EQ(bucket("").size(), b.size());
    EXPECT_EQ(bucket(std::string(100000, 'x')).size(), b.size()) << "bounded whatever is sent";
    // 10 000 names fall into most of the 4096 buckets (a uniform spread
    // reaches 4096 x (1 - e^-2.44), about 3740), with the key and without.
    for (const SecretBytes* k : {static_cast<const SecretBytes*>(&key), static_cast<const SecretBytes*>(nullptr)}) {
        std::set<std::string> seen;
        for (int i = 0; i < 10000; ++i) {
            const std::string n = *unknown_user_bucket("user" + std::to_string(i), k);
            EXPECT_TRUE(is_unknown_user_bucket(n));
            seen.insert(n);
        }
        EXPECT_LE(seen.size(), 4096U);
        EXPECT_GE(seen.size(), 3600U);
    }
}

TEST_F(LoginTest, AnUnenrolledUserIsLockedExactlyAsAnEnrolledOne)
{
    enroll("eve");
    for (int i = 0; i < 3; ++i) {
        const std::int64_t now = T0 + i;
        const AttemptResult a = attempt("eve", wrong_code("eve", now), now);
        const AttemptResult b = attempt("ned", "123456", now);  // ned exists nowhere in the store
        EXPECT_EQ(a.outcome, Outcome::wrong_code);
        EXPECT_EQ(b.outcome, Outcome::not_enrolled);
        EXPECT_EQ(a.failures, b.failures) << i;
        EXPECT_EQ(a.locked_now, b.locked_now) << i;
        EXPECT_EQ(a.lock.locked, b.lock.locked) << i;
        EXPECT_EQ(a.lock.until, b.lock.until) << i;
        EXPECT_EQ(a.lock.scope, b.lock.scope) << i;
        EXPECT_EQ(a.lock.failures, b.lock.failures) << i;
    }
    const AttemptResult a = attempt("eve", totp("eve", T0 + 30), T0 + 30);
    const AttemptResult b = attempt("ned", "123456", T0 + 30);
    EXPECT_EQ(a.outcome, Outcome::locked);
    EXPECT_EQ(b.outcome, Outcome::locked) << "a lock no longer says the account is enrolled";
    EXPECT_EQ(a.lock.until, T0 + 2 + 600);
    EXPECT_EQ(a.lock.until, b.lock.until);
    EXPECT_EQ(a.failures, b.failures);
    const LockInfo ia = info_from("eve", T0 + 30, "192.0.2.1");
    const LockInfo ib = info_from("ned", T0 + 30, "192.0.2.1");
    EXPECT_EQ(ia.lock.locked, ib.lock.locked);
    EXPECT_EQ(ia.lock.until, ib.lock.until);
    EXPECT_EQ(ia.failures, ib.failures);
    // A bucket of unknown names is an ordinary record, counted the same way.
    const std::string bucket = this->bucket("no-such-user");
    for (int i = 0; i < 3; ++i) attempt(bucket, "123456", T0 + i);
    EXPECT_EQ(attempt(bucket, "123456", T0 + 30).lock.until, T0 + 2 + 600);
}

// --- issue 19, point 2: root (and admin_group) throttled per source ----------

TEST_F(LoginTest, AdminGroupMembersAreThrottledAsRoot)
{
    // The module passes is_root for admin_group members; the core treats the
    // name as nothing.
    enroll("ops");
    for (int i = 0; i < 3; ++i) attempt("ops", "abc", T0, true);
    EXPECT_EQ(attempt("ops", totp("ops", T0), T0, true).outcome, Outcome::locked);
    LoginContext other{"ops", true, "198.51.100.7", T0};
    auto r = attempt_code(*store_, other, opts_, totp("ops", T0));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, Outcome::success) << "another source is not throttled";
    EXPECT_EQ(tally("ops").locked_until, 0);
    opts_.lockout.root_throttle = 0;  // faillock's rule: never locked
    for (int i = 0; i < 10; ++i) attempt("ops", "abc", T0 + 100, true);
    EXPECT_EQ(attempt("ops", totp("ops", T0 + 100), T0 + 100, true).outcome, Outcome::success);
}

// --- issue 19, point 3: the cap on consecutive failures ----------------------

TEST_F(LoginTest, SlowGuessingIsStoppedByTheCap)
{
    enroll("sam");
    std::int64_t now = T0;
    for (int i = 1; i <= 100; ++i, now += 902) {  // fail_interval + 2 s apart: never deny within it
        const AttemptResult r = attempt("sam", "abc", now);
        ASSERT_EQ(r.outcome, Outcome::wrong_code) << i;
        EXPECT_EQ(r.locked_now, i == 100) << i;
    }
    const AttemptResult locked = attempt("sam", totp("sam", now + 86400), now + 86400);
    EXPECT_EQ(locked.outcome, Outcome::locked) << "the right code a day later is refused: until reset";
    EXPECT_EQ(locked.lock.until, kLockedForever);
    EXPECT_EQ(locked.failures, 100U);
    EXPECT_EQ(tally("sam").lock_reason, LockReason::consecutive);
    auto rec = test::read_file(dir_ + "/sam.rec");
    EXPECT_NE(rec.find("\nlock_reason consecutive\n"), std::string::npos) << rec;
    ASSERT_TRUE(reset_user(*store_, "sam", false, opts_, now + 86401));
    EXPECT_EQ(attempt("sam", totp("sam", now + 86402), now + 86402).outcome, Outcome::success);
}

// --- issue 19, point 4: a clock that was ahead once --------------------------

constexpr std::int64_t kDay = 86400;

TEST_F(LoginTest, AClockADayAheadDoesNotLengthenTheNextLock)
{
    enroll("dora");
    EXPECT_FALSE(attempt("dora", "abc", T0 + kDay).clock_ahead);  // the clock a day ahead
    const AttemptResult back = attempt("dora", "abc", T0 + 100);  // and back
    EXPECT_TRUE(back.clock_ahead) << "the jump is reported";
    EXPECT_FALSE(back.locked_now);
    const AttemptResult third = attempt("dora", "abc", T0 + 101);
    EXPECT_FALSE(third.clock_ahead) << "once: the times brought back were written";
    EXPECT_TRUE(third.locked_now);
    EXPECT_EQ(third.lock.until, T0 + 101 + 600) << "unlock_time from now, not about 87 000 s";
    EXPECT_LE(tally("dora").last_failure, T0 + 101);
}

TEST_F(LoginTest, FailuresHoursApartDoNotAddUpAfterAClockAhead)
{
    enroll("hugo");
    attempt("hugo", "abc", T0 + kDay);
    for (int h = 1; h <= 5; ++h) {
        const AttemptResult r = attempt("hugo", "abc", T0 + h * 3600LL);
        EXPECT_FALSE(r.locked_now) << h;
        EXPECT_EQ(r.failures, h == 1 ? 2U : 1U) << h;
    }
    EXPECT_EQ(attempt("hugo", totp("hugo", T0 + 5 * 3600 + 30), T0 + 5 * 3600 + 30).outcome, Outcome::success);
}

TEST_F(LoginTest, ResetAndSuccessClearTimesFromAClockAhead)
{
    enroll("erin");
    ASSERT_EQ(attempt("erin", totp("erin", T0 + kDay), T0 + kDay).outcome, Outcome::success);
    attempt("erin", "abc", T0 + kDay);
    EXPECT_EQ(tally("erin").last_success, T0 + kDay);
    ASSERT_TRUE(reset_user(*store_, "erin", false, opts_, T0 + 100));
    Tally t = tally("erin");
    EXPECT_EQ(t.last_success, T0 + 100) << "reset brings the future last_success back";
    EXPECT_LE(t.last_failure, T0 + 100);
    EXPECT_EQ(t.failures, 0U);

    enroll("finn");
    ASSERT_EQ(attempt("finn", totp("finn", T0 + kDay), T0 + kDay).outcome, Outcome::success);
    attempt("finn", "abc", T0 + kDay);
    // The TOTP step accepted a day ahead blocks only the codes of the
    // current window once the clock is back ...
    const AttemptResult replay = attempt("finn", totp("finn", T0 + 100), T0 + 100);
    EXPECT_EQ(replay.outcome, Outcome::wrong_code);
    EXPECT_TRUE(replay.replayed);
    EXPECT_TRUE(replay.clock_ahead);
    // ... and a code two steps later (past the window) is accepted, not once
    // real time reaches the step a day ahead.
    const AttemptResult ok = attempt("finn", totp("finn", T0 + 160), T0 + 160);
    EXPECT_EQ(ok.outcome, Outcome::success);
    EXPECT_FALSE(ok.clock_ahead) << "reported once";
    t = tally("finn");
    EXPECT_EQ(t.last_success, T0 + 160);
    EXPECT_LE(t.last_failure, T0 + 160);
    EXPECT_EQ(t.failures, 0U);
}

TEST_F(LoginTest, ExternalHooksBringAClockAheadBack)
{
    LoginContext ahead{"gus", false, "192.0.2.1", T0 + kDay};
    ASSERT_TRUE(record_external_failure(*store_, ahead, opts_));
    LoginContext now{"gus", false, "192.0.2.1", T0 + 100};
    auto r = record_external_success(*store_, now, opts_);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->clock_ahead);
    EXPECT_LE(tally("gus").last_failure, T0 + 100);
    r = record_external_failure(*store_, now, opts_);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->clock_ahead);
}

}  // namespace
}  // namespace authctl

namespace authctl {
namespace {

// Review of issue 19: the buckets of names that do not exist never see a
// success, so the cap on consecutive failures does not apply to them (else
// scanning alone would lock every bucket until a reset, and every made-up
// name would look locked at once); a real user's record stays under it.
TEST_F(LoginTest, BucketsAreExemptFromTheCapOnConsecutiveFailures)
{
    opts_.lockout.deny_consecutive = 5;
    const std::string bucket = this->bucket("mallory-does-not-exist");
    for (int i = 0; i < 20; ++i) {
        const AttemptResult r = attempt(bucket, "000000", T0 + i * 1000LL);  // past fail_interval each time
        EXPECT_EQ(r.outcome, Outcome::not_enrolled) << i;
        EXPECT_FALSE(r.locked_now) << i;
    }
    EXPECT_EQ(tally(bucket).failures_since_success, 20U);
    EXPECT_NE(tally(bucket).lock_reason, LockReason::consecutive);
    // A real (unenrolled) user: the cap applies.
    for (int i = 0; i < 5; ++i) attempt("nemo", "000000", T0 + i * 1000LL);
    EXPECT_EQ(tally("nemo").lock_reason, LockReason::consecutive);
}

// Review of issue 19: root's console exemption is for `login` only; su (or
// any other service) on a console terminal is a source of its own and
// throttled, so a console session of another user cannot walk root's codes.
TEST_F(LoginTest, OnlyLoginOnTheConsoleIsExemptFromRootsThrottle)
{
    enroll("root");
    auto at = [this](std::string_view service, std::int64_t now) {
        LoginContext ctx{"root", true, "tty:ttyS0", now, service};
        auto r = attempt_code(*store_, ctx, opts_, "000000");
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : AttemptResult{};
    };
    for (int i = 0; i < 6; ++i) EXPECT_EQ(at("login", T0 + i).outcome, Outcome::wrong_code) << i;
    for (int i = 0; i < 3; ++i) EXPECT_EQ(at("su", T0 + 10 + i).locked_now, i == 2) << i;
    EXPECT_EQ(at("su", T0 + 20).outcome, Outcome::locked);
    EXPECT_NE(find_source(tally("root"), "tty:ttyS0/su"), nullptr);
    EXPECT_EQ(at("login", T0 + 21).outcome, Outcome::wrong_code) << "login on the console is still asked";
}

// Review of issue 19: a TOTP step one step past the window is not a clock
// that was ahead (a login whose clock was read before it waited for the lock
// is a step behind the one that accepted a code): it is kept, so that code
// cannot be replayed.
TEST_F(LoginTest, AStepOnePastTheWindowIsKeptNotClamped)
{
    enroll("tina");
    const std::int64_t later = T0 + 60;  // two steps on
    ASSERT_EQ(attempt("tina", totp("tina", later), later).outcome, Outcome::success);
    const std::uint64_t accepted = *enrollment("tina").last_step;
    const AttemptResult stale = attempt("tina", "abc", later - 30);  // a login a step behind
    EXPECT_FALSE(stale.clock_ahead);
    EXPECT_EQ(*enrollment("tina").last_step, accepted);
    EXPECT_EQ(attempt("tina", totp("tina", later), later).outcome, Outcome::wrong_code) << "the used code stays used";
}

}  // namespace
}  // namespace authctl
