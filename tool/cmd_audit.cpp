// SPDX-License-Identifier: Apache-2.0
// authctl audit: who could use sudo without a second factor (the members of
// the admin groups, and every user sudo itself says may run commands), and
// is the state directory safe. Findings are fields (docs/authctl.md, "audit").
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <grp.h>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pwd.h>
#include <set>

#include "authctl/admin.hpp"
#include "authctl/store.hpp"
#include "commands.hpp"
#include "group_edit.hpp"
#include "sudo_query.hpp"
#include "audit_report.hpp"

namespace authctl::cli {
namespace {

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

// The users audit asks sudo about: every user the user database lists except
// root (sudo never asks root for a password). Whatever the shell: sudo needs
// none (a service account's web shell can run `sudo -S`).
std::vector<std::string> sudo_candidates()
{
    std::vector<std::string> out;
    ::setpwent();
    while (const passwd* pw = ::getpwent())
        if (pw->pw_name != nullptr && pw->pw_uid != 0) out.emplace_back(pw->pw_name);
    ::endpwent();
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// All of audit's questions to sudo together get this long (each at most
// kSudoTimeoutMs): a sudoers source that hangs (an unreachable LDAP) cannot
// hold a cron job or a monitoring check for users x 10 s.
constexpr std::chrono::seconds kSudoBudget{60};

// The finding for a user who may use sudo, or nothing when their enrollment is confirmed.
std::optional<AuditFinding> check_user(const Store& store, const std::string& user, const std::string& via,
                                  const std::optional<std::string>& group)
{
    const std::string who = user + " (" + (group ? "group " + *group : via) + ")";
    auto rec = store.load(user);
    if (!rec)
        return AuditFinding{
            "unreadable_record", user, group, via, rec.error().message(), who + ": " + rec.error().message()};
    if (!*rec || !(*rec)->enrollment) return AuditFinding{"not_enrolled", user, group, via, {}, who + ": not enrolled"};
    if (!(*rec)->enrollment->confirmed)
        return AuditFinding{"unconfirmed", user, group, via, {}, who + ": enrollment not confirmed yet"};
    return std::nullopt;
}

std::string joined(const std::vector<std::string>& v)
{
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

}  // namespace

AuditReport collect_audit(const AuditArgs& a)
{
    const Options opts = load_options(a.common);
    std::vector<std::string> groups = a.groups;
    if (groups.empty()) {
        for (const auto& g : kAdminGroups)
            if (::getgrnam(g) != nullptr) groups.push_back(g);
    }
    std::vector<AuditFinding> findings, notes;
    const std::string where = use_fleet(a.common, opts) ? "fleet database" : "state directory";
    auto store = try_open_store(a.common, opts, false);
    if (!store) {
        findings.push_back({"state", {}, {}, {}, store.error().message(), where + ": " + store.error().message()});
    } else if (auto listing = (*store)->list(); !listing) {
        findings.push_back({"state", {}, {}, {}, listing.error().message(), where + ": " + listing.error().message()});
    } else {
        for (const auto& e : listing->unexpected)
            findings.push_back({"unexpected_entry", {}, {}, {}, e, where + ": unexpected entry '" + e + "'"});
        // Every record, not only the admins': a key under 80 bits (a record
        // from before authctl refused them) is weak whoever it logs in.
        auto st = (*store)->scan([&findings](const std::string& user, Result<std::optional<UserRecord>>&& rec) {
            if (!rec || !*rec || !(*rec)->enrollment) return;
            const std::size_t n = (*rec)->enrollment->secret.size();
            if (n < kMinSecretBytes)
                findings.push_back({"weak_secret", user, {}, {}, std::to_string(n) + " bytes",
                                    quoted_name(user) + ": " + weak_secret_text(n)});
        });
        if (!st) findings.push_back({"state", {}, {}, {}, st.error().message(), where + ": " + st.error().message()});
        // Records that no longer belong to their account (issue 19, point 5).
        auto scanned = (*store)->scan([&](const std::string& u, Result<std::optional<UserRecord>>&& rec) {
            if (!rec || !*rec || !(*rec)->enrollment) return;
            const auto user = find_user(u);
            const BindingStatus b = binding_status((*rec)->account, u, user.has_value() || store->fleet != nullptr,
                                                   user ? binding_uid(*store, *user) : std::nullopt);
            if (b.state == BindingStatus::State::orphaned)
                findings.push_back({"orphaned_record", u, {}, {}, b.why, u + ": orphaned record: " + b.why});
        });
        if (!scanned)
            findings.push_back(
                {"state", {}, {}, {}, scanned.error().message(), where + ": " + scanned.error().message()});
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

    // sudo's own answer: users given sudo by name (sudoers.d), by a group not
    // audited, ...; and for everyone, group members too, whether a rule lets
    // them run commands without authenticating at all.
    const bool sudo_installed = ::access(kSudoPath, X_OK) == 0;
    std::size_t asked = 0;
    std::vector<std::string> sudo_users;
    if (a.no_sudo) {
        notes.push_back(
            {"sudo_not_asked", {}, {}, {}, "--no-sudo", "sudo not asked (--no-sudo): only the groups were checked"});
    } else if (!sudo_installed) {
        notes.push_back({"sudo_not_installed",
                         {},
                         {},
                         {},
                         kSudoPath,
                         std::string(kSudoPath) + " not found: sudo was not asked"});
    } else {
        const auto budget_end = std::chrono::steady_clock::now() + kSudoBudget;
        std::vector<std::string> not_asked;
        for (const auto& user : sudo_candidates()) {
            if (std::chrono::steady_clock::now() >= budget_end) {
                not_asked.push_back(user);
                continue;
            }
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
            if (v.no_authentication)
                findings.push_back({"no_authentication", user, {}, "sudoers", v.detail,
                                    user + " (sudoers): runs commands with sudo without authenticating, so no code "
                                           "is asked: " +
                                        v.detail});
            if (!store || checked.count(user) != 0) continue;  // a group member: looked at above
            if (auto f = check_user(**store, user, "sudoers", std::nullopt)) findings.push_back(std::move(*f));
        }
        if (!not_asked.empty())
            findings.push_back({"sudo_query_failed", {}, {}, "sudoers",
                                std::to_string(not_asked.size()) + " users not asked",
                                std::to_string(not_asked.size()) + " users not asked: the " +
                                    std::to_string(kSudoBudget.count()) +
                                    " s for all questions to sudo ran out (first not asked: " + not_asked.front() +
                                    ")"});
    }

    AuditReport report;
    report.groups = std::move(groups);
    report.findings = std::move(findings);
    report.notes = std::move(notes);
    report.sudo_asked = !a.no_sudo && sudo_installed;
    report.users_asked = asked;
    report.sudo_users = std::move(sudo_users);
    report.store_description = store ? (*store)->describe() : where;
    return report;
}

namespace {

void run_audit(const AuditArgs& a)
{
    const AuditReport r = collect_audit(a);
    const auto& groups = r.groups;
    const auto& findings = r.findings;
    const auto& notes = r.notes;
    const auto& sudo_users = r.sudo_users;
    const std::size_t asked = r.users_asked;
    if (a.common.json) {
        nlohmann::json jf = nlohmann::json::array(), jn = nlohmann::json::array();
        for (const auto& f : findings) jf.push_back(f.json());
        for (const auto& n : notes) jn.push_back(n.json());
        nlohmann::json sudo = nullptr;
        if (r.sudo_asked) sudo = {{"users_asked", asked}, {"may_run", sudo_users}};
        std::cout << nlohmann::json({{"groups", groups}, {"sudo", sudo}, {"findings", jf}, {"notes", jn}}).dump(2)
                  << "\n";
    } else {
        for (const auto& f : findings) std::cout << f.message << "\n";
        for (const auto& n : notes) std::cout << "note: " << n.message << "\n";
        if (findings.empty()) {
            std::cout << "no findings: every member of " << (groups.empty() ? "(no admin group)" : joined(groups));
            if (r.sudo_asked)
                std::cout << " and every user sudo lets run commands (" << sudo_users.size() << " of " << asked
                          << " users asked)";
            std::cout << " has a confirmed enrollment, and " << r.store_description << " is safe\n";
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
