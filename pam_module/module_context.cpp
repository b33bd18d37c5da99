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
    const bool file_per_source = cfg.opts.lockout.per_source;
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
            // per_source is what the pam-auth-update profile's lines carry:
            // on a fleet server those lines must not stop every login. The
            // agent's authctl.conf decides; the argument is only noted.
            if (key == "per_source") {
                if (!file_per_source)
                    cfg.notes.push_back(
                        "argument 'per_source' has no effect with store=agent: the fleet's policy is authctld's "
                        "(set per_source in authctl.conf)");
                continue;
            }
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
    out.in_user_db = out.exists;
    out.name = out.exists ? pw->pw_name : user;
    out.is_root = out.exists && pw->pw_uid == 0;
    if (out.exists) out.uid = static_cast<std::uint32_t>(pw->pw_uid);
    // faillock's admin_group: its members are handled as root is.
    if (out.exists && !out.is_root && !opts_.admin_group.empty())
        out.is_root = pam_modutil_user_in_group_nam_nam(pamh_, out.name.c_str(), opts_.admin_group.c_str()) != 0;
    return PAM_SUCCESS;
}

bool is_local_user(pam_handle_t* pamh, const std::string& user)
{
    // libpam's own reader, the one pam_faillock uses: exact name before the
    // first ':', lines of any length. Not found, or no file: not local.
    return pam_modutil_check_user_in_passwd(pamh, user.c_str(), nullptr) == PAM_SUCCESS;
}

std::string Session::source() const
{
    return source_key(item_string(pamh_, PAM_RHOST), item_string(pamh_, PAM_TTY), service());
}

std::string Session::log_name(const Account& acct) const
{
    return acct.in_user_db || opts_.audit ? acct.name : std::string("(unknown)");
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

const char* Session::pam_env(const char* name) const
{
    return pam_getenv(pamh_, name);
}

bool Session::can_show_text() const
{
    if (opts_.silent || (flags_ & PAM_SILENT) != 0) return false;
    const void* item = nullptr;
    if (pam_get_item(pamh_, PAM_CONV, &item) != PAM_SUCCESS || item == nullptr) return false;
    return static_cast<const pam_conv*>(item)->conv != nullptr;
}

void Session::tell_always(const std::string& text)
{
    pam_prompt(pamh_, PAM_ERROR_MSG, nullptr, "%s", text.c_str());
}

int Session::ask_visible(const std::string& prompt, std::string& answer)
{
    char* resp = nullptr;
    const int rc = pam_prompt(pamh_, PAM_PROMPT_ECHO_ON, &resp, "%s", prompt.c_str());
    if (resp != nullptr) {
        answer.assign(resp);
        wipe_bytes(resp, std::strlen(resp));
        std::free(resp);
    }
    return rc;
}

void Session::log(int priority, const std::string& user, const std::string& text) const
{
    if (opts_.no_log_info && (priority == LOG_INFO || priority == LOG_NOTICE)) return;
    const std::string rhost = sanitize_source(item_string(pamh_, PAM_RHOST));
    pam_syslog(pamh_, priority, "user %s: %s (service=%s rhost=%s)", sanitize_source(user).c_str(), text.c_str(),
               sanitize_source(service()).c_str(), rhost.empty() ? "-" : rhost.c_str());
}

void Session::debug(const std::string& user, const std::string& text) const
{
    if (opts_.debug) log(LOG_DEBUG, user, text);
}

void Session::audit(const std::string& user, const AuditRecord& record) const
{
    const std::string rhost = item_string(pamh_, PAM_RHOST);
    const std::string tty = item_string(pamh_, PAM_TTY);
    if (const int err = write_audit(record, AuditSubject{user, rhost, tty}); err != 0)
        log(LOG_WARNING, user, std::string("cannot write an audit record: ") + std::strerror(err));
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

std::string lock_message(const LockState& lock, std::int64_t now, std::string_view source)
{
    if (lock.scope != LockScope::source) return lock_message(lock.failures, lock.until, now);
    const char* where = source.rfind("tty:", 0) == 0       ? "this terminal"
                        : source.rfind("service:", 0) == 0 ? "this service"
                                                           : "this address";
    std::string msg = std::string("Logins from ") + where + " are locked after " + std::to_string(lock.failures) +
                      " failed attempt" + (lock.failures == 1 ? "" : "s") + "; ";
    if (lock.until == kLockedForever) return msg + "they stay locked until an administrator unlocks them.";
    const std::int64_t minutes = lock.until > now ? (lock.until - now + 59) / 60 : 1;
    return msg + "try again in " + std::to_string(minutes) + " minute" + (minutes == 1 ? "" : "s") + ".";
}

std::string failures_since_message(std::uint32_t failures, std::uint32_t sources)
{
    std::string text = "There " + std::string(failures == 1 ? "was " : "were ") + std::to_string(failures) +
                       " failed attempt" + (failures == 1 ? "" : "s");
    if (sources > 0) text += " from " + std::to_string(sources) + " source" + (sources == 1 ? "" : "s");
    return text + " since your last successful login.";
}

}  // namespace authctl::pam
