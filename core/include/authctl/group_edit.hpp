// SPDX-License-Identifier: Apache-2.0
// Group membership for --grant-group (the CLI's enroll and invite, and the
// PAM module when an invitation carries groups) and remove: read through
// NSS, changed with gpasswd(8) (which locks and rewrites /etc/group and /etc/gshadow the
// way the shadow suite does), run directly, never through a shell. gpasswd's
// own output ("Adding user bob to group sudo") is captured, never shown: the
// caller prints authctl's one line, and a failure carries gpasswd's reason.
// gpasswd runs through run_program (run_program.hpp): clean environment,
// bounded time, killed and reaped after it.
#pragma once

#include <string>
#include <vector>

#include "authctl/result.hpp"

namespace authctl {

// How long gpasswd may take: it waits for /etc/group's lock, which is held
// briefly. The module passes kGpasswdModuleTimeoutMs: sshd must not hang on it.
inline constexpr int kGpasswdTimeoutMs = 30'000;
inline constexpr int kGpasswdModuleTimeoutMs = 10'000;

// The groups that usually give sudo on Debian (sudo), Red Hat (wheel) and
// older Ubuntu (admin): audit's default groups, and the memberships `remove`
// says it kept.
// An array of literals, not strings: the module includes this header, and a
// static initializer that allocates would throw at dlopen under memory
// pressure, outside every pam_sm_* wall (module.ModuleTest.AnAllocationFailure...).
inline constexpr const char* kAdminGroups[] = {"sudo", "wheel", "admin"};

bool group_exists(const std::string& group);
// Listed in the group's members, or the group is the user's primary group.
bool is_member(const std::string& user, const std::string& group);
// Errc::io "could not add USER to group GROUP: <gpasswd's first line>" (or
// "... gpasswd did not finish within N s" after `timeout_ms`).
Status add_to_group(const std::string& user, const std::string& group, int timeout_ms = kGpasswdTimeoutMs);
// Errc::io "could not remove USER from group GROUP: <gpasswd's first line>".
Status remove_from_group(const std::string& user, const std::string& group, int timeout_ms = kGpasswdTimeoutMs);

struct GroupUndo {
    std::vector<std::string> removed;  // granted by authctl, now taken away
    std::vector<std::string> failed;   // granted by authctl, could not be taken away
    std::vector<std::string> errors;   // one line per failed group, gpasswd's reason included
    std::vector<std::string> kept;     // kAdminGroups the user is still in, not authctl's to take away
};
// Takes `user` out of each of `granted` it is still in, then lists the admin
// groups (kAdminGroups) it is still a member of.
GroupUndo undo_granted_groups(const std::string& user, const std::vector<std::string>& granted);


}  // namespace authctl
