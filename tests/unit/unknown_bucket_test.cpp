// SPDX-License-Identifier: Apache-2.0
// Issue 19, point 1 (left open): the buckets of names that do not exist are
// keyed. With a public hash an attacker finds a made-up name sharing a bucket
// with a candidate, locks the bucket through it, and one try of the candidate
// says whether it exists. Here: the probe, the key file of the file store
// (made once, race-free, refused when it is not right, with a fallback), and
// the mapping's independence between state directories.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <functional>
#include <set>

#include "authctl/login.hpp"
#include "authctl/store.hpp"
#include "test_support.hpp"

namespace authctl {
namespace {

constexpr std::int64_t T0 = 1700000010;

// The public hash the buckets used before (FNV-1a of the name, 12 bits).
std::string fnv_bucket(std::string_view name)
{
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    return std::to_string((h ^ (h >> 32)) & 0xFFFU);
}

// The public fallback (no key): what anyone computes.
std::string public_bucket(std::string_view name)
{
    return *unknown_user_bucket(name, nullptr);
}

class UnknownBucketTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "the store requires root-owned files; run as root";
        dir_ = tmp_ / "state";
        auto s = UserStore::open_or_create(dir_);
        ASSERT_TRUE(s) << s.error().message();
        store_.emplace(std::move(*s));
        opts_.lockout.deny = 3;
    }

    // A login attempt of a name the user database does not know, as the module makes it.
    AttemptResult attempt_unknown(const std::string& name, std::int64_t now)
    {
        const std::string digest = unknown_name_digest(name);
        LoginContext ctx{digest, false, "192.0.2.1", now};
        ctx.unknown_name = true;
        auto r = attempt_code(*store_, ctx, opts_, "123456");
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : AttemptResult{};
    }

    std::string keyed_bucket(const std::string& name)
    {
        auto key = store_->bucket_key();
        EXPECT_TRUE(key) << key.error().message();
        return key ? *unknown_user_bucket(name, &*key) : std::string();
    }

    // Finds a made-up name that shares `x`'s bucket under `hash` but not
    // under the key, locks its bucket with deny failures, and returns what
    // one try of `x` then gets.
    Outcome probe(const std::string& x, const std::function<std::string(std::string_view)>& hash)
    {
        std::string y;
        for (int i = 0; i < 200000 && y.empty(); ++i) {
            const std::string cand = "probe" + std::to_string(i);
            if (hash(cand) == hash(x) && keyed_bucket(cand) != keyed_bucket(x)) y = cand;
        }
        EXPECT_FALSE(y.empty()) << "no colliding name found";
        for (int i = 0; i < 3; ++i) attempt_unknown(y, T0 + i);
        EXPECT_EQ(attempt_unknown(y, T0 + 5).outcome, Outcome::locked) << "the probe's own bucket is locked";
        return attempt_unknown(x, T0 + 6).outcome;
    }

    test::TempDir tmp_;
    std::string dir_;
    std::optional<UserStore> store_;
    Options opts_;
};

TEST_F(UnknownBucketTest, ACollidingMadeUpNameDoesNotLockTheCandidate)
{
    // With the public hashes, "X shares Y's bucket" is computable, and X came
    // out locked after Y's failures; under the key it is counted elsewhere.
    EXPECT_EQ(probe("candidate-x", fnv_bucket), Outcome::not_enrolled) << "FNV-1a (the hash before)";
    EXPECT_EQ(probe("candidate-z", public_bucket), Outcome::not_enrolled) << "the public fallback";
}

TEST_F(UnknownBucketTest, ANameIsLockedWithItsKeyedBucketMates)
{
    // The other side: names sharing the keyed bucket do share its lock (the
    // table is bounded), and that is all a lock of a made-up name says.
    const std::string x = "candidate-w";
    std::string y;
    for (int i = 0; i < 200000 && y.empty(); ++i)
        if (keyed_bucket("mate" + std::to_string(i)) == keyed_bucket(x)) y = "mate" + std::to_string(i);
    ASSERT_FALSE(y.empty());
    for (int i = 0; i < 3; ++i) attempt_unknown(y, T0 + i);
    EXPECT_EQ(attempt_unknown(x, T0 + 6).outcome, Outcome::locked);
    auto rec = store_->load(keyed_bucket(x));
    ASSERT_TRUE(rec && rec->has_value());
    EXPECT_EQ((*rec)->tally.failures, 3U);
}

TEST_F(UnknownBucketTest, TwoStateDirectoriesMapNamesDifferently)
{
    auto other = UserStore::open_or_create(tmp_ / "other");
    ASSERT_TRUE(other);
    auto k1 = store_->bucket_key();
    auto k2 = other->bucket_key();
    ASSERT_TRUE(k1 && k2);
    EXPECT_NE(k1->view(), k2->view());
    int same = 0;
    for (int i = 0; i < 400; ++i) {
        const std::string n = "name" + std::to_string(i);
        same += *unknown_user_bucket(n, &*k1) == *unknown_user_bucket(n, &*k2) ? 1 : 0;
    }
    EXPECT_LE(same, 5) << "two random keys agree on about 1 name in 4096";
    // And the key stays: read again, the same.
    auto again = store_->bucket_key();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->view(), k1->view());
}

TEST_F(UnknownBucketTest, TheKeyFileIsRootsAloneAndNotAUser)
{
    auto key = store_->bucket_key();
    ASSERT_TRUE(key) << key.error().message();
    struct stat st {};
    ASSERT_EQ(::lstat((dir_ + "/.bucket.key").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600U);
    EXPECT_EQ(st.st_uid, 0U);
    EXPECT_EQ(st.st_size, static_cast<off_t>(kBucketKeyBytes));
    EXPECT_EQ(test::read_file(dir_ + "/.bucket.key"), std::string(key->view()));
    auto listing = store_->list();
    ASSERT_TRUE(listing);
    EXPECT_TRUE(listing->users.empty());
    EXPECT_TRUE(listing->unexpected.empty()) << listing->unexpected.front();
    // No name's record can be the key file: every stem starting with '.' is encoded.
    EXPECT_FALSE(store_->load(".bucket")->has_value());
}

// N processes asking at once, on a directory without a key: one key, which
// every one of them got; no temp file left.
TEST_F(UnknownBucketTest, ACreationRaceEndsWithOneKey)
{
    constexpr int kProcs = 12;
    for (int round = 0; round < 5; ++round) {
        ::unlink((dir_ + "/.bucket.key").c_str());
        int pipes[kProcs][2];
        pid_t pids[kProcs];
        int go[2];
        ASSERT_EQ(::pipe(go), 0);
        for (int i = 0; i < kProcs; ++i) {
            ASSERT_EQ(::pipe(pipes[i]), 0);
            pids[i] = ::fork();
            ASSERT_GE(pids[i], 0);
            if (pids[i] == 0) {
                ::close(go[1]);
                char c;
                if (::read(go[0], &c, 1) < 0) ::_exit(3);  // all start together (EOF)
                auto s = UserStore::open(dir_);
                auto k = s ? s->bucket_key() : Result<SecretBytes>(s.error());
                std::string out = k ? std::string(k->view()) : "ERROR " + k.error().message();
                const bool sent = ::write(pipes[i][1], out.data(), out.size()) == static_cast<ssize_t>(out.size());
                ::_exit(sent ? 0 : 4);
            }
            ::close(pipes[i][1]);
        }
        ::close(go[0]);
        ::close(go[1]);  // EOF: go
        std::set<std::string> keys;
        for (int i = 0; i < kProcs; ++i) {
            std::string got;
            char buf[256];
            ssize_t n;
            while ((n = ::read(pipes[i][0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
            ::close(pipes[i][0]);
            int status = 0;
            ::waitpid(pids[i], &status, 0);
            EXPECT_EQ(got.size(), kBucketKeyBytes) << got;
            keys.insert(got);
        }
        EXPECT_EQ(keys.size(), 1U) << "round " << round;
        EXPECT_EQ(test::read_file(dir_ + "/.bucket.key"), *keys.begin());
        auto listing = store_->list();
        ASSERT_TRUE(listing);
        for (const auto& u : listing->unexpected) ADD_FAILURE() << "left behind: " << u;
    }
    // No temp file either (list() passes over *.tmp: look at the directory).
    const std::string ls = test::run_cmd({"/bin/ls", "-A", dir_}).out;
    EXPECT_EQ(ls, ".bucket.key\n");
}

// A key file that is not right is refused (never used, never replaced), and
// an unknown name is still counted -- in its public bucket, with the reason
// for the log.
TEST_F(UnknownBucketTest, ABadKeyFileIsRefusedAndTheNameStillCounted)
{
    const std::string path = dir_ + "/.bucket.key";
    const std::string good(kBucketKeyBytes, 'k');
    struct Case {
        const char* what;
        std::function<void()> make;
        Errc code;
    };
    const std::vector<Case> cases = {
        {"mode 0644", [&] { test::write_file(path, good, 0644); }, Errc::insecure},
        {"group-readable", [&] { test::write_file(path, good, 0640); }, Errc::insecure},
        {"too short", [&] { test::write_file(path, std::string(16, 'k')); }, Errc::corrupt},
        {"too long", [&] { test::write_file(path, good + "k"); }, Errc::corrupt},
        {"empty", [&] { test::write_file(path, ""); }, Errc::corrupt},
        {"a symlink",
         [&] {
             test::write_file(tmp_ / "elsewhere", good);
             ASSERT_EQ(::symlink((tmp_ / "elsewhere").c_str(), path.c_str()), 0);
         },
         Errc::insecure},
        {"another owner",
         [&] {
             test::write_file(path, good);
             ASSERT_EQ(::chown(path.c_str(), 1234, 1234), 0);
         },
         Errc::insecure},
        {"a directory", [&] { ASSERT_EQ(::mkdir(path.c_str(), 0700), 0); }, Errc::insecure},
        {"two links",
         [&] {
             test::write_file(path, good);
             ASSERT_EQ(::link(path.c_str(), (dir_ + "/extra.tmp").c_str()), 0);
         },
         Errc::insecure},
    };
    std::int64_t now = T0;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        test::run_cmd({"/bin/rm", "-rf", path, dir_ + "/extra.tmp"});
        c.make();
        auto key = store_->bucket_key();
        ASSERT_FALSE(key);
        EXPECT_EQ(key.error().code, c.code) << key.error().message();
        const std::string name = std::string("fallback-") + c.what;
        const AttemptResult r = attempt_unknown(name, now += 1000);
        EXPECT_EQ(r.outcome, Outcome::not_enrolled) << "counted all the same";
        EXPECT_NE(r.bucket_key_error.find("public bucket"), std::string::npos) << r.bucket_key_error;
        auto rec = store_->load(public_bucket(name));
        ASSERT_TRUE(rec && rec->has_value()) << "counted in the public bucket";
        EXPECT_EQ((*rec)->tally.failures, 1U);
        // Still refused, never replaced by a new key.
        EXPECT_FALSE(store_->bucket_key());
        const std::string digest = unknown_name_digest(name);
        LoginContext info_ctx{digest, false, "192.0.2.1", now};
        info_ctx.unknown_name = true;
        auto info = lock_info(*store_, info_ctx, opts_);
        ASSERT_TRUE(info) << info.error().message();
        EXPECT_FALSE(info->bucket_key_error.empty());
    }
}

TEST_F(UnknownBucketTest, AnUnknownNameComesAsItsDigestOnly)
{
    LoginContext ctx{"mallory", false, "192.0.2.1", T0};
    ctx.unknown_name = true;
    auto r = attempt_code(*store_, ctx, opts_, "123456");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::invalid_user);
    EXPECT_FALSE(store_->load("mallory")->has_value());
    const std::string d = unknown_name_digest("mallory");
    EXPECT_EQ(d.size(), 64U);
    EXPECT_TRUE(is_unknown_name_digest(d));
    EXPECT_FALSE(is_unknown_name_digest(d.substr(1)));
    std::string upper = d;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_FALSE(is_unknown_name_digest(upper == d ? "X" + d.substr(1) : upper));
    // SHA-256("abc"), FIPS 180-2.
    EXPECT_EQ(unknown_name_digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(public_bucket("abc"), ":unknown:ba7");
    // HMAC-SHA256(key 00 01 .. 1f, SHA-256("abc")) starts 910... (Python's hmac module).
    SecretBytes key(kBucketKeyBytes);
    for (std::size_t i = 0; i < key.size(); ++i) key.data()[i] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(*unknown_user_bucket("abc", &key), ":unknown:910");
    SecretBytes short_key(16);
    EXPECT_FALSE(unknown_user_bucket("abc", &short_key));
}

}  // namespace
}  // namespace authctl
