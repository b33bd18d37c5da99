// SPDX-License-Identifier: Apache-2.0
// HOTP/TOTP against the published RFC vectors (kept in tests/data) and the
// window/replay arithmetic.
#include "authctl/otp.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <tuple>

namespace authctl {
namespace {

SecretBytes ascii_key(const std::string& s)
{
    return SecretBytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

SecretBytes rfc6238_seed(HashAlgo algo)
{
    const std::string base = "1234567890";
    std::string seed;
    const std::size_t len = algo == HashAlgo::sha1 ? 20 : algo == HashAlgo::sha256 ? 32 : 64;
    while (seed.size() < len) seed += base;
    return ascii_key(seed.substr(0, len));
}

std::vector<std::vector<std::string>> data_rows(const std::string& file)
{
    std::ifstream in(std::string(AUTHCTL_TEST_DATA_DIR) + "/" + file);
    EXPECT_TRUE(in.good()) << file;
    std::vector<std::vector<std::string>> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::vector<std::string> row;
        std::string field;
        while (ls >> field) row.push_back(field);
        rows.push_back(row);
    }
    return rows;
}

TEST(Rfc4226, AppendixDEveryRow)
{
    const auto rows = data_rows("rfc4226_appendix_d.txt");
    ASSERT_EQ(rows.size(), 10U);
    const SecretBytes key = ascii_key("12345678901234567890");
    for (const auto& row : rows) {
        ASSERT_EQ(row.size(), 3U);
        const auto counter = std::stoull(row[0]);
        auto v = hotp_value(key, counter, HashAlgo::sha1, 6);
        ASSERT_TRUE(v) << v.error().message();
        EXPECT_EQ(format_code(*v, 6), row[2]) << "counter " << counter;
        // The 31-bit truncated value modulo 10^8 must match the table's decimal too.
        auto v8 = hotp_value(key, counter, HashAlgo::sha1, 8);
        ASSERT_TRUE(v8);
        EXPECT_EQ(*v8, std::stoull(row[1]) % 100000000ULL) << "counter " << counter;
    }
}

TEST(Rfc6238, AppendixBEveryRowAllAlgorithms)
{
    const auto rows = data_rows("rfc6238_appendix_b.txt");
    ASSERT_EQ(rows.size(), 18U);
    for (const auto& row : rows) {
        ASSERT_EQ(row.size(), 4U);
        const std::int64_t t = std::stoll(row[0]);
        const std::uint64_t step = std::stoull(row[1], nullptr, 16);
        auto algo = parse_algo(row[3]);
        ASSERT_TRUE(algo);
        EXPECT_EQ(totp_step(t, 30), step) << "time " << t;
        auto v = hotp_value(rfc6238_seed(*algo), step, *algo, 8);
        ASSERT_TRUE(v) << v.error().message();
        EXPECT_EQ(format_code(*v, 8), row[2]) << "time " << t << " " << row[3];
    }
}

TEST(Rfc6238, Year2603StepNeedsMoreThan32Bits)
{
    // 20000000000 / 30 = 666666666 fits, but the time itself does not fit 32 bits;
    // a step beyond 2^32 must work too.
    EXPECT_EQ(totp_step(20000000000, 30), 0x27BC86AAULL);
    EXPECT_EQ(totp_step(INT64_MAX, 1), static_cast<std::uint64_t>(INT64_MAX));
    const SecretBytes key = ascii_key("12345678901234567890");
    auto big = hotp_value(key, 0x100000000ULL, HashAlgo::sha1, 6);
    auto small = hotp_value(key, 0, HashAlgo::sha1, 6);
    ASSERT_TRUE(big && small);
    EXPECT_NE(*big, *small);  // the high 32 bits of the counter reach the HMAC
}

TEST(Otp, TotpStepEdges)
{
    EXPECT_EQ(totp_step(0, 30), 0U);
    EXPECT_EQ(totp_step(-5, 30), 0U);
    EXPECT_EQ(totp_step(29, 30), 0U);
    EXPECT_EQ(totp_step(30, 30), 1U);
    EXPECT_EQ(totp_step(299, 300), 0U);
    EXPECT_EQ(totp_step(1000, 1), 1000U);
}

TEST(Otp, FormatCodePadsWithZeros)
{
    EXPECT_EQ(format_code(0, 6), "000000");
    EXPECT_EQ(format_code(42, 6), "000042");
    EXPECT_EQ(format_code(7081804, 8), "07081804");
    EXPECT_EQ(format_code(1234567, 7), "1234567");
}

TEST(Otp, RejectsBadParameters)
{
    const SecretBytes key = ascii_key("12345678901234567890");
    EXPECT_EQ(hotp_value(key, 0, HashAlgo::sha1, 5).error().code, Errc::invalid_argument);
    EXPECT_EQ(hotp_value(key, 0, HashAlgo::sha1, 9).error().code, Errc::invalid_argument);
    EXPECT_EQ(hotp_value(SecretBytes{}, 0, HashAlgo::sha1, 6).error().code, Errc::invalid_argument);
    EXPECT_FALSE(find_counter(key, HashAlgo::sha1, 6, "755224", 5, 4));    // reversed range
    EXPECT_FALSE(find_counter(key, HashAlgo::sha1, 6, "755224", 0, 100));  // too wide
    EXPECT_FALSE(find_counter(key, HashAlgo::sha1, 6, "75522", 0, 1));     // wrong shape
}

TEST(Otp, ParseAlgo)
{
    EXPECT_EQ(*parse_algo("sha1"), HashAlgo::sha1);
    EXPECT_EQ(*parse_algo("SHA256"), HashAlgo::sha256);
    EXPECT_EQ(*parse_algo("Sha512"), HashAlgo::sha512);
    EXPECT_FALSE(parse_algo("md5"));
    EXPECT_FALSE(parse_algo(""));
    EXPECT_STREQ(algo_name(HashAlgo::sha256), "SHA256");
}

TEST(Otp, CodeSyntax)
{
    EXPECT_TRUE(is_code_syntax("123456", 6));
    EXPECT_FALSE(is_code_syntax("12345", 6));
    EXPECT_FALSE(is_code_syntax("1234567", 6));
    EXPECT_FALSE(is_code_syntax("12345a", 6));
    EXPECT_FALSE(is_code_syntax("123 56", 6));
    EXPECT_FALSE(is_code_syntax(std::string("123\0"
                                            "56",
                                            6),
                                6));
    EXPECT_FALSE(is_code_syntax("", 6));
    EXPECT_TRUE(is_code_syntax("00000000", 8));
}

// What normalize_code makes of `typed` for `digits`: the digits, or "REFUSED".
std::string normalized(std::string_view typed, unsigned digits = 6)
{
    TypedCode out;
    if (!normalize_code(typed, digits, out)) {
        EXPECT_TRUE(out.view().empty()) << "a refused code leaves nothing behind";
        return "REFUSED";
    }
    return std::string(out.view());
}

TEST(Otp, NormalizeCodeTakesTheGroupsAppsShow)
{
    EXPECT_EQ(normalized("123456"), "123456");
    EXPECT_EQ(normalized("123 456"), "123456");
    EXPECT_EQ(normalized("123-456"), "123456");
    EXPECT_EQ(normalized("12 34 56"), "123456");
    EXPECT_EQ(normalized("1 2 3 4 5 6"), "123456");
    EXPECT_EQ(normalized("12 34-56"), "123456") << "spaces and one dash";
    EXPECT_EQ(normalized("  123 456 "), "123456") << "spaces at either end";
    EXPECT_EQ(normalized("1234 5678", 8), "12345678");
    EXPECT_EQ(normalized("1234-5678", 8), "12345678");
    EXPECT_EQ(normalized("123 4567", 7), "1234567");
    EXPECT_EQ(normalized("000 000"), "000000");
}

TEST(Otp, NormalizeCodeRefusesAnythingElse)
{
    for (const char* bad : {"12a456", "123  456", "123--456", "123 - 456", "123- 456", "123 -456", "12-34-56",
                            "-123456", "123456-", "- 123456", "123\t456", "123456\t", "\t123456", "123_456", "123.456", "12345", "1234567",
                            "123 4567", "", "   ", "-", "+123456", "\xc2\xa0" "123456", "123\xc2\xa0" "456"})
        EXPECT_EQ(normalized(bad), "REFUSED") << "'" << bad << "'";
    EXPECT_EQ(normalized(std::string("123\0" "456", 7)), "REFUSED");
    EXPECT_EQ(normalized("123 456", 8), "REFUSED");
    EXPECT_EQ(normalized("1234 5678", 6), "REFUSED");
    EXPECT_EQ(normalized("123456", 5), "REFUSED") << "digits out of range";
    EXPECT_EQ(normalized("123456789", 9), "REFUSED");
    // A refusal empties what a previous call left.
    TypedCode out;
    ASSERT_TRUE(normalize_code("123 456", 6, out));
    EXPECT_FALSE(normalize_code("123 45a", 6, out));
    EXPECT_TRUE(out.view().empty());
}

TEST(Otp, FindConsecutiveFindsTwoCodesInARow)
{
    const SecretBytes key = ascii_key("12345678901234567890");
    // RFC 4226 Appendix D: counter 3 is 969429, 4 is 338314, 5 is 254676.
    auto m = find_consecutive(key, HashAlgo::sha1, 6, "969429", "338314", 0, 10);
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ(**m, 3U);
    // Not consecutive, in the wrong order, or CODE1 outside the range: not found.
    for (auto [c1, c2, first, count] :
         {std::tuple{"969429", "254676", 0, 10}, std::tuple{"338314", "969429", 0, 10},
          std::tuple{"969429", "338314", 4, 10}, std::tuple{"969429", "338314", 0, 3}}) {
        auto none = find_consecutive(key, HashAlgo::sha1, 6, c1, c2, static_cast<std::uint64_t>(first),
                                     static_cast<std::uint64_t>(count));
        ASSERT_TRUE(none);
        EXPECT_FALSE(none->has_value()) << c1 << " " << c2 << " from " << first << " x" << count;
    }
    // CODE1 at the last counter of the range, CODE2 one past it: found.
    auto edge = find_consecutive(key, HashAlgo::sha1, 6, "969429", "338314", 3, 1);
    ASSERT_TRUE(edge && edge->has_value());
    EXPECT_EQ(**edge, 3U);
    // Bounds and shapes.
    EXPECT_FALSE(find_consecutive(key, HashAlgo::sha1, 6, "969429", "338314", 0, 0));
    EXPECT_FALSE(find_consecutive(key, HashAlgo::sha1, 6, "969429", "338314", 0, kMaxResyncCounters + 1));
    EXPECT_FALSE(find_consecutive(key, HashAlgo::sha1, 6, "969429", "338314", UINT64_MAX - 5, 6));
    EXPECT_TRUE(find_consecutive(key, HashAlgo::sha1, 6, "969429", "338314", UINT64_MAX - 6, 6));
    EXPECT_FALSE(find_consecutive(key, HashAlgo::sha1, 6, "969 429", "338314", 0, 10)) << "takes digits only";
    EXPECT_FALSE(find_consecutive(SecretBytes{}, HashAlgo::sha1, 6, "969429", "338314", 0, 10));
}

TEST(Otp, FindCounterReturnsTheMatchingCounter)
{
    const SecretBytes key = ascii_key("12345678901234567890");
    auto m = find_counter(key, HashAlgo::sha1, 6, "969429", 0, 9);  // counter 3
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->has_value());
    EXPECT_EQ(**m, 3U);
    auto none = find_counter(key, HashAlgo::sha1, 6, "969429", 4, 9);
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    auto wrong = find_counter(key, HashAlgo::sha1, 6, "000000", 0, 9);
    ASSERT_TRUE(wrong);
    EXPECT_FALSE(wrong->has_value());
}

TEST(Otp, ACodeValidAtTwoCountersReportsTheHighest)
{
    // For the RFC 4226 key, counters 153567 and 153569 both give 468457 (found
    // by search); recording the lower would let the same code in again.
    const SecretBytes key = ascii_key("12345678901234567890");
    ASSERT_EQ(format_code(*hotp_value(key, 153567, HashAlgo::sha1, 6), 6), "468457");
    ASSERT_EQ(format_code(*hotp_value(key, 153569, HashAlgo::sha1, 6), 6), "468457");
    auto m = find_counter(key, HashAlgo::sha1, 6, "468457", 153567, 153569);
    ASSERT_TRUE(m && m->has_value());
    EXPECT_EQ(**m, 153569U);
}

TEST(Otp, FindCounterAtTheEdgesOfItsRange)
{
    // The search runs from `last` down to `first`: neither end may be skipped
    // or wrap around.
    const SecretBytes key = ascii_key("12345678901234567890");
    auto at = [&](std::uint64_t counter) { return format_code(*hotp_value(key, counter, HashAlgo::sha1, 6), 6); };
    auto m = find_counter(key, HashAlgo::sha1, 6, "755224", 0, 0);  // RFC 4226 counter 0
    ASSERT_TRUE(m && m->has_value());
    EXPECT_EQ(**m, 0U);
    m = find_counter(key, HashAlgo::sha1, 6, "755224", 0, 20);  // at `first`, wide range
    ASSERT_TRUE(m && m->has_value());
    EXPECT_EQ(**m, 0U);
    m = find_counter(key, HashAlgo::sha1, 6, at(20), 0, 20);  // at `last`
    ASSERT_TRUE(m && m->has_value());
    EXPECT_EQ(**m, 20U);
    constexpr std::uint64_t kTop = UINT64_MAX;
    m = find_counter(key, HashAlgo::sha1, 6, at(kTop), kTop - 3, kTop);
    ASSERT_TRUE(m && m->has_value());
    EXPECT_EQ(**m, kTop);
    m = find_counter(key, HashAlgo::sha1, 6, at(kTop - 3), kTop - 3, kTop);
    ASSERT_TRUE(m && m->has_value());
    EXPECT_EQ(**m, kTop - 3);
    std::string other = at(kTop) == "000000" ? "000001" : "000000";
    for (std::uint64_t c = kTop - 3; c != 0; ++c)  // up to kTop, then it wraps to 0
        ASSERT_NE(at(c), other) << "pick another wrong code";
    m = find_counter(key, HashAlgo::sha1, 6, other, kTop - 3, kTop);
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->has_value());
}

TEST(Otp, TotpRangeWindowAndReplay)
{
    // now = step 100 exactly.
    auto r = totp_range(3000, 30, 1, std::nullopt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, 99U);
    EXPECT_EQ(r->last, 101U);
    r = totp_range(3000, 30, 0, std::nullopt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, 100U);
    EXPECT_EQ(r->last, 100U);
    // Steps at or below the last accepted one are never offered again.
    r = totp_range(3000, 30, 1, 99U);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, 100U);
    r = totp_range(3000, 30, 1, 100U);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, 101U);
    EXPECT_FALSE(totp_range(3000, 30, 1, 101U));
    EXPECT_FALSE(totp_range(3000, 30, 1, 5000U));
    // Near the epoch the window does not wrap below zero.
    r = totp_range(10, 30, 2, std::nullopt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->first, 0U);
    EXPECT_EQ(r->last, 2U);
}

}  // namespace
}  // namespace authctl
