// SPDX-License-Identifier: Apache-2.0
// The authctl subcommands. Each register_* adds its subcommands to the app;
// their callbacks do the work and throw Failure to end with an error.
#pragma once

#include <CLI/CLI.hpp>

#include "cli_context.hpp"

namespace authctl::cli {

// --dir, --conf, --store, --fleet-conf and (where `json`) --json on a subcommand.
void add_common(CLI::App& sub, Common& c, bool json);

void register_enroll(CLI::App& app);  // enroll, show, recovery
void register_state(CLI::App& app);   // status, reset, unlock, lock, remove
void register_verify(CLI::App& app);  // verify, resync
void register_import(CLI::App& app);  // import google-authenticator, import oath
void register_audit(CLI::App& app);   // audit
void register_fleet(CLI::App& app);   // fleet init | keygen | rekey | push | pull | status
void register_config(CLI::App& app);  // config check
void register_rebind(CLI::App& app);  // rebind
void register_doctor(CLI::App& app);  // doctor
void register_invite(CLI::App& app);  // invite, uninvite

}  // namespace authctl::cli
