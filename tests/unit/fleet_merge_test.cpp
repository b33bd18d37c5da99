// SPDX-License-Identifier: Apache-2.0
// decide_transfer, the rule `authctl fleet push` and `pull` follow: copy into
// an empty destination, merge the same enrollment (the higher replay state,
// the codes unused on both sides, the later lock), refuse a different one
// unless forced, and report a merge that changes nothing as already there.
#include "authctl/fleet_merge.hpp"

#include <gtest/gtest.h>

#include "authctl/enrollment.hpp"

namespace authctl {
namespace {

constexpr std::int64_t T0 = 1700000010;

UserRecord enrolled(OtpType type = OtpType::totp, std::size_t recovery = 0)
{
    UserRecord r;
    EnrollParams p;
    p.type = type;
    auto e = new_enrollment(p, T0);
    EXPECT_TRUE(e);
    r.enrollment = std::move(*e);
    if (recovery > 0) {
        auto codes = generate_recovery_codes(r.recovery, recovery);
        EXPECT_TRUE(codes);
    }
    return r;
}

// The destination as decide_transfer takes it.
std::optional<UserRecord> some(const UserRecord& r)
{
    return r.clone();
}

std::string text(const UserRecord& r)
{
    return std::string(serialize_record(r).view());
}

TEST(FleetMerge, AnAbsentDestinationGetsACopy)
{
    UserRecord src = enrolled(OtpType::totp, 3);
    src.tally.failures = 2;
    src.granted_groups = {"sudo"};
    const auto d = decide_transfer(src, std::nullopt, false);
    EXPECT_EQ(d.action, TransferAction::copied);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(text(*d.result), text(src));
}

// Issue 17: an invitation is the source store's own (the fleet cannot serve
// one yet): not carried over; the destination's stays.
TEST(FleetMerge, AnInvitationIsNotCarriedOver)
{
    UserRecord src = enrolled(OtpType::totp, 3);
    Invitation inv;
    inv.nonce = 5;
    inv.created = 1700000000;
    inv.expires = 1700604800;
    src.invitation = inv;
    auto d = decide_transfer(src, std::nullopt, false);
    ASSERT_TRUE(d.result);
    EXPECT_FALSE(d.result->invitation);
    UserRecord dst;  // a tally only, invited
    inv.nonce = 6;
    dst.invitation = inv;
    d = decide_transfer(src, some(dst), false);
    ASSERT_TRUE(d.result);
    ASSERT_TRUE(d.result->invitation);
    EXPECT_EQ(d.result->invitation->nonce, 6U);
}

// issue 19, point 5: a record's binding travels by name only (the hosts on
// either side may give the user other uids), with the enrollment it goes with.
TEST(FleetMerge, TheAccountBindingTravelsByNameWithItsEnrollment)
{
    UserRecord src = enrolled();
    src.account = AccountBinding{1000U, "alice"};
    auto d = decide_transfer(src, std::nullopt, false);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.result->account, (AccountBinding{std::nullopt, "alice"}));
    UserRecord dst = enrolled();
    dst.account = AccountBinding{2000U, "old"};
    d = decide_transfer(src, some(dst), true);  // replaced: the source's binding
    ASSERT_EQ(d.action, TransferAction::replaced);
    EXPECT_EQ(d.result->account, (AccountBinding{std::nullopt, "alice"}));
    UserRecord tally_only;
    tally_only.tally.failures = 3;
    tally_only.tally.locked_until = 1700000800;  // a later lock: the result differs from the destination
    tally_only.tally.lock_reason = LockReason::failures;
    d = decide_transfer(tally_only, some(dst), false);  // merged: the destination's binding stays
    ASSERT_EQ(d.action, TransferAction::merged);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.result->account, (AccountBinding{std::nullopt, "old"}));
}

TEST(FleetMerge, ATallyOnlyDestinationGetsTheEnrollmentAndKeepsItsLock)
{
    const UserRecord src = enrolled(OtpType::totp, 2);
    UserRecord dst;
    dst.tally.failures = 3;
    dst.tally.locked_until = T0 + 600;
    const auto d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::copied);
    ASSERT_TRUE(d.result && d.result->enrollment);
    EXPECT_TRUE(same_enrollment(*d.result->enrollment, *src.enrollment));
    EXPECT_EQ(d.result->recovery.hashes.size(), 2U);
    EXPECT_EQ(d.result->tally.locked_until, T0 + 600) << "the destination's lock stays";
}

TEST(FleetMerge, TheSameEnrollmentTakesTheHigherReplayState)
{
    UserRecord src = enrolled();
    UserRecord dst = src.clone();
    src.enrollment->last_step = 100;
    dst.enrollment->last_step = 90;
    auto d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::merged);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.result->enrollment->last_step, 100U);
    EXPECT_TRUE(d.result->enrollment->confirmed == (src.enrollment->confirmed || dst.enrollment->confirmed));

    // The destination ahead: nothing to do.
    src.enrollment->last_step = 80;
    d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::already_there);
    EXPECT_FALSE(d.result);

    // A source that never logged in at all.
    src.enrollment->last_step.reset();
    d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::already_there);
}

TEST(FleetMerge, HotpTakesTheHigherCounterAndConfirmation)
{
    UserRecord src = enrolled(OtpType::hotp);
    UserRecord dst = src.clone();
    src.enrollment->counter = 7;
    src.enrollment->confirmed = true;
    dst.enrollment->counter = 3;
    auto d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::merged);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.result->enrollment->counter, 7U);
    EXPECT_TRUE(d.result->enrollment->confirmed);
    // And back the other way: the counter never goes down.
    d = decide_transfer(dst, some(*d.result), false);
    EXPECT_EQ(d.action, TransferAction::already_there);
}

TEST(FleetMerge, RecoveryCodesOfOneIssueKeepOnlyThoseUnusedOnBothSides)
{
    UserRecord src = enrolled(OtpType::totp, 4);
    UserRecord dst = src.clone();
    const RecoveryHash a = src.recovery.hashes[0], b = src.recovery.hashes[1];
    src.recovery.hashes.erase(src.recovery.hashes.begin());      // code 0 used on the source
    dst.recovery.hashes.erase(dst.recovery.hashes.begin() + 1);  // code 1 used at the destination
    const auto d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::merged);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.result->recovery.hashes.size(), 2U);
    for (const auto& h : d.result->recovery.hashes) {
        EXPECT_NE(h, a);
        EXPECT_NE(h, b);
    }
    EXPECT_FALSE(d.recovery_dropped);
}

TEST(FleetMerge, RecoveryCodesIssuedSeparatelyAreDroppedAndSaidSo)
{
    UserRecord src = enrolled(OtpType::totp, 4);
    UserRecord dst = src.clone();
    ASSERT_TRUE(generate_recovery_codes(src.recovery, 5));  // regenerated on the source side (the old set leaked)
    const auto d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::merged);
    EXPECT_TRUE(d.recovery_dropped);
    ASSERT_TRUE(d.result);
    EXPECT_TRUE(d.result->recovery.hashes.empty()) << "neither set is known to be unused: none kept";
}

// Written and read back as the stores do: a record whose last recovery code
// was used keeps no salt, so it must not look like "never issued".
TEST(FleetMerge, ALastRecoveryCodeUsedOnOneSideIsNotUsableAgainAfterAMerge)
{
    UserRecord src = enrolled(OtpType::totp, 1);
    UserRecord dst = src.clone();
    src.recovery.hashes.clear();  // the last code, used on the source
    auto src_text = serialize_record(src);
    auto src_back = parse_record(src_text.view());
    ASSERT_TRUE(src_back) << src_back.error().message();
    // Pushed into the side that still has the code: it goes.
    auto d = decide_transfer(*src_back, some(dst), false);
    ASSERT_TRUE(d.result);
    EXPECT_TRUE(d.result->recovery.hashes.empty()) << "a used recovery code came back";
    EXPECT_TRUE(d.recovery_dropped);
    // Pulled back into the side that used it: it does not come back.
    d = decide_transfer(dst, some(*src_back), false);
    EXPECT_EQ(d.action, TransferAction::already_there);
    EXPECT_FALSE(d.result);
    EXPECT_FALSE(d.recovery_dropped);
}

TEST(FleetMerge, ADifferentEnrollmentIsRefusedUnlessForced)
{
    UserRecord src = enrolled(OtpType::totp, 1);
    UserRecord dst = enrolled(OtpType::totp, 2);
    dst.tally.failures = 1;
    auto d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::refused);
    EXPECT_FALSE(d.result);

    d = decide_transfer(src, some(dst), true);
    EXPECT_EQ(d.action, TransferAction::replaced);
    ASSERT_TRUE(d.result);
    EXPECT_TRUE(same_enrollment(*d.result->enrollment, *src.enrollment));
    EXPECT_EQ(d.result->recovery.hashes.size(), 1U);
    EXPECT_EQ(d.result->tally.failures, 1U) << "no lock on the source: the destination's tally stays";
}

TEST(FleetMerge, EveryParameterAndEverySecretByteMakesAnotherEnrollment)
{
    const UserRecord base = enrolled();
    EXPECT_TRUE(same_enrollment(*base.enrollment, *base.clone().enrollment));
    for (int change = 0; change < 5; ++change) {
        UserRecord other = base.clone();
        Enrollment& e = *other.enrollment;
        switch (change) {
            case 0: e.type = OtpType::hotp; break;
            case 1: e.algo = HashAlgo::sha256; break;
            case 2: e.digits = 8; break;
            case 3: e.period = 60; break;
            case 4: e.secret.data()[e.secret.size() - 1] ^= 1; break;
        }
        EXPECT_FALSE(same_enrollment(*base.enrollment, e)) << change;
        EXPECT_EQ(decide_transfer(other, some(base), false).action, TransferAction::refused) << change;
    }
}

Tally tally_of(std::uint32_t failures, std::int64_t first, std::int64_t last, std::string source, std::int64_t until)
{
    Tally t;
    t.failures = failures;
    t.first_failure = first;
    t.last_failure = last;
    t.last_source = std::move(source);
    t.locked_until = until;
    return t;
}

TEST(FleetMerge, TheLaterLockWinsWithItsReasonAndTheLaterSuccessWins)
{
    UserRecord src = enrolled();
    UserRecord dst = src.clone();
    src.tally = tally_of(0, 0, 0, "", T0 + 600);
    src.tally.lock_reason = LockReason::admin;
    src.tally.locked_by = "bob";
    src.tally.last_success = T0 - 100;
    src.tally.last_success_source = "10.0.0.1";
    dst.tally.last_success = T0 - 50;
    dst.tally.last_success_source = "10.0.0.2";
    auto d = decide_transfer(src, some(dst), false);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.result->tally.locked_until, T0 + 600);
    EXPECT_EQ(d.result->tally.lock_reason, LockReason::admin);
    EXPECT_EQ(d.result->tally.locked_by, "bob");
    EXPECT_EQ(d.result->tally.last_success, T0 - 50) << "the destination's success is later";
    EXPECT_EQ(d.result->tally.last_success_source, "10.0.0.2");
    // The source's later success wins though the destination's tally is kept.
    src.tally = Tally{};
    src.tally.last_success = T0;
    src.tally.last_success_source = "10.0.0.3";
    d = decide_transfer(src, some(dst), false);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.action, TransferAction::merged);
    EXPECT_EQ(d.result->tally.last_success, T0);
    EXPECT_EQ(d.result->tally.last_success_source, "10.0.0.3");
}

SourceTally source_entry(std::string key, std::uint32_t failures, std::int64_t last, std::int64_t until)
{
    SourceTally s;
    s.source = std::move(key);
    s.failures = failures;
    s.first_failure = last;
    s.last_failure = last;
    s.locked_until = until;
    if (until != 0) s.lock_reason = LockReason::failures;
    return s;
}

TEST(FleetMerge, NoSourceLockIsLostWhicheverTallyWins)
{
    UserRecord src = enrolled();
    UserRecord dst = src.clone();
    // The source's user-wide lock wins whole, yet the destination's locked source stays.
    src.tally = tally_of(10, T0, T0 + 5, "10.0.0.1", T0 + 600);
    src.tally.sources = {source_entry("10.0.0.1", 3, T0 + 5, T0 + 605), source_entry("10.0.0.9", 1, T0, 0)};
    dst.tally.sources = {source_entry("10.0.0.2", 3, T0 + 1, T0 + 601), source_entry("10.0.0.9", 3, T0 + 2, T0 + 700)};
    auto d = decide_transfer(src, some(dst), false);
    ASSERT_TRUE(d.result);
    const auto& got = d.result->tally.sources;
    ASSERT_EQ(got.size(), 3U);
    auto until = [&got](const std::string& key) {
        for (const auto& s : got)
            if (s.source == key) return s.locked_until;
        return std::int64_t{-1};
    };
    EXPECT_EQ(until("10.0.0.1"), T0 + 605);
    EXPECT_EQ(until("10.0.0.2"), T0 + 601);
    EXPECT_EQ(until("10.0.0.9"), T0 + 700) << "the later lock of one source wins";

    // More than the table holds: unlocked entries go first, every lock stays.
    src.tally = Tally{};
    dst.tally = Tally{};
    for (std::size_t i = 0; i < kMaxSources; ++i) {
        src.tally.sources.push_back(source_entry("192.0.2." + std::to_string(i), 1, T0 + static_cast<std::int64_t>(i), 0));
        dst.tally.sources.push_back(
            source_entry("198.51.100." + std::to_string(i), 3, T0, i % 2 == 0 ? T0 + 600 : 0));
    }
    d = decide_transfer(src, some(dst), false);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.result->tally.sources.size(), kMaxSources);
    std::size_t locked = 0;
    for (const auto& s : d.result->tally.sources) locked += s.locked_until != 0 ? 1U : 0U;
    EXPECT_EQ(locked, kMaxSources / 2);
}

TEST(FleetMerge, TheLaterLockWinsWholeAndNoLockIsLost)
{
    UserRecord src = enrolled();
    UserRecord dst = src.clone();
    src.tally = tally_of(3, T0, T0 + 5, "10.0.0.1", T0 + 600);
    dst.tally = tally_of(1, T0, T0 + 1, "10.0.0.2", 0);
    auto d = decide_transfer(src, some(dst), false);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.action, TransferAction::merged);
    EXPECT_EQ(d.result->tally.locked_until, T0 + 600);
    EXPECT_EQ(d.result->tally.failures, 3U);
    EXPECT_EQ(d.result->tally.last_source, "10.0.0.1");

    // A lock until reset outlasts any other; the destination's later lock stays.
    dst.tally.locked_until = kLockedForever;
    d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::already_there);

    // Failures below the threshold are not summed: the destination's count stays.
    src.tally = tally_of(2, T0, T0 + 5, "a", 0);
    dst.tally = tally_of(1, T0, T0 + 1, "b", 0);
    d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::already_there);
}

TEST(FleetMerge, ATallyOnlySourceMergesItsLockIntoAnEnrolledDestination)
{
    UserRecord src;
    src.tally = tally_of(3, T0, T0 + 5, "x", T0 + 900);
    const UserRecord dst = enrolled();
    const auto d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::merged);
    ASSERT_TRUE(d.result && d.result->enrollment);
    EXPECT_TRUE(same_enrollment(*d.result->enrollment, *dst.enrollment));
    EXPECT_EQ(d.result->tally.locked_until, T0 + 900);
}

TEST(FleetMerge, GrantedGroupsAreUnitedUpToTheLimit)
{
    UserRecord src = enrolled();
    UserRecord dst = src.clone();
    src.granted_groups = {"sudo", "adm"};
    dst.granted_groups = {"wheel", "sudo"};
    auto d = decide_transfer(src, some(dst), false);
    ASSERT_TRUE(d.result);
    EXPECT_EQ(d.result->granted_groups, (std::vector<std::string>{"wheel", "sudo", "adm"}));

    dst.granted_groups.clear();
    for (std::size_t i = 0; i < kMaxGrantedGroups; ++i) dst.granted_groups.push_back("g" + std::to_string(i));
    d = decide_transfer(src, some(dst), false);
    EXPECT_EQ(d.action, TransferAction::already_there) << "no room: the destination's list stays valid";
}

TEST(FleetMerge, EveryActionHasAText)
{
    EXPECT_STREQ(transfer_action_text(TransferAction::copied), "copied");
    EXPECT_STREQ(transfer_action_text(TransferAction::already_there), "already there");
    EXPECT_STREQ(transfer_action_text(TransferAction::merged), "merged");
    EXPECT_STREQ(transfer_action_text(TransferAction::replaced), "replaced");
    EXPECT_STREQ(transfer_action_text(TransferAction::refused), "refused: different enrollment");
}

}  // namespace
}  // namespace authctl
