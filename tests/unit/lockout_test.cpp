// SPDX-License-Identifier: Apache-2.0
// The lockout policy as pure functions over a tally, with the clock injected.
#include "authctl/lockout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

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

TEST(Lockout, RootIsThrottledPerSourceNotLockedWithoutEvenDenyRoot)
{
    // Issue 19, point 2: faillock never locks root without even_deny_root;
    // authctl throttles it instead, per source, for root_throttle (60 s), and
    // never locks it user-wide by failures.
    LockoutPolicy p;
    Tally t;
    EXPECT_FALSE(record_failure(t, p, true, T, "h"));
    EXPECT_FALSE(record_failure(t, p, true, T, "h"));
    EXPECT_TRUE(record_failure(t, p, true, T, "h")) << "deny failures from one source throttle root there";
    for (int i = 0; i < 7; ++i) record_failure(t, p, true, T, "h");
    EXPECT_EQ(t.failures, 10U);  // still counted, for the record
    EXPECT_EQ(t.locked_until, 0) << "never a user-wide lock by failures";
    EXPECT_FALSE(lock_state(t, p, true, T).locked);
    EXPECT_TRUE(lock_state(t, p, true, T, "h").locked);
    EXPECT_EQ(lock_state(t, p, true, T, "h").until, T + 60);
    EXPECT_FALSE(lock_state(t, p, true, T, "other").locked);
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

// --- per source (issue 16) ---------------------------------------------------

LockoutPolicy per_source(unsigned deny = 3)
{
    LockoutPolicy p;
    p.per_source = true;
    p.deny = deny;
    return p;
}

const char* const A = "192.0.2.1";
const char* const B = "198.51.100.2";

TEST(LockoutPerSource, UserDenyDefaultsToTenTimesDenyAtMostAHundred)
{
    LockoutPolicy p;
    p.deny = 3;
    EXPECT_EQ(user_deny(p), 3U) << "without per_source the user's threshold is deny";
    p.deny_user = 7;
    p.deny_user_set = true;
    EXPECT_EQ(user_deny(p), 3U) << "deny_user means nothing without per_source";
    p = per_source(3);
    EXPECT_EQ(user_deny(p), 30U);
    p.deny = 10;
    EXPECT_EQ(user_deny(p), 100U);
    p.deny = 11;
    EXPECT_EQ(user_deny(p), kMaxDeny);
    p.deny = 100;
    EXPECT_EQ(user_deny(p), kMaxDeny);
    p.deny = 0;
    EXPECT_EQ(user_deny(p), 0U) << "deny=0: nothing locks";
    p.deny_user = 5;
    p.deny_user_set = true;
    EXPECT_EQ(user_deny(p), 0U) << "deny=0: nothing locks, whatever deny_user says";
    p.deny = 3;
    EXPECT_EQ(user_deny(p), 5U);
}

TEST(LockoutPerSource, DenyFromALocksAOnlyAndBIsUnaffected)
{
    const LockoutPolicy p = per_source();
    Tally t;
    EXPECT_FALSE(record_failure(t, p, false, T, A));
    EXPECT_FALSE(record_failure(t, p, false, T + 1, A));
    EXPECT_TRUE(record_failure(t, p, false, T + 2, A)) << "the deny-th failure from A locks A";
    const LockState a = lock_state(t, p, false, T + 3, A);
    EXPECT_TRUE(a.locked);
    EXPECT_EQ(a.scope, LockScope::source);
    EXPECT_EQ(a.failures, 3U);
    EXPECT_EQ(a.until, T + 2 + 600);
    EXPECT_FALSE(lock_state(t, p, false, T + 3, B).locked) << "B is not locked by A's failures";
    EXPECT_FALSE(lock_state(t, p, false, T + 3).locked) << "nor is the user";
    EXPECT_EQ(t.locked_until, 0);
    EXPECT_EQ(t.failures, 3U) << "the user-wide count counts them all";
    const SourceTally* s = find_source(t, A);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->failures, 3U);
    EXPECT_EQ(s->first_failure, T);
    EXPECT_EQ(s->last_failure, T + 2);
    EXPECT_EQ(s->lock_reason, LockReason::failures);
    EXPECT_EQ(s->locked_by, "");
    EXPECT_EQ(find_source(t, B), nullptr);
    // A's lock ends after unlock_time.
    EXPECT_TRUE(lock_state(t, p, false, T + 2 + 599, A).locked);
    EXPECT_FALSE(lock_state(t, p, false, T + 2 + 600, A).locked);
    // Without per_source the same failures lock the user from everywhere.
    LockoutPolicy plain;
    Tally u;
    for (int i = 0; i < 3; ++i) record_failure(u, plain, false, T + i, A);
    const LockState everywhere = lock_state(u, plain, false, T + 3, B);
    EXPECT_TRUE(everywhere.locked);
    EXPECT_EQ(everywhere.scope, LockScope::user);
    EXPECT_TRUE(u.sources.empty()) << "no per-source table without per_source";
}

TEST(LockoutPerSource, DenyUserFromManySourcesLocksTheUserEverywhere)
{
    LockoutPolicy p = per_source(3);
    p.deny_user = 10;
    p.deny_user_set = true;
    Tally t;
    int locked_at = 0;
    for (int i = 1; i <= 10; ++i) {
        const std::string src = "203.0.113." + std::to_string(i);
        // Each source fails once (below deny): only the user-wide cap can lock.
        const bool locked = record_failure(t, p, false, T + i, src);
        if (locked && locked_at == 0) locked_at = i;
    }
    EXPECT_EQ(locked_at, 10) << "the 10th failure, from the 10th source, reaches deny_user";
    const LockState s = lock_state(t, p, false, T + 11, B);
    EXPECT_TRUE(s.locked) << "a source that never failed is refused too";
    EXPECT_EQ(s.scope, LockScope::user);
    EXPECT_EQ(s.failures, 10U);
    EXPECT_EQ(s.until, T + 10 + 600);
    EXPECT_EQ(t.lock_reason, LockReason::failures);
    for (const SourceTally& e : t.sources) EXPECT_EQ(e.locked_until, 0) << e.source;
    // The default cap: 10 x deny.
    const LockoutPolicy d = per_source(2);
    Tally u;
    for (int i = 0; i < 19; ++i) record_failure(u, d, false, T + i, "h" + std::to_string(i));
    EXPECT_FALSE(lock_state(u, d, false, T + 19, B).locked);
    EXPECT_TRUE(record_failure(u, d, false, T + 19, "h19"));
    EXPECT_EQ(lock_state(u, d, false, T + 19, B).scope, LockScope::user);
}

TEST(LockoutPerSource, EachSourceCountsWithFailInterval)
{
    const LockoutPolicy p = per_source(3);
    Tally t;
    record_failure(t, p, false, T, A);
    record_failure(t, p, false, T + 900, A);  // exactly fail_interval later: still counts
    record_failure(t, p, false, T + 1000, B);
    EXPECT_EQ(find_source(t, A)->failures, 2U);
    // A quiet spell longer than fail_interval restarts A's count, not B's.
    EXPECT_FALSE(record_failure(t, p, false, T + 900 + 901, A));
    EXPECT_EQ(find_source(t, A)->failures, 1U);
    EXPECT_EQ(find_source(t, A)->first_failure, T + 1801);
    EXPECT_EQ(find_source(t, B)->failures, 1U);
    EXPECT_FALSE(lock_state(t, p, false, T + 1801, A).locked);
    EXPECT_EQ(t.failures, 4U) << "the user's count goes on: B failed within fail_interval of A's last";
    // A failure from an expired lock's source within fail_interval locks it again at once.
    Tally u;
    for (int i = 0; i < 3; ++i) record_failure(u, p, false, T, A);
    EXPECT_FALSE(lock_state(u, p, false, T + 600, A).locked);
    EXPECT_TRUE(record_failure(u, p, false, T + 601, A));
    EXPECT_EQ(lock_state(u, p, false, T + 601, A).until, T + 601 + 600);
}

TEST(LockoutPerSource, RootRulesApplyPerSource)
{
    // Issue 19, point 2: root without even_deny_root was never locked; it is
    // now throttled per source for root_throttle (not unlock_time).
    LockoutPolicy p = per_source(3);
    Tally t;
    for (int i = 0; i < 2; ++i) EXPECT_FALSE(record_failure(t, p, true, T, A));
    EXPECT_TRUE(record_failure(t, p, true, T, A)) << "root is throttled per source by default";
    EXPECT_EQ(lock_state(t, p, true, T, A).until, T + 60) << "for root_throttle, not unlock_time";
    EXPECT_EQ(lock_state(t, p, true, T, A).scope, LockScope::source);
    EXPECT_FALSE(lock_state(t, p, true, T, B).locked);
    EXPECT_FALSE(lock_state(t, p, true, T + 60, A).locked);
    EXPECT_EQ(find_source(t, A)->failures, 3U);
    // An administrator's lock of a source holds for a throttled root too.
    lock_source_until(t, B, kLockedForever, "bob", T);
    EXPECT_TRUE(lock_state(t, p, true, T, B).locked);
    EXPECT_TRUE(lock_state(t, p, false, T, B).locked);

    p.even_deny_root = true;
    Tally r;
    for (int i = 0; i < 3; ++i) record_failure(r, p, true, T, A);
    EXPECT_EQ(lock_state(r, p, true, T, A).until, T + 600) << "root_unlock_time defaults to unlock_time";
    EXPECT_FALSE(lock_state(r, p, true, T, B).locked);

    LockoutPolicy q = per_source(3);
    q.even_deny_root = true;
    q.root_unlock_time_set = true;
    q.root_unlock_time = 60;
    q.unlock_time = 900;
    Tally s;
    for (int i = 0; i < 3; ++i) record_failure(s, q, true, T, A);
    EXPECT_EQ(lock_state(s, q, true, T, A).until, T + 60) << "a root source lock lasts root_unlock_time";
    Tally u;
    for (int i = 0; i < 3; ++i) record_failure(u, q, false, T, A);
    EXPECT_EQ(lock_state(u, q, false, T, A).until, T + 900) << "other users keep unlock_time";
    // root_unlock_time alone (without even_deny_root) locks root too, as faillock.
    LockoutPolicy w = per_source(3);
    w.root_unlock_time_set = true;
    w.root_unlock_time = 30;
    Tally v;
    for (int i = 0; i < 3; ++i) record_failure(v, w, true, T, A);
    EXPECT_EQ(lock_state(v, w, true, T, A).until, T + 30);
}

TEST(LockoutPerSource, ASuccessFromBClearsBAndTheUserButNotA)
{
    const LockoutPolicy p = per_source(3);
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T + i, A);  // A locked
    record_failure(t, p, false, T + 3, B);
    record_failure(t, p, false, T + 4, "203.0.113.9");
    record_failure(t, p, false, T + 5, "203.0.113.9");  // below deny
    ASSERT_TRUE(lock_state(t, p, false, T + 6, A).locked);
    const SinceSuccess since = record_success(t, T + 6, B);
    EXPECT_EQ(since.failures, 6U);
    EXPECT_EQ(since.sources, 3U);
    EXPECT_EQ(find_source(t, B), nullptr) << "B's own entry goes";
    EXPECT_EQ(t.failures, 0U) << "the user-wide count goes";
    EXPECT_EQ(t.locked_until, 0);
    EXPECT_EQ(t.last_success, T + 6);
    EXPECT_EQ(t.last_success_source, B);
    const LockState a = lock_state(t, p, false, T + 7, A);
    EXPECT_TRUE(a.locked) << "a success from B does not unlock A";
    EXPECT_EQ(a.failures, 3U);
    ASSERT_NE(find_source(t, "203.0.113.9"), nullptr);
    EXPECT_EQ(find_source(t, "203.0.113.9")->failures, 2U) << "a count below deny stays";
    EXPECT_TRUE(record_failure(t, p, false, T + 8, "203.0.113.9")) << "and one more failure locks that source";
    EXPECT_FALSE(lock_state(t, p, false, T + 8, B).locked);
    // A success from A itself (once its lock ran out) clears A.
    record_success(t, T + 2 + 600, A);
    EXPECT_EQ(find_source(t, A), nullptr);
}

TEST(LockoutPerSource, ResetTallyClearsEverySourceAndResetSourceOne)
{
    const LockoutPolicy p = per_source(3);
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, A);
    record_failure(t, p, false, T, B);
    lock_source_until(t, "203.0.113.5", kLockedForever, "bob", T);
    ASSERT_EQ(t.sources.size(), 3U);
    EXPECT_EQ(reset_source(t, "203.0.113.77"), std::nullopt);
    EXPECT_EQ(reset_source(t, B), std::optional<std::uint32_t>(1U));
    EXPECT_EQ(find_source(t, B), nullptr);
    EXPECT_EQ(t.failures, 4U) << "a source's reset keeps the user's count";
    EXPECT_TRUE(lock_state(t, p, false, T, A).locked) << "and the other sources' locks";
    EXPECT_EQ(reset_source(t, A), std::optional<std::uint32_t>(3U));
    EXPECT_FALSE(lock_state(t, p, false, T, A).locked);
    EXPECT_TRUE(lock_state(t, p, false, T, "203.0.113.5").locked);
    // A reset of the user drops the sources' counts and locks by failures but
    // keeps a source an administrator locked (issue 16 review, f826f8e).
    EXPECT_EQ(reset_tally(t), 4U);
    ASSERT_EQ(t.sources.size(), 1U);
    EXPECT_EQ(t.sources[0].source, "203.0.113.5");
    EXPECT_TRUE(lock_state(t, p, false, T, "203.0.113.5").locked);
    EXPECT_EQ(t.failures, 0U);
}

TEST(LockoutPerSource, AnAdminLockOfASourceHoldsWithoutPerSource)
{
    LockoutPolicy plain;  // per_source off
    Tally t;
    lock_source_until(t, "Host Name", T + 100, "bob smith", T);
    const SourceTally* s = find_source(t, "Host?Name");
    ASSERT_NE(s, nullptr) << "the key is sanitised as any source";
    EXPECT_EQ(s->lock_reason, LockReason::admin);
    EXPECT_EQ(s->locked_by, "bob?smith");
    EXPECT_EQ(s->failures, 0U);
    const LockState l = lock_state(t, plain, false, T + 99, "Host Name");
    EXPECT_TRUE(l.locked);
    EXPECT_EQ(l.scope, LockScope::source);
    EXPECT_EQ(l.until, T + 100);
    EXPECT_FALSE(lock_state(t, plain, false, T + 100, "Host Name").locked) << "until its end";
    EXPECT_FALSE(lock_state(t, plain, false, T + 99, B).locked);
    EXPECT_FALSE(lock_state(t, plain, false, T + 99).locked) << "the user is not locked";
    // Failures do not take over or shorten it.
    const LockoutPolicy p = per_source(3);
    lock_source_until(t, A, T + 10000, "", T);
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, A);
    EXPECT_EQ(find_source(t, A)->locked_until, T + 10000);
    EXPECT_EQ(find_source(t, A)->lock_reason, LockReason::admin);
    // A value of 0 or less lifts it, the entry stays with its count.
    lock_source_until(t, A, 0, "", T);
    EXPECT_EQ(find_source(t, A)->locked_until, 0);
    EXPECT_EQ(find_source(t, A)->lock_reason, LockReason::unknown);
    EXPECT_FALSE(lock_state(t, p, false, T, A).locked);
    lock_source_until(t, "203.0.113.200", -1, "", T);
    EXPECT_EQ(find_source(t, "203.0.113.200"), nullptr) << "lifting a lock creates nothing";
    lock_source_until(t, B, T + 5, std::string(100, 'x'), T);
    EXPECT_EQ(find_source(t, B)->locked_by.size(), kMaxLockedByLength);
}

TEST(LockoutPerSource, ALockByFailuresHoldsOnlyWhilePerSourceIsOn)
{
    const LockoutPolicy p = per_source(3);
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, A);
    ASSERT_TRUE(lock_state(t, p, false, T, A).locked);
    ASSERT_FALSE(lock_state(t, p, false, T).locked);
    LockoutPolicy off = p;
    off.per_source = false;
    EXPECT_FALSE(lock_state(t, off, false, T, A).locked) << "per_source off: A's lock by failures no longer holds";
    EXPECT_FALSE(lock_state(t, off, false, T).locked);
    // The user-wide rule alone: the count (3) is at deny, so the next failure locks the user.
    EXPECT_TRUE(record_failure(t, off, false, T + 1, B));
    EXPECT_EQ(lock_state(t, off, false, T + 1, A).scope, LockScope::user);
    EXPECT_EQ(lock_state(t, off, false, T + 1, A).failures, 4U);
}

TEST(LockoutPerSource, TheTableKeepsAtMostKMaxSourcesAndNeverLowersTheUserCount)
{
    LockoutPolicy p = per_source(3);
    p.fail_interval = kMaxInterval;
    p.unlock_time = 0;  // locks in force throughout
    Tally t;
    // Two sources locked first: they outlive every unlocked one.
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, A);
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, B);
    std::uint32_t previous = t.failures;
    for (int i = 0; i < 10000; ++i) {
        const std::string src = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
                                std::to_string(i % 256);
        record_failure(t, p, false, T + 1 + i, src);
        ASSERT_LE(t.sources.size(), kMaxSources);
        ASSERT_GE(t.failures, previous) << "eviction never lowers the user-wide count";
        previous = t.failures;
    }
    EXPECT_EQ(t.sources.size(), kMaxSources);
    EXPECT_EQ(t.failures, 6U + 10000U) << "every failure counted user-wide";
    for (const char* locked : {A, B}) {
        const SourceTally* s = find_source(t, locked);
        ASSERT_NE(s, nullptr) << locked << ": a locked entry is never evicted while an unlocked one exists";
        EXPECT_EQ(s->failures, 3U);
        EXPECT_EQ(s->locked_until, kLockedForever);
    }
    // The unlocked entries kept are the most recent.
    EXPECT_NE(find_source(t, "10.0.39.15"), nullptr);   // i = 9999
    EXPECT_NE(find_source(t, "10.0.38.242"), nullptr);  // i = 9970, the oldest of the 30 kept
    EXPECT_EQ(find_source(t, "10.0.38.241"), nullptr);
    EXPECT_EQ(find_source(t, "10.0.0.0"), nullptr);
}

TEST(LockoutPerSource, AFullTableOfLocksGivesUpTheLockEndingFirst)
{
    LockoutPolicy p = per_source(1);
    p.deny_user = kMaxDeny;
    p.deny_user_set = true;
    Tally t;
    for (std::size_t i = 0; i < kMaxSources; ++i)  // each locked at once, ending at T + 100 * i + 600
        record_failure(t, p, false, T + 100 * static_cast<std::int64_t>(i), "h" + std::to_string(i));
    ASSERT_EQ(t.sources.size(), kMaxSources);
    for (const SourceTally& s : t.sources) ASSERT_NE(s.locked_until, 0);
    // At T + 3150, h0..h25 have ended (at T + 600 .. T + 3100); h26.. are still locked.
    record_failure(t, p, false, T + 3150, "new1");
    EXPECT_EQ(find_source(t, "h0"), nullptr) << "an ended lock is an unlocked entry: the oldest goes";
    // Only locks left: the one ending first goes.
    LockoutPolicy forever = p;
    forever.unlock_time = 0;
    Tally u;
    for (std::size_t i = 0; i < kMaxSources; ++i)
        lock_source_until(u, "h" + std::to_string(i), T + 1000 - static_cast<std::int64_t>(i), "", T);
    record_failure(u, forever, false, T, "new2");
    EXPECT_EQ(u.sources.size(), kMaxSources);
    EXPECT_EQ(find_source(u, "h31"), nullptr) << "the lock ending first (T + 969) goes";
    EXPECT_NE(find_source(u, "h30"), nullptr);
    EXPECT_EQ(find_source(u, "new2")->locked_until, kLockedForever);
    // A new admin lock takes a place the same way.
    lock_source_until(u, "new3", kLockedForever, "bob", T);
    EXPECT_EQ(find_source(u, "h30"), nullptr);
    EXPECT_NE(find_source(u, "new3"), nullptr);
}

TEST(LockoutPerSource, SinceSuccessCountsFailuresAndEachSourceOnce)
{
    const LockoutPolicy p = per_source(5);
    Tally t;
    record_failure(t, p, false, T, A);
    record_failure(t, p, false, T + 1, A);
    record_failure(t, p, false, T + 2, B);
    record_failure(t, p, false, T + 3, A);
    EXPECT_EQ(t.failures_since_success, 4U);
    EXPECT_EQ(t.sources_since_success, 2U);
    SinceSuccess s = record_success(t, T + 4, "203.0.113.1");
    EXPECT_EQ(s.failures, 4U);
    EXPECT_EQ(s.sources, 2U);
    EXPECT_EQ(t.failures_since_success, 0U);
    EXPECT_EQ(t.sources_since_success, 0U);
    ASSERT_NE(find_source(t, A), nullptr) << "A keeps its entry (count 3, below deny)";
    // After the success, A counts again as a source (it was counted before it),
    // also within the same second as the success.
    record_failure(t, p, false, T + 4, A);
    record_failure(t, p, false, T + 4, A);
    EXPECT_EQ(t.failures_since_success, 2U);
    EXPECT_EQ(t.sources_since_success, 1U);
    record_failure(t, p, false, T + 5, B);
    EXPECT_EQ(t.sources_since_success, 2U);
    // Another module's success (faillock's authsucc) also starts the count
    // again, without changing last_success.
    s = record_success(t, T + 6, "203.0.113.2", false);
    EXPECT_EQ(s.failures, 3U);
    EXPECT_EQ(s.sources, 2U);
    EXPECT_EQ(t.last_success, T + 4);
    record_failure(t, p, false, T + 7, A);
    record_failure(t, p, false, T + 8, B);
    s = record_success(t, T + 9, "203.0.113.3", false);
    EXPECT_EQ(s.failures, 2U);
    EXPECT_EQ(s.sources, 2U) << "A and B were counted before the last success: counted again";
    // Without per_source the failures are counted, the sources not.
    LockoutPolicy plain;
    Tally u;
    record_failure(u, plain, false, T, A);
    record_failure(u, plain, false, T, B);
    s = record_success(u, T + 1, A);
    EXPECT_EQ(s.failures, 2U);
    EXPECT_EQ(s.sources, 0U);
    // An administrator's reset clears them (issue 19, point 3: the cap on
    // consecutive failures, deny_consecutive, starts again after a reset as
    // after a success).
    record_failure(t, p, false, T + 10, A);
    reset_tally(t);
    EXPECT_EQ(t.failures_since_success, 0U);
    EXPECT_EQ(t.sources_since_success, 0U);
}

TEST(LockoutPerSource, SinceSuccessCountsSourcesBeyondTheTable)
{
    const LockoutPolicy p = per_source(3);
    Tally t;
    for (int i = 0; i < 100; ++i) record_failure(t, p, false, T + i, "h" + std::to_string(i));
    EXPECT_EQ(t.failures_since_success, 100U);
    EXPECT_EQ(t.sources_since_success, 100U) << "every distinct source, though the table keeps 32";
    record_failure(t, p, false, T + 100, "h99");
    EXPECT_EQ(t.sources_since_success, 100U) << "a source still in the table is not counted twice";
}

TEST(LockoutPerSource, LockStateSanitisesTheSourceAsRecordFailureDoes)
{
    const LockoutPolicy p = per_source(1);
    Tally t;
    record_failure(t, p, false, T, "evil\nhost");
    EXPECT_TRUE(lock_state(t, p, false, T, "evil\nhost").locked);
    EXPECT_TRUE(lock_state(t, p, false, T, "evil?host").locked);
    record_failure(t, p, false, T, std::string(500, 'x'));
    EXPECT_EQ(t.sources.back().source.size(), kMaxSourceLength);
    EXPECT_TRUE(lock_state(t, p, false, T, std::string(500, 'x')).locked);
    // "-" is the record's "none": never a key.
    EXPECT_EQ(sanitize_source("-"), "?");
    EXPECT_EQ(sanitize_source("--"), "--");
    record_failure(t, p, false, T, "-");
    EXPECT_EQ(t.sources.back().source, "?");
    EXPECT_TRUE(lock_state(t, p, false, T, "-").locked);
}

// --- source keys -------------------------------------------------------------

TEST(SourceKey, Ipv4AndIpv4MappedIpv6AreTheDottedQuad)
{
    EXPECT_EQ(source_key("192.0.2.7", "pts/1", "sshd"), "192.0.2.7");
    EXPECT_EQ(source_key("::ffff:192.0.2.7", "", ""), "192.0.2.7");
    EXPECT_EQ(source_key("::FFFF:c000:0207", "", ""), "192.0.2.7");
    EXPECT_EQ(source_key("[::ffff:192.0.2.7]", "", ""), "192.0.2.7");
    EXPECT_EQ(source_key("[192.0.2.7]", "", ""), "192.0.2.7");
    // Not the dotted quad: a host name.
    EXPECT_EQ(source_key("192.0.2.07", "", ""), "192.0.2.07");
    EXPECT_EQ(source_key("192.0.2", "", ""), "192.0.2");
    EXPECT_EQ(source_key("192.0.2.256", "", ""), "192.0.2.256");
}

TEST(SourceKey, Ipv6IsGroupedByItsSlash64)
{
    EXPECT_EQ(source_key("2001:db8:1:2::7", "", ""), "2001:db8:1:2::/64");
    EXPECT_EQ(source_key("2001:db8:1:2:ffff:ffff:ffff:ffff", "", ""), "2001:db8:1:2::/64");
    EXPECT_EQ(source_key("2001:DB8:1:2:a:b:c:d", "", ""), "2001:db8:1:2::/64") << "one spelling";
    EXPECT_EQ(source_key("2001:0db8:0001:0002:0000:0000:0000:0001", "", ""), "2001:db8:1:2::/64");
    EXPECT_NE(source_key("2001:db8:1:3::7", "", ""), source_key("2001:db8:1:2::7", "", "")) << "another /64";
    EXPECT_EQ(source_key("2001:db8:1:2::7", "", ""), source_key("2001:db8:1:2:8000::1", "", ""));
    EXPECT_EQ(source_key("::1", "", ""), "::/64");
    EXPECT_EQ(source_key("fe80::1%eth0", "", ""), "fe80::/64") << "the zone is dropped";
    EXPECT_EQ(source_key("[2001:db8:1:2::7]", "", ""), "2001:db8:1:2::/64");
    EXPECT_EQ(source_key("[fe80::1%eth0]", "", ""), "fe80::/64");
    EXPECT_EQ(source_key("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "", ""), "ffff:ffff:ffff:ffff::/64");
}

TEST(SourceKey, HostNamesAreLowerCasedAndOnlyHostCharacters)
{
    EXPECT_EQ(source_key("Mail.EXAMPLE.org", "", ""), "mail.example.org");
    EXPECT_EQ(source_key("a_b-c.d", "", ""), "a_b-c.d");
    EXPECT_EQ(source_key("tty:pts/3", "", ""), "tty?pts?3") << "never mistaken for a tty key";
    EXPECT_EQ(source_key("service:sshd", "", ""), "service?sshd");
    EXPECT_EQ(source_key("2001:db8::1/64", "", ""), "2001?db8??1?64") << "a /64 as rhost is no address";
    EXPECT_EQ(source_key("h%eth0", "", ""), "h?eth0");
    EXPECT_EQ(source_key("[]", "", ""), "??");
    EXPECT_EQ(source_key("caf\xc3\xa9", "", ""), "caf??");
    EXPECT_EQ(source_key("-", "", ""), "?") << "'-' is the record's none";
}

TEST(SourceKey, HostileRhostValuesAreBoundedAndPrintable)
{
    const std::string hostile[] = {std::string("evil\nInjected: line"),
                                   std::string("a\x01\x7f\x1b[31mred"),
                                   std::string("with space"),
                                   std::string("  "),
                                   std::string(10000, 'A'),
                                   std::string("192.0.2.7\n"),
                                   std::string("\0abc", 4),
                                   std::string(10000, ':')};
    for (const std::string& h : hostile) {
        const std::string k = source_key(h, "pts/0", "sshd");
        SCOPED_TRACE(k);
        EXPECT_FALSE(k.empty());
        EXPECT_LE(k.size(), kMaxSourceLength);
        for (const char c : k)
            EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
                        c == '?')
                << static_cast<int>(c);
    }
    EXPECT_EQ(source_key("evil\nInjected: line", "", ""), "evil?injected??line");
    EXPECT_EQ(source_key(std::string(10000, 'A'), "", ""), std::string(kMaxSourceLength, 'a'));
    EXPECT_EQ(source_key("192.0.2.7\n", "", ""), "192.0.2.7?") << "not an address: a host name";
}

TEST(SourceKey, WithoutRhostTheTtyThenTheService)
{
    EXPECT_EQ(source_key("", "/dev/pts/3", "sshd"), "tty:pts/3");
    EXPECT_EQ(source_key("", "pts/3", "sshd"), "tty:pts/3");
    EXPECT_EQ(source_key("", "tty1", "login"), "tty:tty1");
    EXPECT_EQ(source_key("", ":0", "gdm"), "tty::0");
    EXPECT_EQ(source_key("", "", "sudo"), "service:sudo");
    EXPECT_EQ(source_key("", "", ""), "");
    EXPECT_EQ(source_key("", "pts/\n1 x", ""), "tty:pts/?1?x");
    EXPECT_EQ(source_key("", "", "su do\x01"), "service:su?do?");
    EXPECT_EQ(source_key("", std::string(10000, 't'), ""), "tty:" + std::string(kMaxSourceLength - 4, 't'));
    EXPECT_EQ(source_key("", "", std::string(10000, 's')), "service:" + std::string(kMaxSourceLength - 8, 's'));
    EXPECT_EQ(source_key("", "/dev/" + std::string(10000, 't'), "").size(), kMaxSourceLength);
}

TEST(SourceKey, AnAdministratorsTextBecomesTheKeyTheModuleUses)
{
    // As an rhost: addresses and host names.
    EXPECT_EQ(source_key_from_text("192.0.2.7"), "192.0.2.7");
    EXPECT_EQ(source_key_from_text("::ffff:192.0.2.7"), "192.0.2.7");
    EXPECT_EQ(source_key_from_text("2001:db8:1:2::99"), "2001:db8:1:2::/64");
    EXPECT_EQ(source_key_from_text("Host.Example"), "host.example");
    // The keys as `authctl status` shows them are their own key.
    for (const std::string& key : {source_key("2001:db8:1:2::7", "", ""), source_key("::1", "", ""),
                                  source_key("", "/dev/pts/3", "x"), source_key("", "", "sudo"),
                                  source_key("fe80::1%eth0", "", ""), source_key("Mail.Example", "", "")})
        EXPECT_EQ(source_key_from_text(key), key);
    // tty: and service: as the module spells them.
    EXPECT_EQ(source_key_from_text("tty:/dev/pts/3"), source_key("", "/dev/pts/3", ""));
    EXPECT_EQ(source_key_from_text("tty:pts/3"), "tty:pts/3");
    EXPECT_EQ(source_key_from_text("service:sshd"), "service:sshd");
    EXPECT_EQ(source_key_from_text("tty:a b"), "tty:a?b");
    EXPECT_EQ(source_key_from_text("tty:"), "tty:");
    EXPECT_EQ(source_key_from_text(""), "");
    EXPECT_EQ(source_key_from_text("2001:db8::/48"), "2001?db8???48") << "only a /64 is a key";
    EXPECT_LE(source_key_from_text(std::string(10000, 'x')).size(), kMaxSourceLength);
    EXPECT_LE(source_key_from_text("tty:" + std::string(10000, 'x')).size(), kMaxSourceLength);
}


// --- issue 19, point 2: root throttled per source ---------------------------

TEST(RootThrottle, OneSourceIsThrottledTheOthersAndTheConsoleNever)
{
    const LockoutPolicy p;  // deny 3, root_throttle 60, no even_deny_root
    EXPECT_EQ(p.root_throttle, 60U);
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, true, T + i, A);
    const LockState a = lock_state(t, p, true, T + 2, A);
    EXPECT_TRUE(a.locked);
    EXPECT_EQ(a.scope, LockScope::source);
    EXPECT_EQ(a.until, T + 2 + 60);
    EXPECT_TRUE(lock_state(t, p, true, T + 61, A).locked);
    EXPECT_FALSE(lock_state(t, p, true, T + 62, A).locked) << "60 s, not unlock_time";
    EXPECT_FALSE(lock_state(t, p, true, T + 2, B).locked) << "B is not throttled by A's failures";
    for (int i = 0; i < 2; ++i) EXPECT_FALSE(record_failure(t, p, true, T + 3, B));
    EXPECT_FALSE(lock_state(t, p, true, T + 3, B).locked);
    // The console is always a way in: never throttled, even while A is.
    for (const char* console : {"tty:tty1", "tty:ttyS0", "tty:console", "tty:hvc0"}) {
        Tally c;
        for (int i = 0; i < 20; ++i) EXPECT_FALSE(record_failure(c, p, true, T, console)) << console;
        EXPECT_FALSE(lock_state(c, p, true, T, console).locked) << console;
        EXPECT_EQ(c.failures, 20U) << "still counted, for the record";
    }
    EXPECT_FALSE(lock_state(t, p, true, T + 2, "tty:tty1").locked);
    // A pseudo-terminal is not the console.
    Tally pts;
    for (int i = 0; i < 3; ++i) record_failure(pts, p, true, T, "tty:pts/0");
    EXPECT_TRUE(lock_state(pts, p, true, T, "tty:pts/0").locked);
    // Ordinary users are not affected (user-wide lock for unlock_time, console or not).
    Tally u;
    for (int i = 0; i < 3; ++i) record_failure(u, p, false, T, "tty:tty1");
    EXPECT_EQ(lock_state(u, p, false, T, "tty:tty1").until, T + 600);
}

TEST(RootThrottle, ConsoleSources)
{
    for (const char* yes : {"tty:tty1", "tty:tty63", "tty:ttyS0", "tty:ttyAMA0", "tty:ttyUSB1", "tty:console",
                            "tty:hvc0", "tty:xvc0"})
        EXPECT_TRUE(is_console_source(yes)) << yes;
    for (const char* no : {"tty:pts/0", "tty:tty", "tty:ttyS", "tty:tty12345", "tty:ttyp0", "tty1",
                           "192.0.2.1", "service:sudo", "tty:tty1x", ""})
        EXPECT_FALSE(is_console_source(no)) << no;
}

TEST(RootThrottle, ZeroIsFaillocksNeverAndEvenDenyRootTheNormalRules)
{
    LockoutPolicy off;
    off.root_throttle = 0;
    Tally t;
    for (int i = 0; i < 200; ++i) EXPECT_FALSE(record_failure(t, off, true, T + i * 1000, A));
    EXPECT_FALSE(lock_state(t, off, true, T + 200000, A).locked) << "no throttle, and no cap either";
    EXPECT_TRUE(t.sources.empty()) << "nothing per source without per_source";

    LockoutPolicy even;
    even.even_deny_root = true;
    Tally r;
    for (int i = 0; i < 3; ++i) record_failure(r, even, true, T, A);
    const LockState l = lock_state(r, even, true, T, B);
    EXPECT_TRUE(l.locked) << "even_deny_root: user-wide, from every source";
    EXPECT_EQ(l.scope, LockScope::user);
    EXPECT_EQ(l.until, T + 600) << "root_unlock_time (defaults to unlock_time), not root_throttle";
    EXPECT_TRUE(lock_state(r, even, true, T, "tty:tty1").locked) << "even_deny_root locks the console too";
}

TEST(RootThrottle, AdminGroupMembersAreRoot)
{
    // The module passes is_root for admin_group members (faillock's rule), so
    // they are throttled the same; the name plays no part.
    const LockoutPolicy p;
    Tally root;
    Tally ops;
    for (int i = 0; i < 3; ++i) {
        record_failure(root, p, true, T, A);
        record_failure(ops, p, true, T, A);
    }
    const LockState a = lock_state(root, p, true, T, A);
    const LockState b = lock_state(ops, p, true, T, A);
    EXPECT_TRUE(b.locked);
    EXPECT_EQ(a.until, b.until);
    EXPECT_EQ(a.scope, b.scope);
    EXPECT_FALSE(lock_state(ops, p, true, T, "tty:tty2").locked);
}

// --- issue 19, point 3: the cap on consecutive failures ----------------------

// `n` failures spaced fail_interval + 2 s apart (never `deny` within the
// interval), from `source`, starting at `from`; returns when it locked (-1: never).
int slow_failures(Tally& t, const LockoutPolicy& p, bool root, std::int64_t from, int n, const std::string& source)
{
    int locked_at = -1;
    for (int i = 0; i < n; ++i)
        if (record_failure(t, p, root, from + static_cast<std::int64_t>(i) * (p.fail_interval + 2), source) &&
            locked_at < 0)
            locked_at = i + 1;
    return locked_at;
}

TEST(ConsecutiveCap, HundredSlowFailuresLockUntilReset)
{
    const LockoutPolicy p;
    EXPECT_EQ(p.deny_consecutive, 100U);
    Tally t;
    EXPECT_EQ(slow_failures(t, p, false, T, 99, A), -1) << "slow guessing never reaches deny";
    EXPECT_EQ(t.failures, 1U) << "the count within fail_interval started again each time";
    EXPECT_EQ(t.failures_since_success, 99U);
    const std::int64_t last = T + 99LL * 902;
    EXPECT_TRUE(record_failure(t, p, false, last, A)) << "the 100th since the last success locks";
    EXPECT_EQ(t.locked_until, kLockedForever);
    EXPECT_EQ(t.lock_reason, LockReason::consecutive);
    const LockState l = lock_state(t, p, false, last + 10LL * 365 * 86400, B);
    EXPECT_TRUE(l.locked) << "until reset, from every source";
    EXPECT_EQ(l.scope, LockScope::codes) << "a lock of the codes: the account phase lets a key login pass";
    EXPECT_EQ(l.failures, 100U);
    EXPECT_STREQ(lock_reason_name(t.lock_reason), "consecutive");
    reset_tally(t);
    EXPECT_FALSE(lock_state(t, p, false, last + 1, A).locked);
    EXPECT_EQ(slow_failures(t, p, false, last + 2, 99, A), -1) << "a reset starts the count again";
    EXPECT_EQ(slow_failures(t, p, false, last + 200000, 1, A), 1) << "the 100th since the reset";
}

TEST(ConsecutiveCap, ASuccessStartsTheCountAgain)
{
    const LockoutPolicy p;
    Tally t;
    EXPECT_EQ(slow_failures(t, p, false, T, 99, A), -1);
    record_success(t, T + 200000, A);
    EXPECT_EQ(slow_failures(t, p, false, T + 200001, 99, A), -1);
    Tally u;
    EXPECT_EQ(slow_failures(u, p, false, T, 99, A), -1);
    record_success(u, T + 200000, A, false);  // another module's success (faillock's authsucc)
    EXPECT_EQ(slow_failures(u, p, false, T + 200001, 100, A), 100);
}

TEST(ConsecutiveCap, DenyZeroNeverLocksAndZeroTurnsItOff)
{
    LockoutPolicy none;
    none.deny = 0;
    Tally t;
    EXPECT_EQ(slow_failures(t, none, false, T, 300, A), -1) << "deny = 0: nothing locks, not even the cap";
    EXPECT_FALSE(lock_state(t, none, false, T + 300LL * 902, A).locked);

    LockoutPolicy off;
    off.deny_consecutive = 0;
    Tally u;
    EXPECT_EQ(slow_failures(u, off, false, T, 300, A), -1);
    EXPECT_EQ(u.failures_since_success, 300U);

    LockoutPolicy low;
    low.deny_consecutive = 5;
    Tally v;
    EXPECT_EQ(slow_failures(v, low, false, T, 10, A), 5);
}

TEST(ConsecutiveCap, PerSourceCountsEverySourceAndAThrottledRoot)
{
    // per_source: the cap counts failures from every source since the last
    // success, however many sources and however slowly.
    const LockoutPolicy p = per_source(3);
    Tally t;
    int locked_at = -1;
    for (int i = 0; i < 100; ++i)
        if (record_failure(t, p, false, T + i * 902LL, "198.51.100." + std::to_string(i)) && locked_at < 0)
            locked_at = i + 1;
    EXPECT_EQ(locked_at, 100);
    const LockState l = lock_state(t, p, false, T + 100 * 902LL, "203.0.113.9");
    EXPECT_TRUE(l.locked);
    EXPECT_EQ(l.scope, LockScope::codes);
    EXPECT_EQ(t.lock_reason, LockReason::consecutive);
    // Failures that lock a source count towards the cap too.
    LockoutPolicy q = per_source(3);
    q.deny_consecutive = 6;
    Tally u;
    for (int i = 0; i < 3; ++i) record_failure(u, q, false, T, A);  // A locked for its source
    EXPECT_EQ(lock_state(u, q, false, T, A).scope, LockScope::source);
    for (int i = 0; i < 2; ++i) EXPECT_FALSE(record_failure(u, q, false, T + 1000 + i * 902LL, B));
    EXPECT_TRUE(record_failure(u, q, false, T + 3000, B)) << "the 6th since the success";
    EXPECT_EQ(lock_state(u, q, false, T + 3000, "203.0.113.9").scope, LockScope::codes);

    // A throttled root is locked from everywhere by the cap, but for its console.
    const LockoutPolicy r;
    Tally root;
    EXPECT_EQ(slow_failures(root, r, true, T, 100, A), 100);
    EXPECT_TRUE(lock_state(root, r, true, T + 100 * 902LL, B).locked);
    EXPECT_EQ(root.lock_reason, LockReason::consecutive);
    EXPECT_FALSE(lock_state(root, r, true, T + 100 * 902LL, "tty:tty1").locked) << "the console stays a way in";
    // Failures on the console do not count towards the cap's lock.
    Tally console;
    EXPECT_EQ(slow_failures(console, r, true, T, 150, "tty:tty1"), -1);
}

// --- issue 19, point 4: a clock that was ahead once --------------------------

TEST(ClockAhead, LocksAreComputedFromNow)
{
    const LockoutPolicy p;
    Tally t;
    record_failure(t, p, false, T + 86400, A);  // the clock a day ahead
    record_failure(t, p, false, T, A);          // and back
    EXPECT_TRUE(record_failure(t, p, false, T + 1, A));
    EXPECT_EQ(lock_state(t, p, false, T + 1, A).until, T + 1 + 600) << "unlock_time from now, not 87 000 s";
}

TEST(ClockAhead, ClampBringsStoredTimesBack)
{
    const LockoutPolicy p;
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T + 86400, A);
    record_success(t, T + 86400, A);
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T + 86400, A);
    EXPECT_EQ(t.locked_until, T + 86400 + 600);
    ASSERT_TRUE(clamp_to_now(t, p, false, T));
    EXPECT_EQ(t.first_failure, T);
    EXPECT_EQ(t.last_failure, T);
    EXPECT_EQ(t.last_success, T);
    EXPECT_EQ(t.locked_until, T + 600) << "no longer than a lock started now";
    EXPECT_FALSE(clamp_to_now(t, p, false, T)) << "nothing ahead any more: said once";
    // Within kClockSlack nothing moves; a lock by hand is left as set.
    Tally u;
    record_failure(u, p, false, T + kClockSlack, A);
    lock_until(u, T + 86400 * 30, "bob");
    EXPECT_FALSE(clamp_to_now(u, p, false, T));
    EXPECT_EQ(u.last_failure, T + kClockSlack);
    EXPECT_EQ(u.locked_until, T + 86400 * 30);
    // Per source too.
    const LockoutPolicy q = per_source(3);
    Tally s;
    for (int i = 0; i < 3; ++i) record_failure(s, q, false, T + 86400, A);
    ASSERT_TRUE(clamp_to_now(s, q, false, T));
    EXPECT_EQ(find_source(s, A)->last_failure, T);
    EXPECT_EQ(find_source(s, A)->locked_until, T + 600);
}

TEST(ClockAhead, FailuresHoursApartDoNotAddUpOnceClamped)
{
    const LockoutPolicy p;
    Tally t;
    record_failure(t, p, false, T + 86400, A);  // the clock a day ahead
    for (int h = 1; h <= 5; ++h) {
        clamp_to_now(t, p, false, T + h * 3600LL);  // what every decision does first
        EXPECT_FALSE(record_failure(t, p, false, T + h * 3600LL, A)) << h;
        // The first decision back takes the failure from ahead as now; after
        // that, failures hours apart each start the count again.
        EXPECT_EQ(t.failures, h == 1 ? 2U : 1U) << h;
    }
}


// --- issue 19 / review of issue 16: rules that came with main (f826f8e) ------

TEST(MainReview, ResetKeepsSourcesLockedByAnAdministrator)
{
    // reset_tally keeps the sources an administrator locked (LockReason::admin)
    // and drops the rest: a reset of failures does not undo a deliberate lock.
    const LockoutPolicy p = per_source(3);
    Tally t;
    for (int i = 0; i < 3; ++i) record_failure(t, p, false, T, A);  // A locked by failures
    record_failure(t, p, false, T, "203.0.113.1");                   // an unlocked entry
    lock_source_until(t, B, kLockedForever, "bob", T);                // B locked by hand
    reset_tally(t);
    EXPECT_EQ(t.failures, 0U);
    ASSERT_EQ(t.sources.size(), 1U);
    EXPECT_EQ(t.sources[0].source, B);
    EXPECT_EQ(t.sources[0].lock_reason, LockReason::admin);
    EXPECT_EQ(t.sources[0].locked_by, "bob");
    EXPECT_TRUE(lock_state(t, p, false, T, B).locked);
    EXPECT_FALSE(lock_state(t, p, false, T, A).locked);
}

TEST(MainReview, APercentZoneIsStrippedOnlyFromAnIpv6Literal)
{
    EXPECT_EQ(source_key("fe80::1%eth0", "", ""), "fe80::/64");
    // Not an address with a zone: a host name, shown with '?' for '%'.
    EXPECT_EQ(source_key("198.51.100.5%x.evil", "", ""), "198.51.100.5?x.evil");
    EXPECT_NE(source_key("198.51.100.5%x.evil", "", ""), source_key("198.51.100.5", "", ""))
        << "a host name must not pass for (and lock out) the address";
}

TEST(MainReview, AnAdministratorsUserLockHoldsForAThrottledRoot)
{
    const LockoutPolicy p;  // root throttled, no even_deny_root
    Tally t;
    lock_until(t, kLockedForever, "bob");
    EXPECT_TRUE(lock_state(t, p, true, T).locked);
    EXPECT_TRUE(lock_state(t, p, true, T, A).locked);
    EXPECT_EQ(lock_state(t, p, true, T, A).scope, LockScope::user);
    EXPECT_FALSE(lock_state(t, p, true, T, "tty:tty1").locked) << "except on its console";
}

}  // namespace
}  // namespace authctl
