// SPDX-License-Identifier: Apache-2.0
// pam_authctl.so through the real libpam: every behaviour of issue #3, driven
// by pam_start_confdir with a private service directory. Users come from
// tests/module/data/passwd through nss_wrapper (set by CTest), so the
// machine's user database is never touched.
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <dlfcn.h>
#include <algorithm>
#include <filesystem>
#include <set>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <pwd.h>
#include <sched.h>
#include <thread>

#include "authctl/enrollment.hpp"
#include "audit_reader.hpp"
#include "authctl/login.hpp"
#include "authctl/username.hpp"
#include "pam_harness.hpp"

namespace authctl {
namespace {

using test::pam_run;
using test::Phase;

constexpr const char* kModule = AUTHCTL_PAM_MODULE;
constexpr const char* kAddressA = "198.51.100.1";
constexpr const char* kAddressB = "203.0.113.7";

class ModuleTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { syslog_ = new test::SyslogCapture(); }
    static void TearDownTestSuite()
    {
        delete syslog_;
        syslog_ = nullptr;
    }

    void SetUp() override
    {
        ASSERT_EQ(::geteuid(), 0U) << "module tests run as root";
        ASSERT_NE(::getpwnam("alice"), nullptr) << "nss_wrapper is not active (CTest sets LD_PRELOAD)";
        confdir_ = tmp_ / "pam.d";
        state_ = tmp_ / "state";
        conf_ = tmp_ / "authctl.conf";
        ASSERT_EQ(::mkdir(confdir_.c_str(), 0755), 0);
        ASSERT_TRUE(UserStore::open_or_create(state_));
        test::write_file(conf_, "# test configuration\n", 0644);
        syslog_->drain();
    }

    // Writes a one-line auth + account stack for the module with `args`.
    std::string stack(const std::string& args, const std::string& name = "authctl-test")
    {
        test::write_file(confdir_ + "/" + name,
                         "auth    required " + std::string(kModule) + " " + base_args() + " " + args + "\n" +
                             "account required " + std::string(kModule) + " " + base_args() + " " + args + "\n",
                         0644);
        return name;
    }
    std::string base_args() const { return "dir=" + state_ + " conf=" + conf_ + " nodelay"; }

    test::PamRun auth(const std::string& user, std::deque<std::string> answers, const std::string& args = "")
    {
        return pam_run(confdir_, stack(args), user, std::move(answers));
    }
    test::PamRun account(const std::string& user, const std::string& args = "")
    {
        return pam_run(confdir_, stack(args), user, {}, Phase::account);
    }
    // A login from `rhost` (nullptr: none; then `tty`, else the service, is the source).
    test::PamRun auth_from(const char* rhost, const std::string& user, std::deque<std::string> answers,
                           const std::string& args, const char* tty = nullptr)
    {
        return pam_run(confdir_, stack(args), user, std::move(answers), Phase::authenticate, 0, false, rhost, tty);
    }
    test::PamRun account_from(const char* rhost, const std::string& user, const std::string& args)
    {
        return pam_run(confdir_, stack(args), user, {}, Phase::account, 0, false, rhost);
    }
    const SourceTally* source_entry(const Tally& t, const std::string& key)
    {
        const SourceTally* entry = find_source(t, key);
        EXPECT_NE(entry, nullptr) << "no entry for " << key;
        return entry;
    }

    Enrollment enroll(const std::string& user, EnrollParams params = {}, std::size_t recovery = 0)
    {
        auto store = UserStore::open(state_);
        EXPECT_TRUE(store);
        auto held = store->lock(user);
        EXPECT_TRUE(held);
        UserRecord r;
        if (held->record()) r.tally = held->record()->tally;
        auto e = new_enrollment(params, std::time(nullptr));
        EXPECT_TRUE(e);
        r.enrollment = std::move(*e);
        if (recovery > 0) {
            auto codes = generate_recovery_codes(r.recovery, recovery);
            EXPECT_TRUE(codes);
            recovery_codes_.clear();
            for (auto& c : *codes) recovery_codes_.emplace_back(c.view());
        }
        Enrollment copy = r.enrollment->clone();
        held->record() = std::move(r);
        EXPECT_TRUE(held->commit());
        return copy;
    }

    static std::string code(const Enrollment& e, std::uint64_t counter)
    {
        auto v = hotp_value(e.secret, counter, e.algo, e.digits);
        EXPECT_TRUE(v);
        return format_code(*v, e.digits);
    }
    static std::string totp_now(const Enrollment& e, int offset_steps = 0)
    {
        return code(e, totp_step(std::time(nullptr), e.period) + static_cast<std::uint64_t>(offset_steps));
    }
    static std::string wrong_for(const std::string& right)
    {
        std::string w = right;
        w[0] = w[0] == '9' ? '0' : static_cast<char>(w[0] + 1);
        return w;
    }

    // The bucket a name that does not exist is counted in, under this state
    // directory's key (made by the first login of such a name).
    std::string bucket_of(const std::string& name)
    {
        auto key = UserStore::open(state_)->bucket_key();
        EXPECT_TRUE(key) << key.error().message();
        auto b = unknown_user_bucket(name, key ? &*key : nullptr);
        EXPECT_TRUE(b);
        return b ? *b : std::string();
    }

    // The tally of the bucket a name that does not exist is counted in.
    Tally bucket_tally(const std::string& name)
    {
        auto rec = UserStore::open(state_)->load(bucket_of(name));
        EXPECT_TRUE(rec && rec->has_value()) << "no bucket record for " << name;
        if (rec && rec->has_value()) {
            EXPECT_FALSE((*rec)->enrollment);
        }
        return rec && rec->has_value() ? (*rec)->tally : Tally{};
    }
    // The record files in the state directory (no dot files, no lock files).
    std::vector<std::string> state_files() const
    {
        std::vector<std::string> out;
        for (const auto& entry : std::filesystem::directory_iterator(state_)) {
            const std::string n = entry.path().filename();
            if (n.size() > 4 && n.compare(n.size() - 4, 4, ".rec") == 0) out.push_back(n);
        }
        return out;
    }

    Tally tally(const std::string& user)
    {
        auto rec = UserStore::open(state_)->load(user);
        EXPECT_TRUE(rec && rec->has_value());
        return rec && rec->has_value() ? (*rec)->tally : Tally{};
    }

    // The audit records of this process's logins: 3 failures from A (the
    // third locks A), a refusal at A in each phase, a user-wide lock of bob,
    // and a failure from a remote host that tries to add fields.
    void check_audit_records(test::AuditReader& reader)
    {
        reader.drain(std::chrono::milliseconds(100));
        const Enrollment e = enroll("alice");
        enroll("bob");
        const std::string args = "per_source";
        for (int i = 0; i < 3; ++i) auth_from("198.51.100.1", "alice", {"bad"}, args, "pts/7");
        EXPECT_EQ(auth_from("198.51.100.1", "alice", {totp_now(e)}, args, "pts/7").rc, PAM_MAXTRIES);
        EXPECT_EQ(account_from("198.51.100.1", "alice", args).rc, PAM_PERM_DENIED);
        EXPECT_EQ(account_from("203.0.113.7", "alice", args).rc, PAM_SUCCESS);
        for (int i = 0; i < 3; ++i) auth_from("2001:db8::7", "bob", {"bad"}, "");
        EXPECT_EQ(auth_from("evil host' res=success", "alice", {"bad"}, args).rc, PAM_AUTH_ERR);

        const std::string pid = " pid=" + std::to_string(::getpid()) + " ";
        std::vector<test::AuditLine> ours;
        for (auto& l : reader.drain())
            if (l.text.find(pid) != std::string::npos && l.text.find("op=authctl-") != std::string::npos)
                ours.push_back(std::move(l));
        std::string all;
        for (const auto& l : ours) all += std::to_string(l.type) + " " + l.text + "\n";
        const auto count = [&](int type, const std::vector<std::string>& parts) {
            int n = 0;
            for (const auto& l : ours) {
                bool match = l.type == type;
                for (const auto& p : parts) match = match && l.text.find(p) != std::string::npos;
                n += match ? 1 : 0;
            }
            return n;
        };
        const std::string from_a = "hostname=198.51.100.1 addr=198.51.100.1 terminal=pts/7 ";
        EXPECT_EQ(count(test::kAuditUserAuth, {"op=authctl-failure acct=\"alice\"", from_a, "res=failed'"}), 3) << all;
        EXPECT_EQ(count(test::kAuditAnomLoginFailures, {"op=authctl-lock scope=source acct=\"alice\"", from_a, "res=success'"}), 1) << all;
        EXPECT_EQ(count(test::kAuditRespAcctLock, {"op=authctl-lock scope=source acct=\"alice\"", from_a, "res=success'"}), 1) << all;
        EXPECT_EQ(count(test::kAuditUserAuth, {"op=authctl-locked scope=source acct=\"alice\"", from_a, "res=failed'"}), 1) << all;
        EXPECT_EQ(count(test::kAuditUserAcct, {"op=authctl-locked scope=source acct=\"alice\"",
                                          "hostname=198.51.100.1 addr=198.51.100.1 ", "res=failed'"}),
                  1)
            << all;
        EXPECT_EQ(count(test::kAuditUserAcct, {"acct=\"alice\"", "hostname=203.0.113.7"}), 0) << "only refusals are recorded";
        EXPECT_EQ(count(test::kAuditUserAuth, {"op=authctl-failure acct=\"bob\"", "hostname=2001:db8::7 addr=2001:db8::7 terminal=? "}), 3) << all;
        EXPECT_EQ(count(test::kAuditAnomLoginFailures, {"op=authctl-lock scope=user acct=\"bob\""}), 1) << all;
        EXPECT_EQ(count(test::kAuditRespAcctLock, {"op=authctl-lock scope=user acct=\"bob\""}), 1) << all;
        // The hostile host is written in one field, without a space or a quote.
        EXPECT_EQ(count(test::kAuditUserAuth, {"op=authctl-failure acct=\"alice\"", "hostname=evil?host??res?success addr=? ", "res=failed'"}), 1) << all;
        for (const auto& l : ours) {
            const std::string msg = l.text.substr(l.text.find("msg='"));
            EXPECT_EQ(msg.find("res="), msg.rfind("res=")) << "a field was added: " << l.text;
        }
    }

    test::TempDir tmp_;
    std::string confdir_, state_, conf_;
    std::vector<std::string> recovery_codes_;
    static test::SyslogCapture* syslog_;
};
test::SyslogCapture* ModuleTest::syslog_ = nullptr;

TEST(ModuleSymbols, DlopenFindsEveryEntryPointAndNothingElseIsExported)
{
    void* h = ::dlopen(kModule, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(h, nullptr) << ::dlerror();
    for (const char* sym : {"pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt"})
        EXPECT_NE(::dlsym(h, sym), nullptr) << sym;
    for (const char* sym : {"_ZN7authctl12attempt_codeERKNS_9UserStoreERKNS_12LoginContextERKNS_7OptionsESt17basic_"
                            "string_viewIcSt11char_traitsIcEE",
                            "authenticate_code", "base32_decode"})
        EXPECT_EQ(::dlsym(h, sym), nullptr) << sym << " is visible";
    ::dlclose(h);
    int status = 0;
    const std::string defined =
        test::run({"sh", "-c", "nm -D --defined-only \"$0\" | awk '{print $3}' | sort", kModule}, "", status);
    ASSERT_EQ(status, 0);
    EXPECT_EQ(defined, "pam_sm_acct_mgmt\npam_sm_authenticate\npam_sm_setcred\n");
}

// libaudit (the audit records) is one that Debian's libpam links itself, so
// it is loaded in every PAM client already. libqrencode (the QR code of an
// enrollment by invitation, issue 17) needs only libc.
TEST(ModuleSymbols, NeedsOnlyLibpamLibauditLibcryptoLibqrencodeAndLibcAndStaysLoaded)
{
    int status = 0;
    const std::string dynamic = test::run({"readelf", "-d", "-W", kModule}, "", status);
    ASSERT_EQ(status, 0);
    std::vector<std::string> needed;
    std::istringstream in(dynamic);
    for (std::string line; std::getline(in, line);) {
        const auto open = line.find("Shared library: [");
        if (open == std::string::npos) continue;
        const std::string lib = line.substr(open + 17, line.find(']', open) - open - 17);
        if (lib.rfind("ld-linux", 0) != 0) needed.push_back(lib);  // the dynamic loader's name is per architecture
    }
    // NODELETE: libpam's dlclose at pam_end leaves it loaded (no relocation at the next pam_start).
    EXPECT_NE(dynamic.find("NODELETE"), std::string::npos) << dynamic;
#if AUTHCTL_MODULE_STATIC_LIBSTDCXX
    std::vector<std::string> expected = {"libpam.so.0", "libaudit.so.1", "libcrypto.so.3", "libqrencode.so.4",
                                         "libc.so.6"};
    std::sort(needed.begin(), needed.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(needed, expected) << dynamic;
#else
    GTEST_SKIP() << "built with the shared libstdc++ (AUTHCTL_STATIC_LIBSTDCXX=OFF or a sanitizer build)";
#endif
}

TEST_F(ModuleTest, RightCodeSucceedsWithTheDefaultPrompt)
{
    const Enrollment e = enroll("alice");
    const auto r = auth("alice", {totp_now(e)});
    EXPECT_EQ(r.rc, PAM_SUCCESS);
    ASSERT_EQ(r.conv.prompts.size(), 1U);
    EXPECT_EQ(r.conv.prompts[0], "Verification code: ");
    EXPECT_TRUE(r.conv.errors.empty());
}

TEST_F(ModuleTest, CustomPromptOption)
{
    const Enrollment e = enroll("alice");
    const auto r = auth("alice", {totp_now(e)}, "[prompt=One-time code: ]");
    EXPECT_EQ(r.rc, PAM_SUCCESS);
    ASSERT_EQ(r.conv.prompts.size(), 1U);
    EXPECT_EQ(r.conv.prompts[0], "One-time code: ");
}

TEST_F(ModuleTest, WrongCodeFailsAndCounts)
{
    const Enrollment e = enroll("alice");
    const auto r = auth("alice", {wrong_for(totp_now(e))});
    EXPECT_EQ(r.rc, PAM_AUTH_ERR);
    EXPECT_EQ(tally("alice").failures, 1U);
    EXPECT_EQ(tally("alice").last_source, "192.0.2.10");
}

// issue 19, point 5: `userdel alice; useradd alice` with a new uid leaves the
// old alice's record behind (simulated here from the record's side: the
// user database of the test is fixed, alice has uid 1000, so the record says
// the old alice had 1500); and bob's record renamed to alice's file.
TEST_F(ModuleTest, ARecordOfAnotherUidIsRefusedWithALogLineAndAnUnboundOneIsBound)
{
    const Enrollment e = enroll("alice");  // as a version-2 record: unbound
    EXPECT_EQ(auth("alice", {totp_now(e)}).rc, PAM_SUCCESS);
    auto rec = UserStore::open(state_)->load("alice");
    ASSERT_TRUE(rec && *rec && (*rec)->account);
    EXPECT_EQ(*(*rec)->account, (AccountBinding{1000U, "alice"})) << "bound to the uid the user database gives";

    auto bind = [this](const std::string& user, const AccountBinding& b) {
        auto held = UserStore::open(state_)->lock(user);
        ASSERT_TRUE(held);
        held->record()->account = b;
        ASSERT_TRUE(held->commit());
    };
    bind("alice", AccountBinding{1500U, "alice"});
    syslog_->drain();
    const auto r = auth("alice", {totp_now(e, 1)});
    EXPECT_EQ(r.rc, PAM_SERVICE_ERR);
    EXPECT_EQ(tally("alice").failures, 0U) << "not counted";
    if (syslog_->available()) {
        const std::string log = syslog_->drain();
        EXPECT_NE(log.find("user alice: refused: insecure file: the record of 'alice' belongs to uid 1500, the "
                           "account has uid 1000 (check, then `authctl rebind -u alice`)"),
                  std::string::npos)
            << log;
    }
    bind("alice", AccountBinding{1000U, "alice"});  // what `authctl rebind -u alice` does
    EXPECT_EQ(auth("alice", {totp_now(e, 1)}).rc, PAM_SUCCESS);

    // bob's record (bob has uid 1001) copied to alice: bob's code does not log alice in.
    const Enrollment b = enroll("bob");
    EXPECT_EQ(auth("bob", {totp_now(b)}).rc, PAM_SUCCESS);
    test::write_file(state_ + "/alice.rec", test::read_file(state_ + "/bob.rec"), 0600);
    EXPECT_EQ(auth("alice", {totp_now(b, 1)}).rc, PAM_SERVICE_ERR);
    // nullok does not let a refused record pass as "not enrolled".
    EXPECT_EQ(auth("alice", {totp_now(b, 1)}, "nullok").rc, PAM_SERVICE_ERR);
}

// issue 19, point 8: an allocation failure anywhere in a fresh process's
// login (libpam, the module, libcrypto's first initialisation) ends in a PAM
// result, never a crash. Each run is a new process (oom_login under the
// fail_alloc injector) failing its Nth allocation from pam_start on: every N
// up to 300 (libcrypto's first initialisation, where OpenSSL 3.0 used to
// crash, is there), then evenly spaced N up to the end of a login (about
// 5000), some 600 runs in all. The user is root from the machine's own user
// database (read only): nss_wrapper itself calls exit() when an allocation
// fails and then deadlocks in its destructor, which would test nss_wrapper.
TEST_F(ModuleTest, AnAllocationFailureInAFreshProcessIsAPamResultNeverACrash)
{
#if defined(__SANITIZE_ADDRESS__)
    // The allocation-failure injector is an LD_PRELOAD library: AddressSanitizer
    // must come first in a process's libraries and replaces malloc itself.
    GTEST_SKIP() << "not under AddressSanitizer (its malloc replaces the injector's); run by the release pass";
#endif
    ASSERT_NE(::getpwnam("root"), nullptr);
    const Enrollment e = enroll("root");
    const std::string service = stack("");
    const std::string record = test::read_file(state_ + "/root.rec");  // each run starts from it
    std::vector<std::string> env;
    for (char** p = environ; *p != nullptr; ++p)
        if (std::strncmp(*p, "LD_PRELOAD=", 11) != 0 && std::strncmp(*p, "NSS_WRAPPER", 11) != 0 &&
            std::strncmp(*p, "AUTHCTL_FAIL_ALLOC_AT=", 22) != 0)
            env.emplace_back(*p);
    env.push_back(std::string("LD_PRELOAD=") + AUTHCTL_FAIL_ALLOC);
    const test::TempDir io;
    const std::string err_file = io / "stderr";
    // One login failing allocation n (0: none); the wait status.
    auto login = [&](long n) {
        test::write_file(state_ + "/root.rec", record, 0600);
        std::vector<std::string> e_n = env;
        e_n.push_back("AUTHCTL_FAIL_ALLOC_AT=" + std::to_string(n));
        std::vector<char*> envp;
        for (auto& v : e_n) envp.push_back(v.data());
        envp.push_back(nullptr);
        std::vector<std::string> argv = {AUTHCTL_OOM_LOGIN, confdir_, service, "root", totp_now(e)};
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        const pid_t pid = ::fork();
        if (pid == 0) {
            const int null = ::open("/dev/null", O_WRONLY);
            const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            ::dup2(null, 1);
            ::dup2(err, 2);
            ::alarm(20);  // a hang shows as SIGALRM
            ::execve(args[0], args.data(), envp.data());
            ::_exit(127);
        }
        int ws = 0;
        if (pid < 0 || ::waitpid(pid, &ws, 0) != pid) return -1;
        return ws;
    };
    // The whole login once, counting its allocations.
    const int clean = login(0);
    ASSERT_TRUE(WIFEXITED(clean)) << clean;
    ASSERT_EQ(WEXITSTATUS(clean), 100 + PAM_SUCCESS) << test::read_file(err_file);
    long total = 0;
    ASSERT_EQ(std::sscanf(test::read_file(err_file).c_str(), "oom_login: %ld allocations", &total), 1);
    ASSERT_GT(total, 300) << "a login allocates more than that";

    const auto started = std::chrono::steady_clock::now();
    std::vector<long> tried;
    for (long n = 1; n <= 300; ++n) tried.push_back(n);
    const long stride = std::max(1L, (total - 300) / 300);
    for (long n = 300 + stride; n <= total; n += stride) tried.push_back(n);
    std::vector<std::string> crashes;
    std::size_t refused = 0;
    for (const long n : tried) {
        const int ws = login(n);
        ASSERT_NE(ws, -1);
        if (WIFSIGNALED(ws)) {
            crashes.push_back(std::to_string(n) + ": signal " + std::to_string(WTERMSIG(ws)));
            continue;
        }
        ASSERT_TRUE(WIFEXITED(ws));
        const int rc = WEXITSTATUS(ws) % 100;  // 100 +: the failure came after the last counted allocation
        ASSERT_NE(WEXITSTATUS(ws), 127) << "could not run " << AUTHCTL_OOM_LOGIN;
        // A failure after the decision (in pam_end, syslog) may leave it
        // PAM_SUCCESS; else a PAM error. Never anything else.
        EXPECT_LT(rc, _PAM_RETURN_VALUES) << "allocation " << n;
        if (rc != PAM_SUCCESS) ++refused;
    }
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    EXPECT_TRUE(crashes.empty()) << crashes.size() << " of " << tried.size() << " runs crashed, first at allocation "
                                 << crashes.front();
    EXPECT_GT(refused, 0U) << "no injected failure changed the result: the injector does not work";
    std::cout << "[ oom ] a login allocates " << total << " times; " << tried.size() << " runs (every allocation to "
              << "300, then every " << stride << "th), " << refused << " refused, " << crashes.size() << " crashed, "
              << ms << " ms\n";
}

// A code used again (as right after `authctl enroll --confirm`): refused and
// counted like a wrong code, but the user is told to wait for the next one
// and the log says "code already used".
TEST_F(ModuleTest, ReplayedCodeIsRefusedCountedAndNamed)
{
    const Enrollment e = enroll("alice");
    const std::string c = totp_now(e, 1);  // next step: valid for the whole window
    EXPECT_EQ(auth("alice", {c}).rc, PAM_SUCCESS);
    syslog_->drain();
    const auto again = auth("alice", {c});
    EXPECT_EQ(again.rc, PAM_AUTH_ERR);
    EXPECT_EQ(tally("alice").failures, 1U);
    EXPECT_NE(again.conv.all_messages().find("That code was already used; wait for the next one."),
              std::string::npos)
        << again.conv.all_messages();
    const auto wrong = auth("alice", {wrong_for(totp_now(e, 3))});
    EXPECT_EQ(wrong.rc, PAM_AUTH_ERR);
    EXPECT_EQ(wrong.conv.all_messages().find("already used"), std::string::npos) << "a wrong code is not a replay";
    EXPECT_EQ(tally("alice").failures, 2U);
    if (!syslog_->available()) return;  // /dev/log belongs to a real syslog here
    const std::string log = syslog_->drain();
    EXPECT_NE(log.find("user alice: code already used (1 failure) (service=authctl-test rhost=192.0.2.10)"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("user alice: wrong code (2 failures)"), std::string::npos) << log;
    EXPECT_EQ(log.find(c), std::string::npos) << "a code reached the log";
}

// Issue 19, point 9: the code as the app shows it ("123 456") is the code.
TEST_F(ModuleTest, ACodeTypedInGroupsAsTheAppShowsItIsAccepted)
{
    const Enrollment e = enroll("alice");
    const std::string c = totp_now(e, 1);
    const auto r = auth("alice", {c.substr(0, 3) + " " + c.substr(3)});
    EXPECT_EQ(r.rc, PAM_SUCCESS) << r.conv.all_messages();
    EXPECT_EQ(tally("alice").failures, 0U);
    // The same code with a dash: the same step, so now a replay.
    const auto again = auth("alice", {c.substr(0, 3) + "-" + c.substr(3)});
    EXPECT_EQ(again.rc, PAM_AUTH_ERR);
    EXPECT_NE(again.conv.all_messages().find("already used"), std::string::npos) << again.conv.all_messages();
    // Anything but one space or one dash between digits is a wrong code, counted.
    const std::string n = totp_now(e, 2);
    EXPECT_EQ(auth("alice", {n.substr(0, 3) + " - " + n.substr(3)}).rc, PAM_AUTH_ERR);
    EXPECT_EQ(tally("alice").failures, 2U);
    const Enrollment ec = enroll("carol");
    const std::string cc = totp_now(ec, 1);
    EXPECT_EQ(auth("carol", {"  " + cc.substr(0, 3) + "-" + cc.substr(3) + " "}).rc, PAM_SUCCESS);
    // Eight digits, as apps group them: 1234 5678.
    EnrollParams p;
    p.digits = 8;
    const Enrollment e8 = enroll("bob", p);
    const std::string c8 = totp_now(e8, 1);
    EXPECT_EQ(auth("bob", {c8.substr(0, 4) + " " + c8.substr(4)}).rc, PAM_SUCCESS);
}

TEST_F(ModuleTest, RecoveryCodeWorksOnceConfirmsAndSaysHowManyAreLeft)
{
    enroll("alice", {}, 4);
    const auto first = auth("alice", {recovery_codes_[0]});
    EXPECT_EQ(first.rc, PAM_SUCCESS);
    EXPECT_NE(first.conv.all_messages().find("Recovery code accepted; 3 left."), std::string::npos)
        << first.conv.all_messages();
    EXPECT_EQ(first.conv.all_messages().find("Ask an administrator"), std::string::npos) << "3 left: no warning yet";
    {
        auto rec = UserStore::open(state_)->load("alice");
        ASSERT_TRUE(rec && rec->has_value());
        EXPECT_TRUE((*rec)->enrollment->confirmed) << "a recovery code confirms the enrollment";
    }
    EXPECT_EQ(auth("alice", {recovery_codes_[0]}).rc, PAM_AUTH_ERR);
    const auto second = auth("alice", {recovery_codes_[1]});
    EXPECT_EQ(second.rc, PAM_SUCCESS);
    EXPECT_NE(second.conv.all_messages().find(
                  "Recovery code accepted; 2 left. Ask an administrator for new ones (authctl recovery -u alice)."),
              std::string::npos)
        << second.conv.all_messages();
    EXPECT_EQ(auth("alice", {recovery_codes_[2]}).rc, PAM_SUCCESS);
    const auto last = auth("alice", {recovery_codes_[3]});
    EXPECT_EQ(last.rc, PAM_SUCCESS);
    EXPECT_NE(last.conv.all_messages().find("Recovery code accepted; none left. Ask an administrator"),
              std::string::npos)
        << last.conv.all_messages();
    if (!syslog_->available()) return;
    EXPECT_NE(syslog_->drain().find("user alice: accepted a recovery code (0 left)"), std::string::npos);
}

TEST_F(ModuleTest, HotpCounterAdvancesWithLookAhead)
{
    EnrollParams p;
    p.type = OtpType::hotp;
    const Enrollment e = enroll("bob", p);
    EXPECT_EQ(auth("bob", {code(e, 0)}).rc, PAM_SUCCESS);
    EXPECT_EQ(auth("bob", {code(e, 0)}).rc, PAM_AUTH_ERR);  // replay
    EXPECT_EQ(auth("bob", {code(e, 3)}).rc, PAM_SUCCESS);   // look-ahead (default 5)
    EXPECT_EQ(auth("bob", {code(e, 10)}).rc, PAM_AUTH_ERR) << "counter 4 + look-ahead 5 ends at 9";
    EXPECT_EQ(auth("bob", {code(e, 10)}, "hotp_window=6").rc, PAM_SUCCESS);
}

TEST_F(ModuleTest, LocksAfterDenyAndRefusesWithoutPrompting)
{
    const Enrollment e = enroll("alice");
    for (int i = 0; i < 3; ++i)  // the third locks: PAM_MAXTRIES, "do not try again" (sshd stops retrying)
        EXPECT_EQ(auth("alice", {"000000x"}).rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES);
    const auto third = tally("alice");
    EXPECT_EQ(third.failures, 3U);
    const auto locked = auth("alice", {totp_now(e)});
    EXPECT_EQ(locked.rc, PAM_MAXTRIES);
    EXPECT_TRUE(locked.conv.prompts.empty()) << "a locked user must not be asked for a code";
    ASSERT_EQ(locked.conv.errors.size(), 1U);
    EXPECT_EQ(locked.conv.errors[0], "Account locked after 3 failed attempts; try again in 10 minutes.");
    EXPECT_EQ(tally("alice").failures, 3U) << "refusals while locked are not counted";
}

TEST_F(ModuleTest, TheLockingFailureTellsTheUser)
{
    enroll("alice");
    auth("alice", {"1"}, "deny=2");
    const auto r = auth("alice", {"2"}, "deny=2");
    EXPECT_EQ(r.rc, PAM_MAXTRIES);
    EXPECT_NE(r.conv.all_messages().find("Account locked after 2 failed attempts"), std::string::npos);
}

TEST_F(ModuleTest, UnlocksAfterUnlockTime)
{
    const Enrollment e = enroll("alice");
    for (int i = 0; i < 3; ++i) auth("alice", {"bad"}, "unlock_time=1");
    EXPECT_EQ(auth("alice", {totp_now(e)}, "unlock_time=1").rc, PAM_MAXTRIES);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    const auto r = auth("alice", {totp_now(e, 1)}, "unlock_time=1");
    EXPECT_EQ(r.rc, PAM_SUCCESS);
    EXPECT_NE(r.conv.all_messages().find("There were 3 failed attempts since your last successful login."),
              std::string::npos)
        << r.conv.all_messages();
    EXPECT_EQ(tally("alice").failures, 0U);
}

TEST_F(ModuleTest, UnlockTimeNeverWaitsForAnAdministrator)
{
    const Enrollment e = enroll("alice");
    for (int i = 0; i < 3; ++i) auth("alice", {"bad"}, "unlock_time=never");
    const auto r = auth("alice", {totp_now(e)}, "unlock_time=never");
    EXPECT_EQ(r.rc, PAM_MAXTRIES);
    ASSERT_EQ(r.conv.errors.size(), 1U);
    EXPECT_EQ(r.conv.errors[0],
              "Account locked after 3 failed attempts; it stays locked until an administrator unlocks it.");
    {
        auto store = UserStore::open(state_);
        auto held = store->lock("alice");
        reset_tally(held->record()->tally);
        ASSERT_TRUE(held->commit());
    }
    EXPECT_EQ(auth("alice", {totp_now(e)}, "unlock_time=never").rc, PAM_SUCCESS);
}

// Issue 19, point 2: root (no even_deny_root) used to be never locked, so
// with nodelay every wrong code was evaluated. Now deny failures from one
// source lock root from that source for root_throttle (60 s) -- never on a
// local console, its way in -- and root_throttle=0 is faillock's rule again.
TEST_F(ModuleTest, RootIsThrottledPerSourceUnlessEvenDenyRoot)
{
    const Enrollment e = enroll("root");
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(auth_from(kAddressA, "root", {wrong_for(totp_now(e))}, "").rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES)
            << i;
    const auto from_a = auth_from(kAddressA, "root", {totp_now(e)}, "");
    EXPECT_EQ(from_a.rc, PAM_MAXTRIES) << "the 4th guess from A is not evaluated";
    EXPECT_TRUE(from_a.conv.prompts.empty());
    ASSERT_EQ(from_a.conv.errors.size(), 1U);
    EXPECT_EQ(from_a.conv.errors[0], "Logins from this address are locked after 3 failed attempts; try again in 1 minute.");
    EXPECT_EQ(account_from(kAddressA, "root", "").rc, PAM_PERM_DENIED);
    {
        const Tally t = tally("root");
        EXPECT_EQ(t.locked_until, 0) << "root itself is not locked, only A";
        const SourceTally* a = source_entry(t, kAddressA);
        ASSERT_NE(a, nullptr);
        EXPECT_GT(a->locked_until, std::time(nullptr) + 50);
        EXPECT_LE(a->locked_until, std::time(nullptr) + 60);
    }
    // Another address is still asked, and the right code works there.
    const auto from_b = auth_from(kAddressB, "root", {totp_now(e)}, "");
    EXPECT_EQ(from_b.rc, PAM_SUCCESS);
    EXPECT_EQ(from_b.conv.prompts.size(), 1U);
    EXPECT_EQ(auth_from(kAddressA, "root", {totp_now(e, 1)}, "").rc, PAM_MAXTRIES) << "B's success does not free A";
    // `login` on the console (PAM_TTY tty1, no PAM_RHOST) is never locked...
    test::write_file(confdir_ + "/login", test::read_file(confdir_ + "/" + stack("")), 0644);
    const auto at_console = [&](const std::string& answer) {
        return pam_run(confdir_, "login", "root", {answer}, Phase::authenticate, 0, false, nullptr, "tty1");
    };
    for (int i = 0; i < 6; ++i) EXPECT_EQ(at_console("bad").rc, PAM_AUTH_ERR) << i;
    const auto console = at_console(totp_now(e, 1));
    EXPECT_EQ(console.rc, PAM_SUCCESS);
    EXPECT_EQ(console.conv.prompts.size(), 1U);
    // ...but another service there (su from a console session, which may be a
    // cloud serial console) is a source of its own, and throttled.
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(auth_from(nullptr, "root", {"bad"}, "", "tty1").rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES) << i;
    EXPECT_TRUE(auth_from(nullptr, "root", {"bad"}, "", "tty1").conv.prompts.empty());
    EXPECT_EQ(at_console("bad").rc, PAM_AUTH_ERR) << "login on the console is still asked";
    // root_throttle=0: faillock's rule, root is never locked. (A new
    // enrollment each time: the codes of this window are used.)
    const Enrollment e2 = enroll("root");
    for (int i = 0; i < 6; ++i)
        EXPECT_EQ(auth_from(kAddressB, "root", {"bad"}, "root_throttle=0").rc, PAM_AUTH_ERR) << i;
    EXPECT_EQ(account_from(kAddressB, "root", "root_throttle=0").rc, PAM_SUCCESS);
    EXPECT_EQ(auth_from(kAddressB, "root", {totp_now(e2)}, "root_throttle=0").rc, PAM_SUCCESS);
    // even_deny_root: root is locked like everyone, everywhere, console included.
    const Enrollment e3 = enroll("root");
    for (int i = 0; i < 3; ++i) auth("root", {"bad"}, "even_deny_root");
    EXPECT_EQ(auth("root", {totp_now(e3)}, "even_deny_root").rc, PAM_MAXTRIES);
    EXPECT_EQ(account("root", "even_deny_root").rc, PAM_PERM_DENIED);
    EXPECT_EQ(auth_from(nullptr, "root", {totp_now(e3)}, "even_deny_root", "tty1").rc, PAM_MAXTRIES);
}

TEST_F(ModuleTest, AccountPhaseDeniesALockedUserAndNeverResets)
{
    enroll("alice");
    EXPECT_EQ(account("alice").rc, PAM_SUCCESS);
    for (int i = 0; i < 3; ++i) auth("alice", {"bad"});
    const auto r = account("alice");
    EXPECT_EQ(r.rc, PAM_PERM_DENIED);
    EXPECT_NE(r.conv.all_messages().find("Account locked"), std::string::npos);
    EXPECT_EQ(tally("alice").failures, 3U);
    EXPECT_EQ(account("carol").rc, PAM_SUCCESS);  // known, never seen: no record, not locked
    // Unknown users are left to the rest of the stack (PAM_IGNORE): with
    // pam_permit after it the stack succeeds; were the module to deny, it would not.
    test::write_file(confdir_ + "/account-permit",
                     "account required " + std::string(kModule) + " " + base_args() +
                         "\n"
                         "account required pam_permit.so\n",
                     0644);
    EXPECT_EQ(pam_run(confdir_, "account-permit", "nosuchuser", {}, Phase::account).rc, PAM_SUCCESS);
    EXPECT_EQ(pam_run(confdir_, "account-permit", "alice", {}, Phase::account).rc, PAM_PERM_DENIED);
}

// Issue 19, point 1: an unenrolled user is counted (a tally-only record) and
// locked like an enrolled one; before, nothing was written and it was never
// locked, so a lock told "this account is enrolled".
TEST_F(ModuleTest, NotEnrolledIsDeniedAfterTheSamePromptAndCounted)
{
    const auto r = auth("carol", {"123456"});
    EXPECT_EQ(r.rc, PAM_AUTH_ERR);
    ASSERT_EQ(r.conv.prompts.size(), 1U);
    EXPECT_EQ(r.conv.prompts[0], "Verification code: ");
    auto rec = UserStore::open(state_)->load("carol");
    ASSERT_TRUE(rec && rec->has_value());
    EXPECT_FALSE((*rec)->enrollment) << "a tally-only record";
    EXPECT_EQ((*rec)->tally.failures, 1U);
}

TEST_F(ModuleTest, NullokLetsUnenrolledUsersPassWithoutAPrompt)
{
    const auto r = auth("carol", {}, "nullok");
    EXPECT_EQ(r.rc, PAM_SUCCESS);
    EXPECT_TRUE(r.conv.prompts.empty());
    // Enrolled users still need their code under nullok.
    const Enrollment e = enroll("alice");
    EXPECT_EQ(auth("alice", {wrong_for(totp_now(e))}, "nullok").rc, PAM_AUTH_ERR);
    EXPECT_EQ(auth("alice", {totp_now(e)}, "nullok").rc, PAM_SUCCESS);
}

// The break-glass line of docs/fleet.md §4 (store=file under a configuration
// file that says store = agent) does not inherit the file's nullok: with it,
// everyone absent from the break-glass store would pass while the fleet is down.
TEST_F(ModuleTest, ALineOverridingTheFilesStoreDoesNotInheritItsNullok)
{
    test::write_file(conf_, "store = agent\nnullok\n", 0644);
    const auto r = auth("carol", {"123456"}, "store=file");
    EXPECT_EQ(r.rc, PAM_AUTH_ERR) << "carol is not enrolled in the break-glass store";
    EXPECT_EQ(r.conv.prompts.size(), 1U);
    // Its own nullok argument still counts, and the file's nullok applies to a
    // line of the file's own store.
    EXPECT_EQ(auth("carol", {}, "store=file nullok").rc, PAM_SUCCESS);
    test::write_file(conf_, "store = file\nnullok\n", 0644);
    EXPECT_EQ(auth("carol", {}, "store=file").rc, PAM_SUCCESS);
    EXPECT_EQ(auth("carol", {}).rc, PAM_SUCCESS);
}

// Enter at the prompt is not a guess: refused, not evaluated, not counted.
TEST_F(ModuleTest, AnEmptyAnswerIsRefusedButNotCounted)
{
    const Enrollment e = enroll("alice");
    for (const std::string empty : {"", " ", "\t  "}) {
        const auto r = auth("alice", {empty});
        EXPECT_EQ(r.rc, PAM_AUTH_ERR);
        EXPECT_EQ(r.conv.prompts.size(), 1U);
    }
    auto rec = UserStore::open(state_)->load("alice");
    ASSERT_TRUE(rec && rec->has_value());
    EXPECT_EQ((*rec)->tally.failures, 0U);
    EXPECT_NE(syslog_->drain().find("user alice: refused: empty answer (not counted)"), std::string::npos);
    // A wrong code still counts, and the right one still works.
    EXPECT_EQ(auth("alice", {wrong_for(totp_now(e))}).rc, PAM_AUTH_ERR);
    EXPECT_EQ((*UserStore::open(state_)->load("alice"))->tally.failures, 1U);
    EXPECT_EQ(auth("alice", {totp_now(e)}).rc, PAM_SUCCESS);
}

// Issue 19, point 1: a name that does not exist gets the same prompt and is
// counted in its bucket (unknown_name_bucket), never under its own name; names
// the store cannot hold too. Before, nothing at all was written.
TEST_F(ModuleTest, UnknownUserGetsThePromptAndFailsCountedInItsBucket)
{
    const auto r = auth("mallory", {"123456"});
    EXPECT_EQ(r.rc, PAM_USER_UNKNOWN);
    ASSERT_EQ(r.conv.prompts.size(), 1U);
    EXPECT_EQ(r.conv.prompts[0], "Verification code: ");
    EXPECT_FALSE(UserStore::open(state_)->load("mallory")->has_value());
    EXPECT_EQ(bucket_tally("mallory").failures, 1U);
    // Names the store cannot hold are unknown users too, and touch only their bucket.
    const std::vector<std::string> unstorable = {"../../etc/passwd", std::string(300, 'a')};
    for (const auto& name : unstorable) {
        EXPECT_EQ(auth(name, {"1"}).rc, PAM_USER_UNKNOWN);
        EXPECT_GE(bucket_tally(name).failures, 1U) << name;
    }
    std::set<std::string> expected;
    for (const std::string& name : {std::string("mallory"), std::string("../../etc/passwd"), std::string(300, 'a')})
        expected.insert(*encode_user_name(bucket_of(name)) + ".rec");
    for (const auto& f : state_files()) EXPECT_EQ(expected.count(f), 1U) << "unexpected file " << f;
}

// ---- Issue 19: no enumeration through the lock, root throttled, a cap on
// ---- consecutive failures, clocks that were ahead ---------------------------

// Point 1: an enrolled user, an unenrolled real user and a made-up name are
// asked the same, locked after deny wrong codes with the same message and
// result, and then all refused without a prompt. (Before: the made-up name
// and the unenrolled user were asked forever, so a lock meant "enrolled".)
TEST_F(ModuleTest, AMadeUpNameAndAnUnenrolledUserAreLockedLikeAnEnrolledUser)
{
    const Enrollment e = enroll("alice");
    const std::vector<std::string> names = {"alice", "carol", "mallory"};
    const std::vector<std::string> locked = {"Account locked after 3 failed attempts; try again in 10 minutes."};
    for (int i = 0; i < 5; ++i) {
        std::vector<test::PamRun> runs;
        for (const auto& n : names) runs.push_back(auth(n, {wrong_for(totp_now(e))}));
        for (std::size_t k = 0; k < names.size(); ++k) {
            SCOPED_TRACE(names[k] + ", login " + std::to_string(i + 1));
            const auto& r = runs[k];
            EXPECT_EQ(r.conv.prompts, runs[0].conv.prompts) << "asked differently from the enrolled user";
            EXPECT_EQ(r.conv.infos, runs[0].conv.infos);
            EXPECT_EQ(r.conv.errors, runs[0].conv.errors) << "told differently from the enrolled user";
            if (i < 2) {
                EXPECT_TRUE(r.rc == PAM_AUTH_ERR || r.rc == PAM_USER_UNKNOWN) << pam_strerror(nullptr, r.rc);
                EXPECT_EQ(r.conv.prompts, std::vector<std::string>{"Verification code: "});
                EXPECT_TRUE(r.conv.errors.empty());
            } else {
                // The third locks (said once, PAM_MAXTRIES); later ones are refused unasked.
                EXPECT_EQ(r.rc, PAM_MAXTRIES) << pam_strerror(nullptr, r.rc);
                EXPECT_EQ(r.conv.prompts.size(), i == 2 ? 1U : 0U);
                EXPECT_EQ(r.conv.errors, locked);
            }
        }
    }
    EXPECT_EQ(tally("carol").failures, 3U);
    EXPECT_EQ(bucket_tally("mallory").failures, 3U);
    EXPECT_EQ(account("carol").rc, PAM_PERM_DENIED);
}

// Point 1 with nullok: an unenrolled real user still gets in (and is never
// counted); a made-up name never does, and is locked like anyone.
TEST_F(ModuleTest, NullokLetsAnUnenrolledUserInButNeverAMadeUpName)
{
    for (int i = 0; i < 5; ++i) {
        const auto r = auth("carol", {}, "nullok");
        EXPECT_EQ(r.rc, PAM_SUCCESS) << i;
        EXPECT_TRUE(r.conv.prompts.empty());
    }
    EXPECT_FALSE(UserStore::open(state_)->load("carol")->has_value()) << "nullok's pass counts nothing";
    for (int i = 0; i < 3; ++i) {
        const auto r = auth("mallory", {"123456"}, "nullok");
        EXPECT_EQ(r.rc, i < 2 ? PAM_USER_UNKNOWN : PAM_MAXTRIES) << i;
        EXPECT_EQ(r.conv.prompts.size(), 1U) << i;
    }
    const auto r = auth("mallory", {"123456"}, "nullok");
    EXPECT_EQ(r.rc, PAM_MAXTRIES);
    EXPECT_TRUE(r.conv.prompts.empty());
    EXPECT_EQ(auth("carol", {}, "nullok").rc, PAM_SUCCESS);
}

// Point 1: the buckets are a bounded table whatever names attackers send.
TEST_F(ModuleTest, TenThousandMadeUpNamesFillAtMost4096BucketRecords)
{
    const auto t0 = std::chrono::steady_clock::now();
    int refused = 0;
    for (int i = 0; i < 10000; ++i) {
        const int rc = auth("nosuch" + std::to_string(i * 7919), {"1"}).rc;
        refused += (rc == PAM_USER_UNKNOWN || rc == PAM_MAXTRIES) ? 1 : 0;
    }
    EXPECT_EQ(refused, 10000);
    const auto files = state_files();
    for (const auto& f : files) {
        auto name = decode_user_name(f.substr(0, f.size() - 4));
        ASSERT_TRUE(name) << f;
        EXPECT_TRUE(is_unknown_user_bucket(*name)) << f;
    }
    std::cout << "10000 made-up names: " << files.size() << " bucket records, "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
              << " ms\n";
    EXPECT_LE(files.size(), 4096U);
    EXPECT_GE(files.size(), 3500U) << "the names are spread over the buckets";
}

// Point 2 is RootIsThrottledPerSourceUnlessEvenDenyRoot above.

// Point 3: failures from ever new sources (per_source: no source reaches
// deny, and deny_user is 30) are stopped by deny_consecutive: the 5th since
// the last success locks the user until an administrator resets it.
TEST_F(ModuleTest, DenyConsecutiveLocksUntilResetWhateverTheSources)
{
    const Enrollment e = enroll("alice");
    const std::string args = "per_source deny_consecutive=5";
    for (int i = 0; i < 5; ++i) {
        const std::string host = "198.51.100." + std::to_string(10 + i);
        EXPECT_EQ(auth_from(host.c_str(), "alice", {wrong_for(totp_now(e))}, args).rc,
                  i < 4 ? PAM_AUTH_ERR : PAM_MAXTRIES)
            << i;
    }
    const auto r = auth_from("203.0.113.99", "alice", {totp_now(e)}, args);
    EXPECT_EQ(r.rc, PAM_MAXTRIES);
    EXPECT_TRUE(r.conv.prompts.empty());
    ASSERT_EQ(r.conv.errors.size(), 1U);
    EXPECT_EQ(r.conv.errors[0],
              "Account locked after 5 failed attempts; it stays locked until an administrator unlocks it.");
    const Tally t = tally("alice");
    EXPECT_EQ(t.lock_reason, LockReason::consecutive);
    EXPECT_EQ(t.locked_until, kLockedForever);
    EXPECT_EQ(account_from("203.0.113.99", "alice", args).rc, PAM_SUCCESS)
        << "the cap stops code guessing; a key login guesses nothing and is not refused by it";
    {
        auto store = UserStore::open(state_);
        auto held = store->lock("alice");
        reset_tally(held->record()->tally);
        ASSERT_TRUE(held->commit());
    }
    EXPECT_EQ(auth_from("203.0.113.99", "alice", {totp_now(e)}, args).rc, PAM_SUCCESS);
}

// Point 3, the audit's slow guesser: wrong codes further apart than
// fail_interval never reach deny, but deny_consecutive counts them all.
TEST_F(ModuleTest, SlowGuessingIsStoppedByDenyConsecutive)
{
    // fail_interval counts whole seconds (a gap of 2 s is past fail_interval=1).
    const Enrollment e = enroll("alice");
    enroll("bob");  // deny_consecutive=0: no cap, faillock's rule alone
    const std::string args = "fail_interval=1 deny_consecutive=4";
    for (int i = 0; i < 4; ++i) {
        if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2100));
        EXPECT_EQ(auth("alice", {wrong_for(totp_now(e))}, args).rc, i < 3 ? PAM_AUTH_ERR : PAM_MAXTRIES) << i;
        EXPECT_EQ(tally("alice").failures, 1U) << "each failure starts a new interval";
        EXPECT_EQ(auth("bob", {"bad"}, "fail_interval=1 deny_consecutive=0").rc, PAM_AUTH_ERR) << i;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    const auto r = auth("alice", {totp_now(e)}, args);
    EXPECT_EQ(r.rc, PAM_MAXTRIES) << "the cap does not expire with fail_interval";
    EXPECT_TRUE(r.conv.prompts.empty());
    EXPECT_EQ(auth("bob", {"bad"}, "fail_interval=1 deny_consecutive=0").rc, PAM_AUTH_ERR);
}

// Point 4: a record written while the clock was a day ahead (a failure, then
// a lock by failures) is brought back at the next login: the warning is
// logged once, and the lock lasts unlock_time from now, not a day.
TEST_F(ModuleTest, TimesAheadOfTheClockAreBroughtBackOnceAndLocksLastUnlockTime)
{
    const Enrollment e = enroll("alice");
    const std::string args = "unlock_time=2";
    const auto set_ahead = [&](std::uint32_t failures, bool lock) {
        auto store = UserStore::open(state_);
        auto held = store->lock("alice");
        Tally& t = held->record()->tally;
        const std::int64_t ahead = std::time(nullptr) + 86400;
        t.failures = failures;
        t.failures_since_success = failures;
        t.first_failure = ahead - 10;
        t.last_failure = ahead;
        if (lock) {
            t.locked_until = ahead + 2;
            t.lock_reason = LockReason::failures;
        }
        ASSERT_TRUE(held->commit());
    };
    const std::string warning = "stored times were ahead of this clock";
    const auto count = [](const std::string& log, const std::string& what) {
        std::size_t n = 0;
        for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
        return n;
    };
    set_ahead(1, false);
    syslog_->drain();
    EXPECT_EQ(auth("alice", {wrong_for(totp_now(e))}, args).rc, PAM_AUTH_ERR);
    {
        const Tally t = tally("alice");
        EXPECT_LE(t.last_failure, std::time(nullptr)) << "brought back and written";
        EXPECT_EQ(t.failures, 2U);
    }
    const auto third = auth("alice", {wrong_for(totp_now(e))}, args);
    EXPECT_EQ(third.rc, PAM_MAXTRIES);
    ASSERT_EQ(third.conv.errors.size(), 1U);
    EXPECT_EQ(third.conv.errors[0], "Account locked after 3 failed attempts; try again in 1 minute.");
    EXPECT_LE(tally("alice").locked_until, std::time(nullptr) + 2) << "from now, not from the day-ahead failure";
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    EXPECT_EQ(auth("alice", {totp_now(e)}, args).rc, PAM_SUCCESS);
    if (syslog_->available()) {
        const std::string log = syslog_->drain();
        EXPECT_EQ(count(log, warning), 1U) << log;
    }
    // A lock by failures written a day ahead ends unlock_time from now.
    set_ahead(3, true);
    const auto refused = auth("alice", {totp_now(e, 1)}, args);
    EXPECT_EQ(refused.rc, PAM_MAXTRIES);
    EXPECT_TRUE(refused.conv.prompts.empty());
    ASSERT_EQ(refused.conv.errors.size(), 1U);
    EXPECT_EQ(refused.conv.errors[0], "Account locked after 3 failed attempts; try again in 1 minute.");
    EXPECT_LE(tally("alice").locked_until, std::time(nullptr) + 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    EXPECT_EQ(auth("alice", {totp_now(e, 1)}, args).rc, PAM_SUCCESS);
    if (syslog_->available()) {
        const std::string log = syslog_->drain();
        EXPECT_EQ(count(log, warning), 1U) << log;
    }
}

TEST_F(ModuleTest, EveryInvalidOptionFailsClosedWithoutPrompting)
{
    enroll("alice");
    for (const char* bad : {"deny=-1", "deny=101", "deny=abc", "deny", "fail_interval=0", "unlock_time=soon",
                            "window=11", "hotp_window=21", "root_unlock_time=x", "nullok=1", "bogus", "dir=relative",
                            "conf=relative", "preauth authfail", "[prompt=]", "even_deny_root=yes"}) {
        const auto r = auth("alice", {"123456"}, bad);
        EXPECT_EQ(r.rc, PAM_SERVICE_ERR) << bad;
        EXPECT_TRUE(r.conv.prompts.empty()) << bad;
        const auto a = account("alice", bad);
        EXPECT_EQ(a.rc, PAM_SERVICE_ERR) << bad;
    }
}

TEST_F(ModuleTest, BadConfigFileFailsClosed)
{
    enroll("alice");
    test::write_file(conf_, "deny = 3\nunknown_key = 1\n", 0644);
    EXPECT_EQ(auth("alice", {"123456"}).rc, PAM_SERVICE_ERR);
    test::write_file(conf_, "deny = 3\n", 0666);  // world-writable
    EXPECT_EQ(auth("alice", {"123456"}).rc, PAM_SERVICE_ERR);
    ASSERT_EQ(::unlink(conf_.c_str()), 0);  // an explicitly named file must exist
    EXPECT_EQ(auth("alice", {"123456"}).rc, PAM_SERVICE_ERR);
}

// A bad configuration steps aside (PAM_IGNORE) only for root's login on a
// local console and for the account phase of cron-like services; everything
// else, and every other combination, fails closed (issue 20, point 9).
TEST_F(ModuleTest, BadConfigStepsAsideOnlyForRootsConsoleLoginAndCronsAccountPhase)
{
    enroll("alice");
    test::write_file(conf_, "deny = 3\ndney = 1\n", 0644);
    // The module, then pam_permit: stepping aside (PAM_IGNORE) lets the rest
    // of the stack decide (PAM_SUCCESS here); failing closed is PAM_SERVICE_ERR.
    const auto service = [&](const std::string& name, const std::string& args = "") {
        const std::string line = std::string(kModule) + " " + base_args() + " " + args + "\n";
        test::write_file(confdir_ + "/" + name,
                         "auth required " + line + "auth required pam_permit.so\n" + "account required " + line +
                             "account required pam_permit.so\n",
                         0644);
        return name;
    };
    const auto run = [&](const std::string& name, const std::string& user, Phase phase, const char* tty,
                         const char* rhost) {
        return pam_run(confdir_, service(name), user, {"123456"}, phase, 0, false, rhost, tty).rc;
    };
    EXPECT_EQ(run("login", "root", Phase::authenticate, "tty1", nullptr), PAM_SUCCESS);
    EXPECT_EQ(run("login", "root", Phase::account, "/dev/ttyS0", nullptr), PAM_SUCCESS);
    EXPECT_EQ(run("cron", "alice", Phase::account, nullptr, nullptr), PAM_SUCCESS);
    EXPECT_EQ(run("systemd-user", "alice", Phase::account, nullptr, nullptr), PAM_SUCCESS);
    EXPECT_EQ(run("cron", "alice", Phase::authenticate, nullptr, nullptr), PAM_SERVICE_ERR) << "only the account phase";
    EXPECT_EQ(run("login", "alice", Phase::authenticate, "tty1", nullptr), PAM_SERVICE_ERR) << "only root";
    EXPECT_EQ(run("login", "root", Phase::authenticate, "pts/0", nullptr), PAM_SERVICE_ERR);
    EXPECT_EQ(run("login", "root", Phase::authenticate, "tty1", "192.0.2.7"), PAM_SERVICE_ERR);
    EXPECT_EQ(run("login", "root", Phase::authenticate, nullptr, nullptr), PAM_SERVICE_ERR);
    EXPECT_EQ(run("sshd", "root", Phase::authenticate, "tty1", nullptr), PAM_SERVICE_ERR);
    EXPECT_EQ(run("sudo", "root", Phase::account, "tty1", nullptr), PAM_SERVICE_ERR);
    // The module alone in a stack: when every module steps aside libpam
    // refuses (PAM_PERM_DENIED), so stepping aside never grants by itself.
    EXPECT_EQ(pam_run(confdir_, stack("", "cron"), "alice", {}, Phase::account).rc, PAM_PERM_DENIED);
    // An account line with an auth-only mode is a configuration error too.
    test::write_file(conf_, "# fine\n", 0644);
    EXPECT_EQ(pam_run(confdir_, service("cron", "authfail"), "alice", {}, Phase::account).rc, PAM_SUCCESS);
    EXPECT_EQ(pam_run(confdir_, service("sshd", "authfail"), "alice", {}, Phase::account).rc, PAM_SERVICE_ERR);
}

TEST_F(ModuleTest, ConfigFileIsReadAndArgumentsOverrideIt)
{
    enroll("alice");
    test::write_file(conf_, "deny = 1\n", 0644);
    EXPECT_EQ(auth("alice", {"bad"}).rc, PAM_MAXTRIES);
    EXPECT_TRUE(account("alice").rc == PAM_PERM_DENIED) << "deny=1 from the file locked after one failure";
    test::write_file(conf_, "deny = 1\n", 0644);
    // A fresh user under deny=5 from the arguments: one failure does not lock.
    enroll("bob");
    EXPECT_EQ(auth("bob", {"bad"}, "deny=5").rc, PAM_AUTH_ERR);
    EXPECT_EQ(account("bob", "deny=5").rc, PAM_SUCCESS);
}

TEST_F(ModuleTest, StorageProblemsFailClosed)
{
    enroll("alice");
    test::write_file(state_ + "/alice.rec", "authctl-user 1\ngarbage\n");
    EXPECT_EQ(auth("alice", {"123456"}).rc, PAM_SERVICE_ERR);
    EXPECT_EQ(account("alice").rc, PAM_SERVICE_ERR);
    ASSERT_EQ(::chmod(state_.c_str(), 0755), 0);  // loose state directory
    EXPECT_EQ(auth("bob", {"123456"}).rc, PAM_SERVICE_ERR);
    ASSERT_EQ(::chmod(state_.c_str(), 0700), 0);
    const auto missing = pam_run(confdir_, stack("dir=" + tmp_ / "missing"), "alice", {"123456"});
    EXPECT_EQ(missing.rc, PAM_SERVICE_ERR);
}

TEST_F(ModuleTest, HostileInputAtThePromptIsRefusedWithoutCrash)
{
    const Enrollment e = enroll("alice");
    const std::string args = "deny=0";
    for (const std::string& input :
         {std::string(), std::string("      "), std::string("abcdef"), std::string("12 456"), std::string(10000, '7'),
          std::string("1\0"
                      "23456",
                      7),
          std::string("\xff\xfe\xfd"), std::string("%s%s%n")}) {
        EXPECT_EQ(auth("alice", {input}, args).rc, PAM_AUTH_ERR) << input.size();
    }
    EXPECT_EQ(tally("alice").failures, 6U) << "every input but the two empty ones counted";
    EXPECT_EQ(auth("alice", {totp_now(e)}, args).rc, PAM_SUCCESS);
}

TEST_F(ModuleTest, ConversationFailureIsPassedThroughAndNotCounted)
{
    enroll("alice");
    const auto r = pam_run(confdir_, stack(""), "alice", {}, Phase::authenticate, 0, true);
    EXPECT_EQ(r.rc, PAM_CONV_ERR);
    EXPECT_EQ(tally("alice").failures, 0U);
}

TEST_F(ModuleTest, FailDelayIsTwoSecondsUnlessNodelay)
{
    enroll("alice");
    test::write_file(confdir_ + "/delay",
                     "auth required " + std::string(kModule) + " dir=" + state_ + " conf=" + conf_ + " deny=0\n", 0644);
    // libpam turns a requested delay `base` into base * (1 + s), s in [-0.5, 0.5),
    // from a generator seeded with time() at the start of pam_authenticate
    // (Linux-PAM libpam/pam_delay.c). Recompute it for the seconds around the
    // call: the module must have asked for exactly 2 000 000 us.
    auto libpam_delay = [](unsigned seed, unsigned base) {
        double sum = 0;
        for (int i = 0; i < 3; ++i) {
            seed = 1664525U * seed + 1013904223U;
            sum += static_cast<double>((seed / 10) % 1000000);
        }
        return static_cast<unsigned>(base * (1. + ((sum / 3.) / 1e6 - .5)));
    };
    test::PamRun r;
    for (int i = 0; i < 5; ++i) {
        const auto before = static_cast<unsigned>(std::time(nullptr));
        r = pam_run(confdir_, "delay", "alice", {"bad"});
        const auto after = static_cast<unsigned>(std::time(nullptr));
        EXPECT_EQ(r.rc, PAM_AUTH_ERR);
        EXPECT_TRUE(test::g_delay_called);
        EXPECT_TRUE(test::g_requested_delay == libpam_delay(before, 2000000) ||
                    test::g_requested_delay == libpam_delay(after, 2000000))
            << "got " << test::g_requested_delay << " us; 2 s would give " << libpam_delay(before, 2000000);
    }
    r = auth("alice", {"bad"});  // nodelay
    EXPECT_EQ(r.rc, PAM_MAXTRIES);
    EXPECT_EQ(test::g_requested_delay, 0U);
}

TEST_F(ModuleTest, SilentSuppressesMessages)
{
    enroll("alice");
    for (int i = 0; i < 3; ++i) auth("alice", {"bad"});
    EXPECT_FALSE(auth("alice", {"x"}).conv.errors.empty());
    EXPECT_TRUE(auth("alice", {"x"}, "silent").conv.errors.empty());
    const auto flagged = pam_run(confdir_, stack(""), "alice", {"x"}, Phase::authenticate, PAM_SILENT);
    EXPECT_TRUE(flagged.conv.errors.empty());
    EXPECT_EQ(flagged.rc, PAM_MAXTRIES);
}

TEST_F(ModuleTest, FailureAndLockAreLoggedToAuthprivWithoutTheCode)
{
    if (!syslog_->available()) GTEST_SKIP() << "/dev/log belongs to a real syslog here; cannot capture";
    const Enrollment e = enroll("alice");
    const std::string right = totp_now(e);
    const std::string wrong = wrong_for(right);
    for (int i = 0; i < 3; ++i) auth("alice", {wrong});
    auth("alice", {right});
    const std::string log = syslog_->drain();
    EXPECT_NE(log.find("user alice: wrong code (1 failure) (service=authctl-test rhost=192.0.2.10)"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("user alice: account locked after 3 failures"), std::string::npos) << log;
    EXPECT_NE(log.find("refused without asking: account locked"), std::string::npos) << log;
    EXPECT_EQ(log.find(wrong), std::string::npos) << "a code reached the log";
    EXPECT_EQ(log.find(right), std::string::npos) << "a code reached the log";
    EXPECT_NE(log.find("<8"), std::string::npos) << "authpriv (facility 10) lines start with <8x>: " << log;
}

// ---- Per-source tallies under a user-wide cap (issue 16) -------------------

constexpr const char* kSourceLocked =
    "Logins from this address are locked after 3 failed attempts; try again in 10 minutes.";

// A guesser at A locks A only; the owner at B logs in at once and is told of
// the failures; a success from B does not unlock A (docs/authctl.md).
TEST_F(ModuleTest, PerSourceWrongCodesLockOnlyThatSourceAndTheOwnerLogsInFromAnother)
{
    const Enrollment e = enroll("alice");
    const std::string args = "per_source";
    for (int i = 0; i < 3; ++i) {
        const auto r = auth_from(kAddressA, "alice", {wrong_for(totp_now(e))}, args);
        EXPECT_EQ(r.rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES) << i;
        if (i == 2) {
            ASSERT_EQ(r.conv.errors.size(), 1U);
            EXPECT_EQ(r.conv.errors[0], kSourceLocked);
        }
    }
    // A: refused without a prompt, whatever it sends, and told only that it is locked.
    const auto at_a = auth_from(kAddressA, "alice", {totp_now(e)}, args);
    EXPECT_EQ(at_a.rc, PAM_MAXTRIES);
    EXPECT_TRUE(at_a.conv.prompts.empty());
    ASSERT_EQ(at_a.conv.errors.size(), 1U);
    EXPECT_EQ(at_a.conv.errors[0], kSourceLocked);
    EXPECT_EQ(account_from(kAddressA, "alice", args).rc, PAM_PERM_DENIED);

    // B: at once, with the count of what happened meanwhile.
    EXPECT_EQ(account_from(kAddressB, "alice", args).rc, PAM_SUCCESS) << "A's lock refuses only A";
    const auto at_b = auth_from(kAddressB, "alice", {totp_now(e)}, args);
    EXPECT_EQ(at_b.rc, PAM_SUCCESS);
    EXPECT_EQ(at_b.conv.prompts.size(), 1U);
    EXPECT_NE(at_b.conv.all_messages().find(
                  "There were 3 failed attempts from 1 source since your last successful login."),
              std::string::npos)
        << at_b.conv.all_messages();
    EXPECT_TRUE(at_b.conv.errors.empty());

    // A is still locked: B's success cleared the user's count, not A's lock.
    const Tally t = tally("alice");
    EXPECT_EQ(t.failures, 0U);
    const SourceTally* a = source_entry(t, kAddressA);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->failures, 3U);
    EXPECT_GT(a->locked_until, std::time(nullptr));
    EXPECT_EQ(auth_from(kAddressA, "alice", {totp_now(e, 1)}, args).rc, PAM_MAXTRIES);
    EXPECT_EQ(account_from(kAddressA, "alice", args).rc, PAM_PERM_DENIED);
    if (!syslog_->available()) return;
    const std::string log = syslog_->drain();
    EXPECT_NE(log.find("user alice: source 198.51.100.1 locked after 3 failures"), std::string::npos) << log;
    EXPECT_NE(log.find("user alice: refused without asking: locked from this source (3 failures)"),
              std::string::npos)
        << log;
}

// Without per_source nothing changes: deny counts every source together.
TEST_F(ModuleTest, WithoutPerSourceTheFailuresOfEverySourceLockTheUser)
{
    const Enrollment e = enroll("alice");
    EXPECT_EQ(auth_from(kAddressA, "alice", {"bad"}, "").rc, PAM_AUTH_ERR);
    EXPECT_EQ(auth_from("198.51.100.2", "alice", {"bad"}, "").rc, PAM_AUTH_ERR);
    EXPECT_EQ(auth_from("198.51.100.3", "alice", {"bad"}, "").rc, PAM_MAXTRIES);
    const auto r = auth_from(kAddressB, "alice", {totp_now(e)}, "");
    EXPECT_EQ(r.rc, PAM_MAXTRIES);
    EXPECT_NE(r.conv.all_messages().find("Account locked after 3 failed attempts"), std::string::npos);
    EXPECT_TRUE(tally("alice").sources.empty());
}

// However many addresses a guesser holds, deny_user failures in all lock the
// user from everywhere, the owner's address and public-key logins included.
TEST_F(ModuleTest, DenyUserReachedFromManySourcesLocksEverySource)
{
    const Enrollment e = enroll("alice");
    const std::string args = "per_source deny_user=5";
    const char* guessers[] = {"198.51.100.1", "198.51.100.2", "198.51.100.3"};
    int rc = PAM_AUTH_ERR;
    for (int i = 0; i < 5; ++i) {  // 2 + 2 + 1: no source reaches deny=3
        const auto r = auth_from(guessers[i / 2], "alice", {wrong_for(totp_now(e))}, args);
        rc = r.rc;
        if (i < 4) {
            EXPECT_EQ(r.rc, PAM_AUTH_ERR) << i;
        } else {
            EXPECT_NE(r.conv.all_messages().find("Account locked after 5 failed attempts"), std::string::npos)
                << r.conv.all_messages();
        }
    }
    EXPECT_EQ(rc, PAM_MAXTRIES);
    const auto owner = auth_from(kAddressB, "alice", {totp_now(e)}, args);
    EXPECT_EQ(owner.rc, PAM_MAXTRIES);
    EXPECT_TRUE(owner.conv.prompts.empty());
    ASSERT_EQ(owner.conv.errors.size(), 1U);
    EXPECT_EQ(owner.conv.errors[0], "Account locked after 5 failed attempts; try again in 10 minutes.");
    const auto key_login = account_from(kAddressB, "alice", args);
    EXPECT_EQ(key_login.rc, PAM_PERM_DENIED);
    EXPECT_NE(key_login.conv.all_messages().find("Account locked after 5 failed attempts"), std::string::npos);
    EXPECT_EQ(tally("alice").failures, 5U);
    // The default cap is 10 x deny: 4 failures from 2 sources lock nobody.
    enroll("bob");
    for (int i = 0; i < 4; ++i) EXPECT_EQ(auth_from(guessers[i / 2], "bob", {"bad"}, "per_source").rc, PAM_AUTH_ERR);
    EXPECT_EQ(account_from(kAddressB, "bob", "per_source").rc, PAM_SUCCESS);
}

// One attacker holds a whole /64: its addresses share a tally; another /64 does not.
TEST_F(ModuleTest, PerSourceIpv6AddressesOfOneSlash64ShareATally)
{
    const Enrollment e = enroll("alice");
    const std::string args = "per_source";
    EXPECT_EQ(auth_from("2001:db8:1:2::1", "alice", {"bad"}, args).rc, PAM_AUTH_ERR);
    EXPECT_EQ(auth_from("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "alice", {"bad"}, args).rc, PAM_AUTH_ERR);
    const auto third = auth_from("[2001:db8:1:2::3%eth0]", "alice", {"bad"}, args);
    EXPECT_EQ(third.rc, PAM_MAXTRIES);
    ASSERT_EQ(third.conv.errors.size(), 1U);
    EXPECT_EQ(third.conv.errors[0], kSourceLocked);
    const auto same = auth_from("2001:db8:1:2:ffff::9", "alice", {totp_now(e)}, args);
    EXPECT_EQ(same.rc, PAM_MAXTRIES) << "another address of the locked /64";
    EXPECT_TRUE(same.conv.prompts.empty());
    EXPECT_EQ(account_from("2001:db8:1:2::42", "alice", args).rc, PAM_PERM_DENIED);
    EXPECT_EQ(account_from("2001:db8:1:3::1", "alice", args).rc, PAM_SUCCESS) << "the next /64 is not locked";
    EXPECT_EQ(auth_from("2001:db8:1:3::1", "alice", {totp_now(e)}, args).rc, PAM_SUCCESS);
    const Tally t = tally("alice");
    const SourceTally* net = source_entry(t, "2001:db8:1:2::/64");
    ASSERT_NE(net, nullptr);
    EXPECT_EQ(net->failures, 3U);
    // An IPv4-mapped address is the IPv4 address.
    enroll("bob");
    EXPECT_EQ(auth_from("::ffff:198.51.100.9", "bob", {"bad"}, args).rc, PAM_AUTH_ERR);
    EXPECT_EQ(auth_from("198.51.100.9", "bob", {"bad"}, args).rc, PAM_AUTH_ERR);
    const Tally bob = tally("bob");  // kept: the entry points into it
    const SourceTally* v4 = source_entry(bob, "198.51.100.9");
    ASSERT_NE(v4, nullptr);
    EXPECT_EQ(v4->failures, 2U);
}

// Local logins: the terminal, else the service, is the source.
TEST_F(ModuleTest, PerSourceLocalLoginsAreKeyedByTerminalElseService)
{
    const Enrollment e = enroll("alice");
    const std::string args = "per_source";
    for (int i = 0; i < 3; ++i) auth_from(nullptr, "alice", {"bad"}, args, "/dev/tty3");
    const auto tty3 = auth_from(nullptr, "alice", {totp_now(e)}, args, "tty3");
    EXPECT_EQ(tty3.rc, PAM_MAXTRIES);
    ASSERT_EQ(tty3.conv.errors.size(), 1U);
    EXPECT_EQ(tty3.conv.errors[0],
              "Logins from this terminal are locked after 3 failed attempts; try again in 10 minutes.");
    for (int i = 0; i < 3; ++i) auth_from(nullptr, "alice", {"bad"}, args);
    const auto service = auth_from(nullptr, "alice", {totp_now(e)}, args);
    EXPECT_EQ(service.rc, PAM_MAXTRIES);
    ASSERT_EQ(service.conv.errors.size(), 1U);
    EXPECT_EQ(service.conv.errors[0],
              "Logins from this service are locked after 3 failed attempts; try again in 10 minutes.");
    // An empty PAM_RHOST is no remote host: the terminal counts.
    EXPECT_EQ(auth_from("", "alice", {totp_now(e)}, args, "tty3").rc, PAM_MAXTRIES);
    const auto tty4 = auth_from(nullptr, "alice", {totp_now(e)}, args, "tty4");
    EXPECT_EQ(tty4.rc, PAM_SUCCESS);
    EXPECT_NE(tty4.conv.all_messages().find("There were 6 failed attempts from 2 sources"), std::string::npos)
        << tty4.conv.all_messages();
    const Tally t = tally("alice");
    ASSERT_NE(source_entry(t, "tty:tty3"), nullptr);
    ASSERT_NE(source_entry(t, "service:authctl-test"), nullptr);
    EXPECT_EQ(source_entry(t, "tty:tty3")->failures, 3U);
    EXPECT_EQ(source_entry(t, "service:authctl-test")->failures, 3U);
}

// ---- pam_faillock's options (issue 16) ---------------------------------------

// admin_group: its members are handled as root -- throttled per source
// (root_throttle, issue 19 point 2; before it, never locked) unless
// even_deny_root, or root_unlock_time (which then says for how long).
TEST_F(ModuleTest, AdminGroupMembersAreHandledAsRoot)
{
    const Enrollment e = enroll("alice");  // in group sudo (tests/module/data/group)
    const std::string group = "admin_group=sudo";
    for (int i = 0; i < 3; ++i) EXPECT_EQ(auth("alice", {"bad"}, group).rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES) << i;
    EXPECT_EQ(account("alice", group).rc, PAM_PERM_DENIED) << "locked from 192.0.2.10 (root_throttle)";
    EXPECT_EQ(account_from(kAddressB, "alice", group).rc, PAM_SUCCESS);
    EXPECT_EQ(auth_from(kAddressB, "alice", {totp_now(e)}, group).rc, PAM_SUCCESS);
    // root_throttle=0: faillock's rule, never locked.
    for (int i = 0; i < 5; ++i) EXPECT_EQ(auth_from(kAddressB, "alice", {"bad"}, group + " root_throttle=0").rc, PAM_AUTH_ERR) << i;
    EXPECT_EQ(account_from(kAddressB, "alice", group + " root_throttle=0").rc, PAM_SUCCESS);
    EXPECT_EQ(auth_from(kAddressB, "alice", {totp_now(e, 1)}, group + " root_throttle=0").rc, PAM_SUCCESS);
    for (int i = 0; i < 3; ++i) auth("alice", {"bad"}, group + " even_deny_root");
    EXPECT_EQ(auth("alice", {totp_now(e, 1)}, group + " even_deny_root").rc, PAM_MAXTRIES);
    EXPECT_EQ(account("alice", group + " even_deny_root").rc, PAM_PERM_DENIED);
    {
        auto store = UserStore::open(state_);
        auto held = store->lock("alice");
        reset_tally(held->record()->tally);
        ASSERT_TRUE(held->commit());
    }
    for (int i = 0; i < 3; ++i) auth("alice", {"bad"}, group + " root_unlock_time=60");
    const auto r = auth("alice", {totp_now(e, 1)}, group + " root_unlock_time=60");
    EXPECT_EQ(r.rc, PAM_MAXTRIES);
    ASSERT_EQ(r.conv.errors.size(), 1U);
    EXPECT_EQ(r.conv.errors[0], "Account locked after 3 failed attempts; try again in 1 minute.");
    // bob is not a member: locked by deny as usual.
    enroll("bob");
    for (int i = 0; i < 3; ++i) auth("bob", {"bad"}, group);
    EXPECT_EQ(account("bob", group).rc, PAM_PERM_DENIED);
    // A group without members exempts nobody.
    enroll("dave");
    for (int i = 0; i < 3; ++i) auth("dave", {"bad"}, "admin_group=nogroup");
    EXPECT_EQ(account("dave", "admin_group=nogroup").rc, PAM_PERM_DENIED);
}

// audit: the name given for a user who does not exist (which may be a
// password typed at the user prompt) is logged only with it. Such a name is
// counted in its bucket now (issue 19, point 1), so the lines say so; deny=10
// keeps the bucket below its lock through this test.
TEST_F(ModuleTest, AuditLogsTheNameOfAnUnknownUserOnlyWhenAsked)
{
    if (!syslog_->available()) GTEST_SKIP() << "/dev/log belongs to a real syslog here; cannot capture";
    const std::string typed = "Hunter2-typed-as-a-name";
    const std::string d = "deny=10 ";
    EXPECT_EQ(auth(typed, {"123456"}, d).rc, PAM_USER_UNKNOWN);
    EXPECT_EQ(pam_run(confdir_, stack(d + "authfail"), typed, {}).rc, PAM_AUTH_ERR);
    EXPECT_EQ(auth(typed, {"123456"}, d + "debug").rc, PAM_USER_UNKNOWN);  // debug lines too
    // A configuration error (where `audit` cannot be read) names no unknown user either.
    const auto bad = pam_run(confdir_, stack("deny=x"), typed, {"123456"});
    EXPECT_EQ(bad.rc, PAM_SERVICE_ERR);
    std::string log = syslog_->drain();
    EXPECT_NE(log.find("configuration error, failing closed (service=authctl-test tty=- rhost=192.0.2.10 "
                       "user=(unknown))"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("user (unknown): refused: unknown user (1 failure)"), std::string::npos) << log;
    EXPECT_EQ(log.find(":unknown:"), std::string::npos) << "the bucket (a hash of what was typed) is not logged\n"
                                                          << log;
    EXPECT_NE(log.find("user (unknown): authentication failure (2 failures)"), std::string::npos) << log;
    EXPECT_EQ(log.find(typed), std::string::npos) << log;
    EXPECT_EQ(auth(typed, {"123456"}, d + "audit").rc, PAM_USER_UNKNOWN);
    EXPECT_EQ(pam_run(confdir_, stack(d + "audit authfail"), typed, {}).rc, PAM_AUTH_ERR);
    log = syslog_->drain();
    EXPECT_NE(log.find("user " + typed + ": refused: unknown user (4 failures, :unknown:"), std::string::npos) << log;
    EXPECT_NE(log.find("user " + typed + ": authentication failure (5 failures)"), std::string::npos) << log;
    // A known user's name is logged either way.
    enroll("alice");
    EXPECT_EQ(auth("alice", {"bad"}).rc, PAM_AUTH_ERR);
    EXPECT_NE(syslog_->drain().find("user alice: wrong code (1 failure)"), std::string::npos);
}

// Issue 19: a bucket key that is not right (here mode 0644) is refused and
// never replaced; the made-up name is still asked and counted, in its public
// bucket, and one LOG_ERR line says why.
TEST_F(ModuleTest, ABadBucketKeyIsLoggedAndTheNameStillCounted)
{
    if (!syslog_->available()) GTEST_SKIP() << "/dev/log belongs to a real syslog here; cannot capture";
    const std::string key_path = state_ + "/.bucket.key";
    const std::string planted(kBucketKeyBytes, 'k');
    test::write_file(key_path, planted, 0644);
    const auto r = auth("ghost-name", {"123456"}, "deny=10");
    EXPECT_EQ(r.rc, PAM_USER_UNKNOWN);
    ASSERT_EQ(r.conv.prompts.size(), 1U) << "asked as a real user is";
    const std::string log = syslog_->drain();
    const std::string line =
        "bucket key unavailable, using the public bucket: insecure file: '.bucket.key' is accessible by group or others";
    EXPECT_NE(log.find("<83>"), std::string::npos) << "LOG_ERR";
    EXPECT_NE(log.find(line), std::string::npos) << log;
    EXPECT_EQ(log.find(line), log.rfind(line)) << "said once per login\n" << log;
    auto rec = UserStore::open(state_)->load(*unknown_user_bucket("ghost-name", nullptr));
    ASSERT_TRUE(rec && rec->has_value()) << "counted in its public bucket";
    EXPECT_EQ((*rec)->tally.failures, 1U);
    EXPECT_EQ(test::read_file(key_path), planted) << "never replaced";
    struct stat st {};
    ASSERT_EQ(::stat(key_path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644U);
}

// no_log_info: no LOG_INFO or LOG_NOTICE line; warnings (a lock) and errors stay.
TEST_F(ModuleTest, NoLogInfoLeavesOnlyWarningsAndErrorsInTheLog)
{
    if (!syslog_->available()) GTEST_SKIP() << "/dev/log belongs to a real syslog here; cannot capture";
    const Enrollment e = enroll("alice");
    const std::string quiet = "no_log_info unlock_time=1";
    for (int i = 0; i < 3; ++i) auth("alice", {"bad"}, quiet);
    EXPECT_EQ(auth("alice", {totp_now(e)}, quiet).rc, PAM_MAXTRIES);
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    EXPECT_EQ(auth("alice", {totp_now(e)}, quiet).rc, PAM_SUCCESS);
    test::write_file(state_ + "/bob.rec", "authctl-user 1\ngarbage\n");
    EXPECT_EQ(auth("bob", {"123456"}, quiet).rc, PAM_SERVICE_ERR);
    const std::string log = syslog_->drain();
    std::istringstream in(log);
    bool warning = false, error = false;
    for (std::string line; std::getline(in, line);) {
        if (line.find("pam_authctl(authctl-test:") == std::string::npos) continue;
        // authpriv (10 << 3): <84> warning, <83> error, <85> notice, <86> info.
        EXPECT_NE(line.rfind("<85>", 0), 0U) << "a notice line under no_log_info: " << line;
        EXPECT_NE(line.rfind("<86>", 0), 0U) << "an info line under no_log_info: " << line;
        warning = warning || (line.rfind("<84>", 0) == 0 && line.find("account locked after 3 failures") != std::string::npos);
        error = error || (line.rfind("<83>", 0) == 0 && line.find("user bob: refused: corrupt record") != std::string::npos);
    }
    EXPECT_TRUE(warning) << log;
    EXPECT_TRUE(error) << log;
    // Without it, the same logins write their notices and infos.
    enroll("carol");
    EXPECT_EQ(auth("carol", {"bad"}, "unlock_time=1").rc, PAM_AUTH_ERR);
    EXPECT_NE(syslog_->drain().find("<85>"), std::string::npos);
}

// local_users_only: preauth, authfail, authsucc and the account phase return
// PAM_IGNORE for a user the name service knows but /etc/passwd does not (as
// pam_faillock); the code itself is still asked for and counted -- a second
// factor is never waived.
TEST_F(ModuleTest, LocalUsersOnlyIgnoresDirectoryUsersInTheTallyModesButStillAsksForTheCode)
{
    // A private /etc/passwd in a private mount namespace (this thread only):
    // root and bob are local; alice is known through the name service only
    // (nss_wrapper here; LDAP or SSSD on a real machine). A line longer than
    // any line buffer comes before bob's, and one that starts like alice's.
    if (::unshare(CLONE_NEWNS) != 0) GTEST_SKIP() << "cannot create a mount namespace here: " << std::strerror(errno);
    ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
    const std::string passwd = tmp_ / "passwd";
    test::write_file(passwd,
                     "root:x:0:0:root:/root:/bin/sh\nlong:x:2000:2000:" + std::string(40000, 'g') +
                         ":/nonexistent:/bin/sh\nalice2:x:2001:2001::/nonexistent:/bin/sh\n"
                         "bob:x:1001:1001:Bob:/home/bob:/bin/sh\n",
                     0644);
    ASSERT_EQ(::mount(passwd.c_str(), "/etc/passwd", nullptr, MS_BIND, nullptr), 0) << std::strerror(errno);
    struct Unmount {
        ~Unmount() { ::umount2("/etc/passwd", MNT_DETACH); }
    } unmount;
    ASSERT_NE(::getpwnam("alice"), nullptr);

    // Each mode, then pam_permit: the tally modes return PAM_SUCCESS for a
    // user they do not track, as pam_faillock's do.
    const auto service = [&](const std::string& name, const std::string& args) {
        const std::string line = std::string(kModule) + " " + base_args() + " " + args + "\n";
        test::write_file(confdir_ + "/" + name,
                         "auth required " + line + "auth required pam_permit.so\n" +
                             "account required " + std::string(kModule) + " " + base_args() + " local_users_only\n" +
                             "account required pam_permit.so\n",
                         0644);
        return name;
    };
    const std::string lo = "local_users_only";
    const Enrollment ea = enroll("alice");
    enroll("bob");
    for (int i = 0; i < 3; ++i) {
        const auto r = auth("alice", {"bad"}, lo);
        EXPECT_EQ(r.rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES) << "the code mode counts alice's failures";
        EXPECT_EQ(r.conv.prompts.size(), 1U);
    }
    EXPECT_EQ(auth("alice", {totp_now(ea)}, lo).rc, PAM_MAXTRIES) << "and her lock holds where the code is asked";
    EXPECT_EQ(pam_run(confdir_, service("pre", lo + " preauth"), "alice", {}).rc, PAM_SUCCESS);
    EXPECT_EQ(pam_run(confdir_, service("fail", lo + " authfail"), "alice", {}).rc, PAM_SUCCESS);
    EXPECT_EQ(pam_run(confdir_, service("succ", lo + " authsucc"), "alice", {}).rc, PAM_SUCCESS);
    EXPECT_EQ(pam_run(confdir_, service("pre", lo + " preauth"), "alice", {}, Phase::account).rc, PAM_PERM_DENIED)
        << "the account phase still enforces the lock the code set (a key login does not get past it)";
    EXPECT_EQ(tally("alice").failures, 3U) << "authfail did not count, authsucc did not clear";
    // Without the option she is tracked like anyone.
    EXPECT_EQ(pam_run(confdir_, service("pre-all", "preauth"), "alice", {}).rc, PAM_MAXTRIES);
    // bob is in /etc/passwd: tracked.
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(pam_run(confdir_, service("fail", lo + " authfail"), "bob", {}).rc,
                  i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES);
    EXPECT_EQ(tally("bob").failures, 3U);
    EXPECT_EQ(pam_run(confdir_, service("pre", lo + " preauth"), "bob", {}).rc, PAM_MAXTRIES);
    EXPECT_EQ(pam_run(confdir_, service("succ", lo + " authsucc"), "bob", {}).rc, PAM_MAXTRIES);
    EXPECT_EQ(pam_run(confdir_, service("pre", lo + " preauth"), "bob", {}, Phase::account).rc, PAM_PERM_DENIED);
}

// Linux audit records, as pam_faillock writes them (libaudit): a counted
// failure, a lock (with its scope) and a refusal while locked, in the auth
// and the account phase, each with the user, the remote host and the terminal.
TEST_F(ModuleTest, AuditRecordsForAFailureALockAndARefusal)
{
    const int before = test::AuditReader::kernel_enabled();
    std::string skipped;
    {
        test::AuditReader reader;
        if (!reader.available()) {
            skipped = "audit records cannot be read here, so they are not checked: " + reader.why();
        } else {
            if (reader.enabled_by_us())
                std::cout << "[   NOTE   ] the kernel's audit was disabled: enabled for this test, then restored\n";
            check_audit_records(reader);
        }
    }
    EXPECT_EQ(test::AuditReader::kernel_enabled(), before) << "the kernel's audit setting was not put back";
    if (!skipped.empty()) GTEST_SKIP() << skipped;
}

// The faillock-style stack for password + code: password failures from another
// module (pam_matrix, a real password module from the pam_wrapper package)
// count toward the same lock as wrong codes.
class PasswordStack : public ModuleTest {
protected:
    void SetUp() override
    {
        ModuleTest::SetUp();
        passdb_ = tmp_ / "passdb";
        test::write_file(passdb_, "alice:secret-pw:password-stack\nbob:bob-pw:password-stack\n", 0600);
        const std::string m = std::string(kModule) + " " + base_args();
        test::write_file(confdir_ + "/password-stack",
                         "auth requisite " + m +
                             " preauth\n"
                             "auth [success=1 default=ignore] " AUTHCTL_PAM_MATRIX " passdb=" +
                             passdb_ +
                             "\n"
                             "auth [default=die] " +
                             m +
                             " authfail\n"
                             "auth required " +
                             m +
                             "\n"
                             "account required " +
                             m + "\n",
                         0644);
        test::write_file(confdir_ + "/password-only",
                         "auth requisite " + m +
                             " preauth\n"
                             "auth [success=1 default=ignore] " AUTHCTL_PAM_MATRIX " passdb=" +
                             passdb_ +
                             "\n"
                             "auth [default=die] " +
                             m +
                             " authfail\n"
                             "auth sufficient " +
                             m +
                             " authsucc\n"
                             "auth required pam_deny.so\n",
                         0644);
    }
    std::string passdb_;
};

TEST_F(PasswordStack, PasswordFailuresCountTowardTheLock)
{
    const Enrollment e = enroll("alice");
    for (int i = 0; i < 2; ++i) {
        const auto r = pam_run(confdir_, "password-stack", "alice", {"wrong-pw"});
        EXPECT_EQ(r.rc, PAM_AUTH_ERR);
        EXPECT_EQ(r.conv.prompts.size(), 1U) << "authfail dies: no code prompt after a bad password";
    }
    EXPECT_EQ(tally("alice").failures, 2U);
    // A wrong code after a right password is the third failure.
    EXPECT_EQ(pam_run(confdir_, "password-stack", "alice", {"secret-pw", wrong_for(totp_now(e))}).rc, PAM_MAXTRIES);
    EXPECT_EQ(tally("alice").failures, 3U);
    // Locked: refused in preauth (requisite) before any prompt, even with both factors right.
    const auto locked = pam_run(confdir_, "password-stack", "alice", {"secret-pw", totp_now(e)});
    EXPECT_EQ(locked.rc, PAM_MAXTRIES);
    EXPECT_TRUE(locked.conv.prompts.empty());
    EXPECT_EQ(tally("alice").failures, 3U);
}

TEST_F(PasswordStack, BothFactorsRightClearsEarlierPasswordFailures)
{
    const Enrollment e = enroll("alice");
    EXPECT_EQ(pam_run(confdir_, "password-stack", "alice", {"wrong-pw"}).rc, PAM_AUTH_ERR);
    const auto r = pam_run(confdir_, "password-stack", "alice", {"secret-pw", totp_now(e)});
    EXPECT_EQ(r.rc, PAM_SUCCESS);
    ASSERT_EQ(r.conv.prompts.size(), 2U);
    EXPECT_EQ(r.conv.prompts[1], "Verification code: ");
    EXPECT_EQ(tally("alice").failures, 0U);
}

TEST_F(PasswordStack, AuthsuccClearsTheTallyInAPasswordOnlyStack)
{
    for (int i = 0; i < 2; ++i) EXPECT_EQ(pam_run(confdir_, "password-only", "bob", {"nope"}).rc, PAM_AUTH_ERR);
    EXPECT_EQ(tally("bob").failures, 2U);
    EXPECT_FALSE((*UserStore::open(state_)->load("bob"))->enrollment) << "a tally-only record";
    const auto r = pam_run(confdir_, "password-only", "bob", {"bob-pw"});
    EXPECT_EQ(r.rc, PAM_SUCCESS);
    EXPECT_NE(r.conv.all_messages().find("There were 2 failed attempts"), std::string::npos);
    EXPECT_EQ(tally("bob").failures, 0U);
    for (int i = 0; i < 3; ++i) pam_run(confdir_, "password-only", "bob", {"nope"});
    EXPECT_EQ(pam_run(confdir_, "password-only", "bob", {"bob-pw"}).rc, PAM_MAXTRIES) << "locked by password failures";
}

// Issue 19, point 1, the faillock-style stack (preauth, password, authfail,
// code): wrong passwords for a real enrolled user and for a made-up name give
// the same conversation, the same lock after deny, and then neither is asked
// anything (before, the made-up name was asked for its password forever).
TEST_F(PasswordStack, AMadeUpNameIsLockedLikeARealUserWithoutBeingAsked)
{
    enroll("alice");
    const std::vector<std::string> locked = {"Account locked after 3 failed attempts; try again in 10 minutes."};
    for (int i = 0; i < 5; ++i) {
        const auto real = pam_run(confdir_, "password-stack", "alice", {"wrong-pw", "123456"});
        const auto fake = pam_run(confdir_, "password-stack", "mallory", {"wrong-pw", "123456"});
        SCOPED_TRACE("login " + std::to_string(i + 1));
        EXPECT_EQ(fake.conv.prompts, real.conv.prompts);
        EXPECT_EQ(fake.conv.infos, real.conv.infos);
        EXPECT_EQ(fake.conv.errors, real.conv.errors);
        EXPECT_EQ(fake.rc, real.rc) << pam_strerror(nullptr, fake.rc) << " / " << pam_strerror(nullptr, real.rc);
        if (i < 2) {
            EXPECT_EQ(real.rc, PAM_AUTH_ERR);
            EXPECT_EQ(real.conv.prompts.size(), 1U) << "the password only: authfail dies";
        } else {
            EXPECT_EQ(real.rc, PAM_MAXTRIES);
            EXPECT_EQ(real.conv.prompts.size(), i == 2 ? 1U : 0U) << "after the lock, preauth refuses unasked";
            EXPECT_EQ(real.conv.errors, locked);
            EXPECT_EQ(fake.conv.errors, locked);
        }
    }
    EXPECT_EQ(tally("alice").failures, 3U);
    EXPECT_EQ(bucket_tally("mallory").failures, 3U);
}

// faillock's modes per source: password failures from A lock A (authfail);
// preauth refuses A before the password prompt; authsucc refuses while A is
// locked (PAM_MAXTRIES) and clears nothing; the owner at B gets in and is told.
TEST_F(PasswordStack, PerSourcePreauthAuthfailAuthsuccAndAccount)
{
    const std::string m = std::string(kModule) + " " + base_args() + " per_source";
    test::write_file(confdir_ + "/password-per-source",
                     "auth requisite " + m + " preauth\n" + "auth [success=1 default=ignore] " AUTHCTL_PAM_MATRIX +
                         " passdb=" + passdb_ + "\n" + "auth [default=die] " + m + " authfail\n" + "auth sufficient " +
                         m + " authsucc\n" + "auth required pam_deny.so\n" + "account required " + m + "\n",
                     0644);
    // No preauth: authsucc itself meets the lock.
    const auto authsucc_stack = [&](const std::string& module) {
        test::write_file(confdir_ + "/authsucc-only",
                         std::string("auth [success=1 default=ignore] ") + AUTHCTL_PAM_MATRIX + " passdb=" + passdb_ +
                             "\n" + "auth [default=die] " + module + " authfail\n" + "auth required " + module +
                             " authsucc\n",
                         0644);
        return "authsucc-only";
    };
    const auto from = [&](const std::string& service, const char* rhost, const std::string& pw) {
        return pam_run(confdir_, service, "bob", {pw}, Phase::authenticate, 0, false, rhost);
    };
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(from("password-per-source", kAddressA, "nope").rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES) << i;
    const auto pre = from("password-per-source", kAddressA, "bob-pw");
    EXPECT_EQ(pre.rc, PAM_MAXTRIES);
    EXPECT_TRUE(pre.conv.prompts.empty()) << "preauth refuses before the password prompt";
    ASSERT_EQ(pre.conv.errors.size(), 1U);
    EXPECT_EQ(pre.conv.errors[0], kSourceLocked);
    const auto succ = from(authsucc_stack(m), kAddressA, "bob-pw");
    EXPECT_EQ(succ.rc, PAM_MAXTRIES) << "a right password does not lift A's lock";
    ASSERT_EQ(succ.conv.errors.size(), 1U);
    EXPECT_EQ(succ.conv.errors[0], kSourceLocked);
    {
        const Tally t = tally("bob");
        EXPECT_EQ(t.failures, 3U) << "authsucc refused: nothing cleared";
        const SourceTally* a = find_source(t, kAddressA);
        ASSERT_NE(a, nullptr);
        EXPECT_EQ(a->failures, 3U);
    }
    EXPECT_EQ(pam_run(confdir_, "password-per-source", "bob", {}, Phase::account, 0, false, kAddressA).rc,
              PAM_PERM_DENIED);
    EXPECT_EQ(pam_run(confdir_, "password-per-source", "bob", {}, Phase::account, 0, false, kAddressB).rc,
              PAM_SUCCESS);
    const auto owner = from("password-per-source", kAddressB, "bob-pw");
    EXPECT_EQ(owner.rc, PAM_SUCCESS);
    EXPECT_NE(owner.conv.all_messages().find(
                  "There were 3 failed attempts from 1 source since your last successful login."),
              std::string::npos)
        << owner.conv.all_messages();
    EXPECT_EQ(from("password-per-source", kAddressA, "bob-pw").rc, PAM_MAXTRIES) << "A is still locked";
    // The user's own lock (no per_source): authsucc refuses it too.
    const std::string plain = std::string(kModule) + " " + base_args();
    for (int i = 0; i < 3; ++i) pam_run(confdir_, authsucc_stack(plain), "alice", {"nope"});
    const auto user_locked = pam_run(confdir_, authsucc_stack(plain), "alice", {"secret-pw"});
    EXPECT_EQ(user_locked.rc, PAM_MAXTRIES);
    EXPECT_NE(user_locked.conv.all_messages().find("Account locked after 3 failed attempts"), std::string::npos);
    EXPECT_EQ(tally("alice").failures, 3U);
    if (!syslog_->available()) return;
    const std::string log = syslog_->drain();
    EXPECT_NE(log.find("user bob: success of another module refused: locked from this source (3 failures)"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("user bob: refused in preauth: locked from this source (3 failures)"), std::string::npos)
        << log;
}

}  // namespace
}  // namespace authctl

