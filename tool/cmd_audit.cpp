// SPDX-License-Identifier: Apache-2.0
// authctl audit: who in the admin groups could log in without a second factor,
// and is the state directory safe.
#include <algorithm>
#include <grp.h>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <set>

#include "authctl/store.hpp"
#include "commands.hpp"

namespace authctl::cli {
namespace {

struct AuditArgs {
    Common common;
    std::vector<std::string> groups;
};

std::set<std::string> members_of(const group& g)
{
    std::set<std::string> out;
    for (char** m = g.gr_mem; m != nullptr && *m != nullptr; ++m) out.insert(*m);
    const gid_t gid = g.gr_gid;
    ::setpwent();
    while (const passwd* pw = ::getpwent())
        if (pw->pw_gid == gid && pw->pw_name != nullptr) out.insert(pw->pw_name);
    ::endpwent();
    return out;
}

void run_audit(const AuditArgs& a)
{
    const Options opts = load_options(a.common);
    std::vector<std::string> groups = a.groups;
    if (groups.empty()) {
        for (const char* g : {"sudo", "wheel"})
            if (::getgrnam(g) != nullptr) groups.emplace_back(g);
    }
    std::vector<std::string> findings;
    const std::string where = use_fleet(a.common, opts) ? "fleet database" : "state directory";
    auto store = try_open_store(a.common, opts, false);
    if (!store) {
        findings.push_back(where + ": " + store.error().message());
    } else if (auto listing = (*store)->list(); !listing) {
        findings.push_back(where + ": " + listing.error().message());
    } else {
        for (const auto& e : listing->unexpected) findings.push_back(where + ": unexpected entry '" + e + "'");
    }
    for (const auto& name : groups) {
        const group* g = ::getgrnam(name.c_str());
        if (g == nullptr) {
            findings.push_back("group " + name + ": no such group");
            continue;
        }
        for (const auto& user : members_of(*g)) {
            if (!store) break;
            auto rec = (*store)->load(user);
            if (!rec)
                findings.push_back(user + " (group " + name + "): " + rec.error().message());
            else if (!*rec || !(*rec)->enrollment)
                findings.push_back(user + " (group " + name + "): not enrolled");
            else if (!(*rec)->enrollment->confirmed)
                findings.push_back(user + " (group " + name + "): enrollment not confirmed yet");
        }
    }
    if (a.common.json) {
        std::cout << nlohmann::json({{"groups", groups}, {"findings", findings}}).dump(2) << "\n";
    } else {
        for (const auto& f : findings) std::cout << f << "\n";
        if (findings.empty())
            std::cout << "no findings: every member of " << (groups.empty() ? std::string("(no admin group)") : "") <<
                [&] {
                    std::string s;
                    for (const auto& g : groups) s += (s.empty() ? "" : ", ") + g;
                    return s;
                }() << " has a confirmed enrollment, and "
                      << (*store)->describe() << " is safe\n";
    }
    if (!findings.empty()) throw Failure(kExitFailed, std::to_string(findings.size()) + " finding(s)");
}

}  // namespace

void register_audit(CLI::App& app)
{
    auto aa = std::make_shared<AuditArgs>();
    auto* audit = app.add_subcommand(
        "audit", "List admin-group members without a confirmed enrollment; check the state directory");
    add_common(*audit, aa->common, true);
    audit->add_option("--group", aa->groups, "Group to audit (repeatable; default: sudo and wheel, whichever exist)");
    audit->callback([aa] { run_audit(*aa); });
}

}  // namespace authctl::cli
