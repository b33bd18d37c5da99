// SPDX-License-Identifier: Apache-2.0
// Asks sudo itself whether a user may run commands with it (`sudo -n -l -U
// USER`), so audit sees users given sudo by name in /etc/sudoers.d, not only
// the members of the admin groups. sudo runs as a tool should from a root
// command (run_program.hpp): clean environment, LC_ALL=C (its messages are
// parsed), no terminal, bounded time and output.
#pragma once

#include <string>

#include "run_program.hpp"

namespace authctl::cli {

inline constexpr const char* kSudoPath = "/usr/bin/sudo";
inline constexpr int kSudoTimeoutMs = 10'000;

enum class SudoAnswer {
    may_run,      // "User USER may run the following commands on HOST:"
    not_allowed,  // "User USER is not allowed to run sudo on HOST."
    unknown,      // anything else: sudo failed, timed out, or said something unexpected
};

struct SudoVerdict {
    SudoAnswer answer = SudoAnswer::unknown;
    std::string detail;  // for unknown: why, one line; for no_authentication: the rule or default that says so
    // may_run: some command runs without authenticating at all (a NOPASSWD:
    // rule, or `!authenticate` among the user's defaults): PAM, and so the
    // code, is never asked for it.
    bool no_authentication = false;
};

// Reads the output of `sudo -n -l -U user` (C locale).
SudoVerdict parse_sudo_list(const std::string& user, const ProgramRun& run);

// Runs sudo and parses its answer.
SudoVerdict ask_sudo(const std::string& user);

}  // namespace authctl::cli
