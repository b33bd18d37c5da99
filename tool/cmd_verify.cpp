// SPDX-License-Identifier: Apache-2.0
// authctl verify: check a code exactly as a login would (it counts and consumes).
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "authctl/login.hpp"
#include "authctl/text.hpp"
#include "commands.hpp"

namespace authctl::cli {
namespace {

struct VerifyArgs {
    Common common;
    std::string user;
    std::string code;
};

void run_verify(VerifyArgs& a)
{
    const Options opts = load_options(a.common);
    const SystemUser user = require_user(a.user);
    const StoreHandle store = open_store(a.common, opts, false);
    std::string code = a.code.empty() ? read_code("Code: ") : a.code;
    wipe_string(a.code);
    if (is_empty_answer(code)) {  // as at a login: not a guess, not counted
        wipe_string(code);
        throw Failure(kExitUsage, "no code given (nothing was checked or counted)");
    }
    const LoginContext ctx{user.name, user.uid == 0, "authctl-verify", now(), "authctl-verify", binding_uid(store, user)};
    // The decision is core's; on the fleet database, by the database's clock.
    auto r = attempt_code(*store, ctx, opts, code);
    wipe_string(code);
    if (!r) fail(r.error());
    std::string text;
    switch (r->outcome) {
        case Outcome::success:
            text =
                std::string(r->used_recovery ? "recovery code accepted (" + std::to_string(r->recovery_left) + " left)"
                                             : "code accepted");
            break;
        case Outcome::wrong_code:
            // Refused and counted either way; a replay is named as one.
            text = (r->replayed ? "code already used (" : "wrong code (") + failures_text(r->failures) + ")";
            if (r->replayed) text += "; wait for the next one";
            if (r->locked_now) text += "; account now locked";
            break;
        case Outcome::locked: text = "account locked; the code was not checked"; break;
        case Outcome::not_enrolled: text = "not enrolled"; break;
    }
    if (a.common.json) {
        std::cout << nlohmann::json({{"user", user.name},
                                     {"accepted", r->outcome == Outcome::success},
                                     {"result", text},
                                     {"failures", r->failures},
                                     {"replayed", r->replayed}})
                         .dump(2)
                  << "\n";
        if (r->outcome != Outcome::success) throw Failure(kExitFailed, user.name + ": " + text);
        return;
    }
    if (r->outcome != Outcome::success) fail(kExitFailed, user.name + ": " + text);
    std::cout << user.name << ": " << text << "\n";
}

}  // namespace

void register_verify(CLI::App& app)
{
    auto va = std::make_shared<VerifyArgs>();
    auto* verify = app.add_subcommand("verify", "Check a code as a login would (counts failures, consumes the code)");
    add_common(*verify, va->common, true);
    verify->add_option("-u,--user", va->user, "User")->required();
    verify->add_option("code", va->code, "The code (default: asked without echo, or read from stdin)");
    verify->callback([va] { run_verify(*va); });
}

}  // namespace authctl::cli
