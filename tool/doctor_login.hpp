// SPDX-License-Identifier: Apache-2.0
// authctl doctor --login: one real PAM transaction (authenticate, then
// account) on the installed stack of a service, in-process as pamtester
// does, answering the stack's prompts from the terminal.
#pragma once

#include <string>

namespace authctl::cli {

// Runs it and prints what happened. `confdir` empty: the system's PAM
// configuration (pam_start); else that directory (pam_start_confdir).
// Returns 0 when the login would succeed, 1 when it would not, 2 when no
// transaction could be started.
int doctor_login(const std::string& user, const std::string& service, const std::string& confdir);

}  // namespace authctl::cli
