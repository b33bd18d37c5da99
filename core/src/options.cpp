// SPDX-License-Identifier: Apache-2.0
#include "authctl/options.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "authctl/file_util.hpp"
#include "authctl/otp.hpp"
#include "authctl/text.hpp"

namespace authctl {
namespace {

Error bad_key(std::string_view key, const std::string& why)
{
    return make_error(Errc::invalid_argument, "option '" + std::string(key) + "': " + why);
}

Result<std::uint32_t> number(std::string_view key, const std::string_view* value, std::uint32_t min, std::uint32_t max,
                             bool never_allowed)
{
    const std::string range = "must be a number from " + std::to_string(min) + " to " + std::to_string(max) +
                              (never_allowed ? " or 'never'" : "");
    if (value == nullptr) return bad_key(key, "needs a value (" + range + ")");
    if (never_allowed && *value == "never") return std::uint32_t{0};
    std::uint32_t v = 0;
    const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), v);
    if (value->empty() || ec != std::errc() || end != value->data() + value->size() || v < min || v > max)
        return bad_key(key, range + ", not '" + std::string(*value) + "'");
    return v;
}

Status flag(std::string_view key, const std::string_view* value, bool& target)
{
    if (value != nullptr) return bad_key(key, "takes no value");
    target = true;
    return Ok{};
}

}  // namespace

Status apply_option(Options& opts, std::string_view key, const std::string_view* value)
{
    if (key == "dir") {
        if (value == nullptr || value->empty() || value->front() != '/' || value->size() > 4096 || has_control(*value))
            return bad_key(key, "must be an absolute path");
        opts.dir = std::string(*value);
        return Ok{};
    }
    if (key == "agent_socket") {
        if (value == nullptr || value->empty() || value->front() != '/' || value->size() > 107 || has_control(*value))
            return bad_key(key, "must be an absolute path of at most 107 bytes");
        opts.agent_socket = std::string(*value);
        return Ok{};
    }
    if (key == "store") {
        if (value != nullptr && *value == "file") {
            opts.store = StoreKind::file;
        } else if (value != nullptr && *value == "agent") {
            opts.store = StoreKind::agent;
        } else {
            return bad_key(key, "must be 'file' or 'agent'");
        }
        return Ok{};
    }
    if (key == "admin_group") {
        if (value == nullptr || value->empty() || value->size() > 64 || has_control(*value) ||
            value->find_first_of(" \t,:") != std::string_view::npos)
            return bad_key(key, "must be a group name");
        opts.admin_group = std::string(*value);
        return Ok{};
    }
    if (key == "invites") {
        if (value != nullptr && *value == "ssh") {
            opts.invites = InviteRule::ssh;
        } else if (value != nullptr && *value == "stack") {
            opts.invites = InviteRule::stack;
        } else if (value != nullptr && *value == "off") {
            opts.invites = InviteRule::off;
        } else {
            return bad_key(key, "must be 'ssh', 'stack' or 'off'");
        }
        return Ok{};
    }
    if (key == "prompt") {
        if (value == nullptr || value->empty() || value->size() > 256 || has_control(*value) || !valid_utf8(*value))
            return bad_key(key, "must be 1 to 256 printable characters");
        opts.prompt = std::string(*value);
        return Ok{};
    }
    Result<std::uint32_t> n = std::uint32_t{0};
    if (key == "deny") {
        if (!(n = number(key, value, 0, kMaxDeny, false))) return n.error();
        opts.lockout.deny = *n;
    } else if (key == "fail_interval") {
        if (!(n = number(key, value, 1, kMaxInterval, false))) return n.error();
        opts.lockout.fail_interval = *n;
    } else if (key == "unlock_time") {
        if (!(n = number(key, value, 0, kMaxInterval, true))) return n.error();
        opts.lockout.unlock_time = *n;
    } else if (key == "root_unlock_time") {
        if (!(n = number(key, value, 0, kMaxInterval, true))) return n.error();
        opts.lockout.root_unlock_time = *n;
        opts.lockout.root_unlock_time_set = true;
        opts.lockout.even_deny_root = true;
    } else if (key == "deny_user") {
        if (!(n = number(key, value, 1, kMaxDeny, false))) return n.error();
        opts.lockout.deny_user = *n;
        opts.lockout.deny_user_set = true;
    } else if (key == "root_throttle") {
        if (!(n = number(key, value, 0, kMaxRootThrottle, false))) return n.error();
        opts.lockout.root_throttle = *n;
    } else if (key == "deny_consecutive") {
        if (!(n = number(key, value, 0, kMaxDenyConsecutive, false))) return n.error();
        opts.lockout.deny_consecutive = *n;
    } else if (key == "window") {
        if (!(n = number(key, value, 0, kMaxWindow, false))) return n.error();
        opts.window = *n;
    } else if (key == "hotp_window") {
        if (!(n = number(key, value, 0, 2 * kMaxWindow, false))) return n.error();
        opts.hotp_window = *n;
    } else if (key == "agent_timeout") {
        if (!(n = number(key, value, 1, kMaxAgentTimeout, false))) return n.error();
        opts.agent_timeout = *n;
    } else if (key == "even_deny_root") {
        return flag(key, value, opts.lockout.even_deny_root);
    } else if (key == "nullok") {
        return flag(key, value, opts.nullok);
    } else if (key == "silent") {
        return flag(key, value, opts.silent);
    } else if (key == "debug") {
        return flag(key, value, opts.debug);
    } else if (key == "nodelay") {
        return flag(key, value, opts.nodelay);
    } else if (key == "per_source") {
        return flag(key, value, opts.lockout.per_source);
    } else if (key == "audit") {
        return flag(key, value, opts.audit);
    } else if (key == "no_log_info") {
        return flag(key, value, opts.no_log_info);
    } else if (key == "local_users_only") {
        return flag(key, value, opts.local_users_only);
    } else {
        // Named only when it looks like a key: a file that is no config file
        // at all (conf= pointing at /etc/shadow) is not echoed line by line.
        const bool keyish = !key.empty() && key.size() <= 32 &&
                            key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string_view::npos;
        return make_error(Errc::invalid_argument,
                          keyish ? "unknown option '" + std::string(key) + "'" : "not an option (the line is not shown)");
    }
    return Ok{};
}

bool invite_rule_holds(InviteRule rule, const char* ssh_auth_info) noexcept
{
    switch (rule) {
        case InviteRule::off: return false;
        case InviteRule::stack: return true;
        case InviteRule::ssh: {
            // One line per method sshd completed before this one ("publickey
            // ssh-ed25519 AAAA...", "password", "keyboard-interactive"); set
            // but empty: none. Only a method that never runs this PAM stack
            // proves a first factor: sshd's password method runs the same
            // stack (with nullok it passes for an unenrolled user whatever
            // the password), and keyboard-interactive is this stack itself.
            if (ssh_auth_info == nullptr) return false;
            std::string_view rest(ssh_auth_info);
            while (!rest.empty()) {
                const auto nl = rest.find('\n');
                const std::string_view line = trim(rest.substr(0, nl));
                rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
                const std::string_view method = line.substr(0, line.find(' '));
                if (method == "publickey" || method == "hostbased" || method == "gssapi-with-mic") return true;
            }
            return false;
        }
    }
    return false;
}

bool is_policy_option(std::string_view key) noexcept
{
    for (const std::string_view k :
         {"deny", "fail_interval", "unlock_time", "root_unlock_time", "even_deny_root", "per_source", "deny_user",
          "root_throttle", "deny_consecutive",
          "window", "hotp_window", "dir"})
        if (key == k) return true;
    return false;
}

Status apply_argument(Options& opts, std::string_view arg)
{
    const auto eq = arg.find('=');
    if (eq == std::string_view::npos) return apply_option(opts, arg, nullptr);
    const std::string_view value = arg.substr(eq + 1);
    return apply_option(opts, arg.substr(0, eq), &value);
}

namespace {

// Applies one line of a config file; the error names the file and line.
Status apply_config_line(Options& opts, std::string_view line, const std::string& where)
{
    if (has_control(line)) return make_error(Errc::invalid_argument, where + "control character in line");
    Status st = Ok{};
    if (const auto eq = line.find('='); eq == std::string_view::npos) {
        st = apply_option(opts, line, nullptr);
    } else {
        const std::string_view key = trim(line.substr(0, eq));
        const std::string_view value = trim(line.substr(eq + 1));
        st = apply_option(opts, key, &value);
    }
    if (!st) return make_error(st.error().code, where + st.error().detail);
    // invites=stack says "every path to this line has passed a first factor":
    // true of one stack line, never of every service that reads this file.
    if (opts.invites == InviteRule::stack)
        return make_error(Errc::invalid_argument,
                          where + "'invites=stack' belongs on the module's line in /etc/pam.d (a claim about that "
                                  "stack), not in this file, which every service reads");
    return Ok{};
}

}  // namespace

Status apply_config_text(Options& opts, std::string_view text, std::string_view origin)
{
    ConfigLines lines(text, origin);
    while (lines.next())
        if (auto st = apply_config_line(opts, lines.line(), lines.where()); !st) return st;
    return Ok{};
}

Status apply_config_file(Options& opts, const std::string& path, bool missing_ok)
{
    auto text = read_trusted_file(AT_FDCWD, path, kMaxConfigBytes, FileTrust::root_not_writable);
    if (!text) {
        if (text.error().code == Errc::not_found && missing_ok) return Ok{};
        return text.error();
    }
    return apply_config_text(opts, text->view(), path);
}

ConfigCheck check_config_file(const std::string& path, bool missing_ok)
{
    ConfigCheck check;
    auto text = read_trusted_file(AT_FDCWD, path, kMaxConfigBytes, FileTrust::root_not_writable);
    if (!text) {
        if (text.error().code == Errc::not_found && missing_ok) return check;
        check.problems.push_back({0, text.error().message()});
        return check;
    }
    return check_config_text(text->view(), path);
}

ConfigCheck check_config_text(std::string_view text, std::string_view origin)
{
    ConfigCheck check;
    check.present = true;
    ConfigLines lines(text, origin);
    while (lines.next()) {
        if (auto st = apply_config_line(check.opts, lines.line(), lines.where()); !st)
            check.problems.push_back({lines.number(), st.error().detail});
        else
            ++check.settings;
    }
    return check;
}

ConfigErrorAction on_config_error(const ConfigErrorContext& at) noexcept
{
    if (at.account_phase)
        for (const std::string_view background : {"cron", "crond", "atd", "systemd-user"})
            if (at.service == background) return ConfigErrorAction::step_aside;
    // This machine's own console: the virtual consoles, serial lines and
    // hypervisor consoles, never a pseudo-terminal (ssh, telnet, screen).
    if (at.service == "login" && at.is_root && at.rhost.empty() && !at.tty.empty() &&
        is_console_source(source_key({}, at.tty, {})))
        return ConfigErrorAction::step_aside;
    return ConfigErrorAction::fail_closed;
}

}  // namespace authctl
