// SPDX-License-Identifier: Apache-2.0
// Group membership for --grant-group and remove: read through NSS, changed
// with gpasswd(8) (which locks and rewrites /etc/group and /etc/gshadow the
// way the shadow suite does), run directly, never through a shell. gpasswd's
// own output ("Adding user bob to group sudo") is captured, never shown: the
// caller prints authctl's one line, and a failure carries gpasswd's reason.
#pragma once

#include <string>
#include <vector>

#include "authctl/result.hpp"

namespace authctl::cli {

// The groups that usually give sudo on Debian (sudo), Red Hat (wheel) and
// older Ubuntu (admin): audit's default groups, and the memberships `remove`
// says it kept.
inline const std::vector<std::string> kAdminGroups = {"sudo", "wheel", "admin"};

bool group_exists(const std::string& group);
// Listed in the group's members, or the group is the user's primary group.
bool is_member(const std::string& user, const std::string& group);
// Errc::io "could not add USER to group GROUP: <gpasswd's first line>".
Status add_to_group(const std::string& user, const std::string& group);
// Errc::io "could not remove USER from group GROUP: <gpasswd's first line>".
Status remove_from_group(const std::string& user, const std::string& group);

struct GroupUndo {
    std::vector<std::string> removed;  // granted by authctl, now taken away
    std::vector<std::string> failed;   // granted by authctl, could not be taken away
    std::vector<std::string> errors;   // one line per failed group, gpasswd's reason included
    std::vector<std::string> kept;     // kAdminGroups the user is still in, not authctl's to take away
};
// Takes `user` out of each of `granted` it is still in, then lists the admin
// groups (kAdminGroups) it is still a member of.
GroupUndo undo_granted_groups(const std::string& user, const std::vector<std::string>& granted);
// remove's lines: each error on stderr; unless `json`, one line per group
// removed and per admin group kept (and why) on stdout.
void print_group_undo(const std::string& user, const GroupUndo& undo, bool json);

}  // namespace authctl::cli
