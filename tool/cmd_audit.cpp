// SPDX-License-Identifier: Apache-2.0
// authctl audit: who could use sudo without a second factor (the members of
// the admin groups, and every user sudo itself says may run commands), and
// is the state directory safe. Findings are fields (docs/authctl.md, "audit").
#include <unistd.h>

#include <algorithm>
#include <grp.h>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pwd.h>
#include <set>

#include "authctl/store.hpp"
#include "commands.hpp"
#include "group_edit.hpp"
#include "sudo_query.hpp"

namespace authctl::cli {
namespace {

struct AuditArgs {
    Common common;
    std::vector<std::string> groups;
    bool no_sudo = false;
};

// One finding (or note). Every key is always present in the JSON (null when
// it does not apply): kind, user, group, via, detail, message.
struct Finding {
    std::string kind;
    std::optional<std::string> user, group, via, detail;
    std::string message;  // the human line

    nlohmann::json json() const
    {
        auto opt = [](const std::optional<std::string>& s) { return s ? nlohmann::json(*s) : nlohmann::json(nullptr); };
        return {{"kind", kind},    {"user", opt(user)},     {"group", opt(group)},
                {"via", opt(via)}, {"detail", opt(detail)}, {"message", message}};
    }
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

// The users audit asks sudo about: every user with a login shell (one listed
// in /etc/shells; an empty shell is /bin/sh), except root (sudo never asks
// root for a password) and the users already checked through a group.
std::vector<std::string> sudo_candidates(const std::set<std::string>& already)
{
    std::set<std::string> shells;
    ::setusershell();
    while (const char* sh = ::getusershell()) shells.insert(sh);
    ::endusershell();
    std::vector<std::string> out;
    ::setpwent();
    while (const passwd* pw = ::getpwent()) {
        if (pw->pw_name == nullptr || pw->pw_uid == 0 || already.count(pw->pw_name) != 0) continue;
        const std::string shell = pw->pw_shell == nullptr || pw->pw_shell[0] == '\0' ? "/bin/sh" : pw->pw_shell;
        if (shells.count(shell) != 0) out.emplace_back(pw->pw_name);
    }
    ::endpwent();
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// The finding for a user who may use sudo, or nothing when their enrollment is confirmed.
std::optional<Finding> check_user(const Store& store, const std::string& user, const std::string& via,
                                  const std::optional<std::string>& group)
{
    const std::string who = user + " (" + (group ? "group " + *group : via) + ")";
    auto rec = store.load(user);
    if (!rec)
        return Finding{
            "unreadable_record", user, group, via, rec.error().message(), who + ": " + rec.error().message()};
    if (!*rec || !(*rec)->enrollment) return Finding{"not_enrolled", user, group, via, {}, who + ": not enrolled"};
    if (!(*rec)->enrollment->confirmed)
        return Finding{"unconfirmed", user, group, via, {}, who + ": enrollment not confirmed yet"};
    return std::nullopt;
}

std::string joined(const std::vector<std::string>& v)
{
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

void run_audit(const AuditArgs& a)
{
    const Options opts = load_options(a.common);
    std::vector<std::string> groups = a.groups;
    if (groups.empty()) {
        for (const auto& g : kAdminGroups)
            if (::getgrnam(g.c_str()) != nullptr) groups.push_back(g);
    }
    std::vector<Finding> findings, notes;
    const std::string where = use_fleet(a.common, opts) ? "fleet database" : "state directory";
    auto store = try_open_store(a.common, opts, false);
    if (!store) {
        findings.push_back({"state", {}, {}, {}, store.error().message(), where + ": " + store.error().message()});
    } else if (auto listing = (*store)->list(); !listing) {
        findings.push_back({"state", {}, {}, {}, listing.error().message(), where + ": " + listing.error().message()});
    } else {
        for (const auto& e : listing->unexpected)
            findings.push_back({"unexpected_entry", {}, {}, {}, e, where + ": unexpected entry '" + e + "'"});
    }

    std::set<std::string> checked;  // users already looked at through a group
    for (const auto& name : groups) {
        const group* g = ::getgrnam(name.c_str());
        if (g == nullptr) {
            findings.push_back({"no_such_group", {}, name, {}, {}, "group " + name + ": no such group"});
            continue;
        }
        const auto members = members_of(*g);
        if (members.empty()) notes.push_back({"empty_group", {}, name, {}, {}, "group " + name + ": no members"});
        for (const auto& user : members) {
            if (!checked.insert(user).second || !store) continue;
            if (auto f = check_user(**store, user, "group", name)) findings.push_back(std::move(*f));
        }
    }

    // sudo's own answer: users given sudo by name (sudoers.d), by a group not audited, ...
    std::size_t asked = 0;
    std::vector<std::string> sudo_users;
    if (a.no_sudo) {
        notes.push_back(
            {"sudo_not_asked", {}, {}, {}, "--no-sudo", "sudo not asked (--no-sudo): only the groups were checked"});
    } else if (::access(kSudoPath, X_OK) != 0) {
        notes.push_back({"sudo_not_installed",
                         {},
                         {},
                         {},
                         kSudoPath,
                         std::string(kSudoPath) + " is not installed: nobody can use sudo"});
    } else {
        for (const auto& user : sudo_candidates(checked)) {
            ++asked;
            const SudoVerdict v = ask_sudo(user);
            if (v.answer == SudoAnswer::not_allowed) continue;
            if (v.answer == SudoAnswer::unknown) {
                findings.push_back({"sudo_query_failed",
                                    user,
                                    {},
                                    "sudoers",
                                    v.detail,
                                    user + ": could not ask sudo whether it may run commands: " + v.detail});
                continue;
            }
            sudo_users.push_back(user);
            if (!store) continue;
            if (auto f = check_user(**store, user, "sudoers", std::nullopt)) findings.push_back(std::move(*f));
        }
    }

    if (a.common.json) {
        nlohmann::json jf = nlohmann::json::array(), jn = nlohmann::json::array();
        for (const auto& f : findings) jf.push_back(f.json());
        for (const auto& n : notes) jn.push_back(n.json());
        nlohmann::json sudo = nullptr;
        if (!a.no_sudo && ::access(kSudoPath, X_OK) == 0) sudo = {{"users_asked", asked}, {"may_run", sudo_users}};
        std::cout << nlohmann::json({{"groups", groups}, {"sudo", sudo}, {"findings", jf}, {"notes", jn}}).dump(2)
                  << "\n";
    } else {
        for (const auto& f : findings) std::cout << f.message << "\n";
        for (const auto& n : notes) std::cout << "note: " << n.message << "\n";
        if (findings.empty()) {
            std::cout << "no findings: every member of " << (groups.empty() ? "(no admin group)" : joined(groups));
            if (!a.no_sudo && ::access(kSudoPath, X_OK) == 0)
                std::cout << " and every user sudo lets run commands (" << sudo_users.size() << " of " << asked
                          << " users asked)";
            std::cout << " has a confirmed enrollment, and " << (*store)->describe() << " is safe\n";
        }
    }
    if (!findings.empty()) throw Failure(kExitFailed, std::to_string(findings.size()) + " finding(s)");
}

}  // namespace

void register_audit(CLI::App& app)
{
    auto aa = std::make_shared<AuditArgs>();
    auto* audit = app.add_subcommand(
        "audit", "List users who may use sudo without a confirmed enrollment; check the state directory");
    add_common(*audit, aa->common, true);
    audit->add_option("--group", aa->groups,
                      "Group to audit (repeatable; default: sudo, wheel and admin, whichever exist)");
    audit->add_flag("--no-sudo", aa->no_sudo, "Check only the groups; do not ask sudo -l about each user");
    audit->callback([aa] { run_audit(*aa); });
}

}  // namespace authctl::cli
