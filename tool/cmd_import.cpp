// SPDX-License-Identifier: Apache-2.0
// authctl import google-authenticator | oath: keep users' existing phones working;
// authctl import faillock: carry pam_faillock's settings over.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <pwd.h>

#include "authctl/file_util.hpp"
#include "authctl/import.hpp"
#include "commands.hpp"

namespace authctl::cli {
namespace {

// Reads a file a user controls without trusting it: no symlinks (at the last
// component), a regular file owned by `owner` (or by root when `root_ok`: a
// file the administrator named), bounded in size. A user's own file must have
// one link, so a hard link to someone else's file cannot pass for it.
std::string read_user_file(const std::string& path, unsigned owner, bool root_ok)
{
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid()) fail(kExitFailed, "cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) fail(kExitFailed, "'" + path + "' is not a regular file");
    if (st.st_uid != owner && !(root_ok && st.st_uid == 0))
        fail(kExitFailed, "'" + path + "' is not owned by the user" + (root_ok ? " or root" : ""));
    if (st.st_uid != 0 && st.st_nlink != 1) fail(kExitFailed, "'" + path + "' has more than one link");
    if (st.st_size > static_cast<off_t>(kMaxImportFileBytes)) fail(kExitFailed, "'" + path + "' is too large");
    std::string text(static_cast<std::size_t>(st.st_size) + 1, '\0');
    std::size_t have = 0;
    for (;;) {
        const ssize_t n = ::read(fd.get(), text.data() + have, text.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(kExitFailed, "cannot read '" + path + "'");
        if (n == 0 || have + static_cast<std::size_t>(n) >= text.size()) {
            have += static_cast<std::size_t>(n);
            break;
        }
        have += static_cast<std::size_t>(n);
    }
    if (have > static_cast<std::size_t>(st.st_size)) fail(kExitFailed, "'" + path + "' changed while being read");
    text.resize(have);
    return text;
}

struct GaArgs {
    Common common;
    std::string user;
    std::string file;
    bool all = false;
    bool force = false;
    bool dry_run = false;
};

enum class Outcome { imported, skipped, failed };

// Imports one file (or, with dry_run, decides what importing it would do),
// printing on stdout a line for the user and one per setting not carried
// over. Throws Failure when the file cannot be imported.
// `store` is null only for a dry run on a state directory that does not exist yet.
Outcome import_ga(const StoreHandle* store, const Options& opts, const SystemUser& user, const std::string& path,
                  const GaArgs& a, bool named_by_admin)
{
    std::string text = read_user_file(path, user.uid, named_by_admin);
    auto f = parse_google_authenticator(text);
    wipe_string(text);
    if (!f) fail(kExitFailed, path + ": " + f.error().detail);
    auto pending = enrollment_from_google_authenticator(*f, store != nullptr ? store->now() : now());
    if (!pending) fail(pending.error());
    Result<std::optional<UserRecord>> existing = std::optional<UserRecord>{};
    if (store != nullptr) existing = (*store)->load(user.name);
    if (!existing) fail(existing.error());
    const ImportAction action = decide_import(*existing, pending->enrollment, a.force);
    if (action == ImportAction::already_imported) {
        std::cout << user.name << ": skipped: already imported (the same secret is enrolled"
                  << (a.force ? "; --force does not import it again" : "") << ")\n";
        return Outcome::skipped;
    }
    if (action == ImportAction::conflict)
        fail(kExitFailed, "already enrolled with another secret; not imported (--force replaces it)");
    const std::string what = std::string(f->type == OtpType::totp ? "TOTP" : "HOTP") + " from " + path + " with " +
                             std::to_string(f->scratch_codes.size()) + " scratch codes as recovery codes" +
                             (action == ImportAction::replace ? ", replacing its enrollment" : "");
    if (!a.dry_run) {
        pending->account = account_binding(*store, user);
        if (auto st = store_enrollment(**store, user.name, std::move(*pending), a.force); !st) fail(st.error());
    }
    std::cout << user.name << (a.dry_run ? ": would import " : ": imported ") << what << "\n";
    for (const auto& note : google_authenticator_not_carried(*f, opts)) std::cout << user.name << ": " << note << "\n";
    return Outcome::imported;
}

void run_ga(const GaArgs& a)
{
    if (a.all == !a.user.empty()) fail(kExitUsage, "give either -u USER [FILE] or --all");
    if (a.all && !a.file.empty()) fail(kExitUsage, "--all takes no FILE");
    const Options opts = load_options(a.common);
    // A dry run creates nothing, not even a missing state directory: without
    // one, every file would be imported.
    std::optional<StoreHandle> store;
    if (auto h = try_open_store(a.common, opts, !a.dry_run))
        store = std::move(*h);
    else if (!a.dry_run || h.error().code != Errc::not_found)
        fail(h.error());
    std::vector<std::pair<SystemUser, std::string>> todo;
    if (!a.all) {
        const SystemUser user = require_user(a.user);
        todo.emplace_back(user, a.file.empty() ? user.home + "/.google_authenticator" : a.file);
    } else {
        ::setpwent();
        while (const passwd* pw = ::getpwent()) {
            if (pw->pw_name == nullptr || pw->pw_dir == nullptr || pw->pw_dir[0] != '/') continue;
            SystemUser u{pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir};
            std::string path = u.home + "/.google_authenticator";
            struct stat st {};
            if (::lstat(path.c_str(), &st) == 0) todo.emplace_back(std::move(u), std::move(path));
        }
        ::endpwent();
    }
    int counts[3] = {0, 0, 0};
    for (const auto& [user, path] : todo) {
        try {
            ++counts[static_cast<int>(
                import_ga(store ? &*store : nullptr, opts, user, path, a, !a.all && !a.file.empty()))];
        } catch (const Failure& fl) {
            // One user: its one error line. --all: one line per user, then the tally.
            if (!a.all) throw Failure(fl.code, user.name + ": " + fl.what());
            std::cerr << "authctl: " << user.name << ": " << fl.what() << "\n";
            ++counts[static_cast<int>(Outcome::failed)];
        }
    }
    const int imported = counts[0], skipped = counts[1], failed = counts[2];
    if (a.all)
        std::cout << (a.dry_run ? "dry run, nothing written: " : "") << imported
                  << (a.dry_run ? " would be imported, " : " imported, ") << skipped << " skipped (already imported), "
                  << failed << " failed\n";
    if (failed > 0) fail(kExitFailed, std::to_string(failed) + " file(s) could not be imported (see above)");
}

struct OathArgs {
    Common common;
    std::string file;
    bool force = false;
};

void run_oath(const OathArgs& a)
{
    const Options opts = load_options(a.common);
    const StoreHandle store = open_store(a.common, opts, true);
    std::string text = read_user_file(a.file, 0, true);
    auto parsed = parse_oath_usersfile(text, store.now());
    wipe_string(text);
    if (!parsed) fail(kExitFailed, a.file + ": " + parsed.error().detail);
    int imported = 0;
    std::vector<std::string> problems = parsed->skipped;
    for (auto& e : parsed->entries) {
        auto user = find_user(e.user);
        if (!user) {
            problems.push_back("line " + std::to_string(e.line) + ": " + e.user + ": no such user");
            continue;
        }
        e.pending.account = account_binding(store, *user);
        if (auto st = store_enrollment(*store, user->name, std::move(e.pending), a.force); !st) {
            problems.push_back("line " + std::to_string(e.line) + ": " + e.user + ": " + st.error().message());
            continue;
        }
        std::cout << user->name << ": imported from " << a.file << " line " << e.line << "\n";
        ++imported;
    }
    for (const auto& p : problems) std::cerr << "authctl: " << a.file << ": " << p << "\n";
    std::cout << imported << " imported, " << problems.size() << " not imported\n";
    if (!problems.empty()) fail(kExitFailed, std::to_string(problems.size()) + " line(s) not imported (see above)");
}

struct FaillockArgs {
    std::string from = "/etc/security/faillock.conf";
    std::string conf;  // empty: /etc/security/authctl.conf
    bool dry_run = false;
};

// authctl import faillock: carries faillock.conf's settings into
// authctl.conf (core's import_faillock decides), says what became of each,
// and replaces authctl.conf atomically (root, 0644), never through a symlink.
void run_faillock(const FaillockArgs& a)
{
    if (::geteuid() != 0) fail(kExitFailed, "this command needs root: it writes authctl.conf");
    const std::string path = a.conf.empty() ? kDefaultConfigFile : a.conf;
    auto faillock = read_trusted_file(AT_FDCWD, a.from, kMaxConfigBytes, FileTrust::root_not_writable);
    if (!faillock) fail(faillock.error());
    std::string existing;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (S_ISLNK(st.st_mode)) fail(kExitFailed, "'" + path + "' is a symlink; not written through it");
        auto text = read_trusted_file(AT_FDCWD, path, kMaxConfigBytes, FileTrust::root_not_writable);
        if (!text) fail(text.error());
        existing.assign(text->view());
    } else if (errno != ENOENT) {
        fail(kExitFailed, "cannot read '" + path + "': " + std::strerror(errno));
    }
    auto merged = import_faillock(faillock->view(), a.from, existing, path);
    if (!merged) fail(kExitFailed, merged.error().detail + "; nothing written");
    std::size_t carried = 0;
    for (const auto& s : merged->settings) {
        std::cout << a.from << ":" << s.line << ": " << s.text << ": ";
        switch (s.outcome) {
            case CarryOutcome::carried:
                ++carried;
                std::cout << (a.dry_run ? "would be carried over" : "carried over");
                break;
            case CarryOutcome::same: std::cout << "already the same"; break;
            case CarryOutcome::not_carried: std::cout << "not carried"; break;
        }
        std::cout << (s.note.empty() ? "" : " (" + s.note + ")") << "\n";
    }
    if (a.dry_run) {
        std::cout << "dry run, nothing written; " << path << " would read:\n" << merged->config;
        if (!merged->config.empty() && merged->config.back() != '\n') std::cout << "\n";
        return;
    }
    if (!merged->changed) {
        std::cout << path << ": unchanged\n";
        return;
    }
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd.valid()) fail(kExitFailed, "cannot open '" + dir + "': " + std::strerror(errno));
    // The file may have become a symlink since it was read: refuse it still.
    if (::fstatat(dirfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        fail(kExitFailed, "'" + path + "' is a symlink; not written through it");
    if (auto w = replace_file(dirfd.get(), name, "." + name + ".authctl-import", merged->config, 0644); !w)
        fail(w.error());
    std::cout << path << ": written (" << carried << (carried == 1 ? " setting" : " settings")
              << " carried over); check it with 'authctl config check'\n";
}

}  // namespace

void register_import(CLI::App& app)
{
    auto* import =
        app.add_subcommand("import", "Import existing enrollments (users keep their phones) or faillock.conf");
    import->require_subcommand(1);

    auto ga = std::make_shared<GaArgs>();
    auto* g = import->add_subcommand("google-authenticator", "Import ~/.google_authenticator files");
    add_common(*g, ga->common, false);
    g->add_option("-u,--user", ga->user, "User whose file to import");
    g->add_option("file", ga->file, "File (default: the user's ~/.google_authenticator)");
    g->add_flag("--all", ga->all, "Every user with a ~/.google_authenticator");
    g->add_flag("--force", ga->force, "Replace an enrollment with another secret");
    g->add_flag("--dry-run", ga->dry_run, "Read and check the files, say what would be imported; write nothing");
    g->callback([ga] { run_ga(*ga); });

    auto oa = std::make_shared<OathArgs>();
    auto* o = import->add_subcommand("oath", "Import a pam_oath usersfile (e.g. /etc/users.oath)");
    add_common(*o, oa->common, false);
    o->add_option("file", oa->file, "The usersfile")->required();
    o->add_flag("--force", oa->force, "Replace existing enrollments");
    o->callback([oa] { run_oath(*oa); });

    auto fa = std::make_shared<FaillockArgs>();
    auto* f = import->add_subcommand("faillock", "Carry pam_faillock's faillock.conf over to authctl.conf");
    f->add_option("--from", fa->from, "faillock's configuration (default: /etc/security/faillock.conf)");
    f->add_option("--conf", fa->conf, "authctl.conf to write (default: /etc/security/authctl.conf)");
    f->add_flag("--dry-run", fa->dry_run, "Say what would be carried over and print the result; write nothing");
    f->callback([fa] { run_faillock(*fa); });
}

}  // namespace authctl::cli
