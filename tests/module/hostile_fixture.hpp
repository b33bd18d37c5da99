// SPDX-License-Identifier: Apache-2.0
// Shared by the hostile-state tests (module through libpam, and the CLI): a
// private "world" directory holding the state directory and files outside it,
// snapshots that prove nothing in that world changed, the CLI run with a
// deadline, and helpers to enroll and to find a log line. Users come from
// tests/module/data/hostile_passwd (nss_wrapper), which also holds account
// names such as "../etc/passwd", "a/b", a 300-byte name and invalid UTF-8.
#pragma once

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <ctime>
#include <iostream>
#include <map>
#include <pwd.h>
#include <sstream>
#include <string>
#include <vector>

#include "authctl/enrollment.hpp"
#include "authctl/otp.hpp"
#include "authctl/store.hpp"
#include "pam_harness.hpp"

namespace authctl::test {

// One filesystem object as lstat sees it, with its bytes (regular files) or
// its target (symlinks). Times are compared to the nanosecond: a file that was
// rewritten, re-linked or chmod-ed differs even with the same bytes.
struct FsEntry {
    mode_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    nlink_t nlink = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::string data;  // file contents or link target; never read from FIFOs or devices

    bool operator==(const FsEntry&) const = default;
    std::string describe() const
    {
        std::ostringstream o;
        o << "mode " << std::oct << mode << std::dec << " uid " << uid << " links " << nlink << " ino " << ino
          << " size " << size << " mtime " << mtime_ns << " ctime " << ctime_ns << " data " << data.size() << " bytes";
        return o.str();
    }
};
using FsSnapshot = std::map<std::string, FsEntry>;

inline std::int64_t ns(const timespec& t)
{
    return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// Everything under `root` (root itself included, as "."), without following
// symlinks and without opening anything that is not a regular file.
inline void snapshot_into(FsSnapshot& out, const std::string& path, const std::string& rel)
{
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return;
    FsEntry e{st.st_mode, st.st_uid, st.st_gid, st.st_nlink, st.st_ino, st.st_size, ns(st.st_mtim), ns(st.st_ctim), {}};
    if (S_ISREG(st.st_mode)) {
        e.data = read_file(path);
    } else if (S_ISLNK(st.st_mode)) {
        std::string target(4096, '\0');
        const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
        target.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        e.data = target;
    }
    out[rel] = e;
    if (!S_ISDIR(st.st_mode)) return;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return;
    std::vector<std::string> names;
    while (const dirent* ent = ::readdir(d)) {
        const std::string n = ent->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    for (const auto& n : names) snapshot_into(out, path + "/" + n, rel == "." ? n : rel + "/" + n);
}

inline FsSnapshot snapshot(const std::string& root)
{
    FsSnapshot out;
    snapshot_into(out, root, ".");
    return out;
}

// What changed between two snapshots, one line per path; "" when nothing did.
inline std::string snapshot_diff(const FsSnapshot& before, const FsSnapshot& after)
{
    std::string out;
    for (const auto& [path, e] : before) {
        auto it = after.find(path);
        if (it == after.end())
            out += "removed: " + path + "\n";
        else if (!(it->second == e))
            out += "changed: " + path + "\n  before: " + e.describe() + "\n  after:  " + it->second.describe() + "\n";
    }
    for (const auto& [path, e] : after)
        if (before.find(path) == before.end()) out += "created: " + path + " (" + e.describe() + ")\n";
    return out;
}

// The entries of one directory, sorted, as "name\n" lines.
inline std::string listing(const std::string& dir)
{
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* ent = ::readdir(d)) {
            const std::string n = ent->d_name;
            if (n != "." && n != "..") names.push_back(n);
        }
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    std::string out;
    for (const auto& n : names) out += n + "\n";
    return out;
}

// A login through libpam that hangs (a FIFO read without O_NONBLOCK, say)
// ends the test process with a message instead of waiting for CTest's timeout.
class HangGuard {
public:
    explicit HangGuard(unsigned seconds)
    {
        ::signal(SIGALRM, [](int) {
            static const char msg[] = "\nFAILED: a login through libpam did not return within its deadline (hang)\n";
            (void)!::write(2, msg, sizeof msg - 1);
            ::_exit(3);
        });
        ::alarm(seconds);
    }
    ~HangGuard()
    {
        ::alarm(0);
        ::signal(SIGALRM, SIG_DFL);
    }
    HangGuard(const HangGuard&) = delete;
    HangGuard& operator=(const HangGuard&) = delete;
};

// The line of `log` holding every one of `parts`, or "" if none does.
inline std::string line_with(const std::string& log, const std::vector<std::string>& parts)
{
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        bool all = true;
        for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
        if (all) return line;
    }
    return "";
}

// The CLI's error contract (docs/authctl.md): exactly one line on stderr,
// starting with "authctl: ".
inline ::testing::AssertionResult one_error_line(const CmdResult& r, const std::string& phrase)
{
    if (r.err.rfind("authctl: ", 0) != 0 || std::count(r.err.begin(), r.err.end(), '\n') != 1 || r.err.back() != '\n')
        return ::testing::AssertionFailure() << "not one 'authctl: ' line on stderr: [" << r.err << "]";
    if (r.err.find(phrase) == std::string::npos)
        return ::testing::AssertionFailure() << "stderr [" << r.err << "] does not say '" << phrase << "'";
    return ::testing::AssertionSuccess();
}

class HostileTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        syslog_ = new SyslogCapture();
        if (!syslog_->available())
            std::cerr << "[   NOTE   ] /dev/log is served by a running syslog: log lines are not checked\n";
    }
    static void TearDownTestSuite()
    {
        delete syslog_;
        syslog_ = nullptr;
    }

    void SetUp() override
    {
        ASSERT_EQ(::geteuid(), 0U) << "these tests run as root";
        ASSERT_NE(::getpwnam("alice"), nullptr) << "nss_wrapper is not active";
        ASSERT_NE(::getpwnam("../etc/passwd"), nullptr) << "nss_wrapper does not read tests/module/data/hostile_passwd";
        world_ = tmp_ / "world";
        state_ = world_ + "/state";
        outside_ = world_ + "/outside";
        confdir_ = tmp_ / "pam.d";
        conf_ = tmp_ / "authctl.conf";
        ASSERT_EQ(::mkdir(world_.c_str(), 0700), 0);
        ASSERT_EQ(::mkdir(outside_.c_str(), 0700), 0);
        ASSERT_EQ(::mkdir(confdir_.c_str(), 0755), 0);
        ASSERT_TRUE(UserStore::open_or_create(state_));
        write_file(conf_, "# test configuration\n", 0644);
        syslog_->drain();
    }

    // The module with `args` for auth and account, its state in `dir`.
    std::string service(const std::string& dir, const std::string& args)
    {
        const std::string m = std::string(AUTHCTL_PAM_MODULE) + " dir=" + dir + " conf=" + conf_ + " nodelay " + args;
        write_file(confdir_ + "/hostile", "auth required " + m + "\naccount required " + m + "\n", 0644);
        return "hostile";
    }
    PamRun auth(const std::string& user, const std::string& answer, const std::string& dir,
                const std::string& args = "")
    {
        const HangGuard guard(20);
        return pam_run(confdir_, service(dir, args), user, {answer});
    }
    PamRun account(const std::string& user, const std::string& dir, const std::string& args = "")
    {
        const HangGuard guard(20);
        return pam_run(confdir_, service(dir, args), user, {}, Phase::account);
    }

    // authctl SUBCOMMAND --dir DIR --conf CONF ARGS...
    CmdResult cli(const std::string& sub, const std::vector<std::string>& args, const std::string& dir,
                  const std::string& input = "")
    {
        std::vector<std::string> argv = {AUTHCTL_CLI, sub, "--dir", dir, "--conf", conf_};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_cmd(argv, input);
    }

    // An HOTP enrollment (codes do not depend on the clock) with `failures` counted.
    Enrollment enroll(const std::string& user, const std::string& dir, std::uint32_t failures = 0)
    {
        auto store = UserStore::open(dir);
        EXPECT_TRUE(store) << store.error().message();
        auto held = store->lock(user);
        EXPECT_TRUE(held) << held.error().message();
        UserRecord r;
        EnrollParams p;
        p.type = OtpType::hotp;
        auto e = new_enrollment(p, std::time(nullptr));
        EXPECT_TRUE(e);
        r.enrollment = std::move(*e);
        if (failures > 0) {
            r.tally.failures = failures;
            r.tally.first_failure = r.tally.last_failure = std::time(nullptr);
            r.tally.last_source = "192.0.2.99";
        }
        Enrollment copy = r.enrollment->clone();
        held->record() = std::move(r);
        auto st = held->commit();
        EXPECT_TRUE(st) << st.error().message();
        return copy;
    }
    static std::string code(const Enrollment& e, std::uint64_t counter)
    {
        auto v = hotp_value(e.secret, counter, e.algo, e.digits);
        EXPECT_TRUE(v);
        return format_code(*v, e.digits);
    }
    static std::string wrong_for(const std::string& right)
    {
        std::string w = right;
        w[0] = w[0] == '9' ? '0' : static_cast<char>(w[0] + 1);
        return w;
    }

    // What the module logged for this test's service since the last call
    // (lines of other programs sharing /dev/log are left out).
    std::string log() { return ours(log_raw()); }
    std::string log_raw() { return syslog_->drain(); }
    static std::string ours(const std::string& raw)
    {
        std::istringstream in(raw);
        std::string out;
        for (std::string line; std::getline(in, line);)
            if (line.find("pam_authctl(hostile:") != std::string::npos) out += line + "\n";
        return out;
    }
    bool log_visible() const { return syslog_->available(); }

    TempDir tmp_;
    std::string world_, state_, outside_, confdir_, conf_;
    inline static SyslogCapture* syslog_ = nullptr;
};

}  // namespace authctl::test
