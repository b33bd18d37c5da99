// SPDX-License-Identifier: Apache-2.0
// core/src/group_edit.cpp (issue 17 review): is_member and group_exists run
// inside the module's host process, so they use the reentrant lookups and
// leave the static buffers of getgrnam/getpwnam (which the host or another
// module may be holding a result from) as they were.
#include <gtest/gtest.h>

#include <grp.h>
#include <pwd.h>

#include <string>

#include "authctl/group_edit.hpp"

namespace authctl {
namespace {

TEST(GroupEdit, LookupsLeaveTheCallersGetgrnamAndGetpwnamResultsAlone)
{
    // Debian's base groups and users: root (gid 0, no listed members) and daemon.
    const struct group* held_group = ::getgrnam("root");
    const struct passwd* held_user = ::getpwnam("root");
    if (held_group == nullptr || held_user == nullptr || ::getgrnam("daemon") == nullptr ||
        ::getpwnam("daemon") == nullptr)
        GTEST_SKIP() << "no root and daemon users and groups here";
    held_group = ::getgrnam("root");
    held_user = ::getpwnam("root");

    const auto untouched = [&](const char* after) {
        EXPECT_EQ(std::string(held_group->gr_name), "root") << after << " overwrote getgrnam's static result";
        EXPECT_EQ(std::string(held_user->pw_name), "root") << after << " overwrote getpwnam's static result";
    };
    EXPECT_TRUE(group_exists("daemon"));
    untouched("group_exists(daemon)");
    EXPECT_FALSE(group_exists("authctl-no-such-group"));
    EXPECT_TRUE(is_member("root", "root"));  // its primary group
    EXPECT_FALSE(is_member("root", "daemon"));
    untouched("is_member(root, daemon)");
    EXPECT_FALSE(is_member("daemon", "root"));  // looks daemon up in passwd
    untouched("is_member(daemon, root)");
}

}  // namespace
}  // namespace authctl
