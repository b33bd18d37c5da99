// SPDX-License-Identifier: Apache-2.0
// authctl: the administrator's tool for pam_authctl. Argument parsing (CLI11)
// and the one place that turns failures into messages and exit codes:
// 0 done, 1 refused or failed, 2 usage error.
#include <iostream>
#include <new>

#include "commands.hpp"

namespace authctl::cli {

void add_common(CLI::App& sub, Common& c, bool json)
{
    sub.add_option("--dir", c.dir, "State directory (default: from the config file, else /var/lib/authctl)");
    sub.add_option("--conf", c.conf, "Configuration file (default: /etc/security/authctl.conf if present)");
    sub.add_option("--store", c.store,
                   "Records in this host's state directory (file) or the fleet database (fleet); default: the "
                   "config file's store= (agent means fleet)")
        ->check(CLI::IsMember({"file", "fleet"}));
    sub.add_option("--fleet-conf", c.fleet_conf, "Fleet settings for --store fleet (default: /etc/authctl/fleet.conf)");
    if (json) sub.add_flag("--json", c.json, "Print the result as JSON");
}

}  // namespace authctl::cli

int main(int argc, char** argv)
{
    using namespace authctl::cli;
    CLI::App app{"authctl: enroll users for pam_authctl, show and clear lockouts, audit, migrate, run the fleet.",
                 "authctl"};
    app.require_subcommand(1);
    app.fallthrough(false);
    try {
        register_enroll(app);
        register_state(app);
        register_verify(app);
        register_import(app);
        register_audit(app);
        register_fleet(app);
        app.parse(argc, argv);
        return kExitOk;
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "authctl: " << e.what() << " (see authctl --help)\n";
        return kExitUsage;
    } catch (const Failure& f) {
        std::cerr << "authctl: " << f.what() << "\n";
        return f.code;
    } catch (const std::bad_alloc&) {
        std::cerr << "authctl: out of memory\n";
        return kExitFailed;
    } catch (const std::exception& e) {
        std::cerr << "authctl: " << e.what() << "\n";
        return kExitFailed;
    }
}
