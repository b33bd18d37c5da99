// SPDX-License-Identifier: Apache-2.0
// authctl rebind: bind a user's record to the account it is for (issue 19),
// after a server move that changed uids, or once an administrator has checked
// a record that logins refuse as another account's.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "authctl/admin.hpp"
#include "authctl/username.hpp"
#include "commands.hpp"

namespace authctl::cli {
namespace {

struct RebindArgs {
    Common common;
    std::string user;
    std::optional<std::uint32_t> uid;
};

std::string binding_text(const std::optional<AccountBinding>& b)
{
    if (!b) return "unbound";
    return (b->uid ? "uid " + std::to_string(*b->uid) : std::string("any uid")) + " ('" + quoted_name(b->name) + "')";
}

void run_rebind(const RebindArgs& a)
{
    const Options opts = load_options(a.common);
    const StoreHandle store = open_store(a.common, opts, false);
    if (store.fleet != nullptr && a.uid)
        fail(kExitUsage, "--uid: a fleet's records are bound by name only (its servers may give a user other uids)");
    // The account as this host's user database has it; --uid names the uid
    // outright (a user not created yet here, or a uid the database does not
    // give) and is taken as said.
    const std::optional<SystemUser> found = find_user(a.user);
    if (!found && !a.uid) fail(kExitFailed, "no such user '" + quoted_name(a.user) + "' (give --uid to bind anyway)");
    const std::string name = found ? found->name : a.user;
    if (auto st = validate_user_name(name); !st) fail(kExitUsage, st.error().message());
    AccountBinding to{a.uid ? a.uid : (found ? binding_uid(store, *found) : std::nullopt), name};
    if (store.fleet != nullptr) to.uid = std::nullopt;
    auto before = rebind_user(*store, name, to);
    if (!before) fail(before.error());
    if (a.common.json) {
        auto j = [](const std::optional<AccountBinding>& b) {
            if (!b) return nlohmann::json(nullptr);
            return nlohmann::json(
                {{"uid", b->uid ? nlohmann::json(*b->uid) : nlohmann::json(nullptr)}, {"name", b->name}});
        };
        std::cout << nlohmann::json({{"user", name}, {"account", j(to)}, {"was", j(*before)}}).dump(2) << "\n";
        return;
    }
    std::cout << quoted_name(name) << ": record bound to " << binding_text(to) << " (was " << binding_text(*before)
              << ")\n";
}

}  // namespace

void register_rebind(CLI::App& app)
{
    auto ra = std::make_shared<RebindArgs>();
    auto* rebind = app.add_subcommand(
        "rebind", "Bind a user's record to the account's current uid (after a server move or a checked uid change)");
    add_common(*rebind, ra->common, true);
    rebind->add_option("-u,--user", ra->user, "User")->required();
    rebind->add_option("--uid", ra->uid, "Bind to this uid instead of the user database's");
    rebind->callback([ra] { run_rebind(*ra); });
}

}  // namespace authctl::cli
