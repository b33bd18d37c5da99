// SPDX-License-Identifier: Apache-2.0
// The record file format: round trips, and a strict parser for hostile text.
#include "authctl/record.hpp"

#include <gtest/gtest.h>

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
    "authctl-user 2\n"
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

TEST(Record, AVersion1RecordStillParsesAndIsWrittenBackAsVersion2)
{
    // A record as a version-1 build wrote it: the same lines under header 1
    // (version 2 adds only lines written when set, and none is set here).
    const std::string v1 = replace(kTotpText, "authctl-user 2\n", "authctl-user 1\n");
    auto old = parse_record(v1);
    ASSERT_TRUE(old) << old.error().message();
    EXPECT_EQ(old->tally.locked_until, 1700000800);
    EXPECT_EQ(old->tally.lock_reason, LockReason::unknown);
    EXPECT_EQ(old->tally.locked_by, "");
    EXPECT_EQ(old->tally.last_success, 0);
    EXPECT_EQ(text_of(*old), kTotpText);
    // Version 1 has none of the new keys; version 2 each only when set.
    expect_corrupt(replace(v1, "end\n", "last_success 5 -\nend\n"), "unexpected key 'last_success'");
    expect_corrupt(replace(v1, "end\n", "lock_reason failures\nend\n"), "unexpected key 'lock_reason'");
    expect_corrupt(replace(kTotpText, "authctl-user 2", "authctl-user 3"), "version 3");
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
    const std::string text = text_of(r);
    EXPECT_GT(text.size(), 2048U);  // more than twice the first 1 KiB
    EXPECT_LE(text.size(), kMaxRecordBytes);
    auto back = parse_record(text);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->enrollment->secret.view(), r.enrollment->secret.view());
    EXPECT_EQ(back->recovery.hashes, r.recovery.hashes);
    EXPECT_EQ(back->granted_groups, r.granted_groups);
    EXPECT_EQ(back->tally.last_source, r.tally.last_source);
    EXPECT_EQ(text_of(*back), text);
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
    expect_corrupt(replace(good, "authctl-user 2", "authctl-user 1000"), "version 1000");
    expect_corrupt(replace(good, "authctl-user 2\n", "garbage\n"), "not 'key value'");
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
    expect_corrupt(replace(good, "authctl-user 2", "authctl-user 02"), "not an authctl user record");
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
        std::string moved = replace(good, "authctl-user 2\n", "");
        moved = replace(moved, "type totp\n", "type totp\nauthctl-user 2\n");
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
    int valid = 0, refused = 0;
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
            EXPECT_EQ(ok.error().code, Errc::invalid_argument);
            continue;
        }
        ++valid;
        EXPECT_EQ(serialize_record(*back).view(), text.view()) << "case " << i;
    }
    // Both answers must be common enough to have been tested.
    EXPECT_GT(valid, 200);
    EXPECT_GT(refused, 200);
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
