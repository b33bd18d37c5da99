// SPDX-License-Identifier: Apache-2.0
// What `authctl audit` finds, as values: the audit command prints them, and
// `authctl doctor` reports them among its own findings.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli_context.hpp"

namespace authctl::cli {

struct AuditArgs {
    Common common;
    std::vector<std::string> groups;
    bool no_sudo = false;
};

// One finding (or note). Every key is always present in the JSON (null when
// it does not apply): kind, user, group, via, detail, message.
struct AuditFinding {
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

struct AuditReport {
    std::vector<std::string> groups;  // the groups audited
    std::vector<AuditFinding> findings, notes;
    bool sudo_asked = false;  // sudo was asked about each user
    std::size_t users_asked = 0;
    std::vector<std::string> sudo_users;  // users sudo lets run commands
    std::string store_description;        // where the records are
};

// Members of the admin groups (a.groups, else sudo/wheel/admin) and users
// sudo lets run commands, without a confirmed enrollment; the state
// directory's safety. Throws Failure as load_options does (not root, ...).
AuditReport collect_audit(const AuditArgs& a);

}  // namespace authctl::cli
