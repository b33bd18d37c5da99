// SPDX-License-Identifier: Apache-2.0
// UTF-8 validation, control characters, percent-coding and trimming.
#include "authctl/text.hpp"

#include <gtest/gtest.h>

namespace authctl {
namespace {

TEST(Text, Utf8)
{
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("plain"));
    EXPECT_TRUE(valid_utf8("\xc3\xbc"));           // U+00FC
    EXPECT_TRUE(valid_utf8("\xe2\x82\xac"));       // U+20AC
    EXPECT_TRUE(valid_utf8("\xf0\x9f\x94\x91"));   // U+1F511
    EXPECT_TRUE(valid_utf8("\xf4\x8f\xbf\xbf"));   // U+10FFFF
    EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
    EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // U+D800 surrogate
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_FALSE(valid_utf8("\xc3"));              // truncated
    EXPECT_FALSE(valid_utf8("\xe2\x82"));
    EXPECT_FALSE(valid_utf8("\x80"));  // lone continuation
    EXPECT_FALSE(valid_utf8("\xff"));
    EXPECT_FALSE(
        valid_utf8("a\xc3"
                   "b"));
}

TEST(Text, Control)
{
    EXPECT_FALSE(has_control("abc def~"));
    EXPECT_TRUE(has_control("a\nb"));
    EXPECT_TRUE(has_control(std::string("a\0b", 3)));
    EXPECT_TRUE(has_control("\x7f"));
    EXPECT_TRUE(has_control("\x1b[0m"));
    EXPECT_FALSE(has_control("\xc3\xbc"));
}

TEST(Text, PrintableAsciiAtEveryPositionOfAWord)
{
    // Every byte value at every position of lines of 1..19 bytes (so in the
    // 8-byte words and in the tail), against the plain definition.
    for (std::size_t len = 1; len < 20; ++len) {
        for (std::size_t pos = 0; pos < len; ++pos) {
            for (int b = 0; b < 256; ++b) {
                std::string line(len, 'a');
                line[pos] = static_cast<char>(b);
                const bool expected = b >= 0x20 && b <= 0x7E;
                ASSERT_EQ(printable_ascii(line), expected) << "len " << len << " pos " << pos << " byte " << b;
            }
        }
    }
    // Neighbours of a bad byte must not hide it or invent one (borrows and carries between bytes).
    EXPECT_FALSE(printable_ascii(std::string("\x20\x1f\x7e\x7f\x80\xff\x00\x21", 8)));
    EXPECT_TRUE(printable_ascii(std::string("\x20\x7e\x20\x7e\x21\x7d\x20\x7e", 8)));
    EXPECT_FALSE(printable_ascii(std::string("~~~~~~~\xff", 8)));
    EXPECT_FALSE(printable_ascii(std::string("\xff       ", 8)));
    EXPECT_FALSE(printable_ascii(std::string("       \x00", 8)));
    EXPECT_TRUE(printable_ascii(""));
}

TEST(Text, PercentCoding)
{
    EXPECT_EQ(percent_encode("a b/c%", "-._~"), "a%20b%2Fc%25");
    EXPECT_EQ(percent_encode("A-z._~", "-._~"), "A-z._~");
    EXPECT_EQ(percent_encode("\xc3\xbc", ""), "%C3%BC");
    EXPECT_EQ(percent_decode("a%20b%2fc%2F"), std::optional<std::string>("a b/c/"));
    EXPECT_EQ(percent_decode("%00"), std::optional<std::string>(std::string(1, '\0')));
    EXPECT_FALSE(percent_decode("%"));
    EXPECT_FALSE(percent_decode("%2"));
    EXPECT_FALSE(percent_decode("ab%g0"));
    EXPECT_FALSE(percent_decode("ab%0g"));
    EXPECT_EQ(percent_decode(""), std::optional<std::string>(""));
}

TEST(Text, Trim)
{
    EXPECT_EQ(trim("  a b \t"), "a b");
    EXPECT_EQ(trim("\t\t"), "");
    EXPECT_EQ(trim(""), "");
    EXPECT_EQ(trim("x"), "x");
}


TEST(ConfigLines, SkipsCommentsBlanksAndCarriageReturnsAndNumbersTheRest)
{
    ConfigLines lines("# head\n\n  deny = 3  # three\r\n\t\r\nnullok\nlast", "f.conf");
    ASSERT_TRUE(lines.next());
    EXPECT_EQ(lines.line(), "deny = 3");
    EXPECT_EQ(lines.number(), 3U);
    EXPECT_EQ(lines.where(), "f.conf:3: ");
    ASSERT_TRUE(lines.next());
    EXPECT_EQ(lines.line(), "nullok");
    EXPECT_EQ(lines.number(), 5U);
    ASSERT_TRUE(lines.next());
    EXPECT_EQ(lines.line(), "last");
    EXPECT_EQ(lines.where(), "f.conf:6: ");
    EXPECT_FALSE(lines.next());
    ConfigLines empty("", "x");
    EXPECT_FALSE(empty.next());
}

}  // namespace
}  // namespace authctl

namespace authctl {
namespace {

TEST(FailuresText, SingularAndPlural)
{
    EXPECT_EQ(failures_text(0), "0 failures");
    EXPECT_EQ(failures_text(1), "1 failure");
    EXPECT_EQ(failures_text(2), "2 failures");
    EXPECT_EQ(failures_text(4294967295U), "4294967295 failures");
}

}  // namespace
}  // namespace authctl
