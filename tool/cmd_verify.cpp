// SPDX-License-Identifier: Apache-2.0
// authctl verify: check a code exactly as a login would (it counts and consumes).
// authctl resync: move an HOTP counter that ran ahead past two consecutive codes.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "authctl/admin.hpp"
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

struct ResyncArgs {
    Common common;
    std::string user;
    std::string code1, code2;
};

void run_resync(ResyncArgs& a)
{
    const Options opts = load_options(a.common);
    const SystemUser user = require_user(a.user);
    const StoreHandle store = open_store(a.common, opts, false);
    // The decision (and the search) is core's, under the user's lock.
    auto r = resync_hotp(*store, user.name, a.code1, a.code2);
    wipe_string(a.code1);
    wipe_string(a.code2);
    if (!r) fail(r.error());
    const std::string range = std::to_string(r->before) + " to " + std::to_string(r->before + kResyncCounters - 1);
    if (a.common.json) {
        std::cout << nlohmann::json({{"user", user.name},
                                     {"found", r->found},
                                     {"counter_before", r->before},
                                     {"matched", r->found ? nlohmann::json(r->matched) : nlohmann::json(nullptr)},
                                     {"counter", r->found ? r->after : r->before}})
                         .dump(2)
                  << "\n";
    }
    if (!r->found)
        fail(kExitFailed, user.name + ": CODE1 then CODE2 not found at counters " + range +
                              "; nothing changed (not counted as a failure)");
    if (!a.common.json)
        std::cout << user.name << ": resynchronised: the codes are counters " << r->matched << " and "
                  << r->matched + 1 << "; the counter moved from " << r->before << " to " << r->after << "\n";
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

    auto ra = std::make_shared<ResyncArgs>();
    auto* resync = app.add_subcommand(
        "resync", "Move an HOTP counter that ran ahead past two consecutive codes (no failure counted)");
    add_common(*resync, ra->common, true);
    resync->add_option("-u,--user", ra->user, "User (an HOTP enrollment)")->required();
    resync->add_option("code1", ra->code1, "A code from the token")->required();
    resync->add_option("code2", ra->code2, "The token's next code")->required();
    resync->callback([ra] { run_resync(*ra); });
}

}  // namespace authctl::cli
