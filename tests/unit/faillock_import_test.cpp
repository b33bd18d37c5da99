// SPDX-License-Identifier: Apache-2.0
// import_faillock: faillock.conf read as pam_faillock reads it, merged into
// authctl.conf line by line (the CLI's end-to-end cases are in tests/cli).
#include <gtest/gtest.h>

#include "authctl/import.hpp"
#include "authctl/options.hpp"

namespace authctl {
namespace {

FaillockImport merged(std::string_view faillock, std::string_view conf)
{
    auto r = import_faillock(faillock, "faillock.conf", conf, "authctl.conf");
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? std::move(*r) : FaillockImport{};
}

std::string error_of(std::string_view faillock, std::string_view conf = "")
{
    auto r = import_faillock(faillock, "faillock.conf", conf, "authctl.conf");
    EXPECT_FALSE(r);
    return r ? "" : r.error().detail;
}

// faillock's key ends at a blank or '='; one '=' and the blanks around it are
// skipped; '#' ends the line wherever it is; CRLF and tabs are blanks.
TEST(FaillockImport, ReadsEverySpellingFaillockAccepts)
{
    const auto m = merged("deny 4\r\n\tfail_interval\t=\t120 # two minutes\nunlock_time=never\n  nodelay  \n", "");
    ASSERT_EQ(m.settings.size(), 4U);
    EXPECT_EQ(m.settings[0].text, "deny = 4");
    EXPECT_EQ(m.settings[1].text, "fail_interval = 120");
    EXPECT_EQ(m.settings[1].line, 2U);
    EXPECT_EQ(m.settings[2].text, "unlock_time = never");
    EXPECT_EQ(m.settings[3].text, "nodelay");
    for (const auto& s : m.settings) EXPECT_EQ(s.outcome, CarryOutcome::carried) << s.text;
    EXPECT_EQ(m.config,
              "# Carried over from faillock.conf by authctl import faillock\n"
              "deny = 4\nfail_interval = 120\nunlock_time = never\nnodelay\n");
    EXPECT_TRUE(m.changed);
    // "deny==3": the second '=' is part of the value, which is then no number.
    EXPECT_EQ(error_of("deny==3\n"), "faillock.conf:1: deny: '=3' is not a number of failures (faillock ignores it too)");
}

// The line in force (the last for a key) is replaced, earlier ones and
// comments stay; a file without a final newline gets one before the block.
TEST(FaillockImport, ReplacesTheLineInForceAndKeepsTheRest)
{
    const auto m = merged("deny = 7\nunlock_time = 0\n", "deny = 2\n# note\ndeny = 4 # later\nwindow = 1");
    EXPECT_EQ(m.config,
              "deny = 2\n# note\ndeny = 7\nwindow = 1\n\n"
              "# Carried over from faillock.conf by authctl import faillock\nunlock_time = 0\n");
    ASSERT_EQ(m.settings.size(), 2U);
    EXPECT_EQ(m.settings[0].note, "replaces authctl.conf line 3 'deny = 4 # later'");
    Options o;
    ASSERT_TRUE(apply_config_text(o, m.config, "x"));
    EXPECT_EQ(o.lockout.deny, 7U);
    EXPECT_EQ(o.lockout.unlock_time, 0U);
    // "never" and 0 are the same setting; so are 060 and 60.
    const auto again = merged("unlock_time = never\nfail_interval = 060\n", "unlock_time = 0\nfail_interval = 60\n");
    ASSERT_EQ(again.settings.size(), 2U);
    EXPECT_EQ(again.settings[0].outcome, CarryOutcome::same);
    EXPECT_EQ(again.settings[1].outcome, CarryOutcome::same);
    EXPECT_FALSE(again.changed);
}

// What `authctl config check` reports for a text is what it reports for the file.
TEST(FaillockImport, CheckConfigTextReportsEveryProblemWithItsLine)
{
    const ConfigCheck c = check_config_text("deny = 3\nbogus\nwindow = 99\n", "authctl.conf");
    EXPECT_TRUE(c.present);
    EXPECT_EQ(c.settings, 1U);
    ASSERT_EQ(c.problems.size(), 2U);
    EXPECT_EQ(c.problems[0].line, 2U);
    EXPECT_EQ(c.problems[0].message, "authctl.conf:2: unknown option 'bogus'");
    EXPECT_EQ(c.problems[1].line, 3U);
    EXPECT_EQ(error_of("deny = 3\n", "bogus\n"), "authctl.conf:1: unknown option 'bogus' (fix authctl.conf first)");
}

}  // namespace
}  // namespace authctl
