// SPDX-License-Identifier: Apache-2.0
// authctl: the administrator's tool for pam_authctl. Argument parsing (CLI11)
// and the one place that turns failures into messages and exit codes:
// 0 done, 1 refused or failed, 2 usage error.
#include <algorithm>
#include <iostream>
#include <new>
#include <string>
#include <vector>

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

namespace {

// The common options given before the command (`authctl --dir D status`) are
// moved right after the command's words (`fleet init` has two), where the
// command's own parser takes them -- never to the end, where a trailing
// option missing its value would swallow them.
std::vector<std::string> hoist_common_options(CLI::App& app, int argc, char** argv)
{
    std::vector<std::string> leading, rest;
    int i = 1;
    for (; i < argc; ++i) {
        const std::string arg = argv[i];
        const std::string name = arg.substr(0, arg.find('='));
        if (arg == "--json") {
            leading.push_back(arg);
        } else if (name == "--dir" || name == "--conf" || name == "--store" || name == "--fleet-conf") {
            leading.push_back(arg);
            if (arg.find('=') == std::string::npos && i + 1 < argc) leading.push_back(argv[++i]);
        } else {
            break;
        }
    }
    for (; i < argc; ++i) rest.emplace_back(argv[i]);
    if (leading.empty()) return rest;
    std::size_t at = 0;
    CLI::App* cmd = &app;
    while (at < rest.size()) {
        CLI::App* next = nullptr;
        for (auto* sub : cmd->get_subcommands([](CLI::App*) { return true; }))
            if (sub->get_name() == rest[at]) next = sub;
        if (next == nullptr) break;
        cmd = next;
        ++at;
    }
    rest.insert(rest.begin() + static_cast<std::ptrdiff_t>(at), leading.begin(), leading.end());
    return rest;
}

// Text from the command line, fit for one line of a terminal.
std::string printable(const std::string& s, std::size_t max)
{
    std::string out;
    for (const char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

std::size_t edit_distance(const std::string& a, const std::string& b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

// "unknown command 'stats' (did you mean 'status'?)": the one line for a
// first word that is no command, or "" when it is one (or an option).
std::string unknown_command(CLI::App& app, const std::vector<std::string>& args)
{
    if (args.empty() || args[0].empty() || args[0][0] == '-') return "";
    const auto subs = app.get_subcommands([](CLI::App*) { return true; });
    std::string names, best;
    std::size_t best_d = 3;  // suggest only a close name
    for (const auto* sub : subs) {
        if (sub->get_name() == args[0]) return "";
        names += (names.empty() ? "" : ", ") + sub->get_name();
        const std::size_t d = edit_distance(args[0], sub->get_name());
        if (d < best_d || (args[0].size() >= 3 && sub->get_name().rfind(args[0], 0) == 0 && best.empty())) {
            best_d = std::min(d, best_d);
            best = sub->get_name();
        }
    }
    return "unknown command '" + printable(args[0], 64) + "'" + (best.empty() ? "" : " (did you mean '" + best + "'?)") +
           "; commands: " + names;
}

// "authctl fleet init": the command being parsed when an error came, for the
// pointer to its own --help.
std::string command_path(const CLI::App& app)
{
    std::string path = "authctl";
    const CLI::App* at = &app;
    for (;;) {
        const auto parsed = at->get_subcommands();
        if (parsed.empty()) break;
        at = parsed.front();
        path += " " + at->get_name();
    }
    return path;
}

}  // namespace
}  // namespace authctl::cli

int main(int argc, char** argv)
{
    using namespace authctl::cli;
    CLI::App app{"authctl: enroll users for pam_authctl, show and clear lockouts, audit, migrate, run the fleet.",
                 "authctl"};
    app.require_subcommand(1);
    app.fallthrough(false);
    app.set_version_flag("--version", std::string("authctl ") + AUTHCTL_VERSION);
    try {
        register_enroll(app);
        register_state(app);
        register_verify(app);
        register_import(app);
        register_audit(app);
        register_fleet(app);
        register_config(app);
        register_rebind(app);
        register_doctor(app);
        register_invite(app);
        std::vector<std::string> args = hoist_common_options(app, argc, argv);
        if (const std::string unknown = unknown_command(app, args); !unknown.empty()) {
            std::cerr << "authctl: " << unknown << " (see authctl --help)\n";
            return kExitUsage;
        }
        std::reverse(args.begin(), args.end());  // CLI11 takes them last first
        app.parse(args);
        return kExitOk;
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "authctl: " << printable(e.what(), 512) << " (see " << command_path(app) << " --help)\n";
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
