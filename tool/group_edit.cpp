// SPDX-License-Identifier: Apache-2.0
#include "group_edit.hpp"

#include <iostream>

namespace authctl::cli {

void print_group_undo(const std::string& user, const GroupUndo& undo, bool json)
{
    for (const auto& e : undo.errors) std::cerr << "authctl: " << e << "\n";
    if (json) return;
    for (const auto& g : undo.removed)
        std::cout << user << ": removed from group " << g << " (added by authctl enroll --grant-group)\n";
    for (const auto& g : undo.kept)
        std::cout << user << ": still in group " << g
                  << ": not granted by authctl (a membership from before, or given otherwise), left as it is\n";
}

}  // namespace authctl::cli
