// SPDX-License-Identifier: Apache-2.0
// Enrollment at login by invitation (issue 17) through the real libpam and
// the built module: the QR code the module sends is drawn back into an image
// here and decoded with zbarimg; the secret of the URI it holds gives, through
// oathtool, the code that completes the enrollment. Users come from
// tests/module/data/passwd through nss_wrapper (set by CTest).
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <iostream>
#include <optional>
#include <pwd.h>
#include <sched.h>
#include <sstream>
#include <string>
#include <vector>

#include "authctl/invitation.hpp"
#include "authctl/login.hpp"
#include "authctl/otp.hpp"
#include "authctl/recovery.hpp"
#include "authctl/store.hpp"
#include "pam_harness.hpp"

// A test's hook, run once when the module next reads SSH_AUTH_INFO_0 (after
// its lock_info read, before its offer_invite): what a parallel login does
// in between. pam_getenv is interposed (this executable's definition comes
// first in the module's symbol lookup) and forwards to libpam's.
std::function<void()> g_on_auth_info;  // NOLINT: the test's hook

extern "C" __attribute__((visibility("default"))) const char* pam_getenv(pam_handle_t* pamh, const char* name)
{
    using Real = const char* (*)(pam_handle_t*, const char*);
    static const Real real = reinterpret_cast<Real>(::dlsym(RTLD_NEXT, "pam_getenv"));
    if (std::strcmp(name, "SSH_AUTH_INFO_0") == 0 && g_on_auth_info) {
        auto hook = std::move(g_on_auth_info);
        g_on_auth_info = nullptr;
        hook();
    }
    return real != nullptr ? real(pamh, name) : nullptr;
}

namespace authctl {
namespace {

constexpr const char* kModule = AUTHCTL_PAM_MODULE;
constexpr const char* kSshKeyInfo = "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIInvitedUsersKey";
constexpr const char* kInvitePrompt = "Code shown by your app: ";
constexpr const char* kLogInOverSsh = "You are invited to set up one-time codes: log in over ssh to finish enrolling.";
constexpr const char* kSuperseded = "Your enrollment was completed or changed elsewhere; log in again.";

// One transaction: every message and prompt in order ("info: ", "error: ",
// "prompt: " + text), answered by `answer` (given the transcript so far).
struct Transcript {
    int rc = PAM_SYSTEM_ERR;
    std::vector<std::string> lines;
    std::vector<std::string> infos;
    std::vector<std::string> errors;
    std::vector<std::string> prompts;
    std::function<std::string(Transcript&, const std::string& prompt)> answer;
    std::string joined() const
    {
        std::string out;
        for (const auto& l : lines) out += l + "\n";
        return out;
    }
};

int transcript_conv(int n, const struct pam_message** msg, struct pam_response** resp, void* data)
{
    auto* t = static_cast<Transcript*>(data);
    auto* out = static_cast<pam_response*>(calloc(static_cast<std::size_t>(n), sizeof(pam_response)));
    if (out == nullptr) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) {
        const std::string text = msg[i]->msg != nullptr ? msg[i]->msg : "";
        switch (msg[i]->msg_style) {
            case PAM_PROMPT_ECHO_OFF:
            case PAM_PROMPT_ECHO_ON: {
                t->lines.push_back(std::string(msg[i]->msg_style == PAM_PROMPT_ECHO_ON ? "prompt-echo: " : "prompt: ") +
                                   text);
                t->prompts.push_back(text);
                const std::string a = t->answer ? t->answer(*t, text) : std::string();
                out[i].resp = strdup(a.c_str());
                break;
            }
            case PAM_TEXT_INFO:
                t->lines.push_back("info: " + text);
                t->infos.push_back(text);
                break;
            case PAM_ERROR_MSG:
                t->lines.push_back("error: " + text);
                t->errors.push_back(text);
                break;
            default: break;
        }
    }
    *resp = out;
    return PAM_SUCCESS;
}

struct Login {
    std::string service = "authctl-invite";
    std::string user = "alice";
    const char* auth_info = kSshKeyInfo;  // SSH_AUTH_INFO_0 in the PAM environment; nullptr: unset
    int flags = 0;
    const char* rhost = "192.0.2.10";
};

// The QR code of a transcript: the info message drawn with half blocks, read
// back into modules and written as a PBM image, decoded by zbarimg.
std::string qr_text(const Transcript& t)
{
    for (const auto& m : t.infos)
        if (m.find("\u2588") != std::string::npos) return m;
    return {};
}

std::optional<std::string> decode_qr(const std::string& drawn, const std::string& dir)
{
    std::vector<std::vector<bool>> dark;  // rows of modules, true = dark
    std::istringstream in(drawn);
    for (std::string line; std::getline(in, line);) {
        std::vector<bool> top, bottom;
        for (std::size_t i = 0; i < line.size();) {
            if (line[i] == ' ') {
                top.push_back(true);
                bottom.push_back(true);
                ++i;
                continue;
            }
            const std::string ch = line.substr(i, 3);
            i += 3;
            if (ch == "\u2588") {
                top.push_back(false);
                bottom.push_back(false);
            } else if (ch == "\u2580") {  // upper half light
                top.push_back(false);
                bottom.push_back(true);
            } else if (ch == "\u2584") {  // lower half light
                top.push_back(true);
                bottom.push_back(false);
            } else {
                return std::nullopt;
            }
        }
        dark.push_back(top);
        dark.push_back(bottom);
    }
    if (dark.empty()) return std::nullopt;
    constexpr int kScale = 6;
    const std::size_t w = dark[0].size();
    std::string pbm = "P1\n" + std::to_string(w * kScale) + " " + std::to_string(dark.size() * kScale) + "\n";
    for (const auto& row : dark)
        for (int k = 0; k < kScale; ++k) {
            for (std::size_t x = 0; x < w; ++x)
                for (int j = 0; j < kScale; ++j) pbm += x < row.size() && row[x] ? "1 " : "0 ";
            pbm += "\n";
        }
    const std::string path = dir + "/qr-" + std::to_string(::getpid()) + ".pbm";
    test::write_file(path, pbm);
    const auto r = test::run_cmd({"zbarimg", "-q", "--raw", path});
    ::unlink(path.c_str());
    if (r.code != 0) return std::nullopt;
    std::string uri = r.out;
    while (!uri.empty() && (uri.back() == '\n' || uri.back() == '\r')) uri.pop_back();
    return uri;
}

std::string uri_param(const std::string& uri, const std::string& key)
{
    const auto q = uri.find('?');
    if (q == std::string::npos) return {};
    std::istringstream in(uri.substr(q + 1));
    for (std::string kv; std::getline(in, kv, '&');)
        if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
    return {};
}

// The TOTP code for the URI's secret `steps` periods from now, by oathtool.
std::string oathtool_code(const std::string& uri, int steps = 0)
{
    const std::string secret = uri_param(uri, "secret");
    std::string algo = uri_param(uri, "algorithm");
    std::string digits = uri_param(uri, "digits");
    std::string period = uri_param(uri, "period");
    if (algo.empty()) algo = "SHA1";
    for (auto& c : algo) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (digits.empty()) digits = "6";
    if (period.empty()) period = "30";
    const long at = std::time(nullptr) + steps * std::stol(period);
    const auto r = test::run_cmd(
        {"oathtool", "--totp=" + algo, "-d", digits, "-s", period + "s", "-b", "-N", "@" + std::to_string(at), secret});
    std::string code = r.out;
    while (!code.empty() && code.back() == '\n') code.pop_back();
    return r.code == 0 ? code : std::string();
}

class InviteTest : public ::testing::Test {
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
        if (!test::have_program("zbarimg") || !test::have_program("oathtool"))
            GTEST_SKIP() << "zbarimg and oathtool are needed (scripts/install-deps)";
        confdir_ = tmp_ / "pam.d";
        state_ = tmp_ / "state";
        conf_ = tmp_ / "authctl.conf";
        ASSERT_EQ(::mkdir(confdir_.c_str(), 0755), 0);
        ASSERT_TRUE(UserStore::open_or_create(state_));
        test::write_file(conf_, "# test configuration\n", 0644);
        stack("");
        syslog_->drain();
    }

    void stack(const std::string& args, const std::string& name = "authctl-invite")
    {
        const std::string line = std::string(kModule) + " dir=" + state_ + " conf=" + conf_ + " nodelay " + args;
        test::write_file(confdir_ + "/" + name, "auth required " + line + "\naccount required " + line + "\n", 0644);
    }

    Transcript run(const Login& l, std::function<std::string(Transcript&, const std::string&)> answer)
    {
        Transcript t;
        t.answer = std::move(answer);
        const pam_conv conv{transcript_conv, &t};
        pam_handle_t* pamh = nullptr;
        int rc = pam_start_confdir(l.service.c_str(), l.user.c_str(), &conv, confdir_.c_str(), &pamh);
        if (rc != PAM_SUCCESS) {
            t.rc = rc;
            return t;
        }
        if (l.rhost != nullptr) pam_set_item(pamh, PAM_RHOST, l.rhost);
        // What sshd does: the methods completed so far, in the PAM environment.
        if (l.auth_info != nullptr) pam_putenv(pamh, (std::string("SSH_AUTH_INFO_0=") + l.auth_info).c_str());
        t.rc = pam_authenticate(pamh, l.flags);
        pam_end(pamh, t.rc);
        return t;
    }

    // Answers the invitation's prompt with the code for the QR code shown (and
    // records the URI decoded); anything else with `other`.
    std::function<std::string(Transcript&, const std::string&)> scan_and_answer(std::string* uri_out = nullptr,
                                                                                std::string other = "")
    {
        return [this, uri_out, other](Transcript& t, const std::string& prompt) -> std::string {
            if (prompt != kInvitePrompt) return other;
            const auto uri = decode_qr(qr_text(t), tmp_.path());
            if (!uri) return "no-qr";
            if (uri_out != nullptr) *uri_out = *uri;
            return oathtool_code(*uri);
        };
    }
    static std::function<std::string(Transcript&, const std::string&)> always(std::string a)
    {
        return [a](Transcript&, const std::string&) { return a; };
    }

    InviteResult invite(const std::string& user, InviteRequest req = {}, std::int64_t now = std::time(nullptr))
    {
        auto store = UserStore::open(state_);
        EXPECT_TRUE(store);
        if (req.expires == 0) req.expires = now + kDefaultInviteSeconds;
        if (req.invited_by.empty()) req.invited_by = "root";
        auto r = invite_user(*store, user, req, now);
        EXPECT_TRUE(r) << (r ? "" : r.error().message());
        return r ? std::move(*r) : InviteResult{};
    }
    std::optional<UserRecord> record(const std::string& user)
    {
        auto store = UserStore::open(state_);
        auto rec = store->load(user);
        EXPECT_TRUE(rec);
        if (!rec || !rec->has_value()) return std::nullopt;
        return std::move(**rec);
    }
    // Enrolls `user` directly (confirmed), returning the secret's TOTP code function.
    Enrollment enroll(const std::string& user)
    {
        auto store = UserStore::open(state_);
        auto held = store->lock(user);
        EXPECT_TRUE(held);
        UserRecord r;
        if (held->record()) r = held->record()->clone();
        auto e = new_enrollment(EnrollParams{}, std::time(nullptr));
        EXPECT_TRUE(e);
        e->confirmed = true;
        r.enrollment = std::move(*e);
        Enrollment copy = r.enrollment->clone();
        held->record() = std::move(r);
        EXPECT_TRUE(held->commit());
        return copy;
    }
    static std::string totp(const Enrollment& e, int steps = 0)
    {
        auto v = hotp_value(e.secret, totp_step(std::time(nullptr), e.period) + static_cast<std::uint64_t>(steps),
                            e.algo, e.digits);
        return v ? format_code(*v, e.digits) : std::string();
    }

    test::TempDir tmp_;
    std::string confdir_, state_, conf_;
    static test::SyslogCapture* syslog_;
};
test::SyslogCapture* InviteTest::syslog_ = nullptr;

TEST_F(InviteTest, TheQrCodeDecodesToTheUriWhoseCodeEnrollsAndThenLogsIn)
{
    invite("alice");
    std::string uri;
    const Transcript t = run(Login{}, scan_and_answer(&uri));
    EXPECT_EQ(t.rc, PAM_SUCCESS) << t.joined();
    ASSERT_FALSE(uri.empty()) << "zbarimg read no QR code from:\n" << t.joined();
    EXPECT_EQ(uri.rfind("otpauth://totp/", 0), 0U) << uri;
    EXPECT_NE(uri.find(":alice?"), std::string::npos) << uri;
    // The same URI as text, and the key in groups of 4.
    EXPECT_NE(t.joined().find("info: Or open this link on the phone: " + uri + "\n"), std::string::npos) << t.joined();
    std::string grouped;
    const std::string secret = uri_param(uri, "secret");
    for (std::size_t i = 0; i < secret.size(); i += 4) grouped += (i ? " " : "") + secret.substr(i, 4);
    EXPECT_NE(t.joined().find("info: Or enter this key in the app: " + grouped + "\n"), std::string::npos);
    ASSERT_EQ(t.prompts.size(), 2U);
    EXPECT_EQ(t.prompts[1], "Press Enter once you have saved them: ");
    EXPECT_EQ(t.lines.back(), "prompt-echo: Press Enter once you have saved them: ") << "the codes come before it";
    EXPECT_EQ(
        t.lines.front().rfind("info: You are invited to set up one-time codes for alice (TOTP, SHA1, 6 digits", 0), 0U)
        << t.joined();
    // The recovery codes, once, after the heading.
    const auto heading = t.joined().find("info: Keep these recovery codes somewhere safe; each works once:\n");
    ASSERT_NE(heading, std::string::npos) << t.joined();
    std::size_t codes = 0;
    for (const auto& m : t.infos)
        if (m.rfind("  ", 0) == 0) ++codes;
    EXPECT_EQ(codes, kDefaultRecoveryCodes);

    const auto rec = record("alice");
    ASSERT_TRUE(rec);
    ASSERT_TRUE(rec->enrollment);
    EXPECT_TRUE(rec->enrollment->confirmed);
    EXPECT_FALSE(rec->invitation) << "the invitation is consumed";
    EXPECT_EQ(rec->recovery.hashes.size(), kDefaultRecoveryCodes);
    if (syslog_->available()) {
        const std::string log = syslog_->drain();
        EXPECT_NE(
            log.find("user alice: enrolled by invitation (invited by root) (service=authctl-invite rhost=192.0.2.10)"),
            std::string::npos)
            << log;
        EXPECT_EQ(log.find(secret), std::string::npos) << "the secret reached the log";
    }

    // The enrollment then logs in as any other, with the next code (this one was used).
    const Transcript next = run(Login{}, [&](Transcript&, const std::string&) { return oathtool_code(uri, 1); });
    EXPECT_EQ(next.rc, PAM_SUCCESS) << next.joined();
    EXPECT_EQ(next.joined(), "prompt: Verification code: \n");
    // ...and no second enrollment is offered.
    EXPECT_EQ(next.joined().find("invited"), std::string::npos);
}

// What an uninvited user sees is what a user with an expired invitation, an
// invited user without a first factor (no SSH_AUTH_INFO_0, or an empty one:
// keyboard-interactive alone) and one under invites=off see: the transcripts
// are compared whole.
TEST_F(InviteTest, ExpiredAbsentOrUnqualifiedInvitationsSeeTheNormalPrompt)
{
    const std::int64_t long_ago = std::time(nullptr) - 3600;
    InviteRequest soon;
    soon.expires = long_ago + 60;
    invite("carol", soon, long_ago);  // expired 59 minutes ago
    invite("alice");
    invite("dave");
    const Transcript bob = run(Login{"authctl-invite", "bob"}, always("123456"));
    EXPECT_EQ(bob.rc, PAM_AUTH_ERR);
    EXPECT_EQ(bob.joined(), "prompt: Verification code: \n");
    const Transcript carol = run(Login{"authctl-invite", "carol"}, always("123456"));
    EXPECT_EQ(carol.rc, bob.rc);
    EXPECT_EQ(carol.joined(), bob.joined()) << "expired";
    Login no_info{"authctl-invite", "alice"};
    no_info.auth_info = nullptr;
    const Transcript alice = run(no_info, always("123456"));
    EXPECT_EQ(alice.rc, bob.rc);
    EXPECT_EQ(alice.joined(), bob.joined()) << "no SSH_AUTH_INFO_0";
    Login kbd_alone{"authctl-invite", "alice"};
    kbd_alone.auth_info = "";
    const Transcript empty = run(kbd_alone, always("123456"));
    EXPECT_EQ(empty.joined(), bob.joined()) << "SSH_AUTH_INFO_0 empty";
    // A completed password is no first factor here: sshd's password method
    // runs this same stack (with nullok it passes whatever the password).
    Login after_password{"authctl-invite", "dave"};
    after_password.auth_info = "password\n";
    const Transcript pw = run(after_password, always("123456"));
    EXPECT_EQ(pw.joined(), bob.joined()) << "SSH_AUTH_INFO_0 names only a password";
    stack("invites=off");
    const Transcript off = run(Login{"authctl-invite", "dave"}, always("123456"));
    EXPECT_EQ(off.rc, bob.rc);
    EXPECT_EQ(off.joined(), bob.joined()) << "invites=off";
    // Each was counted as an unenrolled user's wrong code is; the invitations stay.
    for (const char* u : {"alice", "dave"}) {
        const auto rec = record(u);
        ASSERT_TRUE(rec);
        EXPECT_TRUE(rec->invitation) << u;
        EXPECT_FALSE(rec->enrollment) << u;
    }
    EXPECT_EQ(record("alice")->tally.failures, 2U);
    const auto b = record("bob");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->tally.failures, 1U);
}

TEST_F(InviteTest, InvitesStackEnrollsWithoutSshd)
{
    invite("alice");
    stack("invites=stack");
    Login l;
    l.auth_info = nullptr;
    const Transcript t = run(l, scan_and_answer());
    EXPECT_EQ(t.rc, PAM_SUCCESS) << t.joined();
    ASSERT_TRUE(record("alice")->enrollment);
}

TEST_F(InviteTest, ThreeWrongConfirmationCodesAreCountedAndTheThirdFails)
{
    invite("alice");
    stack("deny=5");
    const Transcript t = run(Login{}, always("000000"));
    EXPECT_EQ(t.rc, PAM_AUTH_ERR) << t.joined();
    EXPECT_EQ(t.prompts.size(), kInviteConfirmTries);
    EXPECT_EQ(t.errors.size(), kInviteConfirmTries - 1) << t.joined();
    auto rec = record("alice");
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->tally.failures, 3U);
    EXPECT_FALSE(rec->enrollment) << "nothing stored without a right code";
    EXPECT_TRUE(rec->invitation) << "the invitation stays for the next login";
    if (syslog_->available()) {
        EXPECT_NE(syslog_->drain().find("wrong confirmation code for the invitation (3 failures)"), std::string::npos);
    }

    // With deny=2 the second wrong code locks: the flow ends with the lock message.
    invite("bob");
    stack("deny=2");
    const Transcript locked = run(Login{"authctl-invite", "bob"}, always("000000"));
    EXPECT_EQ(locked.rc, PAM_MAXTRIES) << locked.joined();
    EXPECT_EQ(locked.prompts.size(), 2U);
    EXPECT_NE(locked.joined().find("error: Account locked after 2 failed attempts"), std::string::npos)
        << locked.joined();
    // Locked: the next login is refused without an offer.
    const Transcript after = run(Login{"authctl-invite", "bob"}, scan_and_answer());
    EXPECT_EQ(after.rc, PAM_MAXTRIES);
    EXPECT_TRUE(after.prompts.empty()) << after.joined();
    EXPECT_FALSE(record("bob")->enrollment);
}

// Two logins of one invited user, both shown a QR code before either answers:
// one enrollment, the other told to log in again.
TEST_F(InviteTest, ParallelLoginsOfOneInvitedUserEndWithOneEnrollment)
{
    invite("alice");
    constexpr int kLogins = 3;
    int ready[2], go[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(go), 0);
    std::vector<pid_t> pids;
    for (int i = 0; i < kLogins; ++i) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(ready[0]);
            ::close(go[1]);
            const Transcript t = run(Login{}, [&](Transcript& tr, const std::string& prompt) -> std::string {
                std::string answer = scan_and_answer()(tr, prompt);
                if (prompt != kInvitePrompt) return answer;
                (void)!::write(ready[1], "r", 1);
                char c;
                (void)!::read(go[0], &c, 1);  // all are at the prompt
                return answer;
            });
            const bool told = t.joined().find(std::string("error: ") + kSuperseded) != std::string::npos;
            ::_exit(t.rc == PAM_SUCCESS ? 0 : (t.rc == PAM_AUTH_ERR && told ? 1 : 2));
        }
        pids.push_back(pid);
    }
    ::close(ready[1]);
    ::close(go[0]);
    for (int i = 0; i < kLogins; ++i) {
        char c;
        ASSERT_EQ(::read(ready[0], &c, 1), 1);
    }
    ASSERT_EQ(::write(go[1], "ggg", kLogins), kLogins);
    ::close(go[1]);
    ::close(ready[0]);
    int enrolled = 0, superseded = 0;
    for (const pid_t pid : pids) {
        int ws = 0;
        ::waitpid(pid, &ws, 0);
        ASSERT_TRUE(WIFEXITED(ws));
        if (WEXITSTATUS(ws) == 0) ++enrolled;
        if (WEXITSTATUS(ws) == 1) ++superseded;
    }
    EXPECT_EQ(enrolled, 1);
    EXPECT_EQ(superseded, kLogins - 1);
    const auto rec = record("alice");
    ASSERT_TRUE(rec && rec->enrollment);
    EXPECT_TRUE(rec->enrollment->confirmed);
    EXPECT_FALSE(rec->invitation);
}

// kill -9 at the prompt, and with the code typed while another process holds
// the user's lock (the confirmation waits for it): the invitation stays, no
// secret is stored, and the next login enrolls.
TEST_F(InviteTest, KillNineDuringTheEnrollmentLeavesTheInvitation)
{
    invite("alice");
    for (const bool hold_lock : {false, true}) {
        SCOPED_TRACE(hold_lock ? "between the code and the write" : "at the prompt");
        std::optional<UserStore> store;
        std::optional<LockedRecord> held;
        int ready[2], go[2];
        ASSERT_EQ(::pipe(ready), 0);
        ASSERT_EQ(::pipe(go), 0);
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(ready[0]);
            ::close(go[1]);
            run(Login{}, [&](Transcript& tr, const std::string& prompt) -> std::string {
                std::string answer = scan_and_answer()(tr, prompt);
                (void)!::write(ready[1], "r", 1);
                char g;
                (void)!::read(go[0], &g, 1);  // at the prompt: killed here, or let go once the lock is held
                return answer;                // the confirmation then waits for the lock
            });
            ::_exit(3);
        }
        ::close(ready[1]);
        ::close(go[0]);
        char c;
        ASSERT_EQ(::read(ready[0], &c, 1), 1);
        ::close(ready[0]);
        if (hold_lock) {
            store.emplace(std::move(*UserStore::open(state_)));
            auto h = store->lock("alice");
            ASSERT_TRUE(h);
            held.emplace(std::move(*h));
            ASSERT_EQ(::write(go[1], "g", 1), 1);
        }
        ::usleep(300000);
        ::kill(pid, SIGKILL);
        int ws = 0;
        ::waitpid(pid, &ws, 0);
        EXPECT_TRUE(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
        ::close(go[1]);
        held.reset();
        const auto rec = record("alice");
        ASSERT_TRUE(rec);
        EXPECT_TRUE(rec->invitation);
        EXPECT_FALSE(rec->enrollment) << "a secret was stored without its confirmation";
    }
    const Transcript t = run(Login{}, scan_and_answer());
    EXPECT_EQ(t.rc, PAM_SUCCESS) << t.joined();
}

// A lost phone: --replace lets the user enroll a new one; the old secret
// keeps working until then (and stops once the new one is confirmed), unless
// --revoke-now, which deletes it at once.
TEST_F(InviteTest, ReplaceKeepsTheOldSecretUntilTheNewIsConfirmedUnlessRevokeNow)
{
    const Enrollment old_alice = enroll("alice");
    InviteRequest replace;
    replace.replace = true;
    invite("alice", replace);
    // A login without the first factor (no SSH_AUTH_INFO_0): the old code, as before.
    Login plain;
    plain.auth_info = nullptr;
    const Transcript before = run(plain, always(totp(old_alice)));
    EXPECT_EQ(before.rc, PAM_SUCCESS) << before.joined();
    EXPECT_EQ(before.joined(), "prompt: Verification code: \n");
    ASSERT_TRUE(record("alice")->invitation);
    std::string uri;
    // Past the first factor: the old code first (its next step: the one
    // above is used), then the new phone.
    const Transcript t = run(Login{}, scan_and_answer(&uri, totp(old_alice, 1)));
    EXPECT_EQ(t.rc, PAM_SUCCESS) << t.joined();
    const Transcript old_code = run(plain, always(totp(old_alice, -1)));
    EXPECT_EQ(old_code.rc, PAM_AUTH_ERR) << "the old phone still logs in after the new one was confirmed";
    const auto replaced = record("alice");
    ASSERT_TRUE(replaced && replaced->enrollment);
    EXPECT_NE(totp(*replaced->enrollment, 7), totp(old_alice, 7)) << "the old secret is still stored";
    const Transcript new_code = run(plain, always(oathtool_code(uri, 1)));
    EXPECT_EQ(new_code.rc, PAM_SUCCESS) << new_code.joined();

    const Enrollment old_bob = enroll("bob");
    replace.revoke_now = true;
    const InviteResult r = invite("bob", replace);
    EXPECT_TRUE(r.revoked);
    Login bob_plain{"authctl-invite", "bob"};
    bob_plain.auth_info = nullptr;
    const Transcript revoked = run(bob_plain, always(totp(old_bob)));
    EXPECT_EQ(revoked.rc, PAM_AUTH_ERR) << "--revoke-now: the old code must not work";
    const Transcript bob = run(Login{"authctl-invite", "bob"}, scan_and_answer());
    EXPECT_EQ(bob.rc, PAM_SUCCESS) << bob.joined();
}

// A --replace invitation of an enrolled user (review finding): someone with
// only the ssh key must not enroll their own phone. The normal code check
// comes first (the old code or a recovery code); only after it succeeded is
// the new phone offered, and the login has then succeeded whether or not the
// new phone is confirmed -- unless a confirmation code locked the user.
TEST_F(InviteTest, AReplaceInvitationAsksTheOldCodeBeforeOfferingTheNewPhone)
{
    const Enrollment old_alice = enroll("alice");
    InviteRequest replace;
    replace.replace = true;
    invite("alice", replace);
    stack("deny=5");

    // The ssh key alone: the normal prompt, no QR code, refused.
    const Transcript stolen_key = run(Login{}, scan_and_answer(nullptr, "000000"));
    EXPECT_EQ(stolen_key.rc, PAM_AUTH_ERR) << stolen_key.joined();
    EXPECT_EQ(stolen_key.joined(), "prompt: Verification code: \n");
    ASSERT_TRUE(record("alice")->invitation);
    EXPECT_EQ(record("alice")->tally.failures, 1U);

    // The old code, then three wrong confirmation codes: in all the same
    // (the old code was right), the wrong ones counted, the invitation kept.
    const Transcript not_confirmed = run(Login{}, [&](Transcript&, const std::string& prompt) {
        return prompt == kInvitePrompt ? std::string("000000") : totp(old_alice);
    });
    EXPECT_EQ(not_confirmed.rc, PAM_SUCCESS) << not_confirmed.joined();
    ASSERT_EQ(not_confirmed.prompts.size(), 1 + kInviteConfirmTries) << not_confirmed.joined();
    EXPECT_EQ(not_confirmed.prompts[0], "Verification code: ");
    EXPECT_FALSE(qr_text(not_confirmed).empty()) << "the new phone is offered after the old code";
    EXPECT_NE(not_confirmed.joined().find("error: The new phone was not enrolled; your old codes still work and the "
                                          "invitation stays for your next login.\n"),
              std::string::npos)
        << not_confirmed.joined();
    auto rec = record("alice");
    ASSERT_TRUE(rec && rec->invitation && rec->enrollment);
    EXPECT_EQ(rec->tally.failures, kInviteConfirmTries);
    EXPECT_EQ(totp(*rec->enrollment, 7), totp(old_alice, 7)) << "the old enrollment must stay";

    // A recovery code is a code too; then the new phone is confirmed.
    {
        std::string code;
        {
            auto store = UserStore::open(state_);
            auto held = store->lock("alice");
            ASSERT_TRUE(held && held->record());
            auto codes = generate_recovery_codes(held->record()->recovery, 2);
            ASSERT_TRUE(codes);
            code = std::string((*codes)[0].view());
            ASSERT_TRUE(held->commit());
            ASSERT_TRUE(held->finish());
        }
        std::string uri;
        const Transcript t = run(Login{}, scan_and_answer(&uri, code));
        EXPECT_EQ(t.rc, PAM_SUCCESS) << t.joined();
        EXPECT_NE(t.joined().find("info: Recovery code accepted; 1 left."), std::string::npos) << t.joined();
        ASSERT_FALSE(uri.empty()) << t.joined();
        rec = record("alice");
        ASSERT_TRUE(rec && rec->enrollment);
        EXPECT_FALSE(rec->invitation);
        EXPECT_EQ(totp(*rec->enrollment, 7), oathtool_code(uri, 7)) << "the new phone's secret is stored";
    }

    // A confirmation code that locks: the login is refused after all.
    const Enrollment old_bob = enroll("bob");
    invite("bob", replace);
    stack("deny=2");
    const Transcript locked = run(Login{"authctl-invite", "bob"}, [&](Transcript&, const std::string& prompt) {
        return prompt == kInvitePrompt ? std::string("000000") : totp(old_bob);
    });
    EXPECT_EQ(locked.rc, PAM_MAXTRIES) << locked.joined();
    EXPECT_EQ(locked.prompts.size(), 3U) << locked.joined();
    EXPECT_NE(locked.joined().find("error: Account locked after 2 failed attempts"), std::string::npos)
        << locked.joined();
    EXPECT_TRUE(record("bob")->invitation);
}

// A parallel login enrolls the invited user between this login's lock_info
// and its offer (review finding): no offer comes back, and the nullok
// decision must see the enrollment (read again), not the state read before:
// the code is asked.
TEST_F(InviteTest, NoOfferBecauseAParallelLoginEnrolledReadsTheStateAgainBeforeNullok)
{
    invite("alice");
    stack("nullok");
    bool hooked = false;
    g_on_auth_info = [&] {
        hooked = true;
        enroll("alice");  // what the other login's confirmation stored (invitation consumed)
        auto store = UserStore::open(state_);
        auto held = store->lock("alice");
        ASSERT_TRUE(held && held->record());
        held->record()->invitation.reset();
        ASSERT_TRUE(held->commit());
        ASSERT_TRUE(held->finish());
    };
    const Transcript t = run(Login{}, always("000000"));
    g_on_auth_info = nullptr;
    ASSERT_TRUE(hooked) << "the module did not read SSH_AUTH_INFO_0 through the interposed pam_getenv";
    EXPECT_EQ(t.rc, PAM_AUTH_ERR) << "an enrolled user let in by nullok without a code\n" << t.joined();
    EXPECT_EQ(t.joined(), "prompt: Verification code: \n");
}

// Where the caller is the user already (sudo: getuid() is the user's), an
// invited user without an enrollment is told, in one error line, to log in
// over ssh, and refused as an unenrolled user is; so is one past the first
// factor whose conversation cannot show the QR code (PAM_SILENT). An
// uninvited user under the same conditions is told nothing.
TEST_F(InviteTest, ACallerWhoIsTheUserOrASilentConversationIsToldToLogInOverSsh)
{
    invite("alice");
    stack("deny=10");  // four refusals of alice below
    const auto as_user = [&](const std::string& user, uid_t uid) {
        int out[2];
        EXPECT_EQ(::pipe(out), 0);
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::close(out[0]);
            // sudo's view: real uid the user's, effective uid root.
            if (::setresuid(uid, 0, 0) != 0) ::_exit(9);
            Login l{"authctl-invite", user};
            l.auth_info = nullptr;
            const Transcript t = run(l, always("123456"));
            const std::string s = std::to_string(t.rc) + "\n" + t.joined();
            (void)!::write(out[1], s.data(), s.size());
            ::_exit(0);
        }
        ::close(out[1]);
        std::string text;
        char buf[4096];
        for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
        ::close(out[0]);
        int ws = 0;
        ::waitpid(pid, &ws, 0);
        EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        return text;
    };
    EXPECT_EQ(as_user("alice", 1000),
              std::to_string(PAM_AUTH_ERR) + "\nerror: " + kLogInOverSsh + "\nprompt: Verification code: \n");
    EXPECT_EQ(as_user("bob", 1001), std::to_string(PAM_AUTH_ERR) + "\nprompt: Verification code: \n");
    // Root asking about alice (getuid() 0): nothing said.
    Login root_asks{"authctl-invite", "alice"};
    root_asks.auth_info = nullptr;
    EXPECT_EQ(run(root_asks, always("123456")).joined(), "prompt: Verification code: \n");
    // Nor a service running as root asking for root (login at a console):
    // getuid() is root's there whoever sits at the keyboard.
    invite("root");
    Login console{"authctl-invite", "root"};
    console.auth_info = nullptr;
    console.rhost = nullptr;
    EXPECT_EQ(run(console, always("123456")).joined(), "prompt: Verification code: \n");

    Login silent;
    silent.flags = PAM_SILENT;
    const Transcript s = run(silent, always("123456"));
    EXPECT_EQ(s.rc, PAM_AUTH_ERR);
    EXPECT_EQ(s.joined(), std::string("error: ") + kLogInOverSsh + "\nprompt: Verification code: \n");
    EXPECT_TRUE(record("alice")->invitation);
    EXPECT_FALSE(record("alice")->enrollment);
}

// `authctl invite --group GROUP` invites every member without a confirmed
// enrollment (the group's list and those whose primary group it is); each then
// enrolls at login, and a non-member is not invited.
TEST_F(InviteTest, InviteGroupThroughTheCliThenEachMemberEnrollsAtLogin)
{
    // module/data/group: sudo:x:27:alice
    const auto r =
        test::run_cmd({AUTHCTL_CLI, "invite", "--group", "sudo", "--for", "1d", "--dir", state_, "--conf", conf_});
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("group sudo: 1 invited (alice)"), std::string::npos) << r.out;
    ASSERT_TRUE(record("alice") && record("alice")->invitation);
    EXPECT_FALSE(record("bob"));
    const Transcript alice = run(Login{}, scan_and_answer());
    EXPECT_EQ(alice.rc, PAM_SUCCESS) << alice.joined();
    ASSERT_TRUE(record("alice")->enrollment);
    const Transcript bob = run(Login{"authctl-invite", "bob"}, always("123456"));
    EXPECT_EQ(bob.joined(), "prompt: Verification code: \n");
    // Enrolled now: a second --group invitation skips her.
    const auto again = test::run_cmd({AUTHCTL_CLI, "invite", "--group", "sudo", "--dir", state_, "--conf", conf_});
    EXPECT_NE(again.out.find("skipped, already enrolled: alice"), std::string::npos) << again.out << again.err;
    EXPECT_FALSE(record("alice")->invitation);
}

// Runs `fn` in a child with a private mount namespace where `fake` (a
// script) is bind-mounted over /usr/bin/gpasswd: the machine's /etc/group is
// never touched. Returns what fn returned, or "child failed".
std::string with_fake_gpasswd(const std::string& fake, const std::function<std::string()>& fn)
{
    int out[2];
    if (::pipe(out) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(out[0]);
        if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount(fake.c_str(), "/usr/bin/gpasswd", nullptr, MS_BIND, nullptr) != 0)
            ::_exit(9);
        const std::string text = fn();
        (void)!::write(out[1], text.data(), text.size());
        ::_exit(0);
    }
    ::close(out[1]);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int ws = 0;
    ::waitpid(pid, &ws, 0);
    return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? text : "child failed";
}

// The invitation's groups are applied with gpasswd as the CLI applies them,
// run with /dev/null as stdin, a fixed PATH and nothing of the caller's
// environment (the fake gpasswd records what it got).
TEST_F(InviteTest, GrantGroupsRunGpasswdWithACleanEnvironment)
{
    InviteRequest req;
    req.grant_groups = {"dave", "sudo"};  // alice is in sudo already (module/data/group): not run for it
    invite("alice", req);
    const std::string seen = tmp_ / "gpasswd.seen";
    const std::string fake = tmp_ / "gpasswd";
    test::write_file(fake,
                     "#!/bin/sh\n{ echo \"args: $*\"; echo \"stdin: $(readlink /proc/self/fd/0)\"; "
                     "echo \"env: $(env | grep -v '^PWD=' | sort | tr '\\n' ' ')\"; } >> " +
                         seen + "\nexit 0\n",
                     0755);
    const std::string out = with_fake_gpasswd(fake, [&] {
        const Transcript t = run(Login{}, scan_and_answer());
        return std::to_string(t.rc) + "\n" + t.joined();
    });
    EXPECT_EQ(out.rfind(std::to_string(PAM_SUCCESS) + "\n", 0), 0U) << out;
    EXPECT_EQ(test::read_file(seen),
              "args: -a alice dave\nstdin: /dev/null\nenv: LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin \n");
    const auto rec = record("alice");
    ASSERT_TRUE(rec && rec->enrollment);
    EXPECT_NE(std::find(rec->granted_groups.begin(), rec->granted_groups.end(), "dave"), rec->granted_groups.end());
    EXPECT_EQ(std::find(rec->granted_groups.begin(), rec->granted_groups.end(), "sudo"), rec->granted_groups.end())
        << "a group alice was in before is recorded as granted: remove would take it away";
}

// A gpasswd that hangs holds the login 10 s, no more: it is killed and
// reaped, the failure logged and told, and the login (whose enrollment is
// stored) goes through. The 10 s are for the whole group step (review
// finding: 8 groups of 10 s each outlast sshd's LoginGraceTime): the groups
// not reached by then are logged and told too.
TEST_F(InviteTest, AHangingGpasswdIsKilledAfterTenSecondsAndTheLoginGoesThrough)
{
    InviteRequest req;
    req.grant_groups = {"dave", "carol", "bob"};
    invite("alice", req);
    const std::string fake = tmp_ / "gpasswd";
    test::write_file(fake, "#!/bin/sh\nexec sleep 61.4142\n", 0755);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string out = with_fake_gpasswd(fake, [&] {
        const Transcript t = run(Login{}, scan_and_answer());
        return std::to_string(t.rc) + "\n" + t.joined();
    });
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "login with a hanging gpasswd took " << took << " s\n";
    EXPECT_EQ(out.rfind(std::to_string(PAM_SUCCESS) + "\n", 0), 0U) << out;
    for (const char* g : {"dave", "carol", "bob"})
        EXPECT_NE(out.find(std::string("error: Could not add you to group ") + g + "; ask an administrator.\n"),
                  std::string::npos)
            << out;
    EXPECT_GE(took, 9.5);
    EXPECT_LT(took, 14.0);
    EXPECT_NE(std::system("pgrep -f 'sleep 61[.]4142' >/dev/null"), 0) << "gpasswd was left running";
    if (syslog_->available()) {
        const std::string log = syslog_->drain();
        EXPECT_NE(log.find("enrolled by invitation, but could not add alice to group dave: gpasswd did "
                           "not finish within 10 s"),
                  std::string::npos)
            << log;
        for (const char* g : {"carol", "bob"})
            EXPECT_NE(log.find(std::string("enrolled by invitation, but group ") + g +
                               " was not reached: the group step took 10 s"),
                      std::string::npos)
                << log;
    }
    const auto rec = record("alice");
    ASSERT_TRUE(rec && rec->enrollment);
}

}  // namespace
}  // namespace authctl
