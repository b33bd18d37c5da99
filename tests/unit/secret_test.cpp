// SPDX-License-Identifier: Apache-2.0
// SecretBytes: the self-wiping buffer.
#include "authctl/secret.hpp"

#include <gtest/gtest.h>

namespace authctl {
namespace {

TEST(SecretBytes, TruncateKeepsThePrefixInPlace)
{
    const std::uint8_t bytes[] = {1, 2, 3, 4, 5, 6};
    SecretBytes s(bytes, sizeof bytes);
    const std::uint8_t* storage = s.data();
    s.truncate(10);  // longer than the buffer: nothing changes
    EXPECT_EQ(s.size(), 6U);
    s.truncate(2);
    ASSERT_EQ(s.size(), 2U);
    EXPECT_EQ(s.data(), storage);  // no reallocation, so no stray copy elsewhere
    EXPECT_EQ(s.data()[0], 1);
    EXPECT_EQ(s.data()[1], 2);
    s.truncate(0);
    EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace authctl
