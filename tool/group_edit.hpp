// SPDX-License-Identifier: Apache-2.0
// Group membership for --grant-group and remove: read through NSS, changed
// with gpasswd(8) (which locks and rewrites /etc/group and /etc/gshadow the
// way the shadow suite does), run directly, never through a shell.
#pragma once

#include <string>

#include "authctl/result.hpp"

namespace authctl::cli {

bool group_exists(const std::string& group);
// Listed in the group's members, or the group is the user's primary group.
bool is_member(const std::string& user, const std::string& group);
Status add_to_group(const std::string& user, const std::string& group);
Status remove_from_group(const std::string& user, const std::string& group);

}  // namespace authctl::cli
