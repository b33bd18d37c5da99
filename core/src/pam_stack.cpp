// SPDX-License-Identifier: Apache-2.0
// /etc/pam.d read and run as libpam (1.5, libpam/pam_handlers.c and
// pam_dispatch.c) does; see pam_stack.hpp.
#include "authctl/pam_stack.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>

namespace authctl::pam_stack {
namespace {

using doctor::Finding;
using doctor::Severity;

// pam.conf(5)'s value names, index = the return value.
constexpr std::array<const char*, kReturnValues> kValueNames = {"success",
                                                                "open_err",
                                                                "symbol_err",
                                                                "service_err",
                                                                "system_err",
                                                                "buf_err",
                                                                "perm_denied",
                                                                "auth_err",
                                                                "cred_insufficient",
                                                                "authinfo_unavail",
                                                                "user_unknown",
                                                                "maxtries",
                                                                "new_authtok_reqd",
                                                                "acct_expired",
                                                                "session_err",
                                                                "cred_unavail",
                                                                "cred_expired",
                                                                "cred_err",
                                                                "no_module_data",
                                                                "conv_err",
                                                                "authtok_err",
                                                                "authtok_recover_err",
                                                                "authtok_lock_busy",
                                                                "authtok_disable_aging",
                                                                "try_again",
                                                                "ignore",
                                                                "abort",
                                                                "authtok_expired",
                                                                "module_unknown",
                                                                "bad_item",
                                                                "conv_again",
                                                                "incomplete"};
constexpr int kNewAuthtokReqd = 12;
constexpr unsigned kMaxIncludeDepth = 16;  // libpam's PAM_SUBSTACK_MAX_LEVEL

std::string lower(std::string s)
{
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// One logical line: continuations joined, comment cut; `line` is where it starts.
struct RawLine {
    unsigned line;
    std::string text;
};

std::vector<RawLine> logical_lines(const std::string& text)
{
    std::vector<RawLine> out;
    std::string cur;
    unsigned start = 0, n = 0;
    bool open = false;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t nl = text.find('\n', pos);
        std::string phys = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        ++n;
        if (!open) start = n;
        if (const auto hash = phys.find('#'); hash != std::string::npos) phys.erase(hash);
        const bool cont = !phys.empty() && phys.back() == '\\';
        if (cont) phys.back() = ' ';
        cur += phys;
        if (cont && nl != std::string::npos) {
            open = true;
        } else {
            if (cur.find_first_not_of(" \t\r\f\v") != std::string::npos) out.push_back({start, cur});
            cur.clear();
            open = false;
        }
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    return out;
}

// Tokens: whitespace-separated, except that "[ ... ]" is one token (with "\]"
// for a literal ']' inside), as libpam reads controls and module arguments.
std::vector<std::string> tokens(const std::string& s)
{
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) != 0) ++i;
        if (i >= s.size()) break;
        std::string tok;
        if (s[i] == '[') {
            while (i < s.size()) {
                if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == ']') {
                    tok += ']';
                    i += 2;
                    continue;
                }
                tok += s[i];
                if (s[i++] == ']') break;
            }
        } else {
            while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) == 0) tok += s[i++];
        }
        out.push_back(tok);
    }
    return out;
}

std::array<int, kReturnValues> filled(int action)
{
    std::array<int, kReturnValues> a{};
    a.fill(action);
    return a;
}

struct Loader {
    const Sources& src;
    Service& svc;
    std::set<std::string> active;  // files being read (an include loop is a fault)

    std::string label(const std::string& name) const
    {
        return !name.empty() && name[0] == '/' ? name : src.dir_label + "/" + name;
    }

    static bool facility_of(const std::string& word, Facility& f)
    {
        const std::string w = lower(word);
        if (w == "auth")
            f = Facility::auth;
        else if (w == "account")
            f = Facility::account;
        else if (w == "password")
            f = Facility::password;
        else if (w == "session")
            f = Facility::session;
        else
            return false;
        return true;
    }

    static ModuleLine faulty_line(const std::string& file, unsigned line, Facility f, unsigned level,
                                  const std::string& why)
    {
        ModuleLine m;
        m.file = file;
        m.line = line;
        m.facility = f;
        m.actions = filled(kActionBad);
        m.faulty = true;
        m.fault = why;
        m.level = level;
        return m;
    }

    // Reads `name` into the stacks (only `only` when set), `level` deep.
    void read(const std::string& name, std::optional<Facility> only, unsigned level, unsigned depth,
              const std::string& from_file, unsigned from_line)
    {
        const std::string file = label(name);
        std::optional<std::string> text;
        std::string why;
        if (depth > kMaxIncludeDepth)
            why = "includes nested too deep";
        else if (active.count(file) != 0)
            why = "includes itself";
        else if (!(text = src.read(name)))
            why = "cannot read " + file;
        if (!why.empty()) {
            for (std::size_t f = 0; f < kFacilities; ++f)
                if (!only || static_cast<std::size_t>(*only) == f)
                    svc.stacks[f].push_back(faulty_line(from_file, from_line, static_cast<Facility>(f), level, why));
            return;
        }
        active.insert(file);
        for (const auto& raw : logical_lines(*text)) parse_line(file, raw, only, level, depth);
        active.erase(file);
    }

    void parse_line(const std::string& file, const RawLine& raw, std::optional<Facility> only, unsigned level,
                    unsigned depth)
    {
        const auto t = tokens(raw.text);
        if (t.empty()) return;
        if (t[0] == "@include") {
            if (t.size() < 2) return;
            svc.included.push_back(t[1]);
            read(t[1], only, level, depth + 1, file, raw.line);
            return;
        }
        std::string type = t[0];
        const bool silent = !type.empty() && type[0] == '-';
        if (silent) type.erase(0, 1);
        Facility f{};
        if (!facility_of(type, f)) {
            // libpam installs it as a failing line of the facility asked for ("auth" if any).
            for (std::size_t i = 0; i < kFacilities; ++i)
                if (!only || static_cast<std::size_t>(*only) == i)
                    svc.stacks[i].push_back(faulty_line(file, raw.line, static_cast<Facility>(i), level,
                                                        "unknown module type '" + t[0] + "'"));
            return;
        }
        if (only && *only != f) return;
        auto& stack = svc.stacks[static_cast<std::size_t>(f)];
        if (t.size() < 2) {
            stack.push_back(faulty_line(file, raw.line, f, level, "no control"));
            return;
        }
        const std::string control = lower(t[1]);
        if (control == "include" || control == "substack") {
            if (t.size() < 3) {
                stack.push_back(faulty_line(file, raw.line, f, level, "no file to " + control));
                return;
            }
            svc.included.push_back(t[2]);
            if (control == "include") {
                read(t[2], f, level, depth + 1, file, raw.line);
                return;
            }
            ModuleLine marker;
            marker.file = file;
            marker.line = raw.line;
            marker.facility = f;
            marker.control = t[1];
            marker.module = t[2];
            marker.actions = filled(kActionIgnore);
            marker.level = level;
            marker.substack = true;
            stack.push_back(marker);
            read(t[2], f, level + 1, depth + 1, file, raw.line);
            return;
        }
        ModuleLine m;
        m.file = file;
        m.line = raw.line;
        m.facility = f;
        m.control = t[1];
        m.silent = silent;
        m.level = level;
        std::string why;
        if (auto actions = parse_control(t[1], why)) {
            m.actions = *actions;
        } else {
            m.actions = filled(kActionBad);
            m.faulty = true;
            m.fault = why;
        }
        if (t.size() < 3) {
            m.faulty = true;
            m.fault = "no module";
        } else {
            m.module = t[2];
            for (std::size_t i = 3; i < t.size(); ++i) {
                std::string a = t[i];
                if (a.size() >= 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
                m.args.push_back(a);
            }
            if (!m.faulty && !src.module_exists(m.module)) m.missing = true;
        }
        stack.push_back(std::move(m));
    }
};

// ---- running a stack -------------------------------------------------------

enum class Role {
    code,
    nullok_code,
    preauth,
    authfail,
    authsucc,
    account_check,
    permit,
    rootok,
    condition,
    passive,
    credential
};

const std::set<std::string>& condition_modules()
{
    static const std::set<std::string> s = {"pam_succeed_if.so", "pam_localuser.so", "pam_listfile.so",
                                            "pam_access.so",     "pam_wheel.so",     "pam_usertype.so",
                                            "pam_time.so",       "pam_exec.so",      "pam_sepermit.so",
                                            "pam_shells.so",     "pam_securetty.so", "pam_nologin.so"};
    return s;
}

const std::set<std::string>& passive_modules()
{
    static const std::set<std::string> s = {
        "pam_env.so",       "pam_faildelay.so", "pam_faillock.so",      "pam_echo.so",     "pam_warn.so",
        "pam_motd.so",      "pam_mail.so",      "pam_lastlog.so",       "pam_limits.so",   "pam_loginuid.so",
        "pam_keyinit.so",   "pam_selinux.so",   "pam_cap.so",           "pam_systemd.so",  "pam_umask.so",
        "pam_issue.so",     "pam_tty_audit.so", "pam_gnome_keyring.so", "pam_kwallet5.so", "pam_mkhomedir.so",
        "pam_namespace.so", "pam_xauth.so",     "pam_group.so",         "pam_deny.so"};
    return s;
}

bool is_authctl(const ModuleLine& m)
{
    return module_base(m.module) == "pam_authctl.so";
}

bool has_arg(const ModuleLine& m, const std::string& a)
{
    return std::find(m.args.begin(), m.args.end(), a) != m.args.end();
}

// What the line is, for the analysis (its mode for pam_authctl).
Role role_of(const ModuleLine& m, Facility f, const Context& ctx)
{
    const std::string base = module_base(m.module);
    if (base == "pam_authctl.so") {
        if (f != Facility::auth) return Role::account_check;
        if (has_arg(m, "preauth")) return Role::preauth;
        if (has_arg(m, "authfail")) return Role::authfail;
        if (has_arg(m, "authsucc")) return Role::authsucc;
        return has_arg(m, "nullok") || ctx.conf_nullok ? Role::nullok_code : Role::code;
    }
    if (base == "pam_permit.so") return Role::permit;
    if (base == "pam_rootok.so") return Role::rootok;
    if (condition_modules().count(base) != 0) return Role::condition;
    if (passive_modules().count(base) != 0) return Role::passive;
    return Role::credential;
}

bool is_code(Role r)
{
    return r == Role::code || r == Role::nullok_code || r == Role::account_check;
}

enum class Kind : std::uint8_t { success, success_nullok, failure, ignore };

struct Outcome {
    int retval;
    Kind kind;
};

std::vector<int> failure_values()
{
    std::vector<int> v;
    for (int i = 1; i < static_cast<int>(kReturnValues); ++i)
        if (i != kPamIgnore) v.push_back(i);
    return v;
}

// What the module on this line can return. `step_aside`: pam_authctl's answer
// to a configuration error where it steps aside (PAM_IGNORE).
std::vector<Outcome> outcomes(const ModuleLine& m, Role role, bool step_aside)
{
    if (m.faulty) return {{kPamPermDenied, Kind::failure}};
    if (m.missing) return {{kPamModuleUnknown, Kind::failure}};
    auto with_failures = [](std::vector<Outcome> v, const std::vector<int>& fails) {
        for (int r : fails) v.push_back({r, Kind::failure});
        return v;
    };
    if (step_aside && (is_code(role) || role == Role::preauth || role == Role::authfail || role == Role::authsucc))
        return {{kPamIgnore, Kind::ignore}};
    switch (role) {
        case Role::code: return with_failures({{kPamSuccess, Kind::success}}, {7, 11, 10, 19, 3, 5});
        case Role::nullok_code:
            return with_failures({{kPamSuccess, Kind::success}, {kPamSuccess, Kind::success_nullok}},
                                 {7, 11, 10, 19, 3, 5});
        case Role::account_check: return with_failures({{kPamSuccess, Kind::success}}, {6, 3, 5});
        case Role::preauth: return with_failures({{kPamSuccess, Kind::success}, {kPamIgnore, Kind::ignore}}, {11, 3});
        case Role::authfail: return with_failures({}, {7, 11, 3});
        case Role::authsucc: return with_failures({{kPamSuccess, Kind::success}, {kPamIgnore, Kind::ignore}}, {11, 3});
        case Role::permit: return {{kPamSuccess, Kind::success}};
        default: break;
    }
    if (module_base(m.module) == "pam_deny.so") return {{kPamAuthErr, Kind::failure}};
    return with_failures({{kPamSuccess, Kind::success}, {kPamIgnore, Kind::ignore}}, failure_values());
}

enum Impression : std::int8_t { undef, positive, negative };
enum StatusClass : std::int8_t { st_success, st_ignore, st_fail };

StatusClass class_of(int retval)
{
    return retval == kPamSuccess ? st_success : retval == kPamIgnore ? st_ignore : st_fail;
}

// A point of one run of the stack, with what the run has done so far.
struct State {
    std::size_t pc = 0;
    Impression imp = undef;
    StatusClass status = st_fail;
    std::vector<std::pair<Impression, StatusClass>> saved;  // per level: the state when its substack began
    bool code_ok = false;                                   // pam_authctl checked a code (or the lock, in account)
    bool credential = false;                                // another module took a secret
    bool root = false;                                      // pam_rootok succeeded: the caller is root
    int nullok_line = -1;                                   // pam_authctl passed a user by nullok
    int tolerated = -1;                                     // pam_authctl failed here and the run went on
    int skipper = -1;                                       // this line's done or jump passed pam_authctl by
    int authsucc = -1;                                      // pam_authctl authsucc succeeded before any code
    int locked = -1;                                        // preauth said locked and the run went on
    bool asked = false;                                     // a credential module ran after `locked`
    bool authsucc_early = false;

    auto key() const
    {
        return std::tie(pc, imp, status, saved, code_ok, credential, root, nullok_line, tolerated, skipper, authsucc,
                        locked, asked, authsucc_early);
    }
    bool operator<(const State& o) const { return key() < o.key(); }
};

struct End {
    bool success;
    State state;
};

class Runner {
public:
    using Fixed = std::function<int(const ModuleLine&)>;
    Runner(const std::vector<ModuleLine>& lines, Facility f, const Context& ctx, bool step_aside, Fixed fixed = {})
        : lines_(lines), f_(f), step_aside_(step_aside), fixed_(std::move(fixed))
    {
        for (const auto& l : lines_) roles_.push_back(role_of(l, f, ctx));
    }

    std::vector<End> run()
    {
        std::vector<State> work{State{}};
        work.back().saved.assign(1, {undef, st_fail});
        std::set<State> seen;
        std::vector<End> ends;
        while (!work.empty()) {
            State s = std::move(work.back());
            work.pop_back();
            if (!seen.insert(s).second) continue;
            if (seen.size() > 200000) break;  // bounded whatever the stack
            if (s.pc >= lines_.size()) {
                ends.push_back({s.imp == positive && s.status == st_success, s});
                continue;
            }
            const ModuleLine& m = lines_[s.pc];
            if (s.saved.size() < m.level + 1) s.saved.resize(m.level + 1, {s.imp, s.status});
            if (s.saved.size() > m.level + 1) s.saved.resize(m.level + 1);
            if (m.substack) {
                State n = s;
                n.saved.resize(m.level + 2);
                n.saved[m.level + 1] = {s.imp, s.status};
                n.pc = s.pc + 1;
                work.push_back(std::move(n));
                continue;
            }
            std::set<std::pair<int, Kind>> tried;
            const auto possible =
                fixed_ ? std::vector<Outcome>{fixed_outcome(m)} : outcomes(m, roles_[s.pc], step_aside_);
            for (const Outcome& o : possible) {
                const int action = m.actions[static_cast<std::size_t>(o.retval)];
                if (!tried.insert({action * 64 + class_of(o.retval), o.kind}).second) continue;
                step(s, o, action, work, ends);
            }
        }
        return ends;
    }

    bool has_code() const
    {
        return std::any_of(roles_.begin(), roles_.end(), [](Role r) { return is_code(r); });
    }

private:
    Outcome fixed_outcome(const ModuleLine& m) const
    {
        const int r = m.faulty ? kPamPermDenied : m.missing ? kPamModuleUnknown : fixed_(m);
        return {r, r == kPamSuccess ? Kind::success : r == kPamIgnore ? Kind::ignore : Kind::failure};
    }

    // The first line after the unit starting at i (a substack with its lines).
    std::size_t next_unit(std::size_t i) const
    {
        const unsigned level = lines_[i].level;
        std::size_t j = i + 1;
        while (j < lines_.size() && lines_[j].level > level) ++j;
        return j;
    }
    // The first line after the substack line i is in (the end for level 0).
    std::size_t scope_end(std::size_t i) const
    {
        const unsigned level = lines_[i].level;
        std::size_t j = i + 1;
        while (j < lines_.size() && lines_[j].level >= level) ++j;
        return level == 0 ? lines_.size() : j;
    }
    bool code_between(std::size_t from, std::size_t to) const
    {
        for (std::size_t i = from; i < to && i < lines_.size(); ++i)
            if (is_code(roles_[i]) && !lines_[i].faulty && !lines_[i].missing) return true;
        return false;
    }

    void step(const State& s, const Outcome& o, int action, std::vector<State>& work, std::vector<End>& ends)
    {
        State n = s;
        const std::size_t i = s.pc;
        const Role role = roles_[i];
        const int here = static_cast<int>(i);
        if (role == Role::rootok && o.kind == Kind::success) n.root = true;
        if (is_code(role)) {
            if (o.kind == Kind::success) n.code_ok = true;
            if (o.kind == Kind::success_nullok && n.nullok_line < 0) n.nullok_line = here;
            if ((o.kind == Kind::failure || o.kind == Kind::ignore) && n.tolerated < 0) n.tolerated = here;
            if (n.authsucc >= 0 && f_ == Facility::auth) n.authsucc_early = true;
        }
        if (role == Role::credential) {
            if (o.kind == Kind::success) n.credential = true;
            if (n.locked >= 0) n.asked = true;
        }
        if (role == Role::authsucc && o.kind == Kind::success && !n.code_ok && n.authsucc < 0) n.authsucc = here;
        if (role == Role::preauth && o.kind == Kind::failure && n.locked < 0) n.locked = here;

        const StatusClass cls = class_of(o.retval);
        const unsigned level = lines_[i].level;
        bool end_scope = false;
        std::size_t next = next_unit(i);
        switch (action) {
            case kActionIgnore: break;
            case kActionOk:
            case kActionDone:
                if (n.imp == undef || (n.imp == positive && n.status == st_success)) {
                    n.imp = positive;
                    n.status = cls;
                }
                end_scope = action == kActionDone && n.imp == positive;
                break;
            case kActionBad:
            case kActionDie:
                if (n.imp != negative) {
                    n.imp = negative;
                    n.status = st_fail;
                }
                end_scope = action == kActionDie;
                break;
            case kActionReset:
                n.imp = n.saved[level].first;
                n.status = n.saved[level].second;
                break;
            default: {  // a jump over `action` units, not out of the substack
                const std::size_t limit = scope_end(i);
                std::size_t j = next;
                int left = action;
                for (; left > 0 && j < limit; --left) j = next_unit(j);
                if (code_between(next, j) && n.skipper < 0 && !n.code_ok) n.skipper = here;
                if (left > 0) {  // past the end of its stack: libpam's "bad jump in stack", a failure
                    n.imp = negative;
                    n.status = st_fail;
                }
                next = j;
            }
        }
        if (end_scope) {
            const std::size_t to = scope_end(i);
            if (code_between(next, to) && n.skipper < 0 && !n.code_ok) n.skipper = here;
            next = to;
        }
        n.pc = next;
        if (n.pc >= lines_.size()) {
            if (seen_end_.insert(n).second) ends.push_back({n.imp == positive && n.status == st_success, n});
            return;
        }
        work.push_back(std::move(n));
    }

    const std::vector<ModuleLine>& lines_;
    Facility f_;
    bool step_aside_;
    Fixed fixed_;
    std::vector<Role> roles_;
    std::set<State> seen_end_;
};

Finding at(const ModuleLine& m, const std::string& id, Severity sev, const std::string& service)
{
    Finding f;
    f.id = id;
    f.severity = sev;
    f.file = m.file;
    f.line = m.line;
    f.services = {service};
    return f;
}

std::string action_text(int a)
{
    switch (a) {
        case kActionIgnore: return "ignore";
        case kActionOk: return "ok";
        case kActionDone: return "done";
        case kActionBad: return "bad";
        case kActionDie: return "die";
        case kActionReset: return "reset";
        default: return "jump " + std::to_string(a);
    }
}

void check_lines(const Service& svc, std::vector<Finding>& out)
{
    for (const auto& stack : svc.stacks)
        for (const auto& m : stack) {
            if (m.faulty) {
                Finding f = at(m, "pam.line_unusable", Severity::error, svc.name);
                f.message = "libpam cannot use this " + std::string(facility_text(m.facility)) + " line: " + m.fault;
                f.impact =
                    "the line fails every time it is reached: logins through it fail (a mistake that locks "
                    "users out), and whatever was meant to run there does not";
                f.fix = "correct the line (see pam.conf(5)); check with `authctl doctor` again";
                doctor::add_finding(out, std::move(f));
            } else if (m.missing && !m.silent) {
                Finding f = at(m, "pam.module_missing", Severity::error, svc.name);
                f.message = "module " + m.module + " is not where libpam looks for it";
                f.impact = "the line returns PAM_MODULE_UNKNOWN every time: with this control (" + m.control +
                           ") logins " +
                           (m.actions[kPamModuleUnknown] == kActionBad || m.actions[kPamModuleUnknown] == kActionDie
                                ? "through this stack fail"
                                : "go on without what the module was meant to check");
                f.fix = "install the module, or correct its name or path";
                doctor::add_finding(out, std::move(f));
            }
        }
}

}  // namespace

const char* facility_text(Facility f) noexcept
{
    switch (f) {
        case Facility::auth: return "auth";
        case Facility::account: return "account";
        case Facility::password: return "password";
        case Facility::session: return "session";
    }
    return "?";
}

std::optional<std::array<int, kReturnValues>> parse_control(const std::string& control, std::string& why)
{
    const std::string c = lower(control);
    auto a = filled(kActionBad);
    if (c == "required" || c == "requisite") {
        a = filled(c == "required" ? kActionBad : kActionDie);
        a[kPamSuccess] = kActionOk;
        a[kNewAuthtokReqd] = kActionOk;
        a[kPamIgnore] = kActionIgnore;
        return a;
    }
    if (c == "optional" || c == "sufficient") {
        a = filled(kActionIgnore);
        a[kPamSuccess] = a[kNewAuthtokReqd] = c == "optional" ? kActionOk : kActionDone;
        return a;
    }
    if (control.size() < 2 || control.front() != '[' || control.back() != ']') {
        why = "unknown control '" + control + "'";
        return std::nullopt;
    }
    constexpr int kUnset = -100;
    std::array<int, kReturnValues> set{};
    set.fill(kUnset);
    std::string body = control.substr(1, control.size() - 2);
    for (const auto& item : tokens(body)) {
        const auto eq = item.find('=');
        if (eq == std::string::npos) {
            why = "'" + item + "' in " + control + " is not value=action";
            return std::nullopt;
        }
        const std::string value = lower(item.substr(0, eq)), act = lower(item.substr(eq + 1));
        int action = 0;
        if (act == "ignore")
            action = kActionIgnore;
        else if (act == "ok")
            action = kActionOk;
        else if (act == "done")
            action = kActionDone;
        else if (act == "bad")
            action = kActionBad;
        else if (act == "die")
            action = kActionDie;
        else if (act == "reset")
            action = kActionReset;
        else if (!act.empty() && act.size() < 4 &&
                 std::all_of(act.begin(), act.end(),
                             [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)) != 0; }) &&
                 std::stoi(act) > 0)
            action = std::stoi(act);
        else {
            why = "unknown action '" + act + "' in " + control;
            return std::nullopt;
        }
        if (value == "default") {  // as libpam: the values not set so far, now
            for (auto& v : set)
                if (v == kUnset) v = action;
            continue;
        }
        const auto it = std::find_if(kValueNames.begin(), kValueNames.end(), [&](const char* n) { return value == n; });
        if (it == kValueNames.end()) {
            why = "unknown return value '" + value + "' in " + control;
            return std::nullopt;
        }
        set[static_cast<std::size_t>(it - kValueNames.begin())] = action;
    }
    for (std::size_t i = 0; i < kReturnValues; ++i) a[i] = set[i] == kUnset ? kActionBad : set[i];
    return a;
}

std::string module_base(const std::string& module)
{
    const auto slash = module.rfind('/');
    return slash == std::string::npos ? module : module.substr(slash + 1);
}

Service load_service(const std::string& name, const Sources& src)
{
    Service svc;
    svc.name = name;
    Loader loader{src, svc, {}};
    svc.file = loader.label(name);
    loader.read(name, std::nullopt, 0, 0, svc.file, 0);
    return svc;
}

std::optional<int> return_value(const std::string& name)
{
    const std::string n = lower(name);
    for (std::size_t i = 0; i < kReturnValues; ++i)
        if (n == kValueNames[i]) return static_cast<int>(i);
    return std::nullopt;
}

bool run_once(const std::vector<ModuleLine>& stack, Facility f, const std::function<int(const ModuleLine&)>& result)
{
    Runner r(stack, f, Context{}, false, result);
    const auto ends = r.run();
    return !ends.empty() && ends.front().success;
}

bool asks_code(const Service& svc)
{
    const Context none;
    for (const auto& m : svc.stacks[static_cast<std::size_t>(Facility::auth)])
        if (!m.faulty && !m.substack && is_authctl(m) && is_code(role_of(m, Facility::auth, none))) return true;
    return false;
}

bool has_other_credential(const Service& svc)
{
    const Context none;
    for (const auto& m : svc.stacks[static_cast<std::size_t>(Facility::auth)])
        if (!m.faulty && !m.substack && !m.module.empty() && role_of(m, Facility::auth, none) == Role::credential)
            return true;
    return false;
}

std::vector<Finding> analyze(const Service& svc, const Context& ctx)
{
    std::vector<Finding> out;
    check_lines(svc, out);
    const auto& auth = svc.stacks[static_cast<std::size_t>(Facility::auth)];
    const auto& account = svc.stacks[static_cast<std::size_t>(Facility::account)];
    Runner auth_run(auth, Facility::auth, ctx, false);
    const bool code_here = auth_run.has_code();
    const bool tally_here =
        std::any_of(auth.begin(), auth.end(), [](const ModuleLine& m) { return is_authctl(m) && !m.substack; });

    if (tally_here) {
        for (const End& e : auth_run.run()) {
            const State& s = e.state;
            if (s.locked >= 0 && s.asked) {
                const ModuleLine& m = auth[static_cast<std::size_t>(s.locked)];
                Finding f = at(m, "pam.preauth_not_requisite", Severity::warning, svc.name);
                f.message = "pam_authctl.so preauth does not end the stack when the user is locked (control " +
                            m.control + ": maxtries -> " + action_text(m.actions[11]) + ")";
                f.impact =
                    "a locked user is still asked for the password, so a guesser learns nothing from the lock "
                    "and the password prompt keeps running";
                f.fix = "stack it `requisite` (or [default=die] / success=ok)";
                doctor::add_finding(out, std::move(f));
            }
            if (s.authsucc_early && s.authsucc >= 0) {
                const ModuleLine& m = auth[static_cast<std::size_t>(s.authsucc)];
                Finding f = at(m, "pam.authsucc_before_code", Severity::error, svc.name);
                f.message = "pam_authctl.so authsucc runs before the code is checked";
                f.impact =
                    "it clears the failure count after the password alone: anyone who knows the password can "
                    "reset the count between guesses at the code, so the lock never comes";
                f.fix = "move the authsucc line after the code line, or remove it (the code line clears the count)";
                doctor::add_finding(out, std::move(f));
            }
            if (!e.success || s.root || s.code_ok || !code_here) continue;
            Finding f;
            if (s.nullok_line >= 0) {
                const ModuleLine& m = auth[static_cast<std::size_t>(s.nullok_line)];
                if (s.credential) {
                    f = at(m, "pam.nullok", Severity::note, svc.name);
                    f.message = "nullok: users without an enrollment pass pam_authctl.so without a code";
                    f.impact = "until everyone has enrolled, those users log in with the other factor alone";
                    f.fix = "remove nullok once every user has enrolled (authctl status lists who has not)";
                } else {
                    f = at(m, "pam.nullok_alone", Severity::error, svc.name);
                    f.message =
                        "nullok with nothing that takes a secret on the same path: a user without an "
                        "enrollment passes the stack with no credential at all";
                    f.impact =
                        "anyone who names a user who has not enrolled (a service account, a new user) gets in "
                        "through this stack without a password or a code";
                    f.fix = "remove nullok, or require a password module (pam_unix.so) on that path as well";
                }
            } else if (s.tolerated >= 0) {
                const ModuleLine& m = auth[static_cast<std::size_t>(s.tolerated)];
                f = at(m, "pam.bypass", Severity::error, svc.name);
                f.message = "a failure of pam_authctl.so here does not fail the stack (control " + m.control +
                            "): the stack still succeeds without a right code";
                f.impact = "a wrong code, or none, is enough: the second factor is decoration";
                f.fix =
                    "stack it `required` (or [success=ok default=die]) and let no later module turn the result "
                    "around";
            } else if (s.skipper >= 0) {
                const ModuleLine& m = auth[static_cast<std::size_t>(s.skipper)];
                const std::string base = module_base(m.module);
                const bool condition = condition_modules().count(base) != 0;
                f = at(m, "pam.bypass", condition ? Severity::warning : Severity::error, svc.name);
                f.message = base + " (control " + m.control + ") can end the stack or jump so that it succeeds " +
                            "without pam_authctl.so asking for the code";
                f.impact = condition ? "users this condition lets through log in without a code: an exemption, "
                                       "make sure it is meant"
                                     : "whatever " + base + " accepts (" +
                                           (base == "pam_permit.so" ? "anything" : "its own credential alone") +
                                           ") is enough to log in: no code is asked";
                f.fix =
                    "make the code line come first or be reached on every path: replace `sufficient` or "
                    "[success=done] by required/[success=ok], fix the jump count";
            } else {
                continue;
            }
            doctor::add_finding(out, std::move(f));
        }
    }

    // The console and cron keep working when the module's configuration is
    // broken only if the module stepping aside leaves a way through.
    const bool console = svc.name == "login";
    const bool cron = svc.name == "cron" || svc.name == "crond" || svc.name == "atd" || svc.name == "systemd-user";
    const auto& guarded = console ? auth : account;
    if ((console || cron) &&
        std::any_of(guarded.begin(), guarded.end(), [](const ModuleLine& m) { return is_authctl(m) && !m.substack; })) {
        Runner aside(guarded, console ? Facility::auth : Facility::account, ctx, true);
        const auto ends = aside.run();
        if (std::none_of(ends.begin(), ends.end(), [](const End& e) { return e.success; })) {
            const auto it =
                std::find_if(guarded.begin(), guarded.end(), [](const ModuleLine& m) { return is_authctl(m); });
            Finding f = at(*it, console ? "pam.console_depends_on_module" : "pam.cron_depends_on_module",
                           Severity::warning, svc.name);
            f.message = std::string(console ? "root's console login" : "cron's account phase") +
                        " has no way through when pam_authctl.so steps aside (a configuration error)";
            f.impact = console ? "a typo in authctl.conf takes away the console, the way back in"
                               : "a typo in authctl.conf stops every cron job";
            f.fix =
                "leave another module that can succeed on its own on that path (the stock pam_unix line), and "
                "stack pam_authctl.so `required`, not [default=die]";
            doctor::add_finding(out, std::move(f));
        }
    }

    if (code_here) {
        Runner acct_run(account, Facility::account, ctx, false);
        if (!acct_run.has_code()) {
            Finding f;
            f.id = "pam.account_missing";
            f.severity = Severity::warning;
            f.file = svc.file;
            f.services = {svc.name};
            f.message = "the auth stack asks pam_authctl.so for a code, but the account stack has no pam_authctl.so";
            f.impact =
                "a locked user still gets in where auth is skipped (ssh public-key logins without a code, "
                "a sudo timestamp)";
            f.fix = "add `account required pam_authctl.so` before `@include common-account`";
            doctor::add_finding(out, std::move(f));
        } else {
            for (const End& e : acct_run.run()) {
                if (!e.success || e.state.code_ok || e.state.root) continue;
                const int blame = e.state.tolerated >= 0 ? e.state.tolerated : e.state.skipper;
                if (blame < 0) continue;
                Finding f =
                    at(account[static_cast<std::size_t>(blame)], "pam.account_bypass", Severity::warning, svc.name);
                f.message = "the account stack can succeed without pam_authctl.so refusing a locked user";
                f.impact = "a locked user still gets in where auth is skipped (ssh public-key logins)";
                f.fix = "stack `account required pam_authctl.so` where every path reaches it";
                doctor::add_finding(out, std::move(f));
            }
        }
    }
    return out;
}

}  // namespace authctl::pam_stack
