// SPDX-License-Identifier: Apache-2.0
// sshd's effective configuration judged; see sshd_check.hpp.
#include "authctl/sshd_check.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

namespace authctl::sshd_check {
namespace {

using doctor::Finding;
using doctor::Severity;

std::string lower(std::string s)
{
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::vector<std::string> words(const std::string& s)
{
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::vector<std::string> split(const std::string& s, char sep)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        const auto at = s.find(sep, start);
        out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
        if (at == std::string::npos) return out;
        start = at + 1;
    }
}

// The config text's lines as (line number, keyword lower case, rest).
struct CfgLine {
    unsigned line;
    std::string key, rest;
};
std::vector<CfgLine> config_lines(const std::string& text)
{
    std::vector<CfgLine> out;
    std::istringstream in(text);
    unsigned n = 0;
    for (std::string l; std::getline(in, l);) {
        ++n;
        const auto start = l.find_first_not_of(" \t\r");
        if (start == std::string::npos || l[start] == '#') continue;
        auto end = l.find_first_of(" \t=", start);
        std::string key = lower(l.substr(start, end == std::string::npos ? std::string::npos : end - start));
        std::string rest;
        if (end != std::string::npos) {
            const auto r = l.find_first_not_of(" \t=", end);
            if (r != std::string::npos) rest = l.substr(r);
            while (!rest.empty() && (rest.back() == '\r' || rest.back() == ' ' || rest.back() == '\t')) rest.pop_back();
        }
        out.push_back({n, key, rest});
    }
    return out;
}

std::string absolute(const std::string& pattern)
{
    return !pattern.empty() && pattern[0] == '/' ? pattern : "/etc/ssh/" + pattern;
}

// A value that matches an sshd pattern list (first one not negated; '*' and '?' filled).
std::optional<std::string> sample(const std::string& list, bool address)
{
    for (const auto& p : split(list, ',')) {
        if (p.empty() || p[0] == '!') continue;
        std::string v = p.substr(0, p.find('/'));
        for (auto& c : v)
            if (c == '*' || c == '?') c = address ? '1' : 'x';
        return v;
    }
    return std::nullopt;
}

Finding located(const std::string& id, Severity sev, const Location& loc, const MatchBlock* block)
{
    Finding f;
    f.id = id;
    f.severity = sev;
    f.file = loc.file;
    f.line = loc.line;
    if (block) {
        f.services = {"Match " + block->criteria};
        if (loc.line == 0 || loc.file != block->file) {  // the block changes nothing of it itself: point at the block
            f.file = block->file;
            f.line = block->line;
        }
    }
    return f;
}

bool yes(const Effective& eff, const std::string& key)
{
    const auto it = eff.find(key);
    return it != eff.end() && lower(it->second) == "yes";
}

}  // namespace

Effective parse_effective(const std::string& text)
{
    Effective out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        const auto sp = l.find(' ');
        const std::string key = lower(l.substr(0, sp));
        if (key.empty()) continue;
        out.emplace(key, sp == std::string::npos ? "" : l.substr(sp + 1));
    }
    return out;
}

std::vector<Include> include_patterns(const std::string& text)
{
    std::vector<Include> out;
    bool in_match = false;
    for (const auto& l : config_lines(text)) {
        if (l.key == "match") in_match = true;
        if (l.key == "include")
            for (const auto& w : words(l.rest)) out.push_back({l.line, absolute(w), in_match});
    }
    return out;
}

std::string rewrite_includes(const std::string& text, const std::string& root)
{
    std::istringstream in(text);
    std::string out;
    for (std::string l; std::getline(in, l);) {
        const auto start = l.find_first_not_of(" \t");
        if (start != std::string::npos && lower(l.substr(start, 7)) == "include" && l.size() > start + 7 &&
            (l[start + 7] == ' ' || l[start + 7] == '\t' || l[start + 7] == '=')) {
            std::string rewritten = l.substr(0, start) + "Include";
            for (const auto& w : words(l.substr(start + 8))) rewritten += " " + root + absolute(w);
            l = rewritten;
        }
        out += l + "\n";
    }
    return out;
}

std::vector<MatchBlock> match_blocks(const std::vector<ConfigFile>& files,
                                     const std::function<std::optional<std::string>(const std::string&)>& member_of)
{
    std::vector<MatchBlock> out;
    for (const auto& file : files)
        for (const auto& l : config_lines(file.text)) {
            if (l.key != "match") continue;
            MatchBlock b;
            b.file = file.path;
            b.line = l.line;
            b.criteria = l.rest;
            std::string user = "nobody", host = "doctor.invalid", addr = "192.0.2.1", extra;
            const auto w = words(l.rest);
            for (std::size_t i = 0; i < w.size(); ++i) {
                const std::string key = lower(w[i]);
                if (key == "all") continue;
                if (i + 1 >= w.size()) {
                    b.why_not = "criterion " + w[i] + " without a value";
                    break;
                }
                const std::string& val = w[++i];
                if (key == "user") {
                    if (auto v = sample(val, false)) user = *v;
                } else if (key == "group") {
                    auto g = sample(val, false);
                    auto m = g ? member_of(*g) : std::nullopt;
                    if (!m) {
                        b.why_not = "no user in group " + val + " to try it with";
                        break;
                    }
                    user = *m;
                } else if (key == "host") {
                    if (auto v = sample(val, false)) host = *v;
                } else if (key == "address") {
                    if (auto v = sample(val, true)) addr = *v;
                } else if (key == "localaddress") {
                    if (auto v = sample(val, true)) extra += ",laddr=" + *v;
                } else if (key == "localport") {
                    if (auto v = sample(val, true)) extra += ",lport=" + *v;
                } else if (key == "rdomain") {
                    if (auto v = sample(val, false)) extra += ",rdomain=" + *v;
                } else {
                    b.why_not = "criterion " + w[i - 1] + " is not one doctor can try";
                    break;
                }
            }
            if (b.why_not.empty()) b.probe = "user=" + user + ",host=" + host + ",addr=" + addr + extra;
            out.push_back(std::move(b));
        }
    return out;
}

Location locate(const std::vector<ConfigFile>& files, const std::string& keyword, const MatchBlock* block)
{
    const std::string key = lower(keyword);
    if (block)
        for (const auto& file : files) {
            if (file.path != block->file) continue;
            bool inside = false;
            for (const auto& l : config_lines(file.text)) {
                if (l.key == "match")
                    inside = l.line == block->line;
                else if (inside && l.key == key)
                    return {file.path, l.line};
            }
        }
    // The first setting outside any Match block, in the order sshd reads
    // them: each Include line's files in place, their own Includes too.
    std::function<std::optional<Location>(std::size_t, unsigned)> first_in =
        [&](std::size_t index, unsigned depth) -> std::optional<Location> {
        if (depth > kMaxIncludeDepth) return std::nullopt;
        for (const auto& l : config_lines(files[index].text)) {
            if (l.key == "match") break;
            if (l.key == key) return Location{files[index].path, l.line};
            if (l.key != "include") continue;
            for (std::size_t i = 1; i < files.size(); ++i)
                if (i != index && files[i].parent == index && files[i].included_at == l.line)
                    if (auto at = first_in(i, depth + 1)) return at;
        }
        return std::nullopt;
    };
    if (!files.empty())
        if (auto at = first_in(0, 0)) return *at;
    return {files.empty() ? std::string() : files.front().path, 0};
}

Location error_location(const std::string& sshd_errors)
{
    std::istringstream in(sshd_errors);
    for (std::string l; std::getline(in, l);) {
        const auto at = l.find(": line ");
        if (at == std::string::npos) continue;
        unsigned n = 0;
        std::size_t i = at + 7;
        while (i < l.size() && std::isdigit(static_cast<unsigned char>(l[i])) != 0)
            n = n * 10 + static_cast<unsigned>(l[i++] - '0');
        if (n > 0) return {l.substr(0, at), n};
    }
    return {"", 0};
}

std::vector<Finding> check(const Effective& eff, const std::vector<ConfigFile>& files, const MatchBlock* block,
                           const Context& ctx)
{
    std::vector<Finding> out;
    const bool usepam = yes(eff, "usepam");
    const bool kbd = yes(eff, "kbdinteractiveauthentication");
    if (ctx.module_for_sshd && !usepam) {
        Finding f = located("sshd.usepam_disabled", Severity::error, locate(files, "UsePAM", block), block);
        f.message = "UsePAM no: sshd never runs its PAM stack, where pam_authctl.so is";
        f.impact = "no code is asked and no lock is enforced: a key or a password alone logs in";
        f.fix = "UsePAM yes (in /etc/ssh/sshd_config.d/authctl.conf), then sshd -t and systemctl reload ssh";
        out.push_back(std::move(f));
    }
    if (ctx.module_for_sshd && usepam && !kbd) {
        Finding f = located("sshd.kbd_interactive_disabled", Severity::error,
                            locate(files, "KbdInteractiveAuthentication", block), block);
        f.message =
            "KbdInteractiveAuthentication no while pam_authctl.so is stacked for sshd: the code is never "
            "asked (Debian's default)";
        f.impact =
            "logins go through publickey or password alone; the module never sees them (only its account "
            "line does)";
        f.fix =
            "KbdInteractiveAuthentication yes in a drop-in (/etc/ssh/sshd_config.d/authctl.conf): sshd keeps the "
            "first value it reads, and sshd_config includes the drop-ins at its top";
        out.push_back(std::move(f));
    }
    if (yes(eff, "permitemptypasswords")) {
        Finding f = located("sshd.permit_empty_passwords", Severity::error,
                            locate(files, "PermitEmptyPasswords", block), block);
        f.message = "PermitEmptyPasswords yes";
        f.impact = "an account with an empty password logs in with nothing";
        f.fix = "PermitEmptyPasswords no (the default)";
        out.push_back(std::move(f));
    }
    if (ctx.module_for_sshd && ctx.root_never_locked && eff.count("permitrootlogin") != 0 &&
        lower(eff.at("permitrootlogin")) == "yes") {
        Finding f =
            located("sshd.root_login_unlocked", Severity::warning, locate(files, "PermitRootLogin", block), block);
        f.message = "PermitRootLogin yes, and authctl.conf never locks root (root_throttle = 0, no even_deny_root)";
        f.impact = "root's password and code can be guessed at from the network without ever being locked out";
        f.fix = "PermitRootLogin prohibit-password (or no); or drop root_throttle = 0 (root is then locked per source), or even_deny_root";
        out.push_back(std::move(f));
    }
    if (!ctx.module_for_sshd || !usepam) return out;

    // The lists of methods that each log in on their own.
    std::vector<std::vector<std::string>> lists;
    const std::string am = eff.count("authenticationmethods") != 0 ? eff.at("authenticationmethods") : "any";
    const bool any = lower(am) == "any";
    if (any) {
        const std::vector<std::pair<std::string, std::string>> enabled = {
            {"publickey", "pubkeyauthentication"},
            {"password", "passwordauthentication"},
            {"keyboard-interactive", "kbdinteractiveauthentication"},
            {"hostbased", "hostbasedauthentication"},
            {"gssapi-with-mic", "gssapiauthentication"}};
        for (const auto& [method, key] : enabled)
            if (yes(eff, key)) lists.push_back({method});
    } else {
        for (const auto& list : words(am)) {
            std::vector<std::string> methods;
            for (const auto& m : split(list, ',')) methods.push_back(lower(m.substr(0, m.find(':'))));
            lists.push_back(methods);
        }
    }
    const Location am_at = any ? Location{} : locate(files, "AuthenticationMethods", block);
    std::set<std::string> reported;
    for (const auto& methods : lists) {
        const auto has = [&](const std::string& m) {
            return std::find(methods.begin(), methods.end(), m) != methods.end();
        };
        const bool key_like = has("publickey") || has("hostbased") || has("gssapi-with-mic");
        const bool runs_pam = usepam && (has("keyboard-interactive") || has("password"));
        std::string joined;
        for (const auto& m : methods) joined += (joined.empty() ? "" : ",") + m;
        Location loc = am_at;
        if (any) {
            const std::string key = methods.front() == "publickey"              ? "PubkeyAuthentication"
                                    : methods.front() == "password"             ? "PasswordAuthentication"
                                    : methods.front() == "keyboard-interactive" ? "KbdInteractiveAuthentication"
                                    : methods.front() == "hostbased"            ? "HostbasedAuthentication"
                                                                                : "GSSAPIAuthentication";
            loc = locate(files, key, block);
            if (loc.line == 0) loc = locate(files, "AuthenticationMethods", block);
        }
        Finding f;
        if (!runs_pam) {
            f = located("sshd.single_factor", Severity::error, loc, block);
            f.message = "AuthenticationMethods " + std::string(any ? "any (the default)" : am) + " lets " + joined +
                        " alone log in: the PAM stack, and with it the code, is never run";
            f.impact = "a stolen key (or " + joined + " credential) is enough: no code is asked";
            f.fix = "AuthenticationMethods publickey,keyboard-interactive";
        } else if (has("password") && !has("keyboard-interactive") && !ctx.other_credential) {
            f = located("sshd.password_login_code_only", key_like ? Severity::warning : Severity::error, loc, block);
            f.message = "password logins are allowed (" + joined + ") while sshd's PAM stack asks only for the code";
            f.impact = key_like ? "sshd hands the \"password\" to the code prompt: a login by password is refused and "
                                  "counted as a wrong code"
                                : "sshd hands the \"password\" to the code prompt: the code alone, without key or "
                                  "password, logs in";
            f.fix = "PasswordAuthentication no and AuthenticationMethods publickey,keyboard-interactive";
        } else if (!key_like && !ctx.other_credential && has("keyboard-interactive")) {
            f = located("sshd.code_alone", Severity::warning, loc, block);
            f.message = "keyboard-interactive alone logs in (" + std::string(any ? "AuthenticationMethods any" : am) +
                        ") and sshd's PAM stack asks only for the code";
            f.impact =
                "the one-time code is the only factor: whoever sees it (over a shoulder, on a phone) logs in "
                "within its 30 s";
            f.fix = "AuthenticationMethods publickey,keyboard-interactive, or a password module before the code";
        } else {
            continue;
        }
        if (reported.insert(f.id + f.file + std::to_string(f.line)).second) out.push_back(std::move(f));
    }
    return out;
}

}  // namespace authctl::sshd_check
