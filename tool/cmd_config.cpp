// SPDX-License-Identifier: Apache-2.0
// authctl config check: reads authctl.conf as the module does and reports
// every line at fault, not only the first, with what the module does meanwhile.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "authctl/options.hpp"
#include "commands.hpp"

namespace authctl::cli {
namespace {

struct ConfigArgs {
    std::string conf;
    bool json = false;
};

void run_check(const ConfigArgs& a)
{
    const bool named = !a.conf.empty();
    const std::string path = named ? a.conf : kDefaultConfigFile;
    const ConfigCheck check = check_config_file(path, !named);
    const bool ok = check.problems.empty();
    if (a.json) {
        nlohmann::json problems = nlohmann::json::array();
        for (const auto& p : check.problems)
            problems.push_back({{"line", p.line == 0 ? nlohmann::json(nullptr) : nlohmann::json(p.line)},
                                {"message", p.message}});
        std::cout << nlohmann::json({{"file", path},
                                     {"present", check.present},
                                     {"ok", ok},
                                     {"settings", check.settings},
                                     {"problems", problems}})
                         .dump(2)
                  << "\n";
        if (!ok) throw Failure(kExitFailed, path + ": " + std::to_string(check.problems.size()) + " problem(s)");
        return;
    }
    if (ok) {
        if (check.present)
            std::cout << path << ": ok (" << check.settings << " setting" << (check.settings == 1 ? "" : "s") << ")\n";
        else
            std::cout << path << ": absent; the built-in defaults apply\n";
        return;
    }
    for (const auto& p : check.problems) std::cout << p.message << "\n";
    fail(kExitFailed, path + ": " + std::to_string(check.problems.size()) + " problem" +
                          (check.problems.size() == 1 ? "" : "s") +
                          "; until it is fixed pam_authctl refuses every login it is asked about (sshd, sudo, su, "
                          "...), except root's console login and cron's account phase, where it steps aside");
}

}  // namespace

void register_config(CLI::App& app)
{
    auto* config = app.add_subcommand("config", "Check the configuration file");
    config->require_subcommand(1);
    auto ca = std::make_shared<ConfigArgs>();
    auto* check = config->add_subcommand(
        "check", "Read authctl.conf as pam_authctl does and report every line at fault (exit 0 clean, 1 problems)");
    check->add_option("--conf", ca->conf, "Configuration file (default: /etc/security/authctl.conf)");
    check->add_flag("--json", ca->json, "Print the result as JSON");
    check->callback([ca] { run_check(*ca); });
}

}  // namespace authctl::cli
