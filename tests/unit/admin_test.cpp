// SPDX-License-Identifier: Apache-2.0
// The administrator's operations on keys and counters over a real store: a
// re-import of the same key keeps its replay state, keys under 80 bits are
// refused where they enter (and flagged where they are already stored), and
// HOTP resynchronisation with two consecutive codes.
#include "authctl/admin.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include "authctl/base32.hpp"
#include "authctl/enrollment.hpp"
#include "authctl/import.hpp"
#include "authctl/login.hpp"
#include "test_support.hpp"

namespace authctl {
namespace {

constexpr std::int64_t T0 = 1700000010;  // step 56666667 at 30 s, 10 s into it
const std::string kKeyHex = "3132333435363738393031323334353637383930";  // RFC 4226's key

class AdminTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "the store requires root-owned files; run as root";
        auto s = UserStore::open_or_create(tmp_ / "state");
        ASSERT_TRUE(s) << s.error().message();
        store_.emplace(std::move(*s));
    }

    // `authctl import oath FILE [--force]` for one line, as the CLI runs it.
    Status import_oath(const std::string& line, bool force)
    {
        auto f = parse_oath_usersfile(line + "\n", T0);
        EXPECT_TRUE(f) << f.error().message();
        EXPECT_EQ(f->entries.size(), 1U);
        if (!f || f->entries.size() != 1) return make_error(Errc::invalid_argument, "test: no entry");
        OathEntry& e = f->entries.front();
        return store_enrollment(*store_, e.user, std::move(e.pending), force);
    }

    Enrollment enrollment(const std::string& user)
    {
        auto r = store_->load(user);
        EXPECT_TRUE(r && r->has_value());
        return (*r)->enrollment->clone();
    }

    std::string code_at(const std::string& user, std::uint64_t counter)
    {
        const Enrollment e = enrollment(user);
        auto v = hotp_value(e.secret, counter, e.algo, e.digits);
        EXPECT_TRUE(v);
        return format_code(*v, e.digits);
    }

    AttemptResult attempt(const std::string& user, const std::string& code, std::int64_t now = T0)
    {
        const LoginContext ctx{user, false, "192.0.2.1", now};
        auto r = attempt_code(*store_, ctx, opts_, code);
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : AttemptResult{};
    }

    std::string record_text(const std::string& user)
    {
        auto r = store_->load(user);
        EXPECT_TRUE(r && r->has_value());
        const SecretBytes text = serialize_record(**r);
        return std::string(text.view());
    }

    void enroll_hotp(const std::string& user, std::uint64_t counter)
    {
        EnrollParams p;
        p.type = OtpType::hotp;
        auto pending = prepare_enrollment(p, 0, T0);
        ASSERT_TRUE(pending);
        pending->enrollment.counter = counter;
        ASSERT_TRUE(store_enrollment(*store_, user, std::move(*pending), false));
    }

    test::TempDir tmp_;
    std::optional<UserStore> store_;
    Options opts_;
};

// Issue 19, point 6: `import oath FILE --force` with the same key made a used code valid again.
TEST_F(AdminTest, ReimportingTheSameTotpKeyKeepsUsedCodesUsed)
{
    ASSERT_TRUE(import_oath("HOTP/T30 alice - " + kKeyHex, false));
    const std::string code = code_at("alice", totp_step(T0, 30));
    ASSERT_EQ(attempt("alice", code).outcome, Outcome::success);
    ASSERT_TRUE(import_oath("HOTP/T30 alice - " + kKeyHex, true));
    EXPECT_EQ(enrollment("alice").last_step, std::optional<std::uint64_t>(totp_step(T0, 30)));
    const auto again = attempt("alice", code);
    EXPECT_EQ(again.outcome, Outcome::wrong_code);
    EXPECT_TRUE(again.replayed);
    // A file that records a later step than the store's: the later one stays.
    ASSERT_TRUE(import_oath("HOTP/T30 alice - " + kKeyHex + " " + std::to_string(totp_step(T0, 30) + 1), true));
    EXPECT_EQ(enrollment("alice").last_step, std::optional<std::uint64_t>(totp_step(T0, 30) + 1));
}

TEST_F(AdminTest, ReimportingTheSameHotpKeyKeepsTheHigherCounter)
{
    ASSERT_TRUE(import_oath("HOTP bob - " + kKeyHex + " 0", false));
    ASSERT_EQ(attempt("bob", code_at("bob", 3)).outcome, Outcome::success);
    ASSERT_EQ(enrollment("bob").counter, 4U);
    ASSERT_TRUE(import_oath("HOTP bob - " + kKeyHex + " 0", true));
    EXPECT_EQ(enrollment("bob").counter, 4U);
    EXPECT_EQ(attempt("bob", code_at("bob", 3)).outcome, Outcome::wrong_code);
    EXPECT_EQ(attempt("bob", code_at("bob", 1)).outcome, Outcome::wrong_code);
    // The file's counter when it is the higher.
    ASSERT_TRUE(import_oath("HOTP bob - " + kKeyHex + " 9", true));
    EXPECT_EQ(enrollment("bob").counter, 9U);
}

TEST_F(AdminTest, AnotherKeyOrOtherParametersReplaceTheReplayState)
{
    ASSERT_TRUE(import_oath("HOTP carol - " + kKeyHex + " 7", false));
    // Another key: a new enrollment, whose own counter counts.
    ASSERT_TRUE(import_oath("HOTP carol - 00112233445566778899aabbccddeeff 0", true));
    EXPECT_EQ(enrollment("carol").counter, 0U);
    // The same key with other digits is another enrollment too (same_enrollment).
    ASSERT_TRUE(import_oath("HOTP dave - " + kKeyHex + " 7", false));
    ASSERT_TRUE(import_oath("HOTP/E/8 dave - " + kKeyHex + " 0", true));
    EXPECT_EQ(enrollment("dave").counter, 0U);
    EXPECT_EQ(enrollment("dave").digits, 8U);
}

// Issue 19, point 7: keys under 10 bytes (80 bits) are refused wherever they enter.
TEST_F(AdminTest, KeysUnder80BitsAreRefusedWhereTheyEnter)
{
    auto f = parse_oath_usersfile("HOTP alice - 010203040506070809\nHOTP bob - 0102030405060708090a\n", T0);
    ASSERT_TRUE(f) << f.error().message();
    ASSERT_EQ(f->entries.size(), 1U);
    EXPECT_EQ(f->entries.front().user, "bob");
    ASSERT_EQ(f->skipped.size(), 1U);
    EXPECT_EQ(f->skipped.front(),
              "line 1: alice: the secret is 9 bytes, under the 10 (80 bits) authctl requires: enroll this user anew");
    f = parse_oath_usersfile("HOTP alice - 01\n", T0);
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->entries.empty()) << "a 1-byte key";

    auto ga = parse_google_authenticator("AEBAGBAFAYDQQCI\n\" TOTP_AUTH\n");  // 9 bytes
    ASSERT_FALSE(ga);
    EXPECT_NE(ga.error().detail.find("10 to 128 bytes"), std::string::npos) << ga.error().detail;

    // store_enrollment, whatever the caller: nothing is written.
    PendingEnrollment p;
    auto e = new_enrollment({}, T0);
    ASSERT_TRUE(e);
    p.enrollment = std::move(*e);
    p.enrollment.secret.truncate(9);
    auto st = store_enrollment(*store_, "eve", std::move(p), true);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::invalid_argument);
    EXPECT_EQ(st.error().detail, "the secret is 9 bytes, under the 10 (80 bits) authctl requires");
    EXPECT_FALSE(store_->load("eve")->has_value());
}

// A record already stored with a shorter key still parses and logs in (a
// parser that refused it would lock its user out), and status flags it.
TEST_F(AdminTest, AStoredShortKeyStillWorksAndIsFlaggedWeak)
{
    {
        auto held = store_->lock("old");
        ASSERT_TRUE(held);
        UserRecord r;
        auto e = new_enrollment({}, T0);
        ASSERT_TRUE(e);
        r.enrollment = std::move(*e);
        r.enrollment->secret.truncate(5);
        held->record() = std::move(r);
        ASSERT_TRUE(held->commit()) << "the writer keeps the format's 1..128 bytes";
    }
    auto rec = store_->load("old");
    ASSERT_TRUE(rec) << rec.error().message();
    EXPECT_EQ((*rec)->enrollment->secret.size(), 5U);
    EXPECT_EQ(attempt("old", code_at("old", totp_step(T0, 30))).outcome, Outcome::success);
    const StatusRow row = status_of(*store_, "old", [] { return false; }, opts_, T0);
    EXPECT_EQ(row.weak_secret_bytes, 5U);
    enroll_hotp("new", 0);
    EXPECT_EQ(status_of(*store_, "new", [] { return false; }, opts_, T0).weak_secret_bytes, 0U);
}

// Issue 19, point 10: resynchronisation with two consecutive codes.
TEST_F(AdminTest, ResyncMovesTheCounterPastTwoConsecutiveCodes)
{
    enroll_hotp("hugo", 3);
    auto r = resync_hotp(*store_, "hugo", code_at("hugo", 500), code_at("hugo", 501));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->found);
    EXPECT_EQ(r->before, 3U);
    EXPECT_EQ(r->matched, 500U);
    EXPECT_EQ(r->after, 502U);
    EXPECT_EQ(enrollment("hugo").counter, 502U);
    EXPECT_TRUE(enrollment("hugo").confirmed);
    // Both codes are used now; the token's next one logs in.
    EXPECT_EQ(attempt("hugo", code_at("hugo", 501)).outcome, Outcome::wrong_code);
    EXPECT_EQ(attempt("hugo", code_at("hugo", 502)).outcome, Outcome::success);
}

TEST_F(AdminTest, ResyncSearchesABoundedRangeFromTheStoredCounter)
{
    enroll_hotp("ida", 10);
    // CODE1 at the last counter of the range (10 + 1000 - 1), CODE2 one past it.
    const std::uint64_t last = 10 + kResyncCounters - 1;
    auto r = resync_hotp(*store_, "ida", code_at("ida", last), code_at("ida", last + 1));
    ASSERT_TRUE(r && r->found);
    EXPECT_EQ(r->after, last + 2);
    // One further is out of range: not found, nothing changed.
    enroll_hotp("jan", 10);
    const std::string before = record_text("jan");
    r = resync_hotp(*store_, "jan", code_at("jan", last + 1), code_at("jan", last + 2));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(r->found);
    EXPECT_EQ(r->before, 10U);
    EXPECT_EQ(record_text("jan"), before) << "not found: nothing written, no failure counted";
    // Behind the stored counter (the last accepted, 9): never searched.
    r = resync_hotp(*store_, "jan", code_at("jan", 9), code_at("jan", 10));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->found);
    // Not consecutive, or in the wrong order.
    EXPECT_FALSE(resync_hotp(*store_, "jan", code_at("jan", 20), code_at("jan", 22))->found);
    EXPECT_FALSE(resync_hotp(*store_, "jan", code_at("jan", 21), code_at("jan", 20))->found);
    EXPECT_EQ(record_text("jan"), before);
    // Codes typed as the token shows them.
    const std::string c1 = code_at("jan", 40), c2 = code_at("jan", 41);
    r = resync_hotp(*store_, "jan", c1.substr(0, 3) + " " + c1.substr(3), c2.substr(0, 3) + "-" + c2.substr(3));
    ASSERT_TRUE(r && r->found);
    EXPECT_EQ(enrollment("jan").counter, 42U);
}

TEST_F(AdminTest, ResyncRefusesTotpUnenrolledAndMalformedCodesChangingNothing)
{
    auto pending = prepare_enrollment({}, 0, T0);
    ASSERT_TRUE(pending);
    ASSERT_TRUE(store_enrollment(*store_, "tina", std::move(*pending), false));
    const std::string before = record_text("tina");
    auto r = resync_hotp(*store_, "tina", "123456", "234567");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_NE(r.error().detail.find("has a TOTP enrollment"), std::string::npos) << r.error().detail;
    EXPECT_EQ(record_text("tina"), before);

    r = resync_hotp(*store_, "nobody", "123456", "234567");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::not_found);
    EXPECT_FALSE(store_->load("nobody")->has_value());

    enroll_hotp("hugo", 0);
    for (auto [c1, c2] : {std::pair{"12345", "123456"}, std::pair{"123456", "12a456"}, std::pair{"", "123456"},
                          std::pair{"123--456", "123456"}}) {
        r = resync_hotp(*store_, "hugo", c1, c2);
        ASSERT_FALSE(r) << c1 << " " << c2;
        EXPECT_EQ(r.error().code, Errc::invalid_argument);
    }
    EXPECT_EQ(enrollment("hugo").counter, 0U);
}

TEST_F(AdminTest, ResyncNearTheEndOfTheCounterRangeNeverWraps)
{
    enroll_hotp("max", UINT64_MAX - 3);
    // CODE1 at MAX-3, CODE2 at MAX-2: the new counter MAX-1 still fits.
    auto r = resync_hotp(*store_, "max", code_at("max", UINT64_MAX - 3), code_at("max", UINT64_MAX - 2));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->found);
    EXPECT_EQ(enrollment("max").counter, UINT64_MAX - 1);
    // From MAX-1 nothing is left to find, and nothing wraps to 0.
    r = resync_hotp(*store_, "max", code_at("max", UINT64_MAX - 1), code_at("max", UINT64_MAX));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->found);
    EXPECT_EQ(enrollment("max").counter, UINT64_MAX - 1);
}

}  // namespace
}  // namespace authctl
