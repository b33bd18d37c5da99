// SPDX-License-Identifier: Apache-2.0
// The otpauth:// key URI both ways, including hostile input.
#include "authctl/otpauth_uri.hpp"

#include <gtest/gtest.h>

namespace authctl {
namespace {

SecretBytes rfc_key()
{
    const std::string k = "12345678901234567890";
    return SecretBytes(reinterpret_cast<const std::uint8_t*>(k.data()), k.size());
}

constexpr const char* kSecretB32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

TEST(OtpauthUri, BuildsTheExactKnownUri)
{
    KeyUri u;
    u.issuer = "ACME Co";
    u.account = "alice@example.com";
    u.secret = rfc_key();
    auto s = build_key_uri(u);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(*s, std::string("otpauth://totp/ACME%20Co:alice%40example.com?secret=") + kSecretB32 +
                      "&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30");
    u.type = OtpType::hotp;
    u.issuer.clear();
    u.counter = 42;
    u.algo = HashAlgo::sha512;
    u.digits = 8;
    EXPECT_EQ(*build_key_uri(u), std::string("otpauth://hotp/alice%40example.com?secret=") + kSecretB32 +
                                     "&algorithm=SHA512&digits=8&counter=42");
}

TEST(OtpauthUri, RoundTripsEveryTypeAlgorithmAndDigits)
{
    for (OtpType type : {OtpType::totp, OtpType::hotp})
        for (HashAlgo algo : {HashAlgo::sha1, HashAlgo::sha256, HashAlgo::sha512})
            for (unsigned digits : {6U, 7U, 8U}) {
                KeyUri u;
                u.type = type;
                u.issuer = "Jürgen's: A&B 100%";
                u.account = "j\xc3\xbcrgen wolf:@host";
                u.secret = rfc_key();
                u.algo = algo;
                u.digits = digits;
                u.period = 45;
                u.counter = 123456789012ULL;
                auto s = build_key_uri(u);
                ASSERT_TRUE(s) << s.error().message();
                auto back = parse_key_uri(*s);
                ASSERT_TRUE(back) << *s << ": " << back.error().message();
                EXPECT_EQ(back->type, type);
                EXPECT_EQ(back->issuer, u.issuer);
                EXPECT_EQ(back->account, u.account);
                EXPECT_EQ(back->secret.view(), u.secret.view());
                EXPECT_EQ(back->algo, algo);
                EXPECT_EQ(back->digits, digits);
                if (type == OtpType::totp) {
                    EXPECT_EQ(back->period, 45U);
                } else {
                    EXPECT_EQ(back->counter, 123456789012ULL);
                }
            }
}

TEST(OtpauthUri, ParsesWhatAppsAndOtherToolsWrite)
{
    // %3A as the issuer separator, lower-case scheme parts, defaults, extra parameters.
    auto u = parse_key_uri(std::string("OTPAUTH://TOTP/Example%3Aalice%40google.com?secret=") + kSecretB32 +
                           "&issuer=Example&image=https%3A%2F%2Fexample.com%2Flogo.png");
    ASSERT_TRUE(u) << u.error().message();
    EXPECT_EQ(u->issuer, "Example");
    EXPECT_EQ(u->account, "alice@google.com");
    EXPECT_EQ(u->algo, HashAlgo::sha1);
    EXPECT_EQ(u->digits, 6U);
    EXPECT_EQ(u->period, 30U);
    // Space after the colon in the label is allowed; no issuer at all too.
    u = parse_key_uri(std::string("otpauth://totp/ACME:%20bob?secret=") + kSecretB32);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->account, "bob");
    u = parse_key_uri("otpauth://totp/bob?secret=jbswy3dpehpk3pxp");
    ASSERT_TRUE(u) << u.error().message();
    EXPECT_EQ(u->issuer, "");
}

TEST(OtpauthUri, AccountWithAColonAndNoIssuerRoundTrips)
{
    // Found by fuzz_uri: rebuilt as "otpauth://totp/%3Ab?...", the account's
    // escaped ':' was read back as the issuer separator (account "b").
    auto u = parse_key_uri(std::string("otpauth://totp/::b?secret=") + kSecretB32);
    ASSERT_TRUE(u) << u.error().message();
    EXPECT_EQ(u->issuer, "");
    EXPECT_EQ(u->account, ":b");
    auto built = build_key_uri(*u);
    ASSERT_TRUE(built) << built.error().message();
    auto back = parse_key_uri(*built);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->issuer, "");
    EXPECT_EQ(back->account, ":b");
}

TEST(OtpauthUri, RefusesToBuildWhatIsTooLongToReadBack)
{
    // Found with fuzz_uri: 256-byte UTF-8 names fit a 2048-character URI raw,
    // but not escaped (each byte becomes %XX, the issuer written twice).
    std::string name;
    for (int i = 0; i < 128; ++i) name += "\xc3\xa9";  // U+00E9, two bytes
    auto u = parse_key_uri("otpauth://totp/" + name + ":" + name + "?secret=" + kSecretB32);
    ASSERT_TRUE(u) << u.error().message();
    auto built = build_key_uri(*u);
    ASSERT_FALSE(built);
    EXPECT_EQ(built.error().code, Errc::invalid_argument);
    EXPECT_NE(built.error().detail.find("once escaped"), std::string::npos) << built.error().detail;
}

void expect_bad(const std::string& uri, const std::string& needle)
{
    auto r = parse_key_uri(uri);
    ASSERT_FALSE(r) << "accepted: " << uri;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_NE(r.error().detail.find(needle), std::string::npos) << r.error().detail;
}

// Issue 19, point 7: no key under 80 bits enters through a URI, or leaves in one.
TEST(OtpauthUri, KeysUnder80BitsAreRefused)
{
    expect_bad("otpauth://totp/alice?secret=AE", "secret must be 10 to 128 bytes (at least 80 bits)");       // 1 byte
    expect_bad("otpauth://totp/alice?secret=AEBAGBAFAYDQQCI", "secret must be 10 to 128 bytes");  // 9 bytes
    auto ten = parse_key_uri("otpauth://totp/alice?secret=AEBAGBAFAYDQQCIK");                    // 10 bytes
    ASSERT_TRUE(ten) << ten.error().message();
    EXPECT_EQ(ten->secret.size(), 10U);
    KeyUri k;
    k.account = "alice";
    k.secret = SecretBytes(9);
    auto built = build_key_uri(k);
    ASSERT_FALSE(built);
    EXPECT_NE(built.error().detail.find("10 to 128 bytes"), std::string::npos) << built.error().detail;
    k.secret = SecretBytes(10);
    EXPECT_TRUE(build_key_uri(k));
}

TEST(OtpauthUri, RefusesHostileInput)
{
    const std::string s = std::string("secret=") + kSecretB32;
    expect_bad("otpauth://totp/alice?issuer=X", "no secret");
    expect_bad("otpauth://totp/alice?secret=", "no secret");
    expect_bad("otpauth://totp/alice?secret=GEZ0", "base32");
    expect_bad("otpauth://totp/Acme:alice?" + s + "&issuer=Other", "differs");
    expect_bad("otpauth://totp/alice?" + s + "&digits=5", "digits");
    expect_bad("otpauth://totp/alice?" + s + "&digits=9", "digits");
    expect_bad("otpauth://totp/alice?" + s + "&digits=6x", "digits");
    expect_bad("otpauth://totp/alice?" + s + "&period=0", "period");
    expect_bad("otpauth://totp/alice?" + s + "&period=301", "period");
    expect_bad("otpauth://totp/alice?" + s + "&period=-30", "period");
    expect_bad("otpauth://totp/alice?" + s + "&algorithm=MD5", "algorithm");
    expect_bad("otpauth://hotp/alice?" + s, "counter");
    expect_bad("otpauth://hotp/alice?" + s + "&counter=99999999999999999999999", "counter");
    expect_bad("otpauth://totp/alice?" + s + "&" + s, "repeated");
    expect_bad("https://totp/alice?" + s, "otpauth://");
    expect_bad("otpauth:/totp/alice?" + s, "otpauth://");
    expect_bad("otpauth://sms/alice?" + s, "type");
    expect_bad("otpauth://totp/alice", "no parameters");
    expect_bad("otpauth://totp", "no label");
    expect_bad("otpauth://totp/?" + s, "account");
    expect_bad("otpauth://totp/Acme:?" + s, "account");
    expect_bad("otpauth://totp/alice%2?" + s, "percent");
    expect_bad("otpauth://totp/alice%zz?" + s, "percent");
    expect_bad("otpauth://totp/alice?" + s + "&issuer=%4", "percent");
    expect_bad("otpauth://totp/ali%0Ace?" + s, "control");
    expect_bad("otpauth://totp/ali%00ce?" + s, "control");
    expect_bad("otpauth://totp/ali%FFce?" + s, "UTF-8");
    expect_bad("otpauth://totp/alice?" + s + "&issuer=a%0Ab", "control");
    expect_bad("otpauth://totp/" + std::string(kMaxLabelPart + 1, 'a') + "?" + s, "too long");
    expect_bad("otpauth://totp/alice?" + s + "&x=" + std::string(kMaxUriLength, 'a'), "longer than");
    expect_bad("otpauth://totp/alice?secret=" + std::string(300, 'A'), "128 bytes");
}

TEST(OtpauthUri, BuildRefusesWhatWouldNotParse)
{
    KeyUri u;
    u.account = "alice";
    EXPECT_FALSE(build_key_uri(u));  // no secret
    u.secret = rfc_key();
    u.digits = 9;
    EXPECT_FALSE(build_key_uri(u));
    u.digits = 6;
    u.period = 0;
    EXPECT_FALSE(build_key_uri(u));
    u.period = 30;
    u.account = "a\nb";
    EXPECT_FALSE(build_key_uri(u));
    u.account.clear();
    EXPECT_FALSE(build_key_uri(u));
    u.account = "alice";
    EXPECT_TRUE(build_key_uri(u));
}

TEST(OtpauthUri, TypeNames)
{
    EXPECT_STREQ(otp_type_name(OtpType::totp), "totp");
    EXPECT_STREQ(otp_type_name(OtpType::hotp), "hotp");
    EXPECT_EQ(*parse_otp_type("HOTP"), OtpType::hotp);
    EXPECT_FALSE(parse_otp_type("motp"));
}

}  // namespace
}  // namespace authctl
