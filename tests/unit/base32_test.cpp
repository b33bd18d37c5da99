// SPDX-License-Identifier: Apache-2.0
// RFC 4648 base32: the section 10 vectors, tolerance of what people type, and
// refusal of everything else.
#include "authctl/base32.hpp"

#include <gtest/gtest.h>

#include <openssl/rand.h>

#include <vector>

namespace authctl {
namespace {

std::string decode_str(std::string_view in)
{
    auto r = base32_decode(in);
    EXPECT_TRUE(r) << in << ": " << (r ? "" : r.error().message());
    return r ? std::string(r->view()) : std::string();
}

std::string encode_str(const std::string& s)
{
    return base32_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

TEST(Base32, Rfc4648Section10Vectors)
{
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "MY"},
        {"fo", "MZXQ"},
        {"foo", "MZXW6"},
        {"foob", "MZXW6YQ"},
        {"fooba", "MZXW6YTB"},
        {"foobar", "MZXW6YTBOI"},
    };
    for (const auto& [plain, enc] : vectors) {
        EXPECT_EQ(encode_str(plain), enc) << plain;
        EXPECT_EQ(decode_str(enc), plain) << enc;
    }
    // With the padding of the RFC's table.
    EXPECT_EQ(decode_str("MY======"), "f");
    EXPECT_EQ(decode_str("MZXQ===="), "fo");
    EXPECT_EQ(decode_str("MZXW6==="), "foo");
    EXPECT_EQ(decode_str("MZXW6YQ="), "foob");
    EXPECT_EQ(decode_str("MZXW6YTBOI======"), "foobar");
}

TEST(Base32, ToleratesCaseSpacesAndDashes)
{
    EXPECT_EQ(decode_str("mzxw6ytboi"), "foobar");
    EXPECT_EQ(decode_str("MzXw 6yTb\tOi"), "foobar");
    EXPECT_EQ(decode_str("mzxw-6ytb-oi"), "foobar");
    EXPECT_EQ(decode_str("JBSW Y3DP EHPK 3PXP"), std::string("Hello!\xde\xad\xbe\xef"));
}

TEST(Base32, RoundTripsRandomBytes)
{
    for (std::size_t n = 0; n <= 64; ++n) {
        SecretBytes b(n);
        if (n > 0) {
            ASSERT_EQ(RAND_bytes(b.data(), static_cast<int>(n)), 1);
        }
        const std::string enc = base32_encode(b);
        EXPECT_EQ(enc.size(), (n * 8 + 4) / 5);
        EXPECT_EQ(enc.find('='), std::string::npos);
        auto back = base32_decode(enc);
        ASSERT_TRUE(back) << enc;
        EXPECT_EQ(back->view(), b.view());
    }
}

TEST(Base32, CanonicalIsExactlyWhatTheEncoderWrites)
{
    for (const char* good : {"MY", "MZXQ", "MZXW6", "MZXW6YQ", "MZXW6YTB", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"})
        EXPECT_TRUE(base32_is_canonical(good)) << good;
    for (const char* bad : {"", "my", "MZ", "MZXW7", "MZXW6A", "MZXW6===", "MZXW-6", "MZ XW6", "M", "MZX", "MZXW6Y"})
        EXPECT_FALSE(base32_is_canonical(bad)) << bad;
    // Every encoding of 0..20 bytes is canonical.
    for (std::size_t n = 0; n <= 20; ++n) {
        std::vector<std::uint8_t> bytes(n, 0xA5);
        const std::string text = base32_encode(bytes.data(), bytes.size());
        EXPECT_EQ(base32_is_canonical(text), n > 0) << n;
    }
}

TEST(Base32, RefusesHostileInput)
{
    const std::string bad[] = {
        "MZXW0",  // '0' is not in the alphabet
        "MZXW1",  // nor '1'
        "MZXW8",  // nor '8'
        "MZ!W6",
        std::string("MZ\0W6", 5),  // embedded NUL
        "MZ=XW6",                  // '=' in the middle
        "MY=",                     // too little padding
        "MY=======",               // too much padding
        "MZXW6YTB=",               // padding after a whole group
        "M",                       // 1 symbol in the last group
        "MZX",                     // 3
        "MZXW6Y",                  // 6
        "MZXW6YTBM",               // 8 + 1
        "\xc3\xa9",                // UTF-8
        std::string(kBase32MaxInput + 1, 'A'),
    };
    for (const auto& in : bad) {
        auto r = base32_decode(in);
        EXPECT_FALSE(r) << "accepted: " << in;
        if (!r) {
            EXPECT_EQ(r.error().code, Errc::invalid_argument);
        }
    }
    EXPECT_NE(base32_decode("MZ!W6").error().detail.find("position 3"), std::string::npos);
    EXPECT_TRUE(base32_decode(std::string(kBase32MaxInput, 'A')));
}

}  // namespace
}  // namespace authctl
