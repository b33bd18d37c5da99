// SPDX-License-Identifier: Apache-2.0
// The lockout policy as pure functions over a tally, with the clock injected.
#include "authctl/lockout.hpp"

#include <gtest/gtest.h>

namespace authctl {
namespace {

constexpr std::int64_t T = 1700000000;

TEST(Lockout, DefaultsAreFaillocks)
{
    LockoutPolicy p;
    EXPECT_EQ(p.deny, 3U);
    EXPECT_EQ(p.fail_interval, 900U);
    EXPECT_EQ(p.unlock_time, 600U);
    EXPECT_FALSE(p.even_deny_root);
}

TEST(Lockout, LocksOnTheDenythFailure)
{
    LockoutPolicy p;
    Tally t;
    EXPECT_FALSE(record_failure(t, p, false, T, "192.0.2.1"));
    EXPECT_FALSE(lock_state(t, p, false, T).locked);
    EXPECT_FALSE(record_failure(t, p, false, T + 1, "192.0.2.1"));
    EXPECT_FALSE(lock_state(t, p, false, T + 1).locked);
    EXPECT_TRUE(record_failure(t, p, false, T + 2, "192.0.2.9"));
    EXPECT_EQ(t.failures, 3U);
    EXPECT_EQ(t.first_failure, T);
    EXPECT_EQ(t.last_failure, T + 2);
    EXPECT_EQ(t.last_source, "192.0.2.9");
    const LockState s = lock_state(t, p, false, T + 2);
    EXPECT_TRUE(s.locked);
    EXPECT_EQ(s.until, T + 2 + 600);
}

TEST(Lockout, UnlocksAfterUnlockTime)
{
    LockoutPolicy p;
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, "h");
    EXPECT_TRUE(lock_state(t, p, false, T + 599).locked);
    EXPECT_FALSE(lock_state(t, p, false, T + 600).locked);
}

TEST(Lockout, OneFailureAfterExpiryInsideIntervalRelocks)
{
    LockoutPolicy p;
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, "h");
    EXPECT_TRUE(record_failure(t, p, false, T + 601, "h"));
    EXPECT_EQ(t.failures, 4U);
    EXPECT_EQ(lock_state(t, p, false, T + 601).until, T + 601 + 600);
}

TEST(Lockout, QuietSpellLongerThanFailIntervalRestartsTheCount)
{
    LockoutPolicy p;
    Tally t;
    record_failure(t, p, false, T, "h");
    record_failure(t, p, false, T + 900, "h");  // exactly fail_interval later: still counts
    EXPECT_EQ(t.failures, 2U);
    EXPECT_FALSE(record_failure(t, p, false, T + 900 + 901, "h"));
    EXPECT_EQ(t.failures, 1U);
    EXPECT_EQ(t.first_failure, T + 1801);
}

TEST(Lockout, DenyZeroNeverLocks)
{
    LockoutPolicy p;
    p.deny = 0;
    Tally t;
    for (int i = 0; i < 1000; ++i) EXPECT_FALSE(record_failure(t, p, false, T + i, "h"));
    EXPECT_EQ(t.failures, 1000U);
    EXPECT_FALSE(lock_state(t, p, false, T + 1000).locked);
}

TEST(Lockout, UnlockTimeZeroMeansUntilReset)
{
    LockoutPolicy p;
    p.unlock_time = 0;
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, "h");
    EXPECT_EQ(t.locked_until, kLockedForever);
    EXPECT_TRUE(lock_state(t, p, false, T + 100LL * 365 * 86400).locked);
    EXPECT_EQ(reset_tally(t), 3U);
    EXPECT_FALSE(lock_state(t, p, false, T).locked);
    EXPECT_EQ(t.failures, 0U);
}

TEST(Lockout, RootIsNeverLockedWithoutEvenDenyRoot)
{
    LockoutPolicy p;
    Tally t;
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(record_failure(t, p, true, T, "h"));
    EXPECT_EQ(t.failures, 10U);  // still counted, for the record
    EXPECT_EQ(t.locked_until, 0);
    EXPECT_FALSE(lock_state(t, p, true, T).locked);
    // Even a lock set by hand does not apply to root without even_deny_root.
    lock_until(t, kLockedForever);
    EXPECT_FALSE(lock_state(t, p, true, T).locked);
    EXPECT_TRUE(lock_state(t, p, false, T).locked);
}

TEST(Lockout, EvenDenyRootUsesRootUnlockTime)
{
    LockoutPolicy p;
    p.even_deny_root = true;
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, true, T, "h");
    EXPECT_EQ(lock_state(t, p, true, T).until, T + 600);  // root_unlock_time defaults to unlock_time

    LockoutPolicy q;
    q.even_deny_root = true;
    q.root_unlock_time_set = true;
    q.root_unlock_time = 60;
    Tally r;
    for (int i = 0; i < 3; ++i) record_failure(r, q, true, T, "h");
    EXPECT_EQ(lock_state(r, q, true, T).until, T + 60);
    Tally u;  // ordinary users keep unlock_time
    for (int i = 0; i < 3; ++i) record_failure(u, q, false, T, "h");
    EXPECT_EQ(lock_state(u, q, false, T).until, T + 600);
}

TEST(Lockout, SuccessClearsCountAndLockButKeepsHistory)
{
    LockoutPolicy p;
    Tally t;
    record_failure(t, p, false, T, "a");
    record_failure(t, p, false, T + 5, "b");
    EXPECT_EQ(record_success(t, T + 10, "ok host").failures, 2U);
    EXPECT_EQ(t.failures, 0U);
    EXPECT_EQ(t.locked_until, 0);
    EXPECT_EQ(t.last_failure, T + 5);
    EXPECT_EQ(t.last_source, "b");
    EXPECT_EQ(t.last_success, T + 10);
    EXPECT_EQ(t.last_success_source, "ok?host");
    EXPECT_EQ(record_success(t, T + 3, "earlier").failures, 0U);
    EXPECT_EQ(t.last_success, T + 10) << "never moves backwards";
    EXPECT_EQ(t.last_success_source, "ok?host");
    // A reset keeps the last success.
    reset_tally(t);
    EXPECT_EQ(t.last_success, T + 10);
}

TEST(Lockout, ALockSaysWhyAndWhoAndAResetOrSuccessForgetsIt)
{
    LockoutPolicy p;
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, "h");
    EXPECT_EQ(t.lock_reason, LockReason::failures);
    EXPECT_EQ(t.locked_by, "");
    record_success(t, T + 1, "h");
    EXPECT_EQ(t.lock_reason, LockReason::unknown);
    lock_until(t, kLockedForever, "bob smith");
    EXPECT_EQ(t.lock_reason, LockReason::admin);
    EXPECT_EQ(t.locked_by, "bob?smith");
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T + 2, "h");
    EXPECT_EQ(t.lock_reason, LockReason::admin) << "failures do not take over an admin's lock";
    EXPECT_EQ(t.locked_by, "bob?smith");
    reset_tally(t);
    EXPECT_EQ(t.lock_reason, LockReason::unknown);
    EXPECT_EQ(t.locked_by, "");
    lock_until(t, T + 100, std::string(100, 'x'));
    EXPECT_EQ(t.locked_by.size(), kMaxLockedByLength);
    lock_until(t, 0, "bob");
    EXPECT_EQ(t.locked_until, 0);
    EXPECT_EQ(t.lock_reason, LockReason::unknown);
    EXPECT_EQ(lock_reason_name(LockReason::failures), std::string("failures"));
    EXPECT_EQ(lock_reason_name(LockReason::admin), std::string("admin"));
    EXPECT_EQ(lock_reason_name(LockReason::unknown), std::string(""));
}

TEST(Lockout, ManualLockHoldsAndIsNotShortenedByFailures)
{
    LockoutPolicy p;
    Tally t;
    lock_until(t, T + 10000);
    EXPECT_TRUE(lock_state(t, p, false, T).locked);
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, "h");
    EXPECT_EQ(t.locked_until, T + 10000);
}

TEST(Lockout, EarlierTimestampContinuesTheCount)
{
    // A login that read the clock before waiting for the lock records an
    // earlier time than the failure before it: it must still count.
    LockoutPolicy p;
    Tally t;
    record_failure(t, p, false, T, "h");
    record_failure(t, p, false, T - 1, "h");
    EXPECT_EQ(t.failures, 2U);
    EXPECT_EQ(t.last_failure, T);  // never moves backwards
    EXPECT_TRUE(record_failure(t, p, false, T - 100000, "h"));
    EXPECT_EQ(t.failures, 3U);
}

TEST(Lockout, SourceIsSanitized)
{
    EXPECT_EQ(sanitize_source("host.example"), "host.example");
    EXPECT_EQ(sanitize_source("a b\nc\x01"), "a?b?c?");
    EXPECT_EQ(sanitize_source(std::string(500, 'x')).size(), kMaxSourceLength);
    LockoutPolicy p;
    Tally t;
    record_failure(t, p, false, T, "evil\nline");
    EXPECT_EQ(t.last_source, "evil?line");
}

}  // namespace
}  // namespace authctl
