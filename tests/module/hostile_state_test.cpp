// SPDX-License-Identifier: Apache-2.0
// pam_authctl.so through the real libpam against a hostile state directory:
// every planted state file (symlinks, foreign owners, loose modes, hard links,
// FIFOs, devices, truncated and garbage records, a moved or loosened state
// directory) and hostile user names, then a full disk and a read-only state
// directory in a private mount namespace. Each case checks that the login
// fails closed, that one log line names the problem, that the CLI reports it in
// one line without "fixing" anything, and that nothing in or beside the state
// directory changed (bytes, mode, owner, links, mtime and ctime).
//
// The store's own checks are unit-tested in tests/unit/store_test.cpp; this
// file checks what an administrator and a user see end to end.
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <sched.h>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "authctl/login.hpp"
#include "authctl/username.hpp"
#include "hostile_fixture.hpp"

namespace authctl {
namespace {

using test::CmdResult;
using test::line_with;
using test::one_error_line;
using test::pam_run;
using test::snapshot;
using test::snapshot_diff;

constexpr auto npos = std::string::npos;

// Where a planted problem is noticed: `reading` before the prompt (the record
// or the directory cannot be read: no prompt, the account phase fails too),
// `locking` after the prompt (the lock file is bad: the attempt is not
// evaluated), `writing` when the failure-first write cannot be made (not
// evaluated either). Readers that take no lock (`status`, the account phase)
// succeed in the last two cases.
enum class FailsAt { reading, locking, writing };

struct Paths {
    std::string world, state, outside;
    std::string rec, lock, tmp;
    std::string good;  // the bytes of alice's valid record
};

struct Variant {
    std::string name;
    FailsAt at;
    std::vector<std::string> phrases;  // in the log line and in the CLI's error line
    // Plants the problem; sets `dir` when the module and CLI must use another state directory.
    std::function<void(const Paths&, std::string& dir)> plant;
};

// Test names in failure messages instead of a byte dump of the parameter.
void PrintTo(const Variant& v, std::ostream* os)
{
    *os << v.name;
}

void must(int rc, const char* what)
{
    if (rc != 0) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

void replace_record(const Paths& p, const std::string& text)
{
    test::write_file(p.rec, text);
}

std::string random_bytes(std::size_t n, unsigned seed)
{
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(gen() & 0xFF);
    return s;
}

std::vector<Variant> variants()
{
    std::vector<Variant> v;
    const auto rec_insecure = [](std::string what) {
        return std::vector<std::string>{"insecure file: user 'alice': 'alice.rec' " + what};
    };
    const std::vector<std::string> corrupt = {"corrupt record: user 'alice' (alice.rec): "};

    // The record file.
    v.push_back({"RecordSymlinkToAValidRecordOutside", FailsAt::reading, rec_insecure("is a symbolic link"),
                 [](const Paths& p, std::string&) {
                     must(::unlink(p.rec.c_str()), "unlink");
                     must(::symlink((p.outside + "/target").c_str(), p.rec.c_str()), "symlink");
                 }});
    v.push_back({"RecordDanglingSymlink", FailsAt::reading, rec_insecure("is a symbolic link"),
                 [](const Paths& p, std::string&) {
                     must(::unlink(p.rec.c_str()), "unlink");
                     must(::symlink((p.outside + "/no-such-file").c_str(), p.rec.c_str()), "symlink");
                 }});
    v.push_back({"RecordOwnedByTheUser", FailsAt::reading, rec_insecure("is not owned by root"),
                 [](const Paths& p, std::string&) { must(::chown(p.rec.c_str(), 1000, 1000), "chown"); }});
    for (const mode_t mode : {0666, 0644, 0620, 0604, 0660}) {
        char name[64];
        std::snprintf(name, sizeof name, "RecordMode0%o", mode);
        v.push_back({name, FailsAt::reading, rec_insecure("is accessible by group or others"),
                     [mode](const Paths& p, std::string&) { must(::chmod(p.rec.c_str(), mode), "chmod"); }});
    }
    v.push_back(
        {"RecordHardLinkedOutside", FailsAt::reading, rec_insecure("has more than one link"),
         [](const Paths& p, std::string&) { must(::link(p.rec.c_str(), (p.outside + "/alias").c_str()), "link"); }});
    v.push_back(
        {"RecordIsAFifo", FailsAt::reading, rec_insecure("is not a regular file"), [](const Paths& p, std::string&) {
             must(::unlink(p.rec.c_str()), "unlink");
             must(::mkfifo(p.rec.c_str(), 0600), "mkfifo");
         }});
    v.push_back({"RecordIsADirectory", FailsAt::reading, rec_insecure("is not a regular file"),
                 [](const Paths& p, std::string&) {
                     must(::unlink(p.rec.c_str()), "unlink");
                     must(::mkdir(p.rec.c_str(), 0700), "mkdir");
                     test::write_file(p.rec + "/inside", p.good);
                 }});
    v.push_back({"RecordIsACharacterDevice", FailsAt::reading, rec_insecure("is not a regular file"),
                 [](const Paths& p, std::string&) {
                     must(::unlink(p.rec.c_str()), "unlink");
                     // /dev/zero's numbers: an endless read if anything read it.
                     if (::mknod(p.rec.c_str(), S_IFCHR | 0600, makedev(1, 5)) != 0) {
                         test::write_file(p.rec, p.good);
                         GTEST_SKIP() << "mknod is not permitted here: " << std::strerror(errno);
                     }
                 }});
    // Cut at several points: empty, one byte, just the version line, mid-file,
    // without the "end" line, without the final newline.
    for (const auto& [label, cut] : std::vector<std::pair<std::string, std::function<std::size_t(std::size_t)>>>{
             {"ToNothing", [](std::size_t) { return std::size_t{0}; }},
             {"ToOneByte", [](std::size_t) { return std::size_t{1}; }},
             {"AfterTheVersionLine", [](std::size_t) { return std::size_t{15}; }},
             {"MidFile", [](std::size_t n) { return n / 2; }},
             {"BeforeTheEndLine", [](std::size_t n) { return n - 4; }},
             {"BeforeTheLastNewline", [](std::size_t n) { return n - 1; }}}) {
        v.push_back({"RecordTruncated" + label, FailsAt::reading, corrupt, [cut = cut](const Paths& p, std::string&) {
                         replace_record(p, p.good.substr(0, cut(p.good.size())));
                     }});
    }
    v.push_back({"RecordRandomGarbage", FailsAt::reading, corrupt,
                 [](const Paths& p, std::string&) { replace_record(p, random_bytes(4096, 7)); }});
    v.push_back({"RecordWithANulByte", FailsAt::reading, corrupt, [](const Paths& p, std::string&) {
                     std::string t = p.good;
                     t[t.find("failures ") + 9] = '\0';
                     replace_record(p, t);
                 }});
    v.push_back(
        {"RecordWithAnEscapeSequence", FailsAt::reading, {"non-printable byte"}, [](const Paths& p, std::string&) {
             std::string t = p.good;
             t.insert(t.find("last_source ") + 12, "\x1b[2J\r");
             replace_record(p, t);
         }});
    v.push_back({"RecordLargerThan16KiB",
                 FailsAt::reading,
                 {"corrupt record: user 'alice': 'alice.rec' is larger than 16384 bytes"},
                 [](const Paths& p, std::string&) {
                     std::string t = p.good.substr(0, p.good.size() - 4);
                     while (t.size() <= kMaxRecordBytes) t += "recovery " + std::string(64, '0') + "\n";
                     replace_record(p, t + "end\n");
                 }});
    v.push_back({"RecordOfAnUnknownVersion",
                 FailsAt::reading,
                 {"record version 4 is not supported"},
                 [](const Paths& p, std::string&) { replace_record(p, "authctl-user 4\n" + p.good.substr(15)); }});
    v.push_back({"RecordWithARepeatedKey", FailsAt::reading, {"'failures' repeated"}, [](const Paths& p, std::string&) {
                     replace_record(p, p.good.substr(0, p.good.size() - 4) + "failures 0\nend\n");
                 }});
    v.push_back({"RecordWithTextAfterEnd", FailsAt::reading, {"text after 'end'"}, [](const Paths& p, std::string&) {
                     replace_record(p, p.good + "failures 0\n");
                 }});

    // The lock file: the record reads, so the user is asked; the attempt is then refused unevaluated.
    const auto lock_insecure = [](std::string what) {
        return std::vector<std::string>{"insecure file: 'alice.lock' " + what};
    };
    v.push_back({"LockSymlinkToAFileOutside", FailsAt::locking, lock_insecure("is a symbolic link"),
                 [](const Paths& p, std::string&) {
                     must(::unlink(p.lock.c_str()), "unlink");
                     must(::symlink((p.outside + "/innocent").c_str(), p.lock.c_str()), "symlink");
                 }});
    v.push_back({"LockDanglingSymlinkOutside", FailsAt::locking, lock_insecure("is a symbolic link"),
                 [](const Paths& p, std::string&) {
                     must(::unlink(p.lock.c_str()), "unlink");
                     must(::symlink((p.outside + "/created-through-the-link").c_str(), p.lock.c_str()), "symlink");
                 }});
    v.push_back({"LockOwnedByTheUser", FailsAt::locking, lock_insecure("is not owned by root"),
                 [](const Paths& p, std::string&) { must(::chown(p.lock.c_str(), 1000, 1000), "chown"); }});
    v.push_back({"LockMode0666", FailsAt::locking, lock_insecure("is accessible by group or others"),
                 [](const Paths& p, std::string&) { must(::chmod(p.lock.c_str(), 0666), "chmod"); }});
    v.push_back({"LockHardLinkedOutside", FailsAt::locking, lock_insecure("has more than one link"),
                 [](const Paths& p, std::string&) {
                     must(::link(p.lock.c_str(), (p.outside + "/lock-alias").c_str()), "link");
                 }});
    v.push_back(
        {"LockIsAFifo", FailsAt::locking, lock_insecure("is not a regular file"), [](const Paths& p, std::string&) {
             must(::unlink(p.lock.c_str()), "unlink");
             must(::mkfifo(p.lock.c_str(), 0600), "mkfifo");
         }});
    v.push_back({"LockIsADirectory",
                 FailsAt::locking,
                 {"cannot open lock file 'alice.lock': Is a directory"},
                 [](const Paths& p, std::string&) {
                     must(::unlink(p.lock.c_str()), "unlink");
                     must(::mkdir(p.lock.c_str(), 0700), "mkdir");
                 }});

    // The temp file: a stale one is removed before writing; a directory cannot be.
    v.push_back(
        {"TempIsADirectory", FailsAt::writing, {"'alice.tmp': Is a directory"}, [](const Paths& p, std::string&) {
             must(::mkdir(p.tmp.c_str(), 0700), "mkdir");
             test::write_file(p.tmp + "/inside", "x");
         }});

    // The state directory itself.
    v.push_back({"StateDirIsASymlink",
                 FailsAt::reading,
                 {"insecure file: state directory '", "is a symbolic link"},
                 [](const Paths& p, std::string& dir) {
                     dir = p.world + "/link";
                     must(::symlink(p.state.c_str(), dir.c_str()), "symlink");
                 }});
    v.push_back({"StateDirOwnedByAUser",
                 FailsAt::reading,
                 {"insecure file: state directory '", "is not owned by root"},
                 [](const Paths& p, std::string&) { must(::chown(p.state.c_str(), 1000, 1000), "chown"); }});
    v.push_back({"StateDirMode0711",
                 FailsAt::reading,
                 {"insecure file: state directory '", "is accessible by group or others"},
                 [](const Paths& p, std::string&) { must(::chmod(p.state.c_str(), 0711), "chmod"); }});
    v.push_back({"StateDirIsARegularFile",
                 FailsAt::reading,
                 {"cannot open state directory '", "Not a directory"},
                 [](const Paths& p, std::string& dir) { dir = p.outside + "/target"; }});
    return v;
}

class HostileModule : public test::HostileTest {};

class HostileStateFile : public test::HostileTest, public ::testing::WithParamInterface<Variant> {
protected:
    // Clears whatever was planted for alice and puts her good record back.
    void restore(const Paths& p)
    {
        int status = 0;
        test::run({"rm", "-rf", "--", p.rec, p.lock, p.tmp}, "", status);
        ASSERT_EQ(status, 0);
        ASSERT_EQ(::chown(p.state.c_str(), 0, 0), 0);
        ASSERT_EQ(::chmod(p.state.c_str(), 0700), 0);
        test::write_file(p.rec, p.good);
    }
};

TEST_P(HostileStateFile, LoginFailsClosedOneClearLineAndNothingIsTouched)
{
    const Variant& v = GetParam();
    // alice: enrolled, one failure counted (so `reset` has something to write).
    const Enrollment e = enroll("alice", state_, 1);
    const std::string right = code(e, 0);
    const Paths p{world_,
                  state_,
                  outside_,
                  state_ + "/alice.rec",
                  state_ + "/alice.lock",
                  state_ + "/alice.tmp",
                  test::read_file(state_ + "/alice.rec")};
    test::write_file(outside_ + "/target", p.good);  // a valid record: following a link to it would log in
    test::write_file(outside_ + "/innocent", "nothing to see here\n", 0644);
    std::string dir = state_;
    v.plant(p, dir);
    if (IsSkipped()) return;
    const test::FsSnapshot before = snapshot(world_);
    log();

    // Through libpam, with the right code; with nullok too: an unreadable
    // record or directory is never "not enrolled".
    for (const std::string args : {"", "nullok"}) {
        const auto r = auth("alice", right, dir, args);
        EXPECT_EQ(r.rc, PAM_SERVICE_ERR) << "args '" << args << "': " << pam_strerror(nullptr, r.rc);
        EXPECT_EQ(r.conv.prompts.size(), v.at == FailsAt::reading ? 0U : 1U) << args;
    }
    const auto acct = account("alice", dir);
    EXPECT_EQ(acct.rc, v.at == FailsAt::reading ? PAM_SERVICE_ERR : PAM_SUCCESS);
    if (log_visible()) {
        const std::string l = log();
        std::vector<std::string> parts = {"user alice: refused: "};
        parts.insert(parts.end(), v.phrases.begin(), v.phrases.end());
        EXPECT_NE(line_with(l, parts), "") << "no log line names the problem:\n" << l;
        EXPECT_EQ(l.find("accepted"), npos) << l;
        EXPECT_EQ(l.find('\x1b'), npos) << "raw control bytes reached the log";
    }
    EXPECT_EQ(snapshot_diff(before, snapshot(world_)), "") << "the login changed something";

    // The CLI: one line naming the problem, exit 1, and no command repairs,
    // replaces or removes what it found.
    const CmdResult status = cli("status", {"-u", "alice"}, dir);
    if (v.at == FailsAt::reading) {
        EXPECT_EQ(status.code, 1);
        for (const auto& ph : v.phrases) EXPECT_TRUE(one_error_line(status, ph)) << "status";
    } else {
        EXPECT_EQ(status.code, 0) << "status reads without the lock: " << status.err;
    }
    const std::vector<std::vector<std::string>> commands = {
        {"verify", "-u", "alice", right}, {"reset", "-u", "alice"},
        {"unlock", "-u", "alice"},        {"lock", "-u", "alice"},
        {"remove", "-u", "alice"},        {"enroll", "-u", "alice", "--force", "--qr", "none"}};
    for (const auto& c : commands) {
        const CmdResult r = cli(c[0], {c.begin() + 1, c.end()}, dir);
        EXPECT_EQ(r.code, 1) << c[0] << ": " << r.err;
        for (const auto& ph : v.phrases) EXPECT_TRUE(one_error_line(r, ph)) << c[0];
    }
    EXPECT_EQ(snapshot_diff(before, snapshot(world_)), "") << "a command changed something";

    // Control: the same code logs in once the planted problem is cleared away.
    restore(p);
    EXPECT_EQ(auth("alice", right, state_).rc, PAM_SUCCESS);
}

INSTANTIATE_TEST_SUITE_P(Planted, HostileStateFile, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& param_info) { return param_info.param.name; });

// A stale NAME.tmp is the writer's to remove, whatever it is: removing a
// symlink or a hard link removes the name only, never what it points to.
TEST_F(HostileModule, StaleTempLinksAreRemovedWithoutTouchingTheirTargets)
{
    const Enrollment e = enroll("alice", state_);
    const std::string tmp = state_ + "/alice.tmp";
    test::write_file(outside_ + "/innocent", "nothing to see here\n", 0644);
    test::write_file(outside_ + "/linked", "hard-linked\n", 0600);
    for (int round = 0; round < 3; ++round) {
        if (round == 0) {
            ASSERT_EQ(::symlink((outside_ + "/innocent").c_str(), tmp.c_str()), 0);
        }
        if (round == 1) {
            ASSERT_EQ(::link((outside_ + "/linked").c_str(), tmp.c_str()), 0);
        }
        if (round == 2) {
            ASSERT_EQ(::symlink((outside_ + "/no-such-file").c_str(), tmp.c_str()), 0);
        }
        const test::FsSnapshot outside_before = snapshot(outside_);
        EXPECT_EQ(auth("alice", code(e, static_cast<std::uint64_t>(round)), state_).rc, PAM_SUCCESS) << round;
        struct stat st {};
        EXPECT_NE(::lstat(tmp.c_str(), &st), 0) << "the stale temp file is still there";
        test::FsSnapshot outside_after = snapshot(outside_);
        if (round == 1) {
            // Removing the hard link drops the target's link count (and so
            // changes its ctime); its bytes and mtime stay.
            const auto b = outside_before.at("linked"), a = outside_after.at("linked");
            EXPECT_EQ(a.data, b.data);
            EXPECT_EQ(a.mtime_ns, b.mtime_ns);
            EXPECT_EQ(a.nlink, 1U);
            outside_after["linked"] = b;
        }
        EXPECT_EQ(snapshot_diff(outside_before, outside_after), "") << round;
        EXPECT_EQ(outside_after.count("no-such-file"), 0U);
    }
}

// ---- Hostile user names through PAM_USER ---------------------------------

// Names that do not exist are counted in their bucket (issue 19, point 1:
// unknown_name_bucket, so that a lock does not tell who exists): what
// changed in `world` beside exactly those records and their lock files, and
// the bucket records' tallies must be tally-only and counted.
std::string diff_beside_buckets(const test::FsSnapshot& before, test::FsSnapshot after, const std::string& state,
                                const std::vector<std::string>& names)
{
    std::set<std::string> buckets;
    std::string out;
    // The state directory's bucket key, made by the first of those logins.
    auto key = UserStore::open(state)->bucket_key();
    if (!key) return "no bucket key: " + key.error().message() + "\n";
    if (after.erase("state/.bucket.key") != 1) out += "no state/.bucket.key\n";
    for (const auto& n : names) buckets.insert(*unknown_user_bucket(n, &*key));
    if (buckets.size() > names.size()) out += "more buckets than names\n";
    for (const auto& b : buckets) {
        const std::string stem = "state/" + *encode_user_name(b);
        if (after.erase(stem + ".rec") != 1) out += "no bucket record " + stem + ".rec\n";
        after.erase(stem + ".lock");
        auto rec = UserStore::open(state)->load(b);
        if (!rec || !rec->has_value() || (*rec)->enrollment || (*rec)->tally.failures == 0)
            out += "bucket " + b + " is not a counted tally-only record\n";
    }
    if (auto it = before.find("state"); it != before.end()) after["state"] = it->second;  // its mtime
    return out + snapshot_diff(before, after);
}


// Names that are in no user database: the same prompt as anyone, then
// PAM_USER_UNKNOWN; nothing is created in or beside the state directory but
// their bucket records (issue 19, point 1: one each, at most one per name,
// inside the state directory whatever the name), and the log line cannot be
// forged by the name.
TEST_F(HostileModule, UnknownHostileNamesTouchNothingAndCannotForgeLogLines)
{
    const test::FsSnapshot before = snapshot(world_);
    const std::vector<std::string> names = {"../../../tmp/authctl-escape",
                                            "../outside/alice",
                                            "a/b/c",
                                            "/etc/passwd",
                                            ".",
                                            "x%2F..%2Fy",
                                            std::string(300, 'z'),
                                            std::string(241, 'y'),
                                            "\xff\xfe\xfd",
                                            "\xc0\xaf",  // overlong '/'
                                            "mallory\nJan  1 00:00:00 host pam_authctl: forged accepted",
                                            "mallory\r\x1b[2Kforged"};
    for (const auto& name : names) {
        const auto r = auth(name, "123456", state_);
        EXPECT_EQ(r.rc, PAM_USER_UNKNOWN) << name;
        EXPECT_EQ(r.conv.prompts.size(), 1U) << name;
        EXPECT_NE(account(name, state_).rc, PAM_SUCCESS) << name << ": the only account module ignored it";
        // The other modes: authfail counts in the bucket too.
        const auto af = pam_run(confdir_, service(state_, "authfail"), name, {});
        EXPECT_EQ(af.rc, PAM_AUTH_ERR) << name;
    }
    EXPECT_EQ(diff_beside_buckets(before, snapshot(world_), state_, names), "");
    EXPECT_EQ(::access("/tmp/authctl-escape.rec", F_OK), -1);
    EXPECT_EQ(::access("/tmp/authctl-escape.lock", F_OK), -1);
    if (log_visible()) {
        const std::string raw = log_raw();
        const std::string l = ours(raw);
        EXPECT_NE(line_with(l, {"refused: unknown user"}), "") << l;
        // The capture ends each datagram with a newline: the forged text may
        // only appear inside one of our own messages, never start a line.
        std::istringstream in(raw);
        for (std::string line; std::getline(in, line);) {
            if (line.find("forged") != npos) {
                EXPECT_NE(line.find("pam_authctl(hostile:"), npos) << "a name started a log line of its own: " << line;
            }
            EXPECT_EQ(line.find('\x1b'), npos) << line;
            EXPECT_EQ(line.find('\r'), npos) << line;
        }
    }
}

// Names that ARE in the user database (tests/module/data/hostile_passwd) but
// that the store cannot hold (too long, not UTF-8, control characters, too
// long once encoded): treated as unknown, nothing written anywhere but their
// bucket records (issue 19, point 1).
TEST_F(HostileModule, UnstorableNamesFromTheUserDatabaseAreRefusedAndTouchNothing)
{
    std::string e_acute;
    for (int i = 0; i < 100; ++i) e_acute += "\xc3\xa9";
    const std::vector<std::string> names = {std::string(300, 'u'), "bad\xff\xfename", e_acute, "tab\tname",
                                            "esc\x1b[31mred"};
    const test::FsSnapshot before = snapshot(world_);
    for (const auto& name : names) {
        ASSERT_NE(::getpwnam(name.c_str()), nullptr) << "hostile_passwd lacks " << name;
        const auto r = auth(name, "123456", state_);
        EXPECT_EQ(r.rc, PAM_USER_UNKNOWN) << name;
        EXPECT_EQ(r.conv.prompts.size(), 1U) << name;
        EXPECT_NE(account(name, state_).rc, PAM_SUCCESS) << name;
        EXPECT_EQ(pam_run(confdir_, service(state_, "authfail"), name, {}).rc, PAM_AUTH_ERR) << name;
        EXPECT_NE(pam_run(confdir_, service(state_, "authsucc"), name, {}).rc, PAM_SUCCESS) << name;
    }
    EXPECT_EQ(diff_beside_buckets(before, snapshot(world_), state_, names), "");
    if (log_visible()) {
        const std::string l = log();
        EXPECT_NE(line_with(l, {"user uuuuuuuu",
                                "treated as an unknown user: invalid user name: user name longer "
                                "than 240 bytes"}),
                  "")
            << l;
        EXPECT_NE(line_with(l, {"treated as an unknown user: invalid user name: user name too long once encoded"}), "")
            << l;
        EXPECT_NE(line_with(l, {"user uuuuuuuu", "refused: unknown user"}), "") << l;
        EXPECT_EQ(l.find('\x1b'), npos) << "a terminal escape reached the log";
        EXPECT_EQ(l.find('\t'), npos) << "a tab reached the log";
    }
}

// Names in the user database that look like paths are ordinary accounts: the
// documented encoding keeps every one of their files inside the state
// directory, under a name that cannot collide with another user's.
TEST_F(HostileModule, PathLikeNamesFromTheUserDatabaseStayInsideTheStateDirectory)
{
    // Decoys where a naive path join would land.
    ASSERT_EQ(::mkdir((world_ + "/etc").c_str(), 0755), 0);
    test::write_file(world_ + "/etc/passwd", "decoy\n", 0644);
    ASSERT_EQ(::mkdir((state_ + "/a").c_str(), 0700), 0);
    const std::vector<std::pair<std::string, std::string>> users = {{"../etc/passwd", "%2E.%2Fetc%2Fpasswd"},
                                                                    {"a/b", "a%2Fb"},
                                                                    {"..", "%2E."},
                                                                    {".hidden", "%2Ehidden"},
                                                                    {"x%2Fy", "x%252Fy"},
                                                                    {"x/y", "x%2Fy"},
                                                                    {"J\xc3\xbcrgen", "J%C3%BCrgen"}};
    const test::FsSnapshot decoys = snapshot(world_ + "/etc");
    std::string expected = "a\n";  // the decoy directory
    for (const auto& [name, stem] : users) {
        ASSERT_NE(::getpwnam(name.c_str()), nullptr) << "hostile_passwd lacks " << name;
        const Enrollment e = enroll(name, state_);
        EXPECT_EQ(auth(name, wrong_for(code(e, 0)), state_).rc, PAM_AUTH_ERR) << name;
        EXPECT_EQ(auth(name, code(e, 0), state_).rc, PAM_SUCCESS) << name;
        EXPECT_EQ(account(name, state_).rc, PAM_SUCCESS) << name;
        expected += stem + ".lock\n" + stem + ".rec\n";
    }
    // Sorted as `listing` sorts: byte order.
    std::vector<std::string> lines;
    std::istringstream in(expected);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    std::sort(lines.begin(), lines.end());
    expected.clear();
    for (const auto& l : lines) expected += l + "\n";
    EXPECT_EQ(test::listing(state_), expected);
    EXPECT_EQ(test::listing(state_ + "/a"), "");
    EXPECT_EQ(test::listing(world_), "etc\noutside\nstate\n");
    EXPECT_EQ(test::listing(outside_), "");
    EXPECT_EQ(snapshot_diff(decoys, snapshot(world_ + "/etc")), "");
    // Each name kept its own tally: "x/y" and "x%2Fy" did not share files.
    auto store = UserStore::open(state_);
    for (const auto& [name, stem] : users) {
        auto rec = store->load(name);
        ASSERT_TRUE(rec && rec->has_value()) << name;
        EXPECT_EQ((*rec)->tally.failures, 0U) << name;
        EXPECT_TRUE((*rec)->enrollment->confirmed) << name;
    }
}

// ---- Hostile PAM_RHOST values (issue 16) -----------------------------------

// Whatever a client puts in PAM_RHOST -- control characters, a newline and a
// forged log line, terminal escapes, 10 000 bytes, nothing at all -- with
// per_source it becomes a printable source key of at most 128 bytes: nothing
// crashes, each is counted as one source, the record still parses and the CLI
// shows it, the owner still gets in, and no control byte reaches the log.
TEST_F(HostileModule, HostileRemoteHostsAreCountedAsPrintableSourcesAndLoggedSafely)
{
    const Enrollment e = enroll("alice", state_);
    const std::vector<std::string> hosts = {
        "198.51.100.1\nJan  1 00:00:00 host sshd[1]: forged Accepted publickey for root",
        "evil\r\x1b[2K\x1b[31mred\x07",
        "tab\there space",
        std::string(10000, 'h'),
        std::string(10000, '\x01'),
        "",
        "\x7f\xff\xfe",
        "%s%s%n%x",
        "[::1",
        "tty:pts/0",
        "2001:db8::1\n",
    };
    const std::string args = "per_source";
    // Linux-PAM itself answers PAM_SYSTEM_ERR, whatever the modules said, when
    // its own audit record of the call cannot be written, which happens for a
    // PAM_RHOST of about 9 000 bytes or more (libaudit's message limit; with
    // pam_permit alone too). That the module ran and counted is checked on
    // the record below.
    const auto expect_rc = [](int rc, int module_rc, const std::string& host) {
        if (host.size() >= 8192 && rc == PAM_SYSTEM_ERR) return;
        EXPECT_EQ(rc, module_rc) << "PAM_RHOST of " << host.size() << " bytes";
    };
    for (const auto& host : hosts) {
        const test::HangGuard guard(20);
        const auto r = pam_run(confdir_, service(state_, args), "alice", {wrong_for(code(e, 0))},
                               test::Phase::authenticate, 0, false, host.c_str());
        expect_rc(r.rc, PAM_AUTH_ERR, host);
        const auto f = pam_run(confdir_, service(state_, args + " authfail"), "alice", {}, test::Phase::authenticate,
                               0, false, host.c_str());
        expect_rc(f.rc, PAM_AUTH_ERR, host);
        const auto a =
            pam_run(confdir_, service(state_, args), "alice", {}, test::Phase::account, 0, false, host.c_str());
        expect_rc(a.rc, PAM_SUCCESS, host);
    }
    auto rec = UserStore::open(state_)->load("alice");
    ASSERT_TRUE(rec && rec->has_value()) << "the record no longer parses";
    const Tally& t = (*rec)->tally;
    EXPECT_EQ(t.failures, 2 * hosts.size());
    EXPECT_EQ(t.sources.size(), hosts.size()) << "each host one source";
    for (const auto& src : t.sources) {
        EXPECT_EQ(src.failures, 2U) << src.source;
        EXPECT_LE(src.source.size(), kMaxSourceLength);
        EXPECT_FALSE(src.source.empty());
        for (const char c : src.source) EXPECT_TRUE(c > 0x20 && c < 0x7f) << "byte " << int(c) << " in " << src.source;
    }
    EXPECT_NE(find_source(t, "service:hostile"), nullptr) << "an empty PAM_RHOST is no remote host";
    EXPECT_EQ(find_source(t, "tty:pts/0"), nullptr) << "a remote host never passes for a terminal";
    const CmdResult status = cli("status", {"-u", "alice"}, state_);
    EXPECT_EQ(status.code, 0) << status.err;
    for (const char c : status.out) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << "byte " << int(c);
    const CmdResult json = cli("status", {"-u", "alice", "--json"}, state_);
    EXPECT_EQ(json.code, 0) << json.err;
    EXPECT_TRUE(nlohmann::json::accept(json.out)) << json.out;
    // The owner, from a hostile host too, gets in and is told of it all.
    const auto owner = pam_run(confdir_, service(state_, args), "alice", {code(e, 0)}, test::Phase::authenticate, 0,
                               false, "\x1b]0;owner\x07");
    EXPECT_EQ(owner.rc, PAM_SUCCESS);
    EXPECT_NE(owner.conv.all_messages().find("There were 22 failed attempts from 11 sources"), npos)
        << owner.conv.all_messages();
    if (log_visible()) {
        const std::string raw = log_raw();
        EXPECT_NE(line_with(ours(raw), {"user alice: wrong code (1 failure)"}), "") << raw;
        std::istringstream in(raw);
        for (std::string line; std::getline(in, line);) {
            for (const char c : line)
                EXPECT_TRUE(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f)
                    << "control byte " << int(c) << " in a log line: " << line;
            if (line.find("forged") != npos) {
                EXPECT_NE(line.find("pam_authctl(hostile:"), npos) << "a host started a log line of its own: " << line;
            }
            EXPECT_EQ(line.find(std::string(kMaxSourceLength + 1, 'h')), npos) << "a 10 000-byte host logged whole";
        }
    }
}

// ---- A full disk and a read-only state directory --------------------------
//
// Each test makes its own mount namespace (unshare(CLONE_NEWNS), then every
// mount private) and mounts a small tmpfs as the state directory, so the
// machine's mounts are never touched. In a multi-threaded process unshare
// moves only the calling thread, which is the one that runs libpam and forks
// the CLI.
//
// What is correct on a full disk: a login writes the failure *before* it
// looks at the code (docs/FILEFORMAT.md), so when that write fails the code
// is never evaluated and the login fails with PAM_SERVICE_ERR -- the right
// code too. Accepting a right code without recording the attempt would turn a
// full disk into unlimited uncounted guesses (each wrong one equally
// unrecorded), so refusing everyone is the only safe outcome. A locked user is
// refused from a read alone (no write needed), so a full disk never unlocks
// anyone.
class StateOnTmpfs : public test::HostileTest {
protected:
    void SetUp() override
    {
        test::HostileTest::SetUp();
        if (HasFatalFailure()) return;
        if (::unshare(CLONE_NEWNS) != 0)
            GTEST_SKIP() << "cannot create a mount namespace here: " << std::strerror(errno);
        ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
        mnt_ = world_ + "/mnt";
        ASSERT_EQ(::mkdir(mnt_.c_str(), 0700), 0);
        ASSERT_EQ(::mount("authctl-test", mnt_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "size=64k,mode=0700,uid=0,gid=0"),
                  0)
            << std::strerror(errno);
        mounted_ = true;
    }
    void TearDown() override
    {
        if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
    }

    // Writes a filler file until the file system is full; returns its size.
    std::size_t fill()
    {
        const int fd = ::open((mnt_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        EXPECT_GE(fd, 0);
        const std::string block(4096, 'f');
        std::size_t total = 0;
        for (;;) {
            const ssize_t n = ::write(fd, block.data(), block.size());
            if (n <= 0) {
                EXPECT_EQ(errno, ENOSPC);
                break;
            }
            total += static_cast<std::size_t>(n);
        }
        ::close(fd);
        return total;
    }

    std::string mnt_;
    bool mounted_ = false;
};

TEST_F(StateOnTmpfs, DiskFullFailsClosedAndDamagesNothing)
{
    // alice: enrolled, clean. bob: enrolled and locked (3 failures). carol:
    // enrolled with 2 failures, one short of the lock.
    const Enrollment alice = enroll("alice", mnt_);
    const Enrollment bob = enroll("bob", mnt_);
    for (int i = 0; i < 3; ++i)  // the third locks: PAM_MAXTRIES
        ASSERT_EQ(auth("bob", wrong_for(code(bob, 0)), mnt_).rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES);
    const Enrollment carol = enroll("carol", mnt_, 2);
    ASSERT_GT(fill(), 0U);
    {
        const std::string probe = mnt_ + "/probe";
        const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_GE(fd, 0);
        EXPECT_EQ(::write(fd, "x", 1), -1) << "the tmpfs is not full";
        ::close(fd);
        ASSERT_EQ(::unlink(probe.c_str()), 0);
    }
    // The directory's own times change when a temp file is made and removed
    // again; every file in it must stay as it was, and no temp file may stay.
    const auto files = [this] {
        test::FsSnapshot s = snapshot(mnt_);
        s.erase(".");
        return s;
    };
    const test::FsSnapshot before = files();
    log();

    // Right and wrong codes: the failure cannot be recorded, so neither is evaluated.
    for (const std::string& answer : {code(alice, 0), wrong_for(code(alice, 0))}) {
        const auto r = auth("alice", answer, mnt_);
        EXPECT_EQ(r.rc, PAM_SERVICE_ERR) << pam_strerror(nullptr, r.rc);
        EXPECT_EQ(r.conv.prompts.size(), 1U);
    }
    EXPECT_EQ(auth("carol", code(carol, 0), mnt_).rc, PAM_SERVICE_ERR);
    EXPECT_EQ(auth("carol", "000000x", mnt_).rc, PAM_SERVICE_ERR);
    // The locked user is refused from the read alone, without a prompt, and the account phase denies.
    const auto locked = auth("bob", code(bob, 0), mnt_);
    EXPECT_EQ(locked.rc, PAM_MAXTRIES);
    EXPECT_TRUE(locked.conv.prompts.empty());
    ASSERT_EQ(locked.conv.errors.size(), 1U);
    EXPECT_NE(locked.conv.errors[0].find("Account locked after 3 failed attempts"), npos);
    EXPECT_EQ(account("bob", mnt_).rc, PAM_PERM_DENIED);
    EXPECT_EQ(account("alice", mnt_).rc, PAM_SUCCESS);
    // faillock-style modes: authfail cannot count (fails closed), preauth still refuses bob.
    EXPECT_EQ(pam_run(confdir_, service(mnt_, "authfail"), "alice", {}).rc, PAM_SERVICE_ERR);
    EXPECT_EQ(pam_run(confdir_, service(mnt_, "preauth"), "bob", {}).rc, PAM_MAXTRIES);
    EXPECT_EQ(pam_run(confdir_, service(mnt_, "preauth"), "alice", {}).rc, PAM_SUCCESS);
    if (log_visible()) {
        const std::string l = log();
        EXPECT_NE(line_with(l, {"user alice: refused: I/O error: cannot write 'alice.tmp': No space left on device"}),
                  "")
            << l;
        EXPECT_NE(line_with(l, {"user carol: refused: ", "No space left on device"}), "") << l;
        EXPECT_NE(line_with(l, {"user bob: refused without asking: account locked (3 failures)"}), "") << l;
        EXPECT_EQ(l.find("accepted"), npos) << l;
    }
    EXPECT_EQ(snapshot_diff(before, files()), "") << "a record changed, or a temp file was left";

    // The CLI: status reads (exit 1 only because bob is locked); commands that must write say why, in one line.
    const CmdResult status = cli("status", {"-u", "bob", "--json"}, mnt_);
    EXPECT_EQ(status.code, 1) << status.err;
    EXPECT_EQ(status.err, "authctl: bob is locked\n");
    EXPECT_NE(status.out.find("\"locked\": true"), npos) << status.out;
    for (const std::vector<std::string>& c : {std::vector<std::string>{"reset", "-u", "bob"},
                                              {"verify", "-u", "alice", code(alice, 0)},
                                              {"lock", "-u", "alice"}}) {
        const CmdResult r = cli(c[0], {c.begin() + 1, c.end()}, mnt_);
        EXPECT_EQ(r.code, 1) << c[0];
        EXPECT_TRUE(one_error_line(r, "No space left on device")) << c[0];
    }
    EXPECT_EQ(snapshot_diff(before, files()), "");

    // Space again: the same right codes log in, the lock stays until reset.
    ASSERT_EQ(::unlink((mnt_ + "/filler").c_str()), 0);
    EXPECT_EQ(auth("alice", code(alice, 0), mnt_).rc, PAM_SUCCESS);
    EXPECT_EQ(auth("carol", code(carol, 0), mnt_).rc, PAM_SUCCESS);
    EXPECT_EQ(auth("bob", code(bob, 0), mnt_).rc, PAM_MAXTRIES);
    EXPECT_EQ(cli("reset", {"-u", "bob"}, mnt_).code, 0);
    EXPECT_EQ(auth("bob", code(bob, 0), mnt_).rc, PAM_SUCCESS);
}

TEST_F(StateOnTmpfs, ReadOnlyStateDirectoryFailsClosedAndStatusStillReads)
{
    const Enrollment alice = enroll("alice", mnt_);
    const Enrollment bob = enroll("bob", mnt_);
    for (int i = 0; i < 3; ++i)  // the third locks: PAM_MAXTRIES
        ASSERT_EQ(auth("bob", wrong_for(code(bob, 0)), mnt_).rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES);
    ASSERT_EQ(::mount(nullptr, mnt_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr), 0)
        << std::strerror(errno);
    struct statvfs vfs {};
    ASSERT_EQ(::statvfs(mnt_.c_str(), &vfs), 0);
    ASSERT_NE(vfs.f_flag & ST_RDONLY, 0U);
    const test::FsSnapshot before = snapshot(mnt_);
    log();

    for (const std::string& answer : {code(alice, 0), wrong_for(code(alice, 0))}) {
        const auto r = auth("alice", answer, mnt_);
        EXPECT_EQ(r.rc, PAM_SERVICE_ERR) << pam_strerror(nullptr, r.rc);
    }
    // A user never seen before has no lock file, and none can be made.
    EXPECT_EQ(auth("carol", "123456", mnt_).rc, PAM_SERVICE_ERR);
    const auto locked = auth("bob", code(bob, 0), mnt_);
    EXPECT_EQ(locked.rc, PAM_MAXTRIES);
    EXPECT_TRUE(locked.conv.prompts.empty());
    EXPECT_EQ(account("bob", mnt_).rc, PAM_PERM_DENIED);
    EXPECT_EQ(account("alice", mnt_).rc, PAM_SUCCESS);
    if (log_visible()) {
        const std::string l = log();
        EXPECT_NE(line_with(l, {"user alice: refused: ", "'alice.lock'", "Read-only file system"}), "") << l;
        EXPECT_NE(line_with(l, {"user carol: refused: ", "Read-only file system"}), "") << l;
        EXPECT_EQ(l.find("accepted"), npos) << l;
    }
    EXPECT_EQ(snapshot_diff(before, snapshot(mnt_)), "");

    const CmdResult status = cli("status", {"-u", "alice"}, mnt_);
    EXPECT_EQ(status.code, 0) << status.err;
    const CmdResult all = cli("status", {}, mnt_);
    EXPECT_EQ(all.code, 1) << "bob is locked";
    EXPECT_EQ(all.err, "authctl: bob is locked\n") << "and nothing else is wrong";
    for (const std::vector<std::string>& c : {std::vector<std::string>{"reset", "-u", "bob"},
                                              {"verify", "-u", "alice", code(alice, 0)},
                                              {"remove", "-u", "alice"},
                                              {"enroll", "-u", "carol", "--qr", "none"}}) {
        const CmdResult r = cli(c[0], {c.begin() + 1, c.end()}, mnt_);
        EXPECT_EQ(r.code, 1) << c[0];
        EXPECT_TRUE(one_error_line(r, "Read-only file system")) << c[0];
    }
    EXPECT_EQ(snapshot_diff(before, snapshot(mnt_)), "");

    ASSERT_EQ(::mount(nullptr, mnt_.c_str(), nullptr, MS_REMOUNT | MS_BIND, nullptr), 0) << std::strerror(errno);
    EXPECT_EQ(auth("alice", code(alice, 0), mnt_).rc, PAM_SUCCESS);
    EXPECT_EQ(cli("reset", {"-u", "bob"}, mnt_).code, 0);
}

}  // namespace
}  // namespace authctl
