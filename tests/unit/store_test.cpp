// SPDX-License-Identifier: Apache-2.0
// The user store on a hostile filesystem: symlinks, foreign owners, loose
// modes, links, FIFOs, truncated and garbage files, and escaping user names.
#include "authctl/store.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "authctl/admin.hpp"
#include "authctl/enrollment.hpp"
#include "authctl/file_util.hpp"
#include "test_support.hpp"

namespace authctl {
namespace {

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "the store requires root-owned files; run as root";
        dir_ = tmp_ / "state";
        ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    }

    UserStore open_store()
    {
        auto s = UserStore::open(dir_);
        EXPECT_TRUE(s) << s.error().message();
        return std::move(s.value());
    }

    void write_user(const UserStore& store, const std::string& user)
    {
        auto held = store.lock(user);
        ASSERT_TRUE(held) << held.error().message();
        UserRecord r;
        auto e = new_enrollment({}, 1700000000);
        ASSERT_TRUE(e);
        r.enrollment = std::move(*e);
        held->record() = std::move(r);
        auto st = held->commit();
        ASSERT_TRUE(st) << st.error().message();
    }

    test::TempDir tmp_;
    std::string dir_;
};

TEST_F(StoreTest, OpenRefusesMissingSymlinkedLooseAndForeignDirectories)
{
    EXPECT_EQ(UserStore::open(tmp_ / "missing").error().code, Errc::not_found);

    ASSERT_EQ(::symlink(dir_.c_str(), (tmp_ / "link").c_str()), 0);
    auto s = UserStore::open(tmp_ / "link");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, Errc::insecure);
    EXPECT_NE(s.error().detail.find("symbolic link"), std::string::npos);

    ASSERT_EQ(::chmod(dir_.c_str(), 0750), 0);
    EXPECT_EQ(UserStore::open(dir_).error().code, Errc::insecure);
    ASSERT_EQ(::chmod(dir_.c_str(), 0701), 0);
    EXPECT_EQ(UserStore::open(dir_).error().code, Errc::insecure);
    ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
    ASSERT_EQ(::chown(dir_.c_str(), 65534, 0), 0);
    EXPECT_EQ(UserStore::open(dir_).error().code, Errc::insecure);
    ASSERT_EQ(::chown(dir_.c_str(), 0, 0), 0);
    EXPECT_TRUE(UserStore::open(dir_));

    test::write_file(tmp_ / "file", "x");
    EXPECT_FALSE(UserStore::open(tmp_ / "file"));
}

TEST_F(StoreTest, OpenOrCreateMakesA0700Directory)
{
    const std::string fresh = tmp_ / "fresh";
    auto s = UserStore::open_or_create(fresh);
    ASSERT_TRUE(s) << s.error().message();
    struct stat st {};
    ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700U);
    EXPECT_TRUE(UserStore::open_or_create(fresh));  // idempotent
}

TEST_F(StoreTest, CommitWritesRootOnlyFilesThatLoadBack)
{
    UserStore store = open_store();
    auto none = store.load("alice");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    write_user(store, "alice");
    struct stat st {};
    ASSERT_EQ(::stat((dir_ + "/alice.rec").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600U);
    EXPECT_EQ(st.st_uid, 0U);
    ASSERT_EQ(::stat((dir_ + "/alice.lock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600U);
    EXPECT_NE(::access((dir_ + "/alice.tmp").c_str(), F_OK), 0);
    auto back = store.load("alice");
    ASSERT_TRUE(back) << back.error().message();
    ASSERT_TRUE(back->has_value());
    EXPECT_TRUE((*back)->enrollment);
}

TEST_F(StoreTest, UncommittedChangesAreNotWritten)
{
    UserStore store = open_store();
    write_user(store, "bob");
    {
        auto held = store.lock("bob");
        ASSERT_TRUE(held);
        held->record()->tally.failures = 99;
    }
    EXPECT_EQ((*store.load("bob"))->tally.failures, 0U);
}

TEST_F(StoreTest, RemoveDeletesRecordAndLock)
{
    UserStore store = open_store();
    write_user(store, "carol");
    auto held = store.lock("carol");
    ASSERT_TRUE(held);
    held->record().reset();
    ASSERT_TRUE(held->commit());
    EXPECT_NE(::access((dir_ + "/carol.rec").c_str(), F_OK), 0);
    EXPECT_NE(::access((dir_ + "/carol.lock").c_str(), F_OK), 0);
    EXPECT_FALSE(store.load("carol")->has_value());
}

TEST_F(StoreTest, RefusesToWriteARecordThatWouldNotReadBack)
{
    UserStore store = open_store();
    write_user(store, "wes");
    const std::string before = test::read_file(dir_ + "/wes.rec");
    auto held = store.lock("wes");
    ASSERT_TRUE(held);
    held->record()->enrollment->digits = 9;
    auto st = held->commit();
    ASSERT_FALSE(st);
    EXPECT_NE(st.error().detail.find("record not written: 'digits'"), std::string::npos) << st.error().message();
    EXPECT_EQ(test::read_file(dir_ + "/wes.rec"), before);
}

TEST_F(StoreTest, NoCommitAfterRemovalAndTheTempFileGoesToo)
{
    UserStore store = open_store();
    write_user(store, "rita");
    test::write_file(dir_ + "/rita.tmp", "secret leftovers");
    auto held = store.lock("rita");
    ASSERT_TRUE(held);
    held->record().reset();
    ASSERT_TRUE(held->commit());
    EXPECT_NE(::access((dir_ + "/rita.tmp").c_str(), F_OK), 0);
    held->record().emplace();
    EXPECT_FALSE(held->commit()) << "a removed user's lock is gone: writing now could race a new holder";
    EXPECT_NE(::access((dir_ + "/rita.rec").c_str(), F_OK), 0);
}

TEST_F(StoreTest, LockedRecordOutlivesItsStore)
{
    std::optional<LockedRecord> held;
    {
        UserStore store = open_store();
        write_user(store, "olga");
        auto h = store.lock("olga");
        ASSERT_TRUE(h);
        held.emplace(std::move(*h));
    }
    held->record()->tally.failures = 7;
    ASSERT_TRUE(held->commit());
    held.reset();
    EXPECT_EQ((*open_store().load("olga"))->tally.failures, 7U);
}

TEST_F(StoreTest, StaleTempFileFromACrashIsReplaced)
{
    UserStore store = open_store();
    test::write_file(dir_ + "/dave.tmp", "half-written garbage");
    write_user(store, "dave");
    EXPECT_TRUE(store.load("dave")->has_value());
    EXPECT_NE(::access((dir_ + "/dave.tmp").c_str(), F_OK), 0);
}

void expect_refused(const UserStore& store, const std::string& user, Errc code, const std::string& needle)
{
    auto r = store.load(user);
    ASSERT_FALSE(r) << "load of " << user << " succeeded";
    EXPECT_EQ(r.error().code, code) << r.error().message();
    EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
    auto held = store.lock(user);
    ASSERT_FALSE(held);
    EXPECT_EQ(held.error().code, code);
}

TEST_F(StoreTest, RefusesSymlinkedRecord)
{
    UserStore store = open_store();
    test::write_file(tmp_ / "elsewhere", "authctl-user 1\n");
    ASSERT_EQ(::symlink((tmp_ / "elsewhere").c_str(), (dir_ + "/eve.rec").c_str()), 0);
    expect_refused(store, "eve", Errc::insecure, "symbolic link");
}

TEST_F(StoreTest, RefusesForeignOwnedLooseAndLinkedRecords)
{
    UserStore store = open_store();
    write_user(store, "frank");
    const std::string rec = dir_ + "/frank.rec";
    ASSERT_EQ(::chown(rec.c_str(), 65534, 65534), 0);
    expect_refused(store, "frank", Errc::insecure, "not owned by root");
    ASSERT_EQ(::chown(rec.c_str(), 0, 0), 0);
    ASSERT_EQ(::chmod(rec.c_str(), 0644), 0);
    expect_refused(store, "frank", Errc::insecure, "group or others");
    ASSERT_EQ(::chmod(rec.c_str(), 0666), 0);
    expect_refused(store, "frank", Errc::insecure, "group or others");
    ASSERT_EQ(::chmod(rec.c_str(), 0600), 0);
    ASSERT_EQ(::link(rec.c_str(), (tmp_ / "hardlink").c_str()), 0);
    expect_refused(store, "frank", Errc::insecure, "more than one link");
    ASSERT_EQ(::unlink((tmp_ / "hardlink").c_str()), 0);
    EXPECT_TRUE(store.load("frank"));
}

TEST_F(StoreTest, RefusesFifoAndDirectoryWithoutHanging)
{
    UserStore store = open_store();
    ASSERT_EQ(::mkfifo((dir_ + "/gina.rec").c_str(), 0600), 0);
    expect_refused(store, "gina", Errc::insecure, "not a regular file");
    ASSERT_EQ(::mkdir((dir_ + "/hank.rec").c_str(), 0700), 0);
    auto r = store.load("hank");
    EXPECT_FALSE(r);
}

TEST_F(StoreTest, RefusesSymlinkedOrForeignLockFile)
{
    UserStore store = open_store();
    ASSERT_EQ(::symlink((tmp_ / "target").c_str(), (dir_ + "/ivan.lock").c_str()), 0);
    auto held = store.lock("ivan");
    ASSERT_FALSE(held);
    EXPECT_EQ(held.error().code, Errc::insecure);
    EXPECT_NE(::access((tmp_ / "target").c_str(), F_OK), 0);  // never created through the link
    test::write_file(dir_ + "/judy.lock", "");
    ASSERT_EQ(::chown((dir_ + "/judy.lock").c_str(), 65534, 0), 0);
    EXPECT_EQ(store.lock("judy").error().code, Errc::insecure);
}

TEST_F(StoreTest, RefusesFifoOrLinkedLockFile)
{
    UserStore store = open_store();
    ASSERT_EQ(::mkfifo((dir_ + "/pia.lock").c_str(), 0600), 0);
    EXPECT_EQ(store.lock("pia").error().code, Errc::insecure);
    test::write_file(dir_ + "/quin.lock", "");
    ASSERT_EQ(::link((dir_ + "/quin.lock").c_str(), (tmp_ / "quin-link").c_str()), 0);
    EXPECT_EQ(store.lock("quin").error().code, Errc::insecure);
}

TEST_F(StoreTest, CorruptTruncatedAndOversizedRecordsAreErrorsNotAbsence)
{
    UserStore store = open_store();
    write_user(store, "kim");
    const std::string rec = dir_ + "/kim.rec";
    const std::string good = test::read_file(rec);
    test::write_file(rec, good.substr(0, good.size() / 2));
    expect_refused(store, "kim", Errc::corrupt, "kim");
    test::write_file(rec, "");
    expect_refused(store, "kim", Errc::corrupt, "kim");
    test::write_file(rec, std::string(4096, '\xff'));
    expect_refused(store, "kim", Errc::corrupt, "kim");
    test::write_file(rec, std::string(kMaxRecordBytes + 10, 'a'));
    expect_refused(store, "kim", Errc::corrupt, "larger");
    test::write_file(rec, std::string(kMaxRecordBytes + 1, 'a'));
    expect_refused(store, "kim", Errc::corrupt, "larger");
    // At the limit the file is read whole and refused by the parser instead.
    test::write_file(rec, std::string(kMaxRecordBytes, 'a'));
    auto at_limit = store.load("kim");
    ASSERT_FALSE(at_limit);
    EXPECT_EQ(at_limit.error().code, Errc::corrupt);
    EXPECT_EQ(at_limit.error().detail.find("larger"), std::string::npos) << at_limit.error().detail;
    test::write_file(rec, good);
    EXPECT_TRUE(store.load("kim"));
}

TEST_F(StoreTest, StatusAsksWhetherTheUserIsRootOnlyForALockedRecord)
{
    UserStore store = open_store();
    write_user(store, "una");
    write_user(store, "vic");
    ASSERT_TRUE(lock_user(store, "vic", kLockedForever));
    Options opts;
    int asked = 0;
    auto as = [&asked](bool root) {
        return [&asked, root] {
            ++asked;
            return root;
        };
    };
    StatusRow una = status_of(store, "una", as(true), opts, 1700000000);
    EXPECT_TRUE(una.error.empty()) << una.error;
    EXPECT_TRUE(una.enrolled);
    EXPECT_FALSE(una.lock.locked);
    EXPECT_EQ(asked, 0);
    // The answer matters for a lock: an administrator's lock holds for a
    // throttled root (issue 19, f826f8e), but not with root_throttle=0
    // (faillock's rule: root exempt unless even_deny_root).
    EXPECT_TRUE(status_of(store, "vic", as(false), opts, 1700000000).lock.locked);
    EXPECT_TRUE(status_of(store, "vic", as(true), opts, 1700000000).lock.locked);
    opts.lockout.root_throttle = 0;
    EXPECT_FALSE(status_of(store, "vic", as(true), opts, 1700000000).lock.locked);
    opts.lockout.even_deny_root = true;
    EXPECT_TRUE(status_of(store, "vic", as(true), opts, 1700000000).lock.locked);
    EXPECT_EQ(asked, 4);
    StatusRow nobody = status_of(store, "wes", as(false), opts, 1700000000);
    EXPECT_FALSE(nobody.enrolled);
    EXPECT_EQ(asked, 4);
}

TEST(ReadTrustedFile, ReadsWholeFilesOfAnySizeUpToTheLimit)
{
    test::TempDir tmp;
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{239}, std::size_t{4096}, std::size_t{16384}}) {
        std::string content(n, 'x');
        for (std::size_t i = 0; i < n; ++i) content[i] = static_cast<char>('a' + i % 26);
        const std::string path = tmp / ("f" + std::to_string(n));
        test::write_file(path, content);
        ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
        auto got = read_trusted_file(AT_FDCWD, path, 16384, FileTrust::root_private);
        ASSERT_TRUE(got) << n << ": " << got.error().message();
        EXPECT_EQ(got->view(), content) << n;
        auto small = read_trusted_file(AT_FDCWD, path, n == 0 ? 0 : n - 1, FileTrust::root_private);
        if (n == 0) {
            EXPECT_TRUE(small);
        } else {
            ASSERT_FALSE(small) << n;
            EXPECT_EQ(small.error().code, Errc::corrupt);
        }
    }
    // A file whose size fstat cannot tell (procfs says 0) is still read whole,
    // and refused once it passes the limit.
    std::ifstream in("/proc/version");
    const std::string version((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(version.empty());
    auto got = read_trusted_file(AT_FDCWD, "/proc/version", 16384, FileTrust::root_not_writable);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(got->view(), version);
    auto over = read_trusted_file(AT_FDCWD, "/proc/version", version.size() - 1, FileTrust::root_not_writable);
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, Errc::corrupt);
}

TEST_F(StoreTest, HostileUserNamesStayInsideTheDirectory)
{
    UserStore store = open_store();
    for (const std::string user :
         {"../etc/passwd", "a/b", "..", ".", ".hidden", "x%2Fy", "name with spaces", "J\xc3\xbcrgen", "DOMAIN\\user"}) {
        write_user(store, user);
        auto back = store.load(user);
        ASSERT_TRUE(back) << user << ": " << back.error().message();
        EXPECT_TRUE(back->has_value()) << user;
    }
    // Nothing appeared beside the state directory, and nothing but our three suffixes inside it.
    int status = 0;
    EXPECT_EQ(test::run({"ls", "-A", tmp_.path()}, "", status), "state\n");
    const std::string inside =
        test::run({"sh", "-c", "ls -A \"$0\" | grep -v -E '[.](rec|lock)$' | wc -l", dir_}, "", status);
    EXPECT_EQ(std::stoi(inside), 0);
    auto listing = store.list();
    ASSERT_TRUE(listing);
    EXPECT_EQ(listing->users.size(), 9U);
    EXPECT_TRUE(listing->unexpected.empty());
    const std::vector<std::string> expected_present = {"../etc/passwd", "a/b", "..", "name with spaces"};
    for (const auto& u : expected_present)
        EXPECT_NE(std::find(listing->users.begin(), listing->users.end(), u), listing->users.end()) << u;
}

TEST_F(StoreTest, InvalidUserNamesAreRefused)
{
    UserStore store = open_store();
    for (const std::string& user :
         {std::string(), std::string(300, 'a'), std::string("\xff\xfe"), std::string("a\nb"), std::string("a\0b", 3)}) {
        auto r = store.lock(user);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, Errc::invalid_user);
        EXPECT_EQ(store.load(user).error().code, Errc::invalid_user);
    }
    int status = 0;
    const std::string count = test::run({"sh", "-c", "ls -A '" + dir_ + "' | wc -l"}, "", status);
    EXPECT_EQ(std::stoi(count), 0);
}

TEST_F(StoreTest, ListReportsUsersAndForeignEntries)
{
    UserStore store = open_store();
    write_user(store, "zed");
    write_user(store, "amy");
    test::write_file(dir_ + "/notes.txt", "x");
    test::write_file(dir_ + "/%zz.rec", "x");
    auto listing = store.list();
    ASSERT_TRUE(listing) << listing.error().message();
    EXPECT_EQ(listing->users, (std::vector<std::string>{"amy", "zed"}));
    EXPECT_EQ(listing->unexpected, (std::vector<std::string>{"%zz.rec", "notes.txt"}));
}

// A user never enrolled (a reset, a verify, a login of someone with no
// record) leaves nothing in the directory, not even a lock file; one with a
// record keeps its lock file; a waiter behind such a holder still gets the lock.
TEST_F(StoreTest, ALockOfAUserWithNoRecordLeavesNoLockFileBehind)
{
    UserStore store = open_store();
    const std::string lock = dir_ + "/dave.lock";
    {
        auto held = store.lock("dave");
        ASSERT_TRUE(held) << held.error().message();
        EXPECT_EQ(::access(lock.c_str(), F_OK), 0) << "held: the lock file exists";
        EXPECT_TRUE(held->finish());
    }
    EXPECT_NE(::access(lock.c_str(), F_OK), 0) << "let go with no record: gone";
    // The second locker is forked before the lock is taken (a child forked
    // while it is held would share the flock), and starts on a byte from a pipe.
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(go[1]);
        char b = 0;
        if (::read(go[0], &b, 1) != 1) ::_exit(1);
        auto store2 = UserStore::open(dir_);
        if (!store2) ::_exit(2);
        auto second = store2->lock("dave");  // waits behind the parent
        if (!second) ::_exit(3);
        UserRecord r;
        r.tally.failures = 1;
        second->record() = std::move(r);
        ::_exit(second->commit() ? 0 : 4);
    }
    ::close(go[0]);
    {
        auto held = store.lock("dave");
        EXPECT_TRUE(held);
        EXPECT_EQ(::write(go[1], "x", 1), 1);
        ::usleep(300000);
        if (held) {
            EXPECT_FALSE(held->record().has_value()) << "nothing was written while we held the lock";
        }
    }  // let go: the file is unlinked, the waiter starts again on a new one
    ::close(go[1]);
    int ws = 0;
    ASSERT_EQ(::waitpid(child, &ws, 0), child);
    ASSERT_TRUE(WIFEXITED(ws));
    EXPECT_EQ(WEXITSTATUS(ws), 0);
    auto rec = store.load("dave");
    ASSERT_TRUE(rec && rec->has_value());
    EXPECT_EQ((*rec)->tally.failures, 1U);
    EXPECT_EQ(::access(lock.c_str(), F_OK), 0) << "a user with a record keeps the lock file";
    {
        auto held = store.lock("dave");
        ASSERT_TRUE(held);
    }
    EXPECT_EQ(::access(lock.c_str(), F_OK), 0);
    EXPECT_EQ(::access((dir_ + "/dave.rec").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace authctl
