// SPDX-License-Identifier: Apache-2.0
// One option parser for both front ends: /etc/security/authctl.conf
// ("key = value" lines, bare words for flags, '#' comments) and PAM module
// arguments ("key=value", bare flags). The file is read first; arguments
// override. Unknown keys, values on flags, missing values and out-of-range
// numbers are errors that name the key: nothing is silently ignored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "authctl/lockout.hpp"
#include "authctl/result.hpp"

namespace authctl {

inline constexpr const char* kDefaultStateDir = "/var/lib/authctl";
inline constexpr const char* kDefaultConfigFile = "/etc/security/authctl.conf";
inline constexpr std::size_t kMaxConfigBytes = 64 * 1024;

// Where records live: this host's state directory, or the fleet database
// through the local agent (authctld; the CLI talks to the database itself).
enum class StoreKind { file, agent };

inline constexpr const char* kDefaultFleetSocket = "/run/authctl/agent.sock";
inline constexpr unsigned kDefaultAgentTimeout = 5;  // seconds
inline constexpr unsigned kMaxAgentTimeout = 60;

// Where the module may enroll an invited user at login (invitation.hpp): only
// past a first factor, else a QR code shown at the prompt would let whoever
// types the user's name enrol their own phone.
//   ssh   (default) only when the PAM environment's SSH_AUTH_INFO_0 (sshd
//         puts the methods completed so far there) names a publickey,
//         hostbased or gssapi-with-mic method: AuthenticationMethods
//         publickey,keyboard-interactive. Not password (sshd runs this same
//         stack for it) nor keyboard-interactive (this stack itself);
//   stack also on any stack: the administrator states that every path to the
//         module's line has passed a first factor (pam_unix before it as
//         requisite or [success=ok default=die]). A module argument only:
//         refused in authctl.conf, which every service reads;
//   off   never.
enum class InviteRule { ssh, stack, off };

// Whether `rule` lets the module enroll at this login. `ssh_auth_info` is
// SSH_AUTH_INFO_0 from the PAM environment (nullptr when unset): sshd sets it
// at every keyboard-interactive login, empty when no method has completed yet
// (keyboard-interactive alone), else the completed methods, one a line.
bool invite_rule_holds(InviteRule rule, const char* ssh_auth_info) noexcept;

struct Options {
    std::string dir = kDefaultStateDir;  // state directory
    StoreKind store = StoreKind::file;
    std::string agent_socket = kDefaultFleetSocket;  // store=agent: the agent's socket
    unsigned agent_timeout = kDefaultAgentTimeout;   // store=agent: seconds for one whole exchange
    LockoutPolicy lockout;               // deny, fail_interval, unlock_time, even_deny_root, root_unlock_time
    unsigned window = 1;                 // TOTP: steps accepted either side of now
    unsigned hotp_window = 5;            // HOTP: counters accepted ahead of the stored one
    bool nullok = false;                 // users with no enrollment pass
    bool silent = false;                 // no informational messages to the user
    bool debug = false;                  // extra log lines
    bool nodelay = false;                // no failure delay
    std::string prompt = "Verification code: ";
    // pam_faillock's options with its meanings, so that a faillock.conf carries over:
    std::string admin_group;        // members are treated as root (even_deny_root, root_unlock_time)
    bool audit = false;             // log the name a login gave for a user that does not exist
    bool no_log_info = false;       // no informational (LOG_INFO, LOG_NOTICE) lines in the log
    bool local_users_only = false;  // preauth/authfail/authsucc/account ignore users not in /etc/passwd
    InviteRule invites = InviteRule::ssh;  // where an invited user may enroll at login
};

// Applies one option. `value` is absent for a bare word. Keys:
//   dir=PATH  deny=0..100  fail_interval=1..31536000  unlock_time=0..31536000|never
//   root_unlock_time=0..31536000|never (implies even_deny_root)  even_deny_root
//   window=0..10  hotp_window=0..20  nullok  silent  debug  nodelay  prompt=TEXT
//   store=file|agent  agent_socket=PATH  agent_timeout=1..60
//   per_source  deny_user=1..100  admin_group=GROUP  audit  no_log_info  local_users_only
//   root_throttle=0..86400  deny_consecutive=0..100000  invites=ssh|stack|off
// Errc::invalid_argument with a message naming the key otherwise.
Status apply_option(Options& opts, std::string_view key, const std::string_view* value);

// True for the options that shape a decision made where the records are
// (deny, fail_interval, unlock_time, root_unlock_time, even_deny_root,
// per_source, deny_user, root_throttle, deny_consecutive, window,
// hotp_window, dir). With store=agent those decisions are the agent's,
// made with the policy authctld reads from authctl.conf: as PAM module
// arguments they would have no effect, so the module refuses them there.
bool is_policy_option(std::string_view key) noexcept;

// Applies "key=value" or "flag" as given to a PAM module.
Status apply_argument(Options& opts, std::string_view arg);

// Applies the text of a config file; `origin` (the path) prefixes errors with
// "origin:LINE:".
Status apply_config_text(Options& opts, std::string_view text, std::string_view origin);

// Reads and applies a config file. The file must be a regular file (not a
// symlink), owned by root and not writable by group or others; at most
// kMaxConfigBytes. A missing file is fine when `missing_ok` (the default path).
Status apply_config_file(Options& opts, const std::string& path, bool missing_ok);

// Every error in a config file, not only the first: what `authctl config
// check` reports. The same reading and trust rules as apply_config_file;
// `opts` holds what the lines that are right set.
struct ConfigProblem {
    std::size_t line = 0;  // 1-based; 0 for the file as a whole (owner, mode, size, absent)
    std::string message;   // "PATH:LINE: ..." as the module would log it
};
struct ConfigCheck {
    bool present = false;      // the file exists (and could be opened)
    std::size_t settings = 0;  // lines applied without error
    std::vector<ConfigProblem> problems;
    Options opts;  // what the lines without error set
};
ConfigCheck check_config_file(const std::string& path, bool missing_ok);

// The same check on a text not read from disk yet (what `authctl import
// faillock` is about to write); `origin` prefixes the messages. present is true.
ConfigCheck check_config_text(std::string_view text, std::string_view origin);

// What the PAM module does when its configuration cannot be read (a bad line
// in authctl.conf, a bad module argument). It fails closed -- every service
// that asks for a code or enforces a lock refuses -- except where refusing
// would take away the way back in or stop the machine's own work:
//   - the account phase of the background services cron, crond, atd and
//     systemd-user (the user manager systemd starts for cron jobs and
//     logins): jobs keep running;
//   - root's `login` on this machine's own console (tty1.., ttyS0..,
//     console, hvc0..; never a pseudo-terminal, never with a remote host):
//     the administrator's way in to mend the file. Root only: a serial or
//     virtual console can be reachable over the network (IPMI serial over
//     LAN, a cloud console), and no other user's code or lock is waived.
// There the module steps aside (PAM_IGNORE) and logs the error at LOG_CRIT.
// sshd, sudo, su and everything else fail closed.
enum class ConfigErrorAction { fail_closed, step_aside };
struct ConfigErrorContext {
    std::string_view service;  // PAM_SERVICE
    std::string_view tty;      // PAM_TTY
    std::string_view rhost;    // PAM_RHOST
    bool is_root = false;      // the user is uid 0
    bool account_phase = false;
};
ConfigErrorAction on_config_error(const ConfigErrorContext& at) noexcept;

}  // namespace authctl
