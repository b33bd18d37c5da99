// SPDX-License-Identifier: Apache-2.0
// One option parser for the config file and the module arguments: every key,
// every bound, and errors that name the key.
#include "authctl/options.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include "test_support.hpp"

namespace authctl {
namespace {

Status arg(Options& o, const std::string& a)
{
    return apply_argument(o, a);
}

void expect_bad(const std::string& a, const std::string& needle)
{
    Options o;
    const Options before = o;
    auto st = arg(o, a);
    ASSERT_FALSE(st) << "accepted: " << a;
    EXPECT_EQ(st.error().code, Errc::invalid_argument);
    EXPECT_NE(st.error().detail.find(needle), std::string::npos) << a << ": " << st.error().detail;
    EXPECT_EQ(o.lockout.deny, before.lockout.deny) << "a refused option changed something";
}

TEST(Options, Defaults)
{
    Options o;
    EXPECT_EQ(o.dir, "/var/lib/authctl");
    EXPECT_EQ(o.lockout.deny, 3U);
    EXPECT_EQ(o.lockout.fail_interval, 900U);
    EXPECT_EQ(o.lockout.unlock_time, 600U);
    EXPECT_FALSE(o.lockout.even_deny_root);
    EXPECT_FALSE(o.lockout.root_unlock_time_set);
    EXPECT_EQ(o.window, 1U);
    EXPECT_EQ(o.hotp_window, 5U);
    EXPECT_FALSE(o.nullok || o.silent || o.debug || o.nodelay);
    EXPECT_EQ(o.prompt, "Verification code: ");
}

TEST(Options, EveryKeyWithAValidValue)
{
    Options o;
    for (const char* a :
         {"dir=/srv/authctl", "deny=5", "fail_interval=60", "unlock_time=120", "window=2", "hotp_window=10",
          "even_deny_root", "nullok", "silent", "debug", "nodelay", "prompt=Code please: "})
        ASSERT_TRUE(arg(o, a)) << a;
    EXPECT_EQ(o.dir, "/srv/authctl");
    EXPECT_EQ(o.lockout.deny, 5U);
    EXPECT_EQ(o.lockout.fail_interval, 60U);
    EXPECT_EQ(o.lockout.unlock_time, 120U);
    EXPECT_EQ(o.window, 2U);
    EXPECT_EQ(o.hotp_window, 10U);
    EXPECT_TRUE(o.lockout.even_deny_root && o.nullok && o.silent && o.debug && o.nodelay);
    EXPECT_EQ(o.prompt, "Code please: ");
}

TEST(Options, UnlockTimeNeverAndZeroMeanUntilReset)
{
    Options o;
    ASSERT_TRUE(arg(o, "unlock_time=never"));
    EXPECT_EQ(o.lockout.unlock_time, 0U);
    ASSERT_TRUE(arg(o, "unlock_time=30"));
    ASSERT_TRUE(arg(o, "unlock_time=0"));
    EXPECT_EQ(o.lockout.unlock_time, 0U);
}

TEST(Options, RootUnlockTimeImpliesEvenDenyRoot)
{
    Options o;
    ASSERT_TRUE(arg(o, "root_unlock_time=60"));
    EXPECT_TRUE(o.lockout.even_deny_root);
    EXPECT_TRUE(o.lockout.root_unlock_time_set);
    EXPECT_EQ(o.lockout.root_unlock_time, 60U);
    ASSERT_TRUE(arg(o, "root_unlock_time=never"));
    EXPECT_EQ(o.lockout.root_unlock_time, 0U);
}

TEST(Options, NumericBounds)
{
    struct Case {
        const char* key;
        unsigned min, max;
    };
    for (const Case& c : {Case{"deny", 0, 100}, Case{"fail_interval", 1, 31536000}, Case{"unlock_time", 0, 31536000},
                          Case{"root_unlock_time", 0, 31536000}, Case{"window", 0, 10}, Case{"hotp_window", 0, 20}}) {
        const std::string k = c.key;
        Options o;
        EXPECT_TRUE(arg(o, k + "=" + std::to_string(c.min))) << k;
        EXPECT_TRUE(arg(o, k + "=" + std::to_string(c.max))) << k;
        expect_bad(k + "=" + std::to_string(c.max + 1), k);
        if (c.min > 0) expect_bad(k + "=" + std::to_string(c.min - 1), k);
        expect_bad(k + "=-1", k);
        expect_bad(k + "=abc", k);
        expect_bad(k + "=", k);
        expect_bad(k + "=5x", k);
        expect_bad(k + "= 5", k);
        expect_bad(k + "=99999999999999999999", k);
        expect_bad(k, "needs a value");
    }
}

TEST(Options, FleetStoreOptionsAreChecked)
{
    Options o;
    EXPECT_EQ(o.store, StoreKind::file);
    EXPECT_EQ(o.agent_socket, "/run/authctl/agent.sock");
    EXPECT_EQ(o.agent_timeout, 5U);
    ASSERT_TRUE(arg(o, "store=agent"));
    EXPECT_EQ(o.store, StoreKind::agent);
    ASSERT_TRUE(arg(o, "store=file"));
    EXPECT_EQ(o.store, StoreKind::file);
    for (const char* bad : {"store", "store=", "store=Agent", "store=fleet", "store=agent "})
        expect_bad(bad, "must be 'file' or 'agent'");
    ASSERT_TRUE(arg(o, "agent_socket=/run/x/a.sock"));
    EXPECT_EQ(o.agent_socket, "/run/x/a.sock");
    ASSERT_TRUE(arg(o, "agent_socket=/" + std::string(106, 's')));  // 107 bytes: what sun_path holds
    expect_bad("agent_socket=/" + std::string(107, 's'), "107 bytes");
    expect_bad("agent_socket=relative.sock", "absolute");
    expect_bad("agent_socket=", "absolute");
    expect_bad(std::string("agent_socket=/a\nb"), "absolute");
    ASSERT_TRUE(arg(o, "agent_timeout=1"));
    ASSERT_TRUE(arg(o, "agent_timeout=60"));
    EXPECT_EQ(o.agent_timeout, 60U);
    for (const char* bad : {"agent_timeout=0", "agent_timeout=61", "agent_timeout=", "agent_timeout=2s", "agent_timeout"})
        expect_bad(bad, "agent_timeout");
}

TEST(Options, PolicyOptionsAreTheOnesTheAgentDecides)
{
    for (const char* k : {"deny", "fail_interval", "unlock_time", "root_unlock_time", "even_deny_root", "per_source",
                          "deny_user", "root_throttle", "deny_consecutive", "window", "hotp_window", "dir"})
        EXPECT_TRUE(is_policy_option(k)) << k;
    // faillock's admin_group, audit, no_log_info, local_users_only act where the module runs.
    for (const char* k : {"store", "agent_socket", "agent_timeout", "nullok", "silent", "debug", "nodelay", "prompt",
                          "conf", "preauth", "admin_group", "audit", "no_log_info", "local_users_only", "per-source",
                          "deny_users", "invites", ""})
        EXPECT_FALSE(is_policy_option(k)) << k;
}

// Issue 17: where an invited user may enroll at login.
TEST(Options, InvitesIsSshStackOrOff)
{
    Options o;
    EXPECT_EQ(o.invites, InviteRule::ssh) << "default: only past sshd's first factor";
    ASSERT_TRUE(arg(o, "invites=stack"));
    EXPECT_EQ(o.invites, InviteRule::stack);
    ASSERT_TRUE(arg(o, "invites=off"));
    EXPECT_EQ(o.invites, InviteRule::off);
    ASSERT_TRUE(arg(o, "invites=ssh"));
    EXPECT_EQ(o.invites, InviteRule::ssh);
    for (const char* bad : {"invites", "invites=", "invites=SSH", "invites=on", "invites=ssh,stack"}) {
        Options b;
        b.invites = InviteRule::off;
        auto st = arg(b, bad);
        ASSERT_FALSE(st) << bad;
        EXPECT_NE(st.error().detail.find("option 'invites': must be 'ssh', 'stack' or 'off'"), std::string::npos)
            << st.error().detail;
        EXPECT_EQ(b.invites, InviteRule::off) << "changed by " << bad;
    }
    Options f;
    ASSERT_TRUE(apply_config_text(f, "invites = off\n", "f"));
    EXPECT_EQ(f.invites, InviteRule::off);
    // stack is a claim about one stack line: never in the file every service reads.
    Options g;
    auto st = apply_config_text(g, "invites = stack\n", "f");
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().detail.find("belongs on the module's line"), std::string::npos) << st.error().detail;
    EXPECT_EQ(check_config_text("invites = stack\n", "f").problems.size(), 1U);
}

TEST(Options, TheInviteRuleNeedsACompletedFirstFactorUnderSsh)
{
    const char* key = "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ\n";
    EXPECT_TRUE(invite_rule_holds(InviteRule::ssh, key));
    EXPECT_TRUE(invite_rule_holds(InviteRule::ssh, "hostbased ssh-ed25519 AAAA\n"));
    EXPECT_TRUE(invite_rule_holds(InviteRule::ssh, "gssapi-with-mic\n"));
    EXPECT_TRUE(invite_rule_holds(InviteRule::ssh, "keyboard-interactive\npublickey ssh-rsa AAAA\n"));
    // sshd's password method runs this same stack (with nullok it passes an
    // unenrolled user whatever the password), keyboard-interactive is the stack itself.
    EXPECT_FALSE(invite_rule_holds(InviteRule::ssh, "password"));
    EXPECT_FALSE(invite_rule_holds(InviteRule::ssh, "password\n"));
    EXPECT_FALSE(invite_rule_holds(InviteRule::ssh, "keyboard-interactive\n"));
    EXPECT_FALSE(invite_rule_holds(InviteRule::ssh, "publickeyish x\n"));
    EXPECT_FALSE(invite_rule_holds(InviteRule::ssh, nullptr)) << "not sshd, or before OpenSSH 7.8";
    EXPECT_FALSE(invite_rule_holds(InviteRule::ssh, "")) << "keyboard-interactive alone: sshd sets it empty";
    EXPECT_FALSE(invite_rule_holds(InviteRule::ssh, " \t"));
    EXPECT_TRUE(invite_rule_holds(InviteRule::stack, nullptr));
    EXPECT_FALSE(invite_rule_holds(InviteRule::off, key));
}

TEST(Options, FlagsTakeNoValueAndUnknownKeysAreNamed)
{
    for (const char* f : {"even_deny_root", "nullok", "silent", "debug", "nodelay"})
        expect_bad(std::string(f) + "=1", "takes no value");
    expect_bad("bogus", "unknown option 'bogus'");
    expect_bad("bogus=1", "unknown option 'bogus'");
    expect_bad("Deny=3", "unknown option 'Deny'");
    expect_bad("", "not an option");
    expect_bad("unlock-time=5", "unknown option 'unlock-time'");
}

TEST(Options, DirAndPromptAreChecked)
{
    expect_bad("dir=relative/path", "absolute");
    expect_bad("dir=", "absolute");
    expect_bad("dir", "absolute");
    expect_bad(std::string("dir=/a\nb"), "absolute");
    expect_bad("prompt=", "printable");
    expect_bad(std::string("prompt=a\x1b[2Jb"), "printable");
    expect_bad("prompt=" + std::string(257, 'p'), "printable");
    expect_bad("prompt=\xff", "printable");
}

// Issue 16: per-source lockout and the faillock options a faillock.conf may carry.
void expect_refused_unchanged(const std::string& a, const std::string& needle)
{
    Options o;
    auto st = arg(o, a);
    ASSERT_FALSE(st) << "accepted: " << a;
    EXPECT_EQ(st.error().code, Errc::invalid_argument);
    EXPECT_NE(st.error().detail.find(needle), std::string::npos) << a << ": " << st.error().detail;
    const Options d;
    EXPECT_EQ(o.lockout.per_source, d.lockout.per_source) << a;
    EXPECT_EQ(o.lockout.deny_user, d.lockout.deny_user) << a;
    EXPECT_EQ(o.lockout.deny_user_set, d.lockout.deny_user_set) << a;
    EXPECT_EQ(o.admin_group, d.admin_group) << a;
    EXPECT_EQ(o.audit, d.audit) << a;
    EXPECT_EQ(o.no_log_info, d.no_log_info) << a;
    EXPECT_EQ(o.local_users_only, d.local_users_only) << a;
}

TEST(Options, PerSourceAndDenyUser)
{
    Options o;
    EXPECT_FALSE(o.lockout.per_source) << "off by default: faillock's meaning of deny";
    EXPECT_FALSE(o.lockout.deny_user_set);
    EXPECT_EQ(user_deny(o.lockout), 3U);
    ASSERT_TRUE(arg(o, "per_source"));
    EXPECT_TRUE(o.lockout.per_source);
    EXPECT_EQ(user_deny(o.lockout), 30U) << "default deny_user: 10 x deny";
    for (const unsigned n : {1U, 10U, 100U}) {
        ASSERT_TRUE(arg(o, "deny_user=" + std::to_string(n))) << n;
        EXPECT_EQ(o.lockout.deny_user, n);
        EXPECT_TRUE(o.lockout.deny_user_set);
        EXPECT_EQ(user_deny(o.lockout), n);
    }
    for (const char* bad : {"deny_user=0", "deny_user=101", "deny_user=-1", "deny_user=", "deny_user=1x",
                            "deny_user= 5", "deny_user=99999999999999999999"})
        expect_refused_unchanged(bad, "option 'deny_user': must be a number from 1 to 100");
    expect_refused_unchanged("deny_user", "needs a value (must be a number from 1 to 100)");
    expect_refused_unchanged("per_source=1", "option 'per_source': takes no value");
    expect_refused_unchanged("per_source=", "takes no value");
    expect_refused_unchanged("per_source=yes", "takes no value");
}

TEST(Options, RootThrottleAndDenyConsecutive)
{
    // Issue 19, points 2 and 3: root throttled per source for 60 s by
    // default, and a cap of 100 failures since the last success.
    Options o;
    EXPECT_EQ(o.lockout.root_throttle, 60U);
    EXPECT_EQ(o.lockout.deny_consecutive, 100U);
    for (const unsigned n : {0U, 1U, 300U, 86400U}) {
        ASSERT_TRUE(arg(o, "root_throttle=" + std::to_string(n))) << n;
        EXPECT_EQ(o.lockout.root_throttle, n);
    }
    for (const unsigned n : {0U, 1U, 100U, 100000U}) {
        ASSERT_TRUE(arg(o, "deny_consecutive=" + std::to_string(n))) << n;
        EXPECT_EQ(o.lockout.deny_consecutive, n);
    }
    for (const char* bad : {"root_throttle=86401", "root_throttle=-1", "root_throttle=", "root_throttle=1m",
                            "root_throttle", "deny_consecutive=100001", "deny_consecutive=-1", "deny_consecutive=",
                            "deny_consecutive=1e3", "deny_consecutive"}) {
        Options c;
        const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
        auto st = arg(c, bad);
        ASSERT_FALSE(st) << "accepted: " << bad;
        EXPECT_EQ(st.error().code, Errc::invalid_argument);
        EXPECT_NE(st.error().detail.find(key), std::string::npos) << bad << ": " << st.error().detail;
        EXPECT_EQ(c.lockout.root_throttle, 60U) << bad;
        EXPECT_EQ(c.lockout.deny_consecutive, 100U) << bad;
    }
    // From a config file too.
    Options f;
    ASSERT_TRUE(apply_config_text(f, "root_throttle = 5\ndeny_consecutive = 7\n", "f"));
    EXPECT_EQ(f.lockout.root_throttle, 5U);
    EXPECT_EQ(f.lockout.deny_consecutive, 7U);
}

TEST(Options, FaillocksAdminGroupAuditNoLogInfoLocalUsersOnly)
{
    Options o;
    EXPECT_EQ(o.admin_group, "");
    EXPECT_FALSE(o.audit || o.no_log_info || o.local_users_only);
    for (const char* a : {"audit", "no_log_info", "local_users_only", "admin_group=wheel"}) ASSERT_TRUE(arg(o, a)) << a;
    EXPECT_TRUE(o.audit);
    EXPECT_TRUE(o.no_log_info);
    EXPECT_TRUE(o.local_users_only);
    EXPECT_EQ(o.admin_group, "wheel");
    for (const char* name : {"sudo", "Domain.Admins", "_adm-1", "g\xc3\xbcnter"}) {
        ASSERT_TRUE(arg(o, std::string("admin_group=") + name)) << name;
        EXPECT_EQ(o.admin_group, name);
    }
    ASSERT_TRUE(arg(o, "admin_group=" + std::string(64, 'g')));
    for (const std::string& bad :
         {std::string("admin_group"), std::string("admin_group="), std::string("admin_group=a b"),
          std::string("admin_group=a\tb"), std::string("admin_group=a,b"), std::string("admin_group=a:b"),
          std::string("admin_group=a\nb"), std::string("admin_group=a\x01"), std::string("admin_group=") +
          std::string(65, 'g')})
        expect_refused_unchanged(bad, "option 'admin_group': must be a group name");
    for (const char* f : {"audit", "no_log_info", "local_users_only"}) {
        expect_refused_unchanged(std::string(f) + "=1", "takes no value");
        expect_refused_unchanged(std::string(f) + "=", "takes no value");
        expect_refused_unchanged(std::string(f) + "=no", "takes no value");
    }
}

TEST(OptionsConfigText, AFaillockConfCarriesOver)
{
    // faillock.conf's own spelling: "key = value", bare flags, comments.
    Options o;
    auto st = apply_config_text(o,
                                "# /etc/security/faillock.conf\n"
                                "audit\n"
                                "silent\n"
                                "no_log_info\n"
                                "local_users_only\n"
                                "deny = 4\n"
                                "fail_interval = 900\n"
                                "unlock_time = 600\n"
                                "even_deny_root\n"
                                "root_unlock_time = 900\n"
                                "admin_group = wheel\n"
                                "# and ours\n"
                                "per_source\n"
                                "deny_user = 20\n",
                                "/etc/security/authctl.conf");
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_TRUE(o.audit && o.silent && o.no_log_info && o.local_users_only && o.lockout.even_deny_root);
    EXPECT_EQ(o.admin_group, "wheel");
    EXPECT_TRUE(o.lockout.per_source);
    EXPECT_EQ(o.lockout.deny, 4U);
    EXPECT_EQ(user_deny(o.lockout), 20U);
    st = apply_config_text(o, "deny_user = 0\n", "f");
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().detail.find("f:1: option 'deny_user'"), std::string::npos) << st.error().detail;
}

TEST(OptionsConfigText, CommentsBlanksCrlfSpacesAndOverrides)
{
    Options o;
    auto st = apply_config_text(o,
                                "# authctl.conf\n"
                                "\n"
                                "   deny   =   5   # five\r\n"
                                "\tunlock_time=never\n"
                                "even_deny_root\n"
                                "deny = 7\n",
                                "/etc/security/authctl.conf");
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(o.lockout.deny, 7U);  // the later line wins
    EXPECT_EQ(o.lockout.unlock_time, 0U);
    EXPECT_TRUE(o.lockout.even_deny_root);
}

TEST(OptionsConfigText, ErrorsNameFileLineAndKey)
{
    Options o;
    auto st = apply_config_text(o, "deny = 3\n\nwindow = 99\n", "/etc/security/authctl.conf");
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().detail.find("/etc/security/authctl.conf:3: option 'window'"), std::string::npos)
        << st.error().detail;
    st = apply_config_text(o, "colour = blue\n", "f");
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().detail.find("f:1: unknown option 'colour'"), std::string::npos) << st.error().detail;
    st = apply_config_text(o, std::string("deny = 3\x01\n"), "f");
    EXPECT_FALSE(st);
}

class OptionsConfigFile : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root-owned files";
    }
    test::TempDir tmp_;
};

TEST_F(OptionsConfigFile, MissingIsFineOnlyWhenAllowed)
{
    Options o;
    EXPECT_TRUE(apply_config_file(o, tmp_ / "none.conf", true));
    auto st = apply_config_file(o, tmp_ / "none.conf", false);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::not_found);
}

TEST_F(OptionsConfigFile, AppliesARootOwnedFile)
{
    test::write_file(tmp_ / "a.conf", "deny = 9\n", 0644);
    Options o;
    ASSERT_TRUE(apply_config_file(o, tmp_ / "a.conf", false));
    EXPECT_EQ(o.lockout.deny, 9U);
}

TEST_F(OptionsConfigFile, RefusesWritableForeignAndSymlinkedFiles)
{
    Options o;
    test::write_file(tmp_ / "w.conf", "deny = 9\n", 0666);
    EXPECT_EQ(apply_config_file(o, tmp_ / "w.conf", false).error().code, Errc::insecure);
    test::write_file(tmp_ / "g.conf", "deny = 9\n", 0664);
    EXPECT_EQ(apply_config_file(o, tmp_ / "g.conf", false).error().code, Errc::insecure);
    test::write_file(tmp_ / "u.conf", "deny = 9\n", 0644);
    ASSERT_EQ(::chown((tmp_ / "u.conf").c_str(), 65534, 0), 0);
    EXPECT_EQ(apply_config_file(o, tmp_ / "u.conf", false).error().code, Errc::insecure);
    test::write_file(tmp_ / "real.conf", "deny = 9\n", 0644);
    ASSERT_EQ(::symlink((tmp_ / "real.conf").c_str(), (tmp_ / "link.conf").c_str()), 0);
    EXPECT_EQ(apply_config_file(o, tmp_ / "link.conf", false).error().code, Errc::insecure);
    ASSERT_EQ(::mkdir((tmp_ / "dir.conf").c_str(), 0755), 0);
    EXPECT_EQ(apply_config_file(o, tmp_ / "dir.conf", false).error().code, Errc::insecure);
    test::write_file(tmp_ / "big.conf", std::string(kMaxConfigBytes + 1, '#'), 0644);
    EXPECT_FALSE(apply_config_file(o, tmp_ / "big.conf", false));
    EXPECT_EQ(o.lockout.deny, 3U) << "nothing was applied from a refused file";
}

TEST_F(OptionsConfigFile, CheckReportsEveryBadLineNotOnlyTheFirst)
{
    test::write_file(tmp_ / "c.conf", "# comment\ndeny = 5\ndney = 4\n\nwindow = 99\nnullok\nnullok = yes\n", 0644);
    const ConfigCheck c = check_config_file(tmp_ / "c.conf", false);
    EXPECT_TRUE(c.present);
    EXPECT_EQ(c.settings, 2U) << "deny and nullok";
    ASSERT_EQ(c.problems.size(), 3U);
    EXPECT_EQ(c.problems[0].line, 3U);
    EXPECT_EQ(c.problems[0].message, tmp_ / "c.conf" + ":3: unknown option 'dney'");
    EXPECT_EQ(c.problems[1].line, 5U);
    EXPECT_NE(c.problems[1].message.find(":5: option 'window'"), std::string::npos) << c.problems[1].message;
    EXPECT_EQ(c.problems[2].line, 7U);
    EXPECT_EQ(c.opts.lockout.deny, 5U);
    EXPECT_TRUE(c.opts.nullok);
    // The module's reading agrees: the first problem is the error it stops at.
    Options o;
    auto st = apply_config_file(o, tmp_ / "c.conf", false);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().detail, c.problems[0].message);
}

TEST_F(OptionsConfigFile, CheckOfAMissingUnsafeOrCleanFile)
{
    const ConfigCheck absent = check_config_file(tmp_ / "none.conf", true);
    EXPECT_FALSE(absent.present);
    EXPECT_TRUE(absent.problems.empty()) << "the default path may be absent";
    const ConfigCheck named = check_config_file(tmp_ / "none.conf", false);
    ASSERT_EQ(named.problems.size(), 1U);
    EXPECT_EQ(named.problems[0].line, 0U);
    test::write_file(tmp_ / "w.conf", "deny = 9\n", 0666);
    const ConfigCheck writable = check_config_file(tmp_ / "w.conf", false);
    ASSERT_EQ(writable.problems.size(), 1U);
    EXPECT_NE(writable.problems[0].message.find("writable by group or others"), std::string::npos);
    test::write_file(tmp_ / "ok.conf", "deny = 9\nunlock_time = never\n", 0644);
    const ConfigCheck ok = check_config_file(tmp_ / "ok.conf", false);
    EXPECT_TRUE(ok.present);
    EXPECT_TRUE(ok.problems.empty());
    EXPECT_EQ(ok.settings, 2U);
}

TEST(OnConfigError, OnlyRootsConsoleLoginAndBackgroundAccountPhasesStepAside)
{
    const auto aside = ConfigErrorAction::step_aside;
    const auto closed = ConfigErrorAction::fail_closed;
    const auto at = [](std::string_view service, std::string_view tty, std::string_view rhost, bool root,
                       bool account) { return on_config_error({service, tty, rhost, root, account}); };
    for (const char* svc : {"cron", "crond", "atd", "systemd-user"}) {
        EXPECT_EQ(at(svc, "", "", false, true), aside) << svc << ": the account phase of a job";
        EXPECT_EQ(at(svc, "", "", true, true), aside) << svc;
        EXPECT_EQ(at(svc, "", "", false, false), closed) << svc << ": never in the auth phase";
    }
    for (const char* tty : {"tty1", "/dev/tty1", "tty63", "ttyS0", "/dev/ttyS1", "console", "/dev/console", "hvc0",
                            "ttyAMA0", "ttyUSB0", "xvc0"}) {
        EXPECT_EQ(at("login", tty, "", true, false), aside) << tty;
        EXPECT_EQ(at("login", tty, "", true, true), aside) << tty;
        EXPECT_EQ(at("login", tty, "", false, false), closed) << tty << ": only root's console login";
    }
    // A pseudo-terminal, a remote host, no terminal, odd names: refused.
    for (const char* tty : {"pts/0", "/dev/pts/3", "", "tty", "ttyS", "ttyx1", "tty1x", "tty12345", "/dev/../tty1",
                            "ssh", ":0"})
        EXPECT_EQ(at("login", tty, "", true, false), closed) << tty;
    EXPECT_EQ(at("login", "tty1", "192.0.2.7", true, false), closed) << "telnet-style login with a remote host";
    // Everything else fails closed, on a console and for root too.
    for (const char* svc : {"sshd", "sudo", "sudo-i", "su", "su-l", "runuser", "polkit-1", "gdm-password", "other",
                            "Login", "login ", "cron2", ""}) {
        EXPECT_EQ(at(svc, "tty1", "", true, false), closed) << svc;
        EXPECT_EQ(at(svc, "tty1", "", true, true), closed) << svc;
    }
}

TEST(Options, AnUnknownKeyIsNamedOnlyWhenItLooksLikeOne)
{
    Options o;
    auto st = apply_config_text(o, "dney = 3\n", "f");
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().detail, "f:1: unknown option 'dney'");
    // A file that is no config file (conf= naming /etc/shadow) is not echoed.
    st = apply_config_text(o, "root:$y$j9T$abc:19000:0:99999:7:::\n", "f");
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().detail, "f:1: not an option (the line is not shown)");
    EXPECT_EQ(st.error().detail.find("root"), std::string::npos);
}

}  // namespace
}  // namespace authctl
