// SPDX-License-Identifier: Apache-2.0
// The authctl CLI with hostile user names and unsafe state directories: every
// command either works inside the state directory or refuses in one line on
// stderr (exit 1) without creating, following or changing anything. Planted
// state files, a full disk and a read-only directory are covered, CLI
// included, by tests/module/hostile_state_test.cpp.
#include <nlohmann/json.hpp>

#include "authctl/base32.hpp"
#include "hostile_fixture.hpp"

namespace authctl {
namespace {

using test::CmdResult;
using test::one_error_line;
using test::snapshot;
using test::snapshot_diff;

constexpr auto npos = std::string::npos;

// Every command that takes -u, with what it needs to get as far as the store.
std::vector<std::vector<std::string>> user_commands(const std::string& user)
{
    return {{"enroll", "-u", user, "--qr", "none"},
            {"show", "-u", user, "--qr", "none"},
            {"status", "-u", user},
            {"verify", "-u", user, "123456"},
            {"reset", "-u", user},
            {"unlock", "-u", user},
            {"lock", "-u", user},
            {"remove", "-u", user},
            {"recovery", "-u", user}};
}

std::string printable(const std::string& s)
{
    std::string out;
    for (const unsigned char c : s) {
        if (c >= 0x20 && c < 0x7F) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out.size() > 60 ? out.substr(0, 60) + "..." : out;
}

class HostileCli : public test::HostileTest {};

// In the user database, but not storable: too long, not UTF-8, too long once
// encoded, control characters.
TEST_F(HostileCli, UnstorableNamesAreRefusedInOneLineAndCreateNothing)
{
    std::string e_acute;
    for (int i = 0; i < 100; ++i) e_acute += "\xc3\xa9";
    const test::FsSnapshot before = snapshot(world_);
    for (const std::string& name : {std::string(300, 'u'), std::string("bad\xff\xfename"), e_acute,
                                    std::string("tab\tname"), std::string("esc\x1b[31mred")}) {
        ASSERT_NE(::getpwnam(name.c_str()), nullptr) << "hostile_passwd lacks " << printable(name);
        for (const auto& c : user_commands(name)) {
            const CmdResult r = cli(c[0], {c.begin() + 1, c.end()}, state_);
            EXPECT_EQ(r.code, 1) << c[0] << " " << printable(name) << ": " << r.err;
            EXPECT_TRUE(one_error_line(r, "invalid user name")) << c[0] << " " << printable(name);
            EXPECT_EQ(r.err.find('\x1b'), npos) << c[0] << ": a terminal escape reached stderr";
        }
    }
    EXPECT_EQ(snapshot_diff(before, snapshot(world_)), "");
}

// In no user database: "no such user", in one line even when the name holds a
// newline or a terminal escape; nothing created.
TEST_F(HostileCli, UnknownHostileNamesAreNoSuchUserInOneLine)
{
    const test::FsSnapshot before = snapshot(world_);
    for (const std::string& name : {std::string("../../tmp/authctl-escape"), std::string("a/b/c"),
                                    std::string("/etc/passwd"), std::string(300, 'z'), std::string("\xff\xfe"),
                                    std::string("mallory\nauthctl: forged second line"), std::string("x\x1b[2Jy")}) {
        for (const auto& c : user_commands(name)) {
            if (c[0] == "status") continue;  // status -u of an unknown user: below
            const CmdResult r = cli(c[0], {c.begin() + 1, c.end()}, state_);
            EXPECT_EQ(r.code, 1) << c[0] << " " << printable(name);
            EXPECT_TRUE(one_error_line(r, "no such user")) << c[0] << " " << printable(name);
            EXPECT_EQ(r.err.find('\x1b'), npos) << c[0] << ": a terminal escape reached stderr";
        }
        const CmdResult s = cli("status", {"-u", name}, state_);
        EXPECT_EQ(s.code, 1) << printable(name);
        EXPECT_TRUE(one_error_line(s, "no such user")) << printable(name);
    }
    EXPECT_EQ(snapshot_diff(before, snapshot(world_)), "");
    EXPECT_EQ(::access("/tmp/authctl-escape.rec", F_OK), -1);
}

// Path-like names that are real accounts: enroll, verify, status, remove all
// work, and every file they use is an encoded name inside the state directory.
TEST_F(HostileCli, PathLikeNamesWorkEndToEndInsideTheStateDirectory)
{
    ASSERT_EQ(::mkdir((world_ + "/etc").c_str(), 0755), 0);
    test::write_file(world_ + "/etc/passwd", "decoy\n", 0644);
    const test::FsSnapshot decoys = snapshot(world_ + "/etc");
    const std::vector<std::pair<std::string, std::string>> users = {
        {"../etc/passwd", "%2E.%2Fetc%2Fpasswd"}, {"a/b", "a%2Fb"}, {"..", "%2E."}, {"x%2Fy", "x%252Fy"}};
    for (const auto& [name, stem] : users) {
        CmdResult r = cli("enroll", {"-u", name, "--hotp", "--json", "--recovery-codes", "0"}, state_);
        ASSERT_EQ(r.code, 0) << name << ": " << r.err;
        const auto j = nlohmann::json::parse(r.out);
        EXPECT_EQ(j.at("user"), name);
        auto secret = base32_decode(j.at("secret").get<std::string>());
        ASSERT_TRUE(secret);
        auto v = hotp_value(*secret, 0, HashAlgo::sha1, 6);
        ASSERT_TRUE(v);
        r = cli("verify", {"-u", name, format_code(*v, 6)}, state_);
        EXPECT_EQ(r.code, 0) << name << ": " << r.err;
        EXPECT_EQ(r.out, name + ": code accepted\n");
        struct stat st {};
        EXPECT_EQ(::lstat((state_ + "/" + stem + ".rec").c_str(), &st), 0) << stem;
    }
    CmdResult all = cli("status", {"--json"}, state_);
    ASSERT_EQ(all.code, 0) << all.err;
    std::vector<std::string> listed;
    for (const auto& row : nlohmann::json::parse(all.out)) {
        listed.push_back(row.at("user"));
        EXPECT_TRUE(row.at("confirmed").get<bool>()) << row.dump();
    }
    EXPECT_EQ(listed, (std::vector<std::string>{"..", "../etc/passwd", "a/b", "x%2Fy"}));
    EXPECT_EQ(all.err, "");
    EXPECT_EQ(test::listing(world_), "etc\noutside\nstate\n");
    EXPECT_EQ(test::listing(outside_), "");
    for (const auto& [name, stem] : users) EXPECT_EQ(cli("remove", {"-u", name}, state_).code, 0) << name;
    EXPECT_EQ(test::listing(state_), "");
    EXPECT_EQ(snapshot_diff(decoys, snapshot(world_ + "/etc")), "");
}

// Commands that work on the whole store or create a user's first record
// refuse an unsafe --dir and write nothing through it.
TEST_F(HostileCli, StoreWideCommandsRefuseAnUnsafeStateDirectory)
{
    enroll("alice", state_, 2);
    const std::string link = world_ + "/link";
    ASSERT_EQ(::symlink(state_.c_str(), link.c_str()), 0);
    test::write_file(outside_ + "/file", "not a directory\n");
    struct Case {
        std::string dir;
        std::function<void()> set, unset;
        std::string phrase;
    };
    const std::vector<Case> cases = {
        {link, [] {}, [] {}, "is a symbolic link"},
        {state_, [&] { ASSERT_EQ(::chown(state_.c_str(), 1000, 1000), 0); },
         [&] { ASSERT_EQ(::chown(state_.c_str(), 0, 0), 0); }, "is not owned by root"},
        {state_, [&] { ASSERT_EQ(::chmod(state_.c_str(), 0750), 0); },
         [&] { ASSERT_EQ(::chmod(state_.c_str(), 0700), 0); }, "accessible by group or others"},
        {outside_ + "/file", [] {}, [] {}, "Not a directory"},
    };
    for (const auto& c : cases) {
        c.set();
        const test::FsSnapshot before = snapshot(world_);
        for (const std::vector<std::string>& args : {std::vector<std::string>{"enroll", "-u", "bob", "--qr", "none"},
                                                     {"status"},
                                                     {"reset", "--all", "--yes"},
                                                     {"lock", "-u", "bob"}}) {
            const CmdResult r = cli(args[0], {args.begin() + 1, args.end()}, c.dir);
            EXPECT_EQ(r.code, 1) << args[0] << " --dir " << c.dir;
            EXPECT_TRUE(one_error_line(r, c.phrase)) << args[0] << " --dir " << c.dir;
        }
        const CmdResult audit = cli("audit", {"--group", "sudo", "--no-sudo"}, c.dir);
        EXPECT_EQ(audit.code, 1);
        EXPECT_NE(audit.out.find("state directory: "), npos) << audit.out;
        EXPECT_NE(audit.out.find(c.phrase), npos) << audit.out;
        EXPECT_EQ(snapshot_diff(before, snapshot(world_)), "") << c.dir;
        c.unset();
    }
    EXPECT_EQ(test::listing(state_), "alice.lock\nalice.rec\n");
}

// `status` of every user goes on past a record it cannot read, shows the
// readable ones, and names the bad one on stderr; exit 1.
TEST_F(HostileCli, StatusOfAllNamesTheUnreadableRecordAndShowsTheRest)
{
    enroll("alice", state_, 1);
    enroll("bob", state_);
    enroll("carol", state_);
    ASSERT_EQ(::chmod((state_ + "/bob.rec").c_str(), 0644), 0);
    const test::FsSnapshot before = snapshot(world_);
    CmdResult r = cli("status", {}, state_);
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(one_error_line(r, "'bob.rec' is accessible by group or others"));
    EXPECT_NE(r.out.find("alice "), npos) << r.out;
    EXPECT_NE(r.out.find("carol "), npos) << r.out;
    r = cli("status", {"--json"}, state_);
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(one_error_line(r, "'bob.rec' is accessible by group or others"));
    const auto rows = nlohmann::json::parse(r.out);
    ASSERT_EQ(rows.size(), 3U);
    EXPECT_EQ(rows[0].at("failures"), 1);
    EXPECT_TRUE(rows[1].contains("error"));
    EXPECT_FALSE(rows[1].contains("enrolled")) << "an unreadable record is never shown as not enrolled";
    // Two bad records: one line still, pointing at the table.
    ASSERT_EQ(::chown((state_ + "/carol.rec").c_str(), 1000, 0), 0);
    r = cli("status", {}, state_);
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(one_error_line(r, "2 records could not be read"));
    EXPECT_NE(r.out.find("not owned by root"), npos) << r.out;
    EXPECT_EQ(snapshot_diff(before, snapshot(world_)).find("bob.rec"), npos);
}

}  // namespace
}  // namespace authctl
