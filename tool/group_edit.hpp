// SPDX-License-Identifier: Apache-2.0
// The CLI's side of group membership: core's functions (authctl/group_edit.hpp,
// shared with the PAM module) and remove's report of what it undid.
#pragma once

#include <string>

#include "authctl/group_edit.hpp"

namespace authctl::cli {

// remove's lines: each error on stderr; unless `json`, one line per group
// removed and per admin group kept (and why) on stdout.
void print_group_undo(const std::string& user, const GroupUndo& undo, bool json);

}  // namespace authctl::cli
