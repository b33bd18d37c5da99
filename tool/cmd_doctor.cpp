// SPDX-License-Identifier: Apache-2.0
// authctl doctor: reads the PAM stacks, sshd's effective configuration and
// authctl's own files and reports every way around the code and every
// mistake that locks people out. The judging is core's (pam_stack,
// sshd_check); here files are read and sshd is run. Exit 0 clean, 1
// findings (errors or warnings), 2 something could not be checked.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <glob.h>
#include <grp.h>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <ctime>
#include <set>
#include <sstream>

#include "audit_report.hpp"
#include "authctl/doctor.hpp"
#include "authctl/options.hpp"
#include "authctl/pam_stack.hpp"
#include "authctl/sshd_check.hpp"
#include "authctl/store.hpp"
#include "commands.hpp"
#include "doctor_login.hpp"
#include "run_program.hpp"

namespace authctl::cli {
namespace {

using doctor::Finding;
using doctor::Severity;

struct DoctorArgs {
    std::string root;
    std::string sshd = "/usr/sbin/sshd";
    std::string module_dir;
    std::string conf;
    bool no_sshd = false;
    bool json = false;
    std::string login;             // --login USER: one real transaction instead of the checks
    std::string service = "sshd";  // --service
};

constexpr int kSshdTimeoutMs = 10000;

std::optional<std::string> read_text(const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 1024 * 1024) return std::nullopt;
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool exists(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

struct Doctor {
    const DoctorArgs& a;
    std::vector<Finding> findings;
    std::vector<std::string> unchecked;  // what could not be checked, and why
    bool module_in_use = false;          // some service asks pam_authctl.so for a code

    std::string in_root(const std::string& path) const { return a.root + path; }

    Finding make(const std::string& id, Severity sev, const std::string& file, unsigned line,
                 const std::string& message, const std::string& impact, const std::string& fix)
    {
        Finding f;
        f.id = id;
        f.severity = sev;
        f.file = file;
        f.line = line;
        f.message = message;
        f.impact = impact;
        f.fix = fix;
        return f;
    }

    Options check_conf()
    {
        const std::string label = a.conf.empty() ? kDefaultConfigFile : a.conf;
        const std::string path = a.conf.empty() ? in_root(kDefaultConfigFile) : a.conf;
        const ConfigCheck check = check_config_file(path, a.conf.empty());
        for (const auto& p : check.problems)
            doctor::add_finding(
                findings, make("authctl.config_error", Severity::error, label, static_cast<unsigned>(p.line), p.message,
                               "pam_authctl refuses every login it is asked about until it is fixed "
                               "(except root's console login and cron's account phase)",
                               "correct the line; `authctl config check` lists every line at fault"));
        return check.opts;
    }

    std::vector<std::string> pam_files(const std::string& dir)
    {
        std::vector<std::string> out;
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) return out;
        while (const dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n.empty() || n[0] == '.' || n.back() == '~' || n.find(".dpkg-") != std::string::npos) continue;
            struct stat st {};
            if (::stat((dir + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.push_back(n);
        }
        ::closedir(d);
        std::sort(out.begin(), out.end());
        return out;
    }

    std::optional<pam_stack::Service> check_pam(const Options& opts, const std::string& module_dir)
    {
        const std::string dir = in_root("/etc/pam.d");
        pam_stack::Sources src;
        src.read = [&](const std::string& name) {
            return read_text(!name.empty() && name[0] == '/' ? in_root(name) : dir + "/" + name);
        };
        src.module_exists = [&](const std::string& module) {
            return exists(!module.empty() && module[0] == '/' ? in_root(module) : module_dir + "/" + module);
        };
        const auto names = pam_files(dir);
        if (names.empty()) {
            unchecked.push_back("PAM: no service files in " + dir);
            return std::nullopt;
        }
        std::vector<pam_stack::Service> services;
        std::set<std::string> included;
        for (const auto& n : names) {
            services.push_back(pam_stack::load_service(n, src));
            for (const auto& i : services.back().included) included.insert(i);
        }
        pam_stack::Context ctx;
        ctx.conf_nullok = opts.nullok && opts.store == StoreKind::file;
        std::optional<pam_stack::Service> sshd;
        bool any_code = false;
        for (const auto& svc : services) {
            if (svc.name == "sshd") sshd = svc;
            const bool named = svc.name == "sshd" || svc.name == "sudo" || svc.name == "su" || svc.name == "login";
            if (included.count(svc.name) != 0 && !named) continue;  // a file other services include
            for (auto& f : pam_stack::analyze(svc, ctx)) doctor::add_finding(findings, std::move(f));
            const bool code = pam_stack::asks_code(svc);
            any_code = any_code || code;
            if (named && !code) {
                Finding f = make("pam.not_stacked", Severity::note, svc.file, 0,
                                 svc.name + " does not ask pam_authctl.so for a code",
                                 "logins through " + svc.name + " take no second factor", "see the admin guide");
                f.services = {svc.name};
                doctor::add_finding(findings, std::move(f));
            }
        }
        module_in_use = any_code;
        if (!exists(module_dir + "/pam_authctl.so"))
            doctor::add_finding(findings,
                                make("authctl.module_not_installed", any_code ? Severity::error : Severity::note,
                                     module_dir + "/pam_authctl.so", 0,
                                     "pam_authctl.so is not where libpam looks for modules named without a path",
                                     "every line naming pam_authctl.so returns PAM_MODULE_UNKNOWN",
                                     "install the package (or the module) again"));
        return sshd;
    }

    std::optional<ProgramRun> sshd_run(const std::vector<std::string>& args)
    {
        auto run = run_program(a.sshd, args, kSshdTimeoutMs, 256 * 1024);
        if (!run) {
            unchecked.push_back("sshd: cannot run " + a.sshd + ": " + run.error().message());
            return std::nullopt;
        }
        return *run;
    }

    void check_sshd(const std::optional<pam_stack::Service>& sshd_pam, const Options& opts)
    {
        if (a.no_sshd) return;
        if (::access(a.sshd.c_str(), X_OK) != 0) {
            unchecked.push_back("sshd: " + a.sshd + " not found (--sshd PATH, or --no-sshd)");
            return;
        }
        const std::string label = "/etc/ssh/sshd_config";
        const auto main_text = read_text(in_root(label));
        if (!main_text) {
            unchecked.push_back("sshd: cannot read " + in_root(label));
            return;
        }
        // Every file sshd reads, drop-ins of drop-ins too (as deep as sshd
        // goes), each with the Include line that reads it.
        std::vector<sshd_check::ConfigFile> files{{label, *main_text}};
        std::vector<unsigned> depth{0};
        for (std::size_t parent = 0; parent < files.size(); ++parent) {
            if (depth[parent] >= sshd_check::kMaxIncludeDepth) continue;
            for (const auto& inc : sshd_check::include_patterns(files[parent].text)) {
                glob_t g{};
                if (::glob(in_root(inc.pattern).c_str(), 0, nullptr, &g) == 0)
                    for (std::size_t i = 0; i < g.gl_pathc; ++i)
                        if (auto t = read_text(g.gl_pathv[i])) {
                            files.push_back({std::string(g.gl_pathv[i]).substr(a.root.size()), *t, inc.line, parent});
                            depth.push_back(depth[parent] + 1);
                        }
                ::globfree(&g);
            }
        }

        // Under --root, sshd must read the root's files, not this host's: a
        // copy of each in a temporary mirror, every Include pointed into it.
        std::string config = in_root(label);
        std::string tmpdir, mirror;
        struct Cleanup {
            std::string dir;
            ~Cleanup()
            {
                std::error_code ec;
                if (!dir.empty()) std::filesystem::remove_all(dir, ec);
            }
        } cleanup;
        if (!a.root.empty()) {
            char tmpl[] = "/tmp/authctl-doctor.XXXXXX";
            if (::mkdtemp(tmpl) == nullptr) {
                unchecked.push_back("sshd: cannot make a temporary directory");
                return;
            }
            tmpdir = cleanup.dir = tmpl;
            mirror = tmpdir + "/root";
            config = tmpdir + "/sshd_config";
            std::error_code ec;
            std::ofstream(config) << sshd_check::rewrite_includes(*main_text, mirror);
            for (std::size_t i = 1; i < files.size() && !ec; ++i) {
                const std::filesystem::path copy = mirror + files[i].path;
                std::filesystem::create_directories(copy.parent_path(), ec);
                if (!ec) std::ofstream(copy) << sshd_check::rewrite_includes(files[i].text, mirror);
            }
            if (ec) {
                unchecked.push_back("sshd: cannot copy the configuration to " + tmpdir + ": " + ec.message());
                return;
            }
        }

        const auto test = sshd_run({"sshd", "-t", "-f", config});
        if (!test) return;
        if (test->exit_status != 0) {
            auto loc = sshd_check::error_location(test->err);
            if (loc.file == config)
                loc.file = label;
            else if (!mirror.empty() && loc.file.rfind(mirror, 0) == 0)
                loc.file = loc.file.substr(mirror.size());
            if (test->err.find("privilege separation directory") != std::string::npos) {
                unchecked.push_back("sshd: " + one_line(test->err));
                return;
            }
            doctor::add_finding(
                findings, make("sshd.config_rejected", Severity::error, loc.file.empty() ? label : loc.file, loc.line,
                               "sshd -t rejects the configuration: " + one_line(test->err),
                               "sshd does not start (or reload) with it: the next restart locks "
                               "everyone out of ssh",
                               "correct the line, then sshd -t before systemctl reload ssh"));
            return;
        }
        sshd_check::Context ctx;
        ctx.module_for_sshd = sshd_pam && pam_stack::asks_code(*sshd_pam);
        ctx.other_credential = sshd_pam && pam_stack::has_other_credential(*sshd_pam);
        ctx.root_never_locked =
            !opts.lockout.even_deny_root && !opts.lockout.root_unlock_time_set && opts.lockout.root_throttle == 0;
        const auto global = sshd_run({"sshd", "-T", "-f", config});
        if (!global) return;
        if (global->exit_status != 0) {
            unchecked.push_back("sshd -T: " + one_line(global->err));
            return;
        }
        std::set<std::string> ids;
        for (auto& f : sshd_check::check(sshd_check::parse_effective(global->out), files, nullptr, ctx)) {
            ids.insert(f.id);
            doctor::add_finding(findings, std::move(f));
        }
        const auto member_of = [](const std::string& group) -> std::optional<std::string> {
            const struct group* g = ::getgrnam(group.c_str());
            if (g == nullptr) return std::nullopt;
            if (g->gr_mem != nullptr && g->gr_mem[0] != nullptr) return std::string(g->gr_mem[0]);
            return std::nullopt;
        };
        for (const auto& block : sshd_check::match_blocks(files, member_of)) {
            if (block.probe.empty()) {
                Finding f = make("sshd.match_not_checked", Severity::note, block.file, block.line,
                                 "Match " + block.criteria + " not checked: " + block.why_not,
                                 "a block that loosens things for some users would go unseen",
                                 "check it by hand: sshd -T -C user=...,host=...,addr=...");
                doctor::add_finding(findings, std::move(f));
                continue;
            }
            const auto run = sshd_run({"sshd", "-T", "-f", config, "-C", block.probe});
            if (!run) return;
            if (run->exit_status != 0) {
                unchecked.push_back("sshd -T -C " + block.probe + ": " + one_line(run->err));
                continue;
            }
            for (auto& f : sshd_check::check(sshd_check::parse_effective(run->out), files, &block, ctx))
                if (ids.count(f.id) == 0) doctor::add_finding(findings, std::move(f));
        }
    }

    void check_state(const Options& opts)
    {
        if (opts.store != StoreKind::file) return;  // the fleet database: `authctl fleet status`
        const std::string dir = in_root(opts.dir);
        auto store = UserStore::open(dir);
        if (!store) {
            const bool absent = store.error().code == Errc::not_found;
            doctor::add_finding(
                findings, make("authctl.state_dir", absent && !module_in_use ? Severity::note : Severity::error,
                               opts.dir, 0, "state directory: " + store.error().message(),
                               "pam_authctl refuses every login it is asked about (fail closed)",
                               "root-owned, mode 0700, not a symlink: chown root:root " + opts.dir + " && chmod 0700 " +
                                   opts.dir));
            return;
        }
        if (auto key = store->existing_bucket_key(); !key && key.error().code != Errc::not_found)
            doctor::add_finding(
                findings,
                make("authctl.bucket_key", Severity::warning, opts.dir + "/.bucket.key", 0,
                     "the key of the buckets of names that do not exist is refused: " + key.error().message(),
                     "pam_authctl counts names that do not exist in public buckets (logged at every such login): "
                     "an attacker can then tell which names exist with deny + 1 tries",
                     "rm " + opts.dir + "/.bucket.key (pam_authctl makes a new one, root-owned 0600, when it "
                     "next needs it)"));
        const std::int64_t now = std::time(nullptr);
        const Status st = store->scan([&](const std::string& user, Result<std::optional<UserRecord>>&& rec) {
            if (rec) {
                if (*rec && (*rec)->invitation) check_invitation(user, *(*rec)->invitation, opts, now);
                return;
            }
            Finding f =
                make("authctl.record_unreadable", Severity::error, opts.dir + "/" + quoted_name(user), 0,
                     user + ": " + rec.error().message(), "the user cannot log in through the module (it fails closed)",
                     "authctl status -u " + quoted_name(user) + "; restore the record or enroll again");
            doctor::add_finding(findings, std::move(f));
        });
        if (!st)
            doctor::add_finding(findings, make("authctl.state_dir", Severity::error, opts.dir, 0,
                                               "state directory: " + st.error().message(),
                                               "pam_authctl refuses logins it cannot decide", "see authctl audit"));
    }

    // An invitation that has lapsed, or will within kInviteSoon: the user
    // cannot enroll at login after it (issue 17).
    static constexpr std::int64_t kInviteSoon = 3 * 24 * 3600;
    void check_invitation(const std::string& user, const Invitation& inv, const Options& opts, std::int64_t now)
    {
        const std::string who = quoted_name(user);
        const std::string file = opts.dir + "/" + who;
        const std::string again = "authctl invite -u " + who + (inv.replace ? " --replace" : "");
        if (inv.expires <= now) {
            doctor::add_finding(findings, make("authctl.invitation_expired", Severity::note, file, 0,
                                               who + "'s invitation expired " + utc_time(inv.expires) + " UTC",
                                               who + " can no longer enroll at login",
                                               again + " to invite again, or authctl uninvite -u " + who));
        } else if (inv.expires - now <= kInviteSoon) {
            const std::int64_t hours = (inv.expires - now + 3599) / 3600;
            doctor::add_finding(findings, make("authctl.invitation_expiring", Severity::note, file, 0,
                                               who + "'s invitation expires in " + std::to_string(hours) + " hour" +
                                                   (hours == 1 ? "" : "s") + " (" + utc_time(inv.expires) + " UTC)",
                                               "if " + who + " has not logged in by then, they cannot enroll at login",
                                               again + " --for 7d to give them longer"));
        }
    }

    void check_enrollments()
    {
        AuditArgs aa;
        aa.common.conf = a.conf;
        const AuditReport r = collect_audit(aa);
        for (const auto& af : r.findings) {
            if (af.kind == "state" || af.kind == "unexpected_entry") continue;  // check_state's
            doctor::add_finding(findings, make("authctl.audit." + af.kind, Severity::warning, "", 0, af.message,
                                               "a user who may use sudo gets root without a second factor, or "
                                               "cannot get it at all",
                                               "authctl enroll -u USER --confirm (see authctl audit)"));
        }
    }

    void check_clock()
    {
        struct Probe {
            std::string path;
            std::vector<std::string> argv;
        };
        const std::vector<Probe> probes = {
            {"/usr/bin/timedatectl", {"timedatectl", "show", "-p", "NTPSynchronized", "--value"}},
            {"/usr/bin/chronyc", {"chronyc", "-n", "tracking"}},
            {"/usr/sbin/ntpq", {"ntpq", "-n", "-c", "rv 0 leap"}},
            {"/usr/bin/ntpq", {"ntpq", "-n", "-c", "rv 0 leap"}}};
        for (const auto& p : probes) {
            if (::access(p.path.c_str(), X_OK) != 0) continue;
            auto run = run_program(p.path, p.argv, 5000);
            if (!run || run->exit_status != 0) continue;
            bool synced = false;
            if (p.argv[0] == "timedatectl")
                synced = run->out.rfind("yes", 0) == 0;
            else if (p.argv[0] == "chronyc")
                synced = run->out.find("Leap status     : Normal") != std::string::npos;
            else
                synced =
                    run->out.find("leap=00") != std::string::npos || run->out.find("leap_none") != std::string::npos;
            if (!synced)
                doctor::add_finding(findings,
                                    make("authctl.clock_not_synchronized", Severity::warning, "", 0,
                                         "the clock is not synchronized (" + p.argv[0] + ")",
                                         "time-based codes drift out of the window: right codes are refused and "
                                         "counted toward the lock",
                                         "enable time synchronization (systemd-timesyncd, chrony or ntpd)"));
            return;
        }
        unchecked.push_back("clock: neither timedatectl, chronyc nor ntpq answered");
    }
};

nlohmann::json finding_json(const Finding& f)
{
    return {{"id", f.id},
            {"severity", doctor::severity_text(f.severity)},
            {"file", f.file.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.file)},
            {"line", f.line == 0 ? nlohmann::json(nullptr) : nlohmann::json(f.line)},
            {"services", f.services},
            {"message", f.message},
            {"impact", f.impact},
            {"fix", f.fix}};
}

void run_doctor(const DoctorArgs& a)
{
    if (::geteuid() != 0) fail(kExitUsage, "doctor reads root-only files: run it as root");
    Doctor d{a, {}, {}};
    const Options opts = d.check_conf();
    const std::string module_dir = !a.module_dir.empty() ? a.module_dir : d.in_root(AUTHCTL_LIBPAM_MODULE_DIR);
    const auto sshd_pam = d.check_pam(opts, module_dir);
    d.check_sshd(sshd_pam, opts);
    d.check_state(opts);
    if (a.root.empty()) {
        d.check_enrollments();
        d.check_clock();
    }
    doctor::sort_findings(d.findings);
    std::size_t errors = 0, warnings = 0, notes = 0;
    for (const auto& f : d.findings)
        (f.severity == Severity::error ? errors : f.severity == Severity::warning ? warnings : notes)++;
    const int code = errors + warnings > 0 ? kExitFailed : d.unchecked.empty() ? kExitOk : kExitUsage;
    if (a.json) {
        nlohmann::json jf = nlohmann::json::array();
        for (const auto& f : d.findings) jf.push_back(finding_json(f));
        std::cout << nlohmann::json({{"findings", jf},
                                     {"unchecked", d.unchecked},
                                     {"summary", {{"errors", errors}, {"warnings", warnings}, {"notes", notes}}},
                                     {"exit", code}})
                         .dump(2)
                  << "\n";
    } else {
        for (const auto& f : d.findings) {
            std::cout << doctor::severity_text(f.severity) << " " << f.id;
            if (!f.file.empty()) std::cout << " " << f.file << (f.line > 0 ? ":" + std::to_string(f.line) : "");
            if (!f.services.empty()) {
                std::cout << " [";
                for (std::size_t i = 0; i < f.services.size(); ++i) std::cout << (i ? ", " : "") << f.services[i];
                std::cout << "]";
            }
            std::cout << "\n  " << f.message << "\n  gives: " << f.impact << "\n  fix: " << f.fix << "\n";
        }
        for (const auto& u : d.unchecked) std::cout << "not checked: " << u << "\n";
        std::cout << "doctor: " << errors << " error(s), " << warnings << " warning(s), " << notes << " note(s)"
                  << (d.unchecked.empty() ? "" : ", " + std::to_string(d.unchecked.size()) + " not checked") << "\n";
    }
    if (code != kExitOk) throw Failure(code, code == kExitFailed ? "findings" : "some checks could not run");
}

}  // namespace

void register_doctor(CLI::App& app)
{
    auto da = std::make_shared<DoctorArgs>();
    auto* doc = app.add_subcommand(
        "doctor",
        "Find the ways around the code in the PAM stacks and sshd's configuration (exit 0 clean, 1 findings, "
        "2 not checked)");
    doc->add_option("--root", da->root, "Read etc/pam.d, etc/security, etc/ssh and the state directory under DIR")
        ->check(CLI::ExistingDirectory);
    doc->add_option("--sshd", da->sshd, "The sshd to ask for its effective configuration (default /usr/sbin/sshd)");
    doc->add_flag("--no-sshd", da->no_sshd, "Skip the sshd checks");
    doc->add_option("--module-dir", da->module_dir,
                    "Where libpam finds modules named without a path (default: libpam's, under --root)");
    doc->add_option("--conf", da->conf, "Configuration file (default: /etc/security/authctl.conf, under --root)");
    doc->add_flag("--json", da->json, "Print the findings as JSON");
    doc->add_option("--login", da->login,
                    "Instead of the checks: one real login as USER (authenticate, then account), asking on this "
                    "terminal; it uses up a code and counts failures like a real login");
    doc->add_option("--service", da->service, "The PAM service for --login (default sshd)");
    doc->callback([da] {
        while (da->root.size() > 1 && da->root.back() == '/') da->root.pop_back();
        if (da->root == "/") da->root.clear();
        if (!da->login.empty()) {
            if (::geteuid() != 0) fail(kExitUsage, "doctor --login runs the PAM stack as login does: run it as root");
            const int rc = doctor_login(da->login, da->service, da->root.empty() ? "" : da->root + "/etc/pam.d");
            if (rc != 0) throw Failure(rc, rc == 1 ? "the login would fail" : "no PAM transaction could be started");
            return;
        }
        run_doctor(*da);
    });
}

}  // namespace authctl::cli
