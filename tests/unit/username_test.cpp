// SPDX-License-Identifier: Apache-2.0
// User names as file names: nothing escapes the directory, nothing collides.
#include "authctl/username.hpp"

#include <gtest/gtest.h>

namespace authctl {
namespace {

std::string enc(const std::string& u)
{
    auto r = encode_user_name(u);
    EXPECT_TRUE(r) << u;
    return r ? *r : std::string();
}

TEST(UserName, PlainNamesStandForThemselves)
{
    for (const char* u : {"alice", "a.b", "x_y-z@corp", "svc-backup", "USER1", "a..b"}) EXPECT_EQ(enc(u), u);
}

TEST(UserName, PathCharactersAndLeadingDotAreEncoded)
{
    EXPECT_EQ(enc("../x"), "%2E.%2Fx");
    EXPECT_EQ(enc("a/b"), "a%2Fb");
    EXPECT_EQ(enc("."), "%2E");
    EXPECT_EQ(enc(".."), "%2E.");
    EXPECT_EQ(enc(".hidden"), "%2Ehidden");
    EXPECT_EQ(enc("100%"), "100%25");
    EXPECT_EQ(enc("DOMAIN\\user"), "DOMAIN%5Cuser");
    EXPECT_EQ(enc("J\xc3\xbcrgen"), "J%C3%BCrgen");
    EXPECT_EQ(enc("a b"), "a%20b");
    for (const char* u : {"../x", "a/b", ".", "..", "/", "../../etc/passwd"}) {
        const std::string e = enc(u);
        EXPECT_EQ(e.find('/'), std::string::npos) << u;
        EXPECT_NE(e, ".");
        EXPECT_NE(e, "..");
        EXPECT_NE(e.front(), '.') << u;
    }
}

TEST(UserName, RoundTrips)
{
    for (const char* u : {"alice", "../x", "a/b", ".x", "100%", "J\xc3\xbcrgen", "a b c", "\xf0\x9f\x94\x91key"}) {
        auto back = decode_user_name(enc(u));
        ASSERT_TRUE(back) << u;
        EXPECT_EQ(*back, u);
    }
}

TEST(UserName, RefusesUnstorableNames)
{
    for (const std::string& u :
         {std::string(), std::string(241, 'a'), std::string(300, 'a'), std::string("\xff"), std::string("\xc0\xaf"),
          std::string("a\nb"), std::string("a\0b", 3), std::string("tab\there"), std::string(81, '/')}) {
        auto r = encode_user_name(u);
        ASSERT_FALSE(r) << u;
        EXPECT_EQ(r.error().code, Errc::invalid_user);
    }
    EXPECT_TRUE(encode_user_name(std::string(240, 'a')));
    EXPECT_TRUE(encode_user_name(std::string(80, '/')));  // 240 once encoded
}

TEST(UserName, DecodeAcceptsOnlyCanonicalEncodings)
{
    for (const char* stem : {"%61lice", "a%2fb", "a/b", "%2", "%zz", ".hidden", "%2E%2E", "a%00b"})
        EXPECT_FALSE(decode_user_name(stem)) << stem;
}

}  // namespace
}  // namespace authctl
