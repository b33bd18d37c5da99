// SPDX-License-Identifier: Apache-2.0
// The record file format: round trips, and a strict parser for hostile text.
#include "authctl/record.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <random>

#include "arbitrary_record.hpp"
#include "authctl/enrollment.hpp"

namespace authctl {
namespace {

UserRecord sample(OtpType type)
{
    UserRecord r;
    Enrollment e;
    e.type = type;
    e.algo = HashAlgo::sha256;
    e.digits = 8;
    e.period = 60;
    e.counter = type == OtpType::hotp ? 42 : 0;
    const std::string k = "12345678901234567890";
    e.secret = SecretBytes(reinterpret_cast<const std::uint8_t*>(k.data()), k.size());
    e.created = 1700000000;
    e.confirmed = true;
    if (type == OtpType::totp) e.last_step = 56666666;
    r.enrollment = std::move(e);
    r.tally.failures = 2;
    r.tally.first_failure = 1700000100;
    r.tally.last_failure = 1700000200;
    r.tally.last_source = "192.0.2.7";
    r.tally.locked_until = 1700000800;
    return r;
}

std::string text_of(const UserRecord& r)
{
    return std::string(serialize_record(r).view());
}

const char* kTotpText =
    "authctl-user 3\n"
    "type totp\n"
    "algorithm SHA256\n"
    "digits 8\n"
    "period 60\n"
    "last_step 56666666\n"
    "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
    "created 1700000000\n"
    "confirmed yes\n"
    "failures 2\n"
    "first_failure 1700000100\n"
    "last_failure 1700000200\n"
    "last_source 192.0.2.7\n"
    "locked_until 1700000800\n"
    "end\n";

void expect_corrupt(const std::string& text, const std::string& needle)
{
    auto p = parse_record(text);
    ASSERT_FALSE(p) << "parsed: " << text;
    EXPECT_EQ(p.error().code, Errc::corrupt);
    EXPECT_NE(p.error().detail.find(needle), std::string::npos) << p.error().detail;
}

std::string replace(std::string text, const std::string& from, const std::string& to)
{
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
}

TEST(Record, SerializesToTheDocumentedFormat)
{
    EXPECT_EQ(text_of(sample(OtpType::totp)), kTotpText);
}

TEST(Record, Versions1And2StillParseAndAreWrittenBackAsVersion3)
{
    // Records as version-1 and version-2 builds wrote them: the same lines
    // under their header (each later version adds only lines written when
    // set, and none is set here).
    for (const char* header : {"authctl-user 1\n", "authctl-user 2\n"}) {
        SCOPED_TRACE(header);
        const std::string old_text = replace(kTotpText, "authctl-user 3\n", header);
        auto old = parse_record(old_text);
        ASSERT_TRUE(old) << old.error().message();
        EXPECT_EQ(old->tally.locked_until, 1700000800);
        EXPECT_EQ(old->tally.lock_reason, LockReason::unknown);
        EXPECT_EQ(old->tally.locked_by, "");
        EXPECT_EQ(old->tally.last_success, 0);
        EXPECT_EQ(old->tally.failures_since_success, 0U);
        EXPECT_TRUE(old->tally.sources.empty());
        EXPECT_EQ(text_of(*old), kTotpText);
        // Neither has version 3's keys.
        expect_corrupt(replace(old_text, "end\n", "since_success 1 1\nend\n"), "unexpected key 'since_success'");
        expect_corrupt(replace(old_text, "end\n", "source 192.0.2.7 1 5 5 0 - - no\nend\n"),
                       "unexpected key 'source'");
    }
    // A version-2 record with version 2's keys set is written back as version 3 with them.
    const std::string v2 = replace(replace(kTotpText, "authctl-user 3\n", "authctl-user 2\n"), "end\n",
                                   "lock_reason admin bob\nlast_success 1700000050 198.51.100.4\nend\n");
    auto old = parse_record(v2);
    ASSERT_TRUE(old) << old.error().message();
    EXPECT_EQ(old->tally.locked_by, "bob");
    EXPECT_EQ(text_of(*old), replace(v2, "authctl-user 2\n", "authctl-user 3\n"));
    // Version 1 has none of version 2's keys; version 2 each only when set.
    const std::string v1 = replace(kTotpText, "authctl-user 3\n", "authctl-user 1\n");
    expect_corrupt(replace(v1, "end\n", "last_success 5 -\nend\n"), "unexpected key 'last_success'");
    expect_corrupt(replace(v1, "end\n", "lock_reason failures\nend\n"), "unexpected key 'lock_reason'");
    expect_corrupt(replace(kTotpText, "authctl-user 3", "authctl-user 4"), "version 4");
}

TEST(Record, RoundTripsLockReasonWhoAndLastSuccess)
{
    UserRecord r = sample(OtpType::totp);
    r.tally.lock_reason = LockReason::admin;
    r.tally.locked_by = "bob";
    r.tally.last_success = 1700000050;
    r.tally.last_success_source = "198.51.100.4";
    const std::string text = text_of(r);
    EXPECT_NE(text.find("locked_until 1700000800\nlock_reason admin bob\nlast_success 1700000050 198.51.100.4\nend\n"),
              std::string::npos)
        << text;
    auto back = parse_record(text);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->tally.lock_reason, LockReason::admin);
    EXPECT_EQ(back->tally.locked_by, "bob");
    EXPECT_EQ(back->tally.last_success, 1700000050);
    EXPECT_EQ(back->tally.last_success_source, "198.51.100.4");
    EXPECT_EQ(text_of(*back), text);
    r.tally.lock_reason = LockReason::failures;
    r.tally.locked_by.clear();
    r.tally.last_success_source.clear();
    const std::string failures = text_of(r);
    EXPECT_NE(failures.find("\nlock_reason failures\nlast_success 1700000050 -\n"), std::string::npos) << failures;
    back = parse_record(failures);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->tally.lock_reason, LockReason::failures);
    EXPECT_EQ(back->tally.last_success_source, "");
    r.tally.lock_reason = LockReason::admin;  // by an administrator nobody knows
    back = parse_record(text_of(r));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->tally.lock_reason, LockReason::admin);
    EXPECT_EQ(back->tally.locked_by, "");

    // Values checked, and the reason only with a lock.
    const std::string admin = text;
    expect_corrupt(replace(admin, "lock_reason admin bob", "lock_reason hand"), "lock_reason");
    expect_corrupt(replace(admin, "lock_reason admin bob", "lock_reason failures bob"), "lock_reason");
    expect_corrupt(replace(admin, "lock_reason admin bob", "lock_reason -"), "lock_reason");
    expect_corrupt(replace(admin, "lock_reason admin bob", "lock_reason admin "), "lock_reason");
    expect_corrupt(replace(admin, "lock_reason admin bob", "lock_reason admin b b"), "lock_reason");
    expect_corrupt(replace(admin, "lock_reason admin bob", "lock_reason admin " + std::string(65, 'b')),
                   "lock_reason");
    expect_corrupt(replace(admin, "lock_reason admin bob", "lock_reason admin b\x01"), "non-printable");
    expect_corrupt(replace(admin, "locked_until 1700000800", "locked_until 0"), "lock_reason");
    expect_corrupt(replace(admin, "last_success 1700000050", "last_success -1"), "last_success");
    expect_corrupt(replace(admin, "last_success 1700000050", "last_success 0"), "last_success");
    expect_corrupt(replace(admin, "last_success 1700000050", "last_success 01700000050"), "last_success");
    expect_corrupt(replace(admin, "last_success 1700000050", "last_success 9223372036854775807"), "last_success");
    expect_corrupt(replace(admin, "last_success 1700000050 198.51.100.4", "last_success 1700000050"), "last_success");
    expect_corrupt(replace(admin, "198.51.100.4", std::string(129, 'h')), "last_success");
    expect_corrupt(replace(admin, "198.51.100.4", "a b"), "last_success");
    expect_corrupt(replace(admin, "lock_reason admin bob\n", "lock_reason admin bob\nlock_reason admin bob\n"),
                   "repeated");
}

TEST(Record, RoundTripsTheConsecutiveLockReason)
{
    // Issue 19, point 3: the cap on consecutive failures locks until reset
    // with reason "consecutive" (a version-3 key value).
    UserRecord r = sample(OtpType::totp);
    r.tally.locked_until = kLockedForever;
    r.tally.lock_reason = LockReason::consecutive;
    r.tally.failures_since_success = 100;
    ASSERT_TRUE(validate_record(r));
    const std::string text = text_of(r);
    EXPECT_NE(text.find("\nlock_reason consecutive\n"), std::string::npos) << text;
    auto back = parse_record(text);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->tally.lock_reason, LockReason::consecutive);
    EXPECT_EQ(back->tally.locked_until, kLockedForever);
    EXPECT_EQ(back->tally.failures_since_success, 100U);
    EXPECT_EQ(text_of(*back), text);
    // Not from a version-2 record (it had no such lock), nor without a lock or with a name.
    expect_corrupt(replace(replace(text, "since_success 100 0\n", ""), "authctl-user 3\n", "authctl-user 2\n"),
                   "lock_reason");
    expect_corrupt(replace(text, "lock_reason consecutive", "lock_reason consecutive bob"), "lock_reason");
    UserRecord bad = sample(OtpType::totp);
    bad.tally.locked_until = 0;
    bad.tally.lock_reason = LockReason::consecutive;
    EXPECT_FALSE(validate_record(bad));
}

TEST(Record, RoundTripsTheAccountBindingAndRefusesABadOne)
{
    // issue 19, point 5: the uid and name the record belongs to, second line.
    UserRecord r = sample(OtpType::totp);
    EXPECT_EQ(text_of(r).find("account "), std::string::npos);  // unbound: no line
    r.account = AccountBinding{1001U, "bob"};
    const std::string text = text_of(r);
    EXPECT_EQ(text.substr(0, 32), "authctl-user 3\naccount 1001 bob\n") << text;
    auto back = parse_record(text);
    ASSERT_TRUE(back) << back.error().message();
    ASSERT_TRUE(back->account);
    EXPECT_EQ(*back->account, (AccountBinding{1001U, "bob"}));
    EXPECT_EQ(text_of(*back), text);
    // Bound by name only (a fleet's record); a name the file names would escape.
    r.account = AccountBinding{std::nullopt, "../x y"};
    const std::string by_name = text_of(r);
    EXPECT_NE(by_name.find("\naccount - %2E.%2Fx%20y\n"), std::string::npos) << by_name;
    back = parse_record(by_name);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back->account, (AccountBinding{std::nullopt, "../x y"}));
    for (const char* bad : {"account 1001\n", "account x bob\n", "account 01 bob\n", "account -1 bob\n",
                            "account 4294967296 bob\n", "account 1 a/b\n", "account 1 bob extra\n"})
        expect_corrupt(replace(text, "account 1001 bob\n", bad), "'account'");
    // Version 2 has no such line.
    expect_corrupt(replace(text, "authctl-user 3\n", "authctl-user 2\n"), "unexpected key 'account'");
    r.account = AccountBinding{1U, ""};
    EXPECT_FALSE(validate_record(r));
}

TEST(Record, RoundTripsTotpHotpAndTallyOnly)
{
    for (OtpType type : {OtpType::totp, OtpType::hotp}) {
        const UserRecord r = sample(type);
        auto back = parse_record(text_of(r));
        ASSERT_TRUE(back) << back.error().message();
        ASSERT_TRUE(back->enrollment);
        const Enrollment& e = *back->enrollment;
        EXPECT_EQ(e.type, type);
        EXPECT_EQ(e.algo, HashAlgo::sha256);
        EXPECT_EQ(e.digits, 8U);
        EXPECT_EQ(e.secret.view(), "12345678901234567890");
        EXPECT_EQ(e.created, 1700000000);
        EXPECT_TRUE(e.confirmed);
        if (type == OtpType::totp) {
            EXPECT_EQ(e.period, 60U);
            EXPECT_EQ(e.last_step, std::optional<std::uint64_t>(56666666));
        } else {
            EXPECT_EQ(e.counter, 42U);
        }
        EXPECT_EQ(back->tally.failures, 2U);
        EXPECT_EQ(back->tally.last_source, "192.0.2.7");
        EXPECT_EQ(back->tally.locked_until, 1700000800);
        EXPECT_EQ(text_of(*back), text_of(r));
    }
    UserRecord tally_only;
    tally_only.tally.failures = 5;
    tally_only.tally.locked_until = kLockedForever;
    auto back = parse_record(text_of(tally_only));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_FALSE(back->enrollment);
    EXPECT_EQ(back->tally.locked_until, kLockedForever);
    EXPECT_NE(text_of(tally_only).find("locked_until never\n"), std::string::npos);
}

TEST(Record, RoundTripsRecoveryHashes)
{
    UserRecord r = sample(OtpType::totp);
    auto shown = generate_recovery_codes(r.recovery, 5);
    ASSERT_TRUE(shown);
    auto back = parse_record(text_of(r));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->recovery.hashes, r.recovery.hashes);
    EXPECT_EQ(back->recovery.salt, r.recovery.salt);
    EXPECT_EQ(back->recovery.iterations, r.recovery.iterations);
    // The codes themselves are never in the file.
    const std::string text = text_of(r);
    for (const auto& c : *shown) {
        std::string plain(c.view());
        EXPECT_EQ(text.find(plain), std::string::npos);
        plain.erase(std::remove(plain.begin(), plain.end(), '-'), plain.end());
        EXPECT_EQ(text.find(plain), std::string::npos);
    }
}

TEST(Record, RoundTripsTheLargestRecord)
{
    // Every field at its largest: the text outgrows its first buffer several
    // times while it is built.
    UserRecord r = sample(OtpType::totp);
    std::vector<std::uint8_t> key(kMaxSecretBytes);
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 7 + 1);
    r.enrollment->secret = SecretBytes(key.data(), key.size());
    r.enrollment->last_step = UINT64_MAX;
    ASSERT_TRUE(generate_recovery_codes(r.recovery, kMaxRecoveryCodes));
    r.tally.last_source = std::string(kMaxSourceLength, 'h');
    for (std::size_t i = 0; i < kMaxGrantedGroups; ++i)
        r.granted_groups.push_back(std::string(kMaxGroupName - 1, 'g') + static_cast<char>('a' + i));
    // Version 3's lines at their longest: every number at its widest, the
    // full source table of longest keys, each locked by a longest-named administrator.
    constexpr std::int64_t kWidest = std::numeric_limits<std::int64_t>::max() - 1;
    r.tally.failures = std::numeric_limits<std::uint32_t>::max();
    r.tally.first_failure = kWidest;
    r.tally.last_failure = kWidest;
    r.tally.locked_until = kWidest;
    r.tally.lock_reason = LockReason::admin;
    r.tally.locked_by = std::string(kMaxLockedByLength, 'b');
    r.tally.last_success = kWidest;
    r.tally.last_success_source = std::string(kMaxSourceLength, 's');
    r.tally.failures_since_success = std::numeric_limits<std::uint32_t>::max();
    r.tally.sources_since_success = std::numeric_limits<std::uint32_t>::max();
    for (std::size_t i = 0; i < kMaxSources; ++i) {
        SourceTally s;
        s.source = std::string(kMaxSourceLength - 2, 'k') + static_cast<char>('a' + i / 26) +
                   static_cast<char>('a' + i % 26);
        s.failures = std::numeric_limits<std::uint32_t>::max();
        s.first_failure = kWidest;
        s.last_failure = kWidest;
        s.locked_until = kWidest;
        s.lock_reason = LockReason::admin;
        s.locked_by = std::string(kMaxLockedByLength, 'b');
        s.since_success = true;
        r.tally.sources.push_back(std::move(s));
    }
    // Issue 17: the invitation at its longest.
    Invitation inv;
    inv.nonce = std::numeric_limits<std::uint64_t>::max();
    inv.created = kWidest;
    inv.expires = kWidest;
    inv.params.type = OtpType::hotp;
    inv.params.algo = HashAlgo::sha512;
    inv.params.digits = kMaxDigits;
    inv.params.period = kMaxPeriod;
    inv.replace = true;
    inv.invited_by = std::string(kMaxLockedByLength, 'b');
    for (std::size_t i = 0; i < kMaxGrantedGroups; ++i)
        inv.grant_groups.push_back(std::string(kMaxGroupName - 1, 'i') + static_cast<char>('a' + i));
    r.invitation = inv;
    ASSERT_TRUE(validate_record(r));
    const std::string text = text_of(r);
    EXPECT_GT(text.size(), 2048U);  // more than twice the first 1 KiB
    EXPECT_LE(text.size(), kMaxRecordBytes) << "the largest record is " << text.size() << " bytes";
    // The figure FILEFORMAT.md gives: a record of every line at its longest
    // (kMaxRecoveryCodes recovery codes, kMaxGrantedGroups groups, kMaxSources
    // sources of kMaxSourceLength-byte keys, an invitation with kMaxGrantedGroups groups).
    EXPECT_EQ(text.size(), 13757U) << "the largest record is " << text.size() << " bytes of " << kMaxRecordBytes;
    std::printf("the largest record: %zu bytes of %zu\n", text.size(), kMaxRecordBytes);
    auto back = parse_record(text);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->enrollment->secret.view(), r.enrollment->secret.view());
    EXPECT_EQ(back->recovery.hashes, r.recovery.hashes);
    EXPECT_EQ(back->granted_groups, r.granted_groups);
    EXPECT_EQ(back->tally.last_source, r.tally.last_source);
    EXPECT_EQ(back->tally.sources.size(), kMaxSources);
    ASSERT_TRUE(back->invitation);
    EXPECT_EQ(back->invitation->grant_groups, inv.grant_groups);
    EXPECT_EQ(text_of(*back), text);
}

// Issue 17: an invitation, with an enrollment (--replace) or alone.
TEST(Record, RoundTripsAnInvitationWithAndWithoutAnEnrollment)
{
    UserRecord r = sample(OtpType::totp);
    Invitation inv;
    inv.nonce = 18446744073709551615ULL;
    inv.created = 1700000000;
    inv.expires = 1700604800;
    inv.params.type = OtpType::hotp;
    inv.params.algo = HashAlgo::sha512;
    inv.params.digits = 8;
    inv.params.period = 30;
    inv.replace = true;
    inv.invited_by = "root";
    inv.grant_groups = {"wheel", "sudo-2fa"};
    r.invitation = inv;
    ASSERT_TRUE(validate_record(r));
    const std::string text = text_of(r);
    EXPECT_NE(text.find("\ninvitation 18446744073709551615 1700000000 1700604800 hotp SHA512 8 30 yes root\n"
                        "invite_group wheel\ninvite_group sudo-2fa\nend\n"),
              std::string::npos)
        << text;
    auto back = parse_record(text);
    ASSERT_TRUE(back) << back.error().message();
    ASSERT_TRUE(back->invitation);
    EXPECT_EQ(back->invitation->nonce, inv.nonce);
    EXPECT_EQ(back->invitation->created, inv.created);
    EXPECT_EQ(back->invitation->expires, inv.expires);
    EXPECT_EQ(back->invitation->params.type, OtpType::hotp);
    EXPECT_EQ(back->invitation->params.algo, HashAlgo::sha512);
    EXPECT_EQ(back->invitation->params.digits, 8U);
    EXPECT_TRUE(back->invitation->replace);
    EXPECT_EQ(back->invitation->invited_by, "root");
    EXPECT_EQ(back->invitation->grant_groups, inv.grant_groups);
    ASSERT_TRUE(back->enrollment);
    EXPECT_EQ(text_of(*back), text);
    // The clone carries it.
    EXPECT_EQ(text_of(r.clone()), text);

    // Alone (no enrollment, no tally), no inviter, no groups.
    UserRecord alone;
    inv.replace = false;
    inv.invited_by.clear();
    inv.grant_groups.clear();
    inv.params = EnrollParams{};
    alone.invitation = inv;
    const std::string t2 = text_of(alone);
    EXPECT_NE(t2.find("type none\n"), std::string::npos);
    EXPECT_NE(t2.find("\ninvitation 18446744073709551615 1700000000 1700604800 totp SHA1 6 30 no -\nend\n"),
              std::string::npos)
        << t2;
    auto b2 = parse_record(t2);
    ASSERT_TRUE(b2) << b2.error().message();
    ASSERT_TRUE(b2->invitation);
    EXPECT_FALSE(b2->enrollment);
    EXPECT_TRUE(b2->invitation->invited_by.empty());
    EXPECT_TRUE(b2->invitation->grant_groups.empty());
    EXPECT_EQ(text_of(*b2), t2);
    // An inviter the writer must sanitise (as locked_by).
    alone.invitation->invited_by = "a b" + std::string(100, 'x');
    auto b3 = parse_record(text_of(alone));
    ASSERT_TRUE(b3) << b3.error().message();
    EXPECT_EQ(b3->invitation->invited_by, "a?b" + std::string(kMaxLockedByLength - 3, 'x'));
}

TEST(Record, InvitationLinesAreCheckedStrictly)
{
    UserRecord r;
    Invitation inv;
    inv.nonce = 7;
    inv.created = 1700000000;
    inv.expires = 1700604800;
    inv.grant_groups = {"wheel"};
    r.invitation = inv;
    const std::string text = text_of(r);
    const std::string line = "invitation 7 1700000000 1700604800 totp SHA1 6 30 no -\n";
    ASSERT_NE(text.find(line), std::string::npos) << text;
    ASSERT_TRUE(parse_record(text));
    auto with = [&](const std::string& v) { return replace(text, line, "invitation " + v + "\n"); };
    expect_corrupt(with("0 1700000000 1700604800 totp SHA1 6 30 no -"), "'invitation'");
    expect_corrupt(with("07 1700000000 1700604800 totp SHA1 6 30 no -"), "'invitation'");
    expect_corrupt(with("18446744073709551616 1700000000 1700604800 totp SHA1 6 30 no -"), "'invitation'");
    expect_corrupt(with("7 -1 1700604800 totp SHA1 6 30 no -"), "'invitation'");
    expect_corrupt(with("7 1700000000 9223372036854775807 totp SHA1 6 30 no -"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 none SHA1 6 30 no -"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 TOTP SHA1 6 30 no -"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 totp sha1 6 30 no -"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 totp SHA1 5 30 no -"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 totp SHA1 9 30 no -"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 totp SHA1 6 0 no -"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 totp SHA1 6 301 no -"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 totp SHA1 6 30 maybe -"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 totp SHA1 6 30 no " + std::string(65, 'b')), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 totp SHA1 6 30 no"), "'invitation'");
    expect_corrupt(with("7 1700000000 1700604800 totp SHA1 6 30 no - x"), "'invitation'");
    expect_corrupt(with("7  1700000000 1700604800 totp SHA1 6 30 no -"), "'invitation'");
    expect_corrupt(replace(text, line, line + line), "'invitation' repeated");
    // Groups: only with an invitation, each a group name, at most kMaxGrantedGroups.
    expect_corrupt(replace(text, line, ""), "unexpected key 'invite_group'");
    expect_corrupt(replace(text, "invite_group wheel\n", "invite_group -x\n"), "'invite_group' is not a group name");
    std::string many;
    for (std::size_t i = 0; i <= kMaxGrantedGroups; ++i) many += "invite_group g" + std::to_string(i) + "\n";
    expect_corrupt(replace(text, "invite_group wheel\n", many), "'invite_group' lines exceed");
    // Versions 1 and 2 have no invitation.
    expect_corrupt(replace(text, "authctl-user 3\n", "authctl-user 2\n"), "unexpected key 'invitation'");
}

TEST(Record, ValidateRefusesABadInvitation)
{
    UserRecord r;
    Invitation inv;
    inv.nonce = 7;
    inv.created = 1700000000;
    inv.expires = 1700604800;
    r.invitation = inv;
    ASSERT_TRUE(validate_record(r));
    auto refused = [](const UserRecord& rec, const std::string& field) {
        auto st = validate_record(rec);
        ASSERT_FALSE(st) << field;
        EXPECT_NE(st.error().detail.find(field), std::string::npos) << st.error().detail;
    };
    UserRecord b = r.clone();
    b.invitation->nonce = 0;
    refused(b, "'invitation'");
    b = r.clone();
    b.invitation->expires = -1;
    refused(b, "'invitation'");
    b = r.clone();
    b.invitation->params.digits = 9;
    refused(b, "'invitation'");
    b = r.clone();
    b.invitation->params.period = 0;
    refused(b, "'invitation'");
    b = r.clone();
    b.invitation->grant_groups = {"ok", "a b"};
    refused(b, "'invite_group'");
    b = r.clone();
    b.invitation->grant_groups.assign(kMaxGrantedGroups + 1, "g");
    refused(b, "'invite_group'");
}

TEST(Record, EveryTruncationFailsToParse)
{
    UserRecord r = sample(OtpType::totp);
    ASSERT_TRUE(generate_recovery_codes(r.recovery, 3));
    const std::string full = text_of(r);
    for (std::size_t n = 0; n < full.size(); ++n) {
        auto p = parse_record(std::string_view(full).substr(0, n));
        ASSERT_FALSE(p) << "prefix of " << n << " bytes parsed";
        EXPECT_EQ(p.error().code, Errc::corrupt);
    }
    EXPECT_TRUE(parse_record(full));
}

TEST(Record, RejectsHostileText)
{
    const std::string good = kTotpText;
    expect_corrupt("", "end");
    expect_corrupt("end\n", "empty");
    expect_corrupt(replace(good, "authctl-user 3", "authctl-user 1000"), "version 1000");
    expect_corrupt(replace(good, "authctl-user 3\n", "garbage\n"), "not 'key value'");
    expect_corrupt(replace(good, "type totp", "type sms"), "type");
    expect_corrupt(replace(good, "type totp", "type TOTP"), "type");
    expect_corrupt(replace(good, "algorithm SHA256", "algorithm MD5"), "algorithm");
    expect_corrupt(replace(good, "digits 8", "digits 9"), "digits");
    expect_corrupt(replace(good, "digits 8", "digits 8x"), "digits");
    expect_corrupt(replace(good, "period 60", "period 0"), "period");
    expect_corrupt(replace(good, "period 60", "period -30"), "period");
    expect_corrupt(replace(good, "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "secret 0000"), "secret");
    expect_corrupt(replace(good, "confirmed yes", "confirmed maybe"), "confirmed");
    expect_corrupt(replace(good, "failures 2", "failures 99999999999"), "failures");
    expect_corrupt(replace(good, "locked_until 1700000800", "locked_until soon"), "locked_until");
    expect_corrupt(replace(good, "last_step 56666666\n", ""), "last_step");
    expect_corrupt(replace(good, "failures 2\n", "failures 2\nfailures 0\n"), "repeated");
    expect_corrupt(replace(good, "end\n", "extra 1\nend\n"), "unexpected key 'extra'");
    expect_corrupt(replace(good, "end\n", "counter 5\nend\n"), "unexpected key 'counter'");
    expect_corrupt(good + "more 1\n", "after 'end'");
    expect_corrupt(replace(good, "last_source 192.0.2.7",
                           "last_source a\x01"
                           "b"),
                   "non-printable");
    expect_corrupt(replace(good, "last_source 192.0.2.7", "last_source \xc3\xa9"), "non-printable");
    expect_corrupt(replace(good, "type totp\n", "type totp\r\n"), "non-printable");
    expect_corrupt(replace(good, "digits 8", "digits  8"), "digits");
    expect_corrupt(replace(good, "last_source 192.0.2.7", "last_source " + std::string(129, 'h')), "last_source");
    expect_corrupt(std::string(kMaxRecordBytes + 1, 'x'), "larger");
    // Only the writer's own spelling is accepted.
    expect_corrupt(replace(good, "failures 2", "failures 02"), "failures");
    expect_corrupt(replace(good, "digits 8", "digits 08"), "digits");
    expect_corrupt(replace(good, "created 1700000000", "created -0"), "created");
    expect_corrupt(replace(good, "locked_until 1700000800", "locked_until -0"), "locked_until");
    expect_corrupt(replace(good, "locked_until 1700000800", "locked_until -5"), "locked_until");
    expect_corrupt(replace(good, "first_failure 1700000100", "first_failure +1700000100"), "first_failure");
    expect_corrupt(replace(good, "authctl-user 3", "authctl-user 02"), "not an authctl user record");
    expect_corrupt(replace(good, "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "secret gezdgnbvgy3tqojqgezdgnbvgy3tqojq"),
                   "canonical");
    expect_corrupt(
        replace(good, "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ===="),
        "secret");
    expect_corrupt(replace(good, "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "secret GEZD-GNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
                   "canonical");
    // Bits set after the last byte: decodes, but is not how the writer spells it.
    expect_corrupt(replace(good, "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "secret MZXW7"), "canonical");
    expect_corrupt(replace(good, "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "secret MZXW6A"), "secret");
    for (const auto& [spelled, bytes] : std::vector<std::pair<std::string, std::string>>{
             {"MY", "f"}, {"MZXQ", "fo"}, {"MZXW6", "foo"}, {"MZXW6YQ", "foob"}, {"MZXW6YTB", "fooba"}}) {
        auto ok = parse_record(replace(good, "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "secret " + spelled));
        ASSERT_TRUE(ok) << spelled << ": " << ok.error().message();
        EXPECT_EQ(ok->enrollment->secret.view(), bytes);
    }
    expect_corrupt(replace(good, "last_source 192.0.2.7", "last_source a b c"), "last_source");
    {
        // The version line must come first.
        std::string moved = replace(good, "authctl-user 3\n", "");
        moved = replace(moved, "type totp\n", "type totp\nauthctl-user 3\n");
        expect_corrupt(moved, "not an authctl user record");
    }
    // Recovery lines without their kdf line, or with a bad one.
    expect_corrupt(replace(good, "end\n", "recovery " + std::string(64, 'a') + "\nend\n"), "recovery");
    expect_corrupt(
        replace(good, "end\n",
                "recovery_kdf pbkdf2-sha256 10 0011223344556677\nrecovery " + std::string(64, 'a') + "\nend\n"),
        "iteration");
    expect_corrupt(replace(good, "end\n", "recovery_kdf pbkdf2-sha256 10000 0011223344556677\nrecovery abc\nend\n"),
                   "recovery");
    expect_corrupt(replace(good, "end\n", "recovery_kdf pbkdf2-sha256 10000 0011223344556677\nend\n"), "recovery");
}

UserRecord with_sources()
{
    UserRecord r = sample(OtpType::totp);
    r.tally.failures_since_success = 7;
    r.tally.sources_since_success = 3;
    SourceTally a;
    a.source = "192.0.2.7";
    a.failures = 3;
    a.first_failure = 1700000100;
    a.last_failure = 1700000200;
    a.locked_until = 1700000800;
    a.lock_reason = LockReason::failures;
    a.since_success = true;
    SourceTally b;
    b.source = "2001:db8:1:2::/64";
    b.locked_until = kLockedForever;
    b.lock_reason = LockReason::admin;
    b.locked_by = "bob";
    SourceTally c;
    c.source = "tty:pts/3";
    c.failures = 1;
    c.first_failure = 1700000150;
    c.last_failure = 1700000150;
    SourceTally d;  // an admin's lock by nobody known, of a source nobody could tell
    d.locked_until = 1700009999;
    d.lock_reason = LockReason::admin;
    d.since_success = true;
    r.tally.sources = {a, b, c, d};
    return r;
}

const char* kSourceLines =
    "since_success 7 3\n"
    "source 192.0.2.7 3 1700000100 1700000200 1700000800 failures - yes\n"
    "source 2001:db8:1:2::/64 0 0 0 never admin bob no\n"
    "source tty:pts/3 1 1700000150 1700000150 0 - - no\n"
    "source - 0 0 0 1700009999 admin - yes\n";

TEST(Record, Version3RoundTripsTheSourceTableAndTheFailuresSinceSuccess)
{
    const UserRecord r = with_sources();
    ASSERT_TRUE(validate_record(r));
    const std::string text = text_of(r);
    EXPECT_EQ(text, replace(kTotpText, "end\n", std::string(kSourceLines) + "end\n"));
    auto back = parse_record(text);
    ASSERT_TRUE(back) << back.error().message();
    const Tally& t = back->tally;
    EXPECT_EQ(t.failures_since_success, 7U);
    EXPECT_EQ(t.sources_since_success, 3U);
    ASSERT_EQ(t.sources.size(), 4U);
    for (std::size_t i = 0; i < 4; ++i) {
        const SourceTally& want = r.tally.sources[i];
        const SourceTally& got = t.sources[i];
        SCOPED_TRACE(want.source);
        EXPECT_EQ(got.source, want.source);
        EXPECT_EQ(got.failures, want.failures);
        EXPECT_EQ(got.first_failure, want.first_failure);
        EXPECT_EQ(got.last_failure, want.last_failure);
        EXPECT_EQ(got.locked_until, want.locked_until);
        EXPECT_EQ(got.lock_reason, want.lock_reason);
        EXPECT_EQ(got.locked_by, want.locked_by);
        EXPECT_EQ(got.since_success, want.since_success);
    }
    EXPECT_EQ(text_of(*back), text);
    // Either count alone nonzero is written; both zero is not.
    UserRecord one = r.clone();
    one.tally.failures_since_success = 0;
    EXPECT_NE(text_of(one).find("\nsince_success 0 3\n"), std::string::npos);
    one.tally.sources_since_success = 0;
    EXPECT_EQ(text_of(one).find("since_success"), std::string::npos);
    // What the writer sanitises: keys and names as sanitize_source spells them.
    UserRecord dirty = r.clone();
    dirty.tally.sources[0].source = "a b\n";
    dirty.tally.sources[1].locked_by = "bob smith";
    dirty.tally.sources[2].source = std::string(200, 'x');
    dirty.tally.sources[3].locked_by = std::string(100, 'y');
    const std::string cleaned = text_of(dirty);
    EXPECT_NE(cleaned.find("\nsource a?b? 3 "), std::string::npos) << cleaned;
    EXPECT_NE(cleaned.find(" never admin bob?smith no\n"), std::string::npos) << cleaned;
    EXPECT_NE(cleaned.find("\nsource " + std::string(kMaxSourceLength, 'x') + " 1 "), std::string::npos) << cleaned;
    EXPECT_NE(cleaned.find(" admin " + std::string(kMaxLockedByLength, 'y') + " yes\n"), std::string::npos)
        << cleaned;
    ASSERT_TRUE(validate_record(dirty));
    EXPECT_TRUE(parse_record(cleaned));
}

TEST(Record, Version3SourceLinesAreCheckedStrictly)
{
    const std::string good = text_of(with_sources());
    ASSERT_TRUE(parse_record(good));
    const std::string line = "source 192.0.2.7 3 1700000100 1700000200 1700000800 failures - yes";
    auto with_line = [&good, &line](const std::string& bad) { return replace(good, line, bad); };
    // Field counts and spacing: exactly eight fields, one space apart.
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 1700000800 failures -"), "'source'");
    expect_corrupt(with_line(line + " yes"), "'source'");
    expect_corrupt(with_line(line + " "), "'source'");
    expect_corrupt(with_line("source 192.0.2.7  3 1700000100 1700000200 1700000800 failures - yes"), "'source'");
    expect_corrupt(with_line("source  192.0.2.7 3 1700000100 1700000200 1700000800 failures - yes"), "'source'");
    expect_corrupt(with_line("source 192.0.2.7\t3 1700000100 1700000200 1700000800 failures - yes"),
                   "non-printable");
    expect_corrupt(with_line("source 192.0.2.7"), "'source'");
    // Every value in range and spelled as the writer does.
    expect_corrupt(with_line("source " + std::string(kMaxSourceLength + 1, 'k') +
                             " 3 1700000100 1700000200 1700000800 failures - yes"),
                   "'source'");
    expect_corrupt(with_line("source 192.0.2.7 4294967296 1700000100 1700000200 1700000800 failures - yes"),
                   "'source'");
    expect_corrupt(with_line("source 192.0.2.7 03 1700000100 1700000200 1700000800 failures - yes"), "'source'");
    expect_corrupt(with_line("source 192.0.2.7 -3 1700000100 1700000200 1700000800 failures - yes"), "'source'");
    expect_corrupt(with_line("source 192.0.2.7 3 9223372036854775807 1700000200 1700000800 failures - yes"),
                   "'source'");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 9223372036854775807 1700000800 failures - yes"),
                   "'source'");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 9223372036854775807 failures - yes"),
                   "'source'");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 99999999999999999999 failures - yes"),
                   "'source'");
    expect_corrupt(with_line("source 192.0.2.7 3 never 1700000200 1700000800 failures - yes"), "'source'");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 -1 failures - yes"), "'source'");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 1700000800 hand - yes"), "'source'");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 1700000800 failures - maybe"), "'source'");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 1700000800 failures - YES"), "'source'");
    // A reason only with a lock, a lock only with a reason, a name only with an admin's lock.
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 0 failures - yes"), "reason without a lock");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 1700000800 - - yes"), "lock without");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 never - - yes"), "lock without");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 1700000800 failures bob yes"),
                   "administrator");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 0 - bob yes"), "administrator");
    expect_corrupt(with_line("source 192.0.2.7 3 1700000100 1700000200 1700000800 admin " +
                             std::string(kMaxLockedByLength + 1, 'b') + " yes"),
                   "administrator");
    // A key twice; the writer's own spellings of the two edge values parse.
    expect_corrupt(replace(good, "source tty:pts/3 ", "source 192.0.2.7 "), "names a source twice");
    expect_corrupt(replace(good, "source tty:pts/3 ", "source - "), "names a source twice");
    EXPECT_TRUE(parse_record(with_line("source 192.0.2.7 4294967295 9223372036854775806 9223372036854775806 "
                                       "9223372036854775806 admin " +
                                       std::string(kMaxLockedByLength, 'b') + " no")));
    // At most kMaxSources lines.
    std::string many;
    for (std::size_t i = 0; i < kMaxSources - 4; ++i) many += "source h" + std::to_string(i) + " 1 1 1 0 - - no\n";
    const std::string full = replace(good, "end\n", many + "end\n");
    auto at_limit = parse_record(full);
    ASSERT_TRUE(at_limit) << at_limit.error().message();
    EXPECT_EQ(at_limit->tally.sources.size(), kMaxSources);
    expect_corrupt(replace(full, "end\n", "source one-more 1 1 1 0 - - no\nend\n"), "exceed 32");
    // since_success: two counts, not both 0, once.
    const std::string since = "since_success 7 3";
    expect_corrupt(replace(good, since, "since_success 0 0"), "since_success");
    expect_corrupt(replace(good, since, "since_success 7"), "since_success");
    expect_corrupt(replace(good, since, "since_success 7 3 1"), "since_success");
    expect_corrupt(replace(good, since, "since_success 7  3"), "since_success");
    expect_corrupt(replace(good, since, "since_success 07 3"), "since_success");
    expect_corrupt(replace(good, since, "since_success -7 3"), "since_success");
    expect_corrupt(replace(good, since, "since_success 7 4294967296"), "since_success");
    expect_corrupt(replace(good, since, "since_success 7 x"), "since_success");
    expect_corrupt(replace(good, since, "since_success 7 3\nsince_success 1 1"), "repeated");
    EXPECT_TRUE(parse_record(replace(good, since, "since_success 0 1")));
    EXPECT_TRUE(parse_record(replace(good, since, "since_success 4294967295 0")));
}

TEST(Record, ValidateRefusesSourceKeysTheWriterWouldSpellAlike)
{
    UserRecord r = with_sources();
    ASSERT_TRUE(validate_record(r));
    for (const auto& [one, other] : std::vector<std::pair<std::string, std::string>>{
             {"a b", "a?b"},
             {"", "-"},
             {std::string(kMaxSourceLength, 'k') + "1", std::string(kMaxSourceLength, 'k') + "2"},
             {"192.0.2.7", "192.0.2.7"}}) {
        r.tally.sources[0].source = one;
        r.tally.sources[2].source = other;
        const auto st = validate_record(r);
        ASSERT_FALSE(st) << "'" << one << "' and '" << other << "'";
        EXPECT_NE(st.error().detail.find("'source'"), std::string::npos) << st.error().detail;
        EXPECT_FALSE(parse_record(text_of(r))) << "and the parser refuses its text";
    }
    r = with_sources();
    r.tally.sources[3].locked_until = 0;  // an admin's reason without a lock
    EXPECT_FALSE(validate_record(r));
    r = with_sources();
    r.tally.sources[2].locked_until = 5;  // a lock without a reason
    EXPECT_FALSE(validate_record(r));
    r = with_sources();
    r.tally.sources[0].last_failure = std::numeric_limits<std::int64_t>::max();
    EXPECT_FALSE(validate_record(r));
    r = with_sources();
    r.tally.sources.resize(kMaxSources + 1);
    for (std::size_t i = 0; i < r.tally.sources.size(); ++i) r.tally.sources[i].source = "h" + std::to_string(i);
    EXPECT_FALSE(validate_record(r));
    r.tally.sources.pop_back();
    EXPECT_TRUE(validate_record(r));
}

TEST(Record, TypeNoneMustNotCarryEnrollmentKeys)
{
    UserRecord r;
    std::string text = text_of(r);
    expect_corrupt(replace(text, "type none\n", "type none\nsecret GEZDGNBV\n"), "unexpected key 'secret'");
}

// validate_record stands in for parsing every written record back (store
// commit): it must refuse exactly what the parser would refuse.
TEST(Record, ValidateRefusesExactlyWhatTheParserWouldRefuse)
{
    struct Seeded {
        std::mt19937_64 gen{20261128};
        std::uint64_t below(std::uint64_t n) { return gen() % n; }
        std::uint64_t any() { return gen(); }
    } src;
    int valid = 0, refused = 0, valid_with_sources = 0, refused_with_sources = 0;
    int valid_with_invitation = 0, refused_with_invitation = 0;
    for (int i = 0; i < 20000; ++i) {
        const UserRecord r = test::arbitrary_record(src);
        const auto ok = validate_record(r);
        const SecretBytes text = serialize_record(r);
        const auto back = parse_record(text.view());
        if (!test::enums_in_range(r)) {
            ASSERT_FALSE(ok) << "case " << i << ": a type or algorithm outside the enum";
            ++refused;
            continue;
        }
        ASSERT_EQ(ok.has_value(), back.has_value())
            << "case " << i << ": validate says " << (ok ? "ok" : ok.error().message()) << ", parser says "
            << (back ? "ok" : back.error().message()) << "\n"
            << text.view();
        if (!ok) {
            ++refused;
            if (!r.tally.sources.empty()) ++refused_with_sources;
            if (r.invitation) ++refused_with_invitation;
            EXPECT_EQ(ok.error().code, Errc::invalid_argument);
            continue;
        }
        ++valid;
        if (!r.tally.sources.empty()) ++valid_with_sources;
        if (r.invitation) ++valid_with_invitation;
        EXPECT_EQ(serialize_record(*back).view(), text.view()) << "case " << i;
    }
    // Both answers must be common enough to have been tested.
    EXPECT_GT(valid, 200);
    EXPECT_GT(refused, 200);
    EXPECT_GT(valid_with_sources, 25) << valid << " valid, " << refused << " refused";
    EXPECT_GT(refused_with_sources, 50);
    EXPECT_GT(valid_with_invitation, 25) << valid << " valid, " << refused << " refused";
    EXPECT_GT(refused_with_invitation, 50);
    std::printf("%d valid (%d with an invitation), %d refused (%d with an invitation)\n", valid,
                valid_with_invitation, refused, refused_with_invitation);
}

TEST(Record, ValidateNamesTheField)
{
    UserRecord r = sample(OtpType::totp);
    ASSERT_TRUE(validate_record(r));
    r.tally.locked_until = -5;
    auto st = validate_record(r);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().detail.find("'locked_until'"), std::string::npos) << st.error().detail;
    r = sample(OtpType::totp);
    r.granted_groups = {"wheel", "-bad"};
    st = validate_record(r);
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().detail.find("'granted_group'"), std::string::npos) << st.error().detail;
}

TEST(Enrollment, NewSecretsAre160RandomBits)
{
    auto a = new_enrollment({}, 1700000000);
    auto b = new_enrollment({}, 1700000000);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->secret.size(), 20U);
    EXPECT_NE(a->secret.view(), b->secret.view());
    EXPECT_FALSE(a->confirmed);
    EXPECT_EQ(a->created, 1700000000);
    EnrollParams bad;
    bad.digits = 9;
    EXPECT_FALSE(new_enrollment(bad, 1700000000));
    bad.digits = 6;
    bad.period = 301;
    EXPECT_FALSE(new_enrollment(bad, 1700000000));
    EXPECT_FALSE(new_enrollment({}, 0)) << "a clock before 1970 is not trusted";
    EXPECT_FALSE(new_enrollment({}, -5));
    EXPECT_TRUE(widely_supported({}));
    EnrollParams odd;
    odd.algo = HashAlgo::sha512;
    EXPECT_FALSE(widely_supported(odd));
}

TEST(Enrollment, UriCarriesEveryParameter)
{
    auto e = new_enrollment({}, 1700000000);
    ASSERT_TRUE(e);
    auto uri = enrollment_uri(*e, "ACME Co", "alice@host");
    ASSERT_TRUE(uri) << uri.error().message();
    EXPECT_EQ(uri->rfind("otpauth://totp/ACME%20Co:alice%40host?secret=", 0), 0U) << *uri;
    EXPECT_NE(uri->find("&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"), std::string::npos) << *uri;
}

}  // namespace
}  // namespace authctl
