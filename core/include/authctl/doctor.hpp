// SPDX-License-Identifier: Apache-2.0
// What `authctl doctor` reports: one finding per way around the code (or per
// mistake that locks people out), with where it is, what it gives an attacker
// or a mistake, and the fix. The checks that produce them are pure functions
// of configuration text (pam_stack.hpp, sshd_check.hpp); the CLI only reads
// files and runs programs.
#pragma once

#include <string>
#include <vector>

namespace authctl::doctor {

enum class Severity {
    error,    // a way around the code, or a configuration that does not work
    warning,  // weaker than intended, or a mistake waiting to happen
    note,     // worth knowing; not a fault (does not change the exit code)
};

// "error", "warning", "note".
const char* severity_text(Severity s) noexcept;

struct Finding {
    std::string id;  // stable: "pam.bypass", "sshd.kbd_interactive_disabled", ... (docs/authctl.md)
    Severity severity = Severity::error;
    std::string file;   // the file at fault ("" when none); as read (under --root: the path inside the root)
    unsigned line = 0;  // 1-based; 0 when the finding is about the file or a default value
    std::vector<std::string> services;  // the PAM services (or sshd Match blocks) it concerns, if any
    std::string message;                // what is wrong
    std::string impact;                 // what an attacker or a mistake gets from it
    std::string fix;                    // what to change
};

// Adds `f` unless a finding with the same id, file and line is already there;
// then only its services are merged (a line of common-auth reached from many
// services is one finding).
void add_finding(std::vector<Finding>& out, Finding f);

// Sorted by severity, then file, line and id: the order of the report.
void sort_findings(std::vector<Finding>& findings);

}  // namespace authctl::doctor
