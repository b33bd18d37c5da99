// SPDX-License-Identifier: Apache-2.0
// authctl doctor's pure parts: PAM controls and stacks (pam_stack) and sshd's
// effective configuration (sshd_check). Whole configurations are in the
// corpus (tests/doctor); libpam agreement in tests/module/pam_stack_libpam_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "authctl/pam_stack.hpp"
#include "authctl/sshd_check.hpp"

namespace {

using namespace authctl;

pam_stack::Service service(const std::map<std::string, std::string>& files, const std::string& name,
                           const std::set<std::string>& missing = {})
{
    pam_stack::Sources src;
    src.read = [files](const std::string& n) -> std::optional<std::string> {
        const auto it = files.find(n);
        if (it == files.end()) return std::nullopt;
        return it->second;
    };
    src.module_exists = [missing](const std::string& m) { return missing.count(m) == 0; };
    return pam_stack::load_service(name, src);
}

std::vector<std::string> ids(const std::vector<doctor::Finding>& fs)
{
    std::vector<std::string> out;
    for (const auto& f : fs) out.push_back(f.id + "@" + f.file + ":" + std::to_string(f.line));
    return out;
}

TEST(PamControl, KeywordsAndBrackets)
{
    std::string why;
    auto req = pam_stack::parse_control("required", why);
    ASSERT_TRUE(req);
    EXPECT_EQ((*req)[0], pam_stack::kActionOk);
    EXPECT_EQ((*req)[pam_stack::kPamAuthErr], pam_stack::kActionBad);
    EXPECT_EQ((*req)[pam_stack::kPamIgnore], pam_stack::kActionIgnore);
    auto suf = pam_stack::parse_control("sufficient", why);
    ASSERT_TRUE(suf);
    EXPECT_EQ((*suf)[0], pam_stack::kActionDone);
    EXPECT_EQ((*suf)[pam_stack::kPamAuthErr], pam_stack::kActionIgnore);
    auto br = pam_stack::parse_control("[success=2 default=ignore]", why);
    ASSERT_TRUE(br);
    EXPECT_EQ((*br)[0], 2);
    EXPECT_EQ((*br)[pam_stack::kPamAuthErr], pam_stack::kActionIgnore);
    // default= fills only what is not set yet; a later value still overrides.
    auto order = pam_stack::parse_control("[default=die auth_err=ok default=ignore]", why);
    ASSERT_TRUE(order);
    EXPECT_EQ((*order)[0], pam_stack::kActionDie);
    EXPECT_EQ((*order)[pam_stack::kPamAuthErr], pam_stack::kActionOk);
    auto unset = pam_stack::parse_control("[success=ok]", why);
    ASSERT_TRUE(unset);
    EXPECT_EQ((*unset)[pam_stack::kPamAuthErr], pam_stack::kActionBad);
    EXPECT_FALSE(pam_stack::parse_control("[success=dye]", why));
    EXPECT_NE(why.find("dye"), std::string::npos);
    EXPECT_FALSE(pam_stack::parse_control("[nosuch=ok]", why));
    EXPECT_FALSE(pam_stack::parse_control("mandatory", why));
}

TEST(PamStack, IncludesContinuationsAndComments)
{
    const auto svc = service({{"svc",
                               "auth required pam_env.so # note\n@include common\n"
                               "auth [success=ok \\\n default=die] pam_authctl.so\n-auth optional pam_gone.so\n"},
                              {"common", "auth required pam_unix.so\naccount required pam_unix.so\n"}},
                             "svc", {"pam_gone.so"});
    const auto& auth = svc.stacks[0];
    ASSERT_EQ(auth.size(), 4u);
    EXPECT_EQ(auth[1].module, "pam_unix.so");
    EXPECT_EQ(auth[1].file, "/etc/pam.d/common");
    EXPECT_EQ(auth[1].line, 1u);
    EXPECT_EQ(auth[2].line, 3u);  // where the continued line starts
    EXPECT_EQ(auth[2].actions[pam_stack::kPamAuthErr], pam_stack::kActionDie);
    EXPECT_TRUE(auth[3].silent);
    EXPECT_TRUE(auth[3].missing);
    EXPECT_EQ(svc.stacks[1].size(), 1u);
    // '-' hides the load error from the log only: no finding of it (the line still fails, PAM_MODULE_UNKNOWN).
    EXPECT_EQ(ids(pam_stack::analyze(svc, {})), std::vector<std::string>{"pam.account_missing@/etc/pam.d/svc:0"});
}

TEST(PamStack, MissingIncludeAndLoopFailTheLine)
{
    const auto svc = service({{"svc", "@include nothere\nauth include svc\n"}}, "svc");
    const auto found = ids(pam_stack::analyze(svc, {}));
    EXPECT_NE(std::find(found.begin(), found.end(), "pam.line_unusable@/etc/pam.d/svc:1"), found.end());
    EXPECT_NE(std::find(found.begin(), found.end(), "pam.line_unusable@/etc/pam.d/svc:2"), found.end());
}

TEST(PamStack, RunOnceFollowsLibpam)
{
    const auto stack = [](const std::string& text) { return service({{"s", text}}, "s").stacks[0]; };
    const auto returns = [](const pam_stack::ModuleLine& m) {
        return pam_stack::return_value(m.args.at(0)).value_or(pam_stack::kPamAuthErr);
    };
    using pam_stack::Facility;
    EXPECT_TRUE(pam_stack::run_once(stack("auth required pam_x.so success\n"), Facility::auth, returns));
    EXPECT_FALSE(pam_stack::run_once(stack("auth optional pam_x.so ignore\n"), Facility::auth, returns));
    EXPECT_FALSE(pam_stack::run_once(stack(""), Facility::auth, returns));
    // sufficient after a failed required does not end the stack with success
    EXPECT_FALSE(pam_stack::run_once(stack("auth required pam_x.so auth_err\nauth sufficient pam_x.so success\n"),
                                     Facility::auth, returns));
    // a jump past the end is libpam's "bad jump in stack": a failure
    EXPECT_FALSE(pam_stack::run_once(stack("auth required pam_x.so success\nauth [default=1] pam_x.so auth_err\n"),
                                     Facility::auth, returns));
    // reset forgets the failure before it
    EXPECT_TRUE(pam_stack::run_once(
        stack(
            "auth required pam_x.so auth_err\nauth [success=reset] pam_x.so success\nauth required pam_x.so success\n"),
        Facility::auth, returns));
}

TEST(PamStack, BypassNamesTheLineThatSkipsTheCode)
{
    const auto svc = service({{"sudo",
                               "auth [success=1 default=ignore] pam_unix.so\nauth required pam_authctl.so\n"
                               "auth required pam_permit.so\naccount required pam_authctl.so\n"}},
                             "sudo");
    const auto found = pam_stack::analyze(svc, {});
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].id, "pam.bypass");
    EXPECT_EQ(found[0].line, 1u);
    EXPECT_EQ(found[0].severity, doctor::Severity::error);
    EXPECT_EQ(found[0].services, std::vector<std::string>{"sudo"});
    // The same with the code first is clean.
    const auto ok = service({{"sudo",
                              "auth required pam_authctl.so\nauth [success=1 default=ignore] pam_unix.so\n"
                              "auth requisite pam_deny.so\nauth required pam_permit.so\n"
                              "account required pam_authctl.so\n"}},
                            "sudo");
    EXPECT_TRUE(pam_stack::analyze(ok, {}).empty());
}

TEST(PamStack, ExemptionByConditionIsAWarningAndRootokIsNoBypass)
{
    const auto svc = service({{"su",
                               "auth sufficient pam_rootok.so\n"
                               "auth [success=1 default=ignore] pam_succeed_if.so user ingroup nocode\n"
                               "auth required pam_authctl.so\nauth required pam_unix.so\n"
                               "account required pam_authctl.so\n"}},
                             "su");
    const auto found = pam_stack::analyze(svc, {});
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].id, "pam.bypass");
    EXPECT_EQ(found[0].line, 2u);
    EXPECT_EQ(found[0].severity, doctor::Severity::warning);
}

TEST(PamStack, NullokFromTheConfigFileCounts)
{
    const auto svc = service({{"sudo", "auth required pam_authctl.so\naccount required pam_authctl.so\n"}}, "sudo");
    EXPECT_TRUE(pam_stack::analyze(svc, {}).empty());
    pam_stack::Context ctx;
    ctx.conf_nullok = true;
    const auto found = ids(pam_stack::analyze(svc, ctx));
    EXPECT_EQ(found, std::vector<std::string>{"pam.nullok_alone@/etc/pam.d/sudo:1"});
}

TEST(SshdCheck, MatchProbesAndLocations)
{
    const std::vector<sshd_check::ConfigFile> files = {
        {"/etc/ssh/sshd_config",
         "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\n"
         "Match Group admins Address 10.0.0.0/8,!10.1.0.0/16\n  PasswordAuthentication yes\n"
         "Match Host *.example.org User !root,bob\n  X11Forwarding yes\n"
         "Match Group nobody\n  AllowTcpForwarding no\n",
         0},
        {"/etc/ssh/sshd_config.d/a.conf", "KbdInteractiveAuthentication yes\n", 1}};
    const auto member = [](const std::string& g) -> std::optional<std::string> {
        if (g == "admins") return std::string("alice");
        return std::nullopt;
    };
    const auto blocks = sshd_check::match_blocks(files, member);
    ASSERT_EQ(blocks.size(), 3u);
    EXPECT_EQ(blocks[0].probe, "user=alice,host=doctor.invalid,addr=10.0.0.0");
    EXPECT_EQ(blocks[0].line, 3u);
    EXPECT_EQ(blocks[1].probe, "user=bob,host=x.example.org,addr=192.0.2.1");
    EXPECT_TRUE(blocks[2].probe.empty());
    EXPECT_NE(blocks[2].why_not.find("nobody"), std::string::npos);
    // The drop-in's value is read first (it is included above the main file's line).
    const auto kbd = sshd_check::locate(files, "kbdinteractiveauthentication", nullptr);
    EXPECT_EQ(kbd.file, "/etc/ssh/sshd_config.d/a.conf");
    EXPECT_EQ(kbd.line, 1u);
    const auto pw = sshd_check::locate(files, "PasswordAuthentication", &blocks[0]);
    EXPECT_EQ(pw.line, 4u);
    EXPECT_EQ(sshd_check::locate(files, "UsePAM", nullptr).line, 0u);
}

TEST(SshdCheck, IncludesRewrittenUnderRootKeepLines)
{
    const std::string text = "# x\nInclude /etc/ssh/sshd_config.d/*.conf\ninclude extra.conf\nPort 22\n";
    EXPECT_EQ(sshd_check::rewrite_includes(text, "/r"),
              "# x\nInclude /r/etc/ssh/sshd_config.d/*.conf\nInclude /r/etc/ssh/extra.conf\nPort 22\n");
    const auto inc = sshd_check::include_patterns(text);
    ASSERT_EQ(inc.size(), 2u);
    EXPECT_EQ(inc[1].pattern, "/etc/ssh/extra.conf");
    EXPECT_EQ(inc[1].line, 3u);
    const auto loc = sshd_check::error_location("/tmp/x/sshd_config: line 12: Bad configuration option: Foo\n");
    EXPECT_EQ(loc.file, "/tmp/x/sshd_config");
    EXPECT_EQ(loc.line, 12u);
}

TEST(SshdCheck, NestedIncludesAreReadInPlace)
{
    // main: line 1 includes a.conf, which includes b.conf (its line 2) before its
    // own setting; sshd reads b.conf's value first, as it reads lines in order.
    const std::vector<sshd_check::ConfigFile> files = {
        {"/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/a.conf\nUsePAM yes\n", 0, 0},
        {"/etc/ssh/sshd_config.d/a.conf", "# a\nInclude /etc/ssh/extra/b.conf\nKbdInteractiveAuthentication yes\n",
         1, 0},
        {"/etc/ssh/extra/b.conf", "KbdInteractiveAuthentication no\nPermitRootLogin yes\n", 2, 1}};
    const auto kbd = sshd_check::locate(files, "KbdInteractiveAuthentication", nullptr);
    EXPECT_EQ(kbd.file, "/etc/ssh/extra/b.conf");
    EXPECT_EQ(kbd.line, 1u);
    EXPECT_EQ(sshd_check::locate(files, "PermitRootLogin", nullptr).file, "/etc/ssh/extra/b.conf");
    EXPECT_EQ(sshd_check::locate(files, "UsePAM", nullptr).line, 2u);
    // An Include inside a Match block is listed (its file is read) and marked.
    const auto inc = sshd_check::include_patterns("Include a.conf\nMatch User bob\n  Include b.conf\n");
    ASSERT_EQ(inc.size(), 2u);
    EXPECT_FALSE(inc[0].in_match);
    EXPECT_TRUE(inc[1].in_match);
    EXPECT_EQ(inc[1].pattern, "/etc/ssh/b.conf");
}

TEST(SshdCheck, MethodsThatSkipTheCode)
{
    sshd_check::Context ctx;
    ctx.module_for_sshd = true;
    const std::vector<sshd_check::ConfigFile> files = {
        {"/etc/ssh/sshd_config", "AuthenticationMethods publickey\n", 0}};
    const auto eff = sshd_check::parse_effective(
        "usepam yes\nkbdinteractiveauthentication yes\n"
        "authenticationmethods publickey password,publickey\n"
        "permitemptypasswords no\npermitrootlogin prohibit-password\n");
    const auto found = ids(sshd_check::check(eff, files, nullptr, ctx));
    EXPECT_EQ(found, (std::vector<std::string>{"sshd.single_factor@/etc/ssh/sshd_config:1",
                                               "sshd.password_login_code_only@/etc/ssh/sshd_config:1"}));
    const auto good = sshd_check::parse_effective(
        "usepam yes\nkbdinteractiveauthentication yes\nauthenticationmethods publickey,keyboard-interactive:pam\n");
    EXPECT_TRUE(sshd_check::check(good, files, nullptr, ctx).empty());
    ctx.module_for_sshd = false;  // no code to go around
    EXPECT_TRUE(sshd_check::check(eff, files, nullptr, ctx).empty());
}

}  // namespace
