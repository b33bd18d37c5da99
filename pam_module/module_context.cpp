// SPDX-License-Identifier: Apache-2.0
#include "module_context.hpp"

#include <security/pam_ext.h>
#include <security/pam_modutil.h>
#include <syslog.h>

#include <cstring>
#include <pwd.h>

#include "authctl/lockout.hpp"
#include "authctl/secret.hpp"

namespace authctl::pam {
std::string item_string(pam_handle_t* pamh, int type)
{
    const void* item = nullptr;
    if (pam_get_item(pamh, type, &item) != PAM_SUCCESS || item == nullptr) return {};
    return static_cast<const char*>(item);
}

Result<ModuleConfig> read_config(int argc, const char** argv)
{
    ModuleConfig cfg;
    std::string conf = kDefaultConfigFile;
    bool conf_given = false;
    for (int i = 0; i < argc; ++i) {
        const std::string_view arg = argv[i] != nullptr ? argv[i] : "";
        if (arg.rfind("conf=", 0) == 0) {
            conf = std::string(arg.substr(5));
            conf_given = true;
            if (conf.empty() || conf.front() != '/')
                return make_error(Errc::invalid_argument, "option 'conf': must be an absolute path");
        }
    }
    if (auto st = apply_config_file(cfg.opts, conf, !conf_given); !st) return st.error();
    const StoreKind file_store = cfg.opts.store;
    bool nullok_argument = false;
    for (int i = 0; i < argc; ++i) {
        const std::string_view arg = argv[i] != nullptr ? argv[i] : "";
        if (arg.rfind("conf=", 0) == 0) continue;
        if (arg == "preauth" || arg == "authfail" || arg == "authsucc") {
            if (cfg.mode != Mode::code)
                return make_error(Errc::invalid_argument, "more than one of preauth, authfail, authsucc");
            cfg.mode = arg == "preauth" ? Mode::preauth : arg == "authfail" ? Mode::authfail : Mode::authsucc;
            continue;
        }
        if (auto st = apply_argument(cfg.opts, arg); !st) return st.error();
        if (arg == "nullok") nullok_argument = true;
    }
    // A line that names another store than the configuration file (a
    // break-glass store=file line under a fleet's store = agent) does not
    // inherit the file's nullok: a rollout setting for the fleet must not let
    // everyone absent from the break-glass store in while the fleet is down.
    // Only its own nullok argument counts.
    if (cfg.opts.store != file_store && !nullok_argument) cfg.opts.nullok = false;
    if (cfg.opts.store == StoreKind::agent) {
        for (int i = 0; i < argc; ++i) {
            const std::string_view arg = argv[i] != nullptr ? argv[i] : "";
            const std::string_view key = arg.substr(0, arg.find('='));
            if (is_policy_option(key))
                return make_error(Errc::invalid_argument,
                                  "option '" + std::string(key) +
                                      "' has no effect with store=agent: the fleet's policy is authctld's "
                                      "(set it in authctl.conf)");
        }
    }
    return cfg;
}

int Session::get_account(Account& out)
{
    const char* user = nullptr;
    const int rc = pam_get_user(pamh_, &user, nullptr);
    if (rc != PAM_SUCCESS) return rc;
    if (user == nullptr || *user == '\0') return PAM_USER_UNKNOWN;
    const struct passwd* pw = pam_modutil_getpwnam(pamh_, user);
    out.exists = pw != nullptr && pw->pw_name != nullptr && *pw->pw_name != '\0';
    out.name = out.exists ? pw->pw_name : user;
    out.is_root = out.exists && pw->pw_uid == 0;
    return PAM_SUCCESS;
}

std::string Session::source() const
{
    std::string s = item_string(pamh_, PAM_RHOST);
    if (s.empty()) s = item_string(pamh_, PAM_TTY);
    return s;
}

std::string Session::service() const
{
    return item_string(pamh_, PAM_SERVICE);
}

int Session::ask_code(std::string& answer)
{
    char* resp = nullptr;
    const int rc = pam_prompt(pamh_, PAM_PROMPT_ECHO_OFF, &resp, "%s", opts_.prompt.c_str());
    if (resp != nullptr) {
        answer.assign(resp);
        wipe_bytes(resp, std::strlen(resp));
        std::free(resp);
    }
    return rc;
}

void Session::tell(const std::string& text, bool error)
{
    if (opts_.silent || (flags_ & PAM_SILENT) != 0) return;
    pam_prompt(pamh_, error ? PAM_ERROR_MSG : PAM_TEXT_INFO, nullptr, "%s", text.c_str());
}

void Session::log(int priority, const std::string& user, const std::string& text) const
{
    const std::string rhost = sanitize_source(item_string(pamh_, PAM_RHOST));
    pam_syslog(pamh_, priority, "user %s: %s (service=%s rhost=%s)", sanitize_source(user).c_str(), text.c_str(),
               sanitize_source(service()).c_str(), rhost.empty() ? "-" : rhost.c_str());
}

void Session::debug(const std::string& user, const std::string& text) const
{
    if (opts_.debug) log(LOG_DEBUG, user, text);
}

void Session::arm_fail_delay()
{
    if (!opts_.nodelay) pam_fail_delay(pamh_, 2000000);
}

std::string lock_message(std::uint32_t failures, std::int64_t until, std::int64_t now)
{
    std::string msg =
        "Account locked after " + std::to_string(failures) + " failed attempt" + (failures == 1 ? "" : "s") + "; ";
    if (until == kLockedForever) return msg + "it stays locked until an administrator unlocks it.";
    const std::int64_t minutes = until > now ? (until - now + 59) / 60 : 1;
    return msg + "try again in " + std::to_string(minutes) + " minute" + (minutes == 1 ? "" : "s") + ".";
}

}  // namespace authctl::pam
