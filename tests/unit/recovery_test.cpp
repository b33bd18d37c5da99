// SPDX-License-Identifier: Apache-2.0
// Recovery codes: generated once, stored hashed, each accepted once.
#include "authctl/recovery.hpp"

#include <gtest/gtest.h>

#include <set>

namespace authctl {
namespace {

TEST(Recovery, GeneratesDistinctFormattedCodes)
{
    RecoverySet set;
    auto codes = generate_recovery_codes(set, 10);
    ASSERT_TRUE(codes) << codes.error().message();
    ASSERT_EQ(codes->size(), 10U);
    EXPECT_EQ(set.hashes.size(), 10U);
    EXPECT_EQ(set.salt.size(), kRecoverySaltBytes);
    EXPECT_EQ(set.iterations, kRecoveryIterations);
    std::set<std::string> seen;
    for (const auto& c : *codes) {
        const std::string s(c.view());
        ASSERT_EQ(s.size(), 19U) << s;  // xxxx-xxxx-xxxx-xxxx
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (i % 5 == 4)
                EXPECT_EQ(s[i], '-');
            else
                EXPECT_TRUE((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')) << s;
        }
        seen.insert(s);
    }
    EXPECT_EQ(seen.size(), 10U);
}

TEST(Recovery, EachCodeMatchesItsOwnIndexInAnyCaseAndSpacing)
{
    RecoverySet set;
    auto codes = generate_recovery_codes(set, 4);
    ASSERT_TRUE(codes);
    for (std::size_t i = 0; i < codes->size(); ++i) {
        std::string s((*codes)[i].view());
        auto m = match_recovery_code(set, s);
        ASSERT_TRUE(m);
        EXPECT_EQ(*m, std::optional<std::size_t>(i));
        std::string upper = s;
        for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        std::replace(upper.begin(), upper.end(), '-', ' ');
        EXPECT_EQ(*match_recovery_code(set, upper), std::optional<std::size_t>(i));
    }
}

TEST(Recovery, RejectsWrongAndMalformedInput)
{
    RecoverySet set;
    ASSERT_TRUE(generate_recovery_codes(set, 3));
    const std::vector<std::string> inputs = {"",
                                             "abcd",
                                             "aaaa-bbbb-cccc-dddd",
                                             "123456",
                                             std::string(10000, 'a'),
                                             std::string("abcd\0efgh-ijkl-mnop", 19),
                                             "abcd_efgh_ijkl_mnop"};
    for (const auto& bad : inputs) {
        auto m = match_recovery_code(set, bad);
        ASSERT_TRUE(m);
        EXPECT_FALSE(m->has_value()) << bad;
    }
    RecoverySet empty;
    EXPECT_FALSE(match_recovery_code(empty, "abcd-efgh-ijkl-mnop")->has_value());
}

TEST(Recovery, NewCodesReplaceOldOnes)
{
    RecoverySet set;
    auto old_codes = generate_recovery_codes(set, 2);
    ASSERT_TRUE(old_codes);
    const std::string old0((*old_codes)[0].view());
    ASSERT_TRUE(generate_recovery_codes(set, 2));
    EXPECT_FALSE(match_recovery_code(set, old0)->has_value());
}

TEST(Recovery, ImportsScratchCodes)
{
    RecoverySet set;
    ASSERT_TRUE(import_recovery_codes(set, {"12345678", "87654321"}));
    EXPECT_EQ(*match_recovery_code(set, "87654321"), std::optional<std::size_t>(1));
    EXPECT_FALSE(match_recovery_code(set, "12345679")->has_value());
    EXPECT_FALSE(import_recovery_codes(set, {"1234"}));
    EXPECT_FALSE(import_recovery_codes(set, std::vector<std::string>(kMaxRecoveryCodes + 1, "12345678")));
    EXPECT_EQ(set.hashes.size(), 2U);  // a failed import changes nothing
}

TEST(Recovery, CountLimits)
{
    RecoverySet set;
    EXPECT_FALSE(generate_recovery_codes(set, 0));
    EXPECT_FALSE(generate_recovery_codes(set, kMaxRecoveryCodes + 1));
    EXPECT_TRUE(generate_recovery_codes(set, kMaxRecoveryCodes));
}

TEST(Recovery, Normalization)
{
    EXPECT_EQ(normalize_recovery_code("ABCD-efgh IJKL-mnop"), std::optional<std::string>("abcdefghijklmnop"));
    EXPECT_EQ(normalize_recovery_code("12345678"), std::optional<std::string>("12345678"));
    EXPECT_FALSE(normalize_recovery_code("1234567"));
    EXPECT_FALSE(normalize_recovery_code(std::string(33, 'a')));
    EXPECT_FALSE(normalize_recovery_code("abcd+efgh"));
}

}  // namespace
}  // namespace authctl
