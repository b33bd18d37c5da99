// SPDX-License-Identifier: Apache-2.0
// What a pam_sm_* call knows once its arguments are read: the mode, the merged
// options (config file first, then module arguments), the user and where the
// login comes from. Plus the conversation and syslog helpers the flows use.
#pragma once

#include <security/pam_modules.h>

#include <optional>
#include <string>
#include <vector>

#include "authctl/lockout.hpp"
#include "authctl/options.hpp"
#include "authctl/result.hpp"
#include "audit.hpp"

namespace authctl::pam {

// A PAM string item (PAM_SERVICE, PAM_TTY, PAM_RHOST, ...), "" when unset.
std::string item_string(pam_handle_t* pamh, int type);

// pam_faillock-compatible modes; `code` is the second factor itself.
enum class Mode { code, preauth, authfail, authsucc };

struct ModuleConfig {
    Mode mode = Mode::code;
    Options opts;
    std::vector<std::string> notes;  // lines for the log (an argument without effect)
};

// Reads `conf=` (default /etc/security/authctl.conf, which may be absent) and
// then applies every other argument over it. The modes are arguments only.
// Errc::invalid_argument naming the file, line or argument on any bad option.
Result<ModuleConfig> read_config(int argc, const char** argv);

struct Account {
    std::string name;        // the account's own name (pw_name) when it exists, else as PAM gave it
    bool exists = false;     // in the user database (and a name the store can hold)
    bool in_user_db = false; // in the user database (whether or not the store can hold the name)
    bool is_root = false;    // uid 0, or a member of admin_group (faillock's meaning: root's rules apply)
    std::string store_name;  // the record's name: `name`, or for a name that does not exist its digest
                             // (unknown_name_digest; LoginContext::unknown_name), counted and locked in
                             // its bucket like a real user's
    std::uint32_t uid = 0;   // when it exists: its uid, for the record's binding
};

// True when `user` has a line in /etc/passwd itself (not only through a name
// service): what local_users_only asks, read as pam_faillock reads it
// (pam_modutil_check_user_in_passwd).
bool is_local_user(pam_handle_t* pamh, const std::string& user);

class Session {
public:
    Session(pam_handle_t* pamh, int flags, const Options& opts) : pamh_(pamh), flags_(flags), opts_(opts) {}

    // pam_get_user plus a user-database lookup. Records are keyed on the
    // database's name for the account, so aliases a name service resolves to
    // it (ALICE, alice@corp) share one enrollment and one tally. The PAM error
    // is returned as is (PAM_CONV_ERR, PAM_INCOMPLETE, ...) when there is no user name.
    int get_account(Account& out);

    // The login's source key (source_key(): the remote address, its /64, a
    // host name, else "tty:TTY" or "service:NAME"), for the tally and the log.
    std::string source() const;
    std::string service() const;

    // Asks for the code with echo off. Returns the PAM result of the
    // conversation; `answer` holds what was typed (wiped by its owner).
    int ask_code(std::string& answer);

    // An informational or error message to the user, unless `silent` or PAM_SILENT.
    void tell(const std::string& text, bool error = false);

    // A variable of the PAM environment (pam_getenv: what the application and
    // earlier modules set, never the process's environment); nullptr when unset.
    const char* pam_env(const char* name) const;
    // Whether text can reach the user: a conversation function is set, and
    // neither PAM_SILENT nor `silent` asks for none. An enrollment at login
    // needs it (the QR code, the key, the recovery codes).
    bool can_show_text() const;
    // An error message shown even under PAM_SILENT or `silent` (sudo's
    // conversation still prints PAM_ERROR_MSG there): the one line an
    // invited user who cannot enroll here is told.
    void tell_always(const std::string& text);
    // Asks with echo on (what an authenticator app shows is not secret once
    // used); `answer` holds what was typed (wiped by its owner).
    int ask_visible(const std::string& prompt, std::string& answer);

    // A line to syslog (authpriv) prefixed with user, service and remote host
    // context; the user name is sanitised to printable ASCII. With
    // no_log_info, LOG_INFO and LOG_NOTICE lines are not written.
    void log(int priority, const std::string& user, const std::string& text) const;
    // The name to log for `acct`: its name, unless it is not in the user
    // database and `audit` is off (a name typed into the user prompt may be a
    // password): then "(unknown)", as pam_faillock does.
    std::string log_name(const Account& acct) const;
    void debug(const std::string& user, const std::string& text) const;
    // The Linux audit record(s) of `record` for `user`, from this login's
    // remote host and tty (audit.hpp). A failure to write is logged at
    // LOG_WARNING and never changes the login's result.
    void audit(const std::string& user, const AuditRecord& record) const;

    void arm_fail_delay();

private:
    pam_handle_t* pamh_;
    int flags_;
    const Options& opts_;
};

// "Account locked after N failed attempts; try again in M minutes." (or "...
// until an administrator unlocks it.")
std::string lock_message(std::uint32_t failures, std::int64_t until, std::int64_t now);

// The message for `lock`: lock_message for the user's lock; for one source's,
// "Logins from this address are locked after N failed attempts; ..." (this
// terminal, this service for the local source keys), saying nothing of
// whether the last code was right.
std::string lock_message(const LockState& lock, std::int64_t now, std::string_view source);

// After a success: "There were N failed attempts since your last successful
// login." (with "from M sources" when the sources were counted).
std::string failures_since_message(std::uint32_t failures, std::uint32_t sources);

// What a user is told when the fleet could not decide (PAM_AUTHINFO_UNAVAIL):
// no reason (that is in the log), nothing about the account.
inline constexpr const char* kFleetUnavailableMessage =
    "The login service cannot be reached right now; try again later.";

}  // namespace authctl::pam
