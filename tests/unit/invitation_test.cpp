// SPDX-License-Identifier: Apache-2.0
// Enrollment at login by invitation (issue 17), over a real store with the
// clock injected: invite_user and uninvite_user, the read-only offer, and the
// confirmation that stores the enrollment and consumes the invitation in one
// locked write -- right and wrong codes, replay, lockout, superseded offers,
// HOTP, --replace with and without --revoke-now, and parallel confirmations.
#include "authctl/invitation.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "authctl/agent_client.hpp"
#include "authctl/enrollment.hpp"
#include "authctl/otp.hpp"
#include "test_support.hpp"

namespace authctl {
namespace {

constexpr std::int64_t T0 = 1700000010;  // step 56666667 at 30 s, 10 s into it

// A file store that keeps a copy of every record it is asked to write: what a
// kill -9 between any two writes would leave on disk.
class RecordingStore final : public Store {
public:
    explicit RecordingStore(const UserStore& inner) : inner_(inner) {}
    Result<std::optional<UserRecord>> load(std::string_view user) const override { return inner_.load(user); }
    Result<LockedRecord> lock(std::string_view user) const override
    {
        auto held = inner_.lock(user);
        if (!held) return held.error();
        return LockedRecord(std::make_unique<Txn>(std::move(*held), written_), std::string(user));
    }
    Result<Listing> list() const override { return inner_.list(); }
    std::string describe() const override { return inner_.describe(); }
    Result<SecretBytes> bucket_key() const override { return inner_.bucket_key(); }
    const std::vector<std::optional<UserRecord>>& written() const { return written_; }

private:
    class Txn final : public RecordTxn {
    public:
        Txn(LockedRecord held, std::vector<std::optional<UserRecord>>& log) : held_(std::move(held)), log_(log) {}
        std::optional<UserRecord>& record() noexcept override { return held_.record(); }
        Status commit() override
        {
            log_.push_back(held_.record() ? std::optional<UserRecord>(held_.record()->clone()) : std::nullopt);
            return held_.commit();
        }
        Status finish() override { return held_.finish(); }
        std::optional<std::int64_t> clock() const noexcept override { return std::nullopt; }

    private:
        LockedRecord held_;
        std::vector<std::optional<UserRecord>>& log_;
    };
    const UserStore& inner_;
    mutable std::vector<std::optional<UserRecord>> written_;
};
constexpr std::int64_t kWeek = 7 * 24 * 3600;

using O = InviteConfirmResult::Outcome;

class InvitationTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "the store requires root-owned files; run as root";
        dir_ = tmp_ / "state";
        auto s = UserStore::open_or_create(dir_);
        ASSERT_TRUE(s) << s.error().message();
        store_.emplace(std::move(*s));
    }

    InviteRequest request(std::int64_t expires = T0 + kWeek)
    {
        InviteRequest req;
        req.expires = expires;
        req.invited_by = "root";
        return req;
    }

    Invitation invite(const std::string& user, InviteRequest req)
    {
        auto r = invite_user(*store_, user, req, T0);
        EXPECT_TRUE(r) << r.error().message();
        return r ? r->invitation : Invitation{};
    }
    Invitation invite(const std::string& user) { return invite(user, request()); }

    // A confirmed enrollment stored by the administrator (`authctl enroll --confirm`).
    void enroll(const std::string& user, bool confirmed = true)
    {
        auto pending = prepare_enrollment({}, 0, T0);
        ASSERT_TRUE(pending);
        pending->enrollment.confirmed = confirmed;
        ASSERT_TRUE(store_enrollment(*store_, user, std::move(*pending), true));
    }

    std::optional<UserRecord> load(const std::string& user)
    {
        auto r = store_->load(user);
        EXPECT_TRUE(r) << r.error().message();
        return r ? std::move(*r) : std::nullopt;
    }

    std::string file(const std::string& user) { return test::read_file(dir_ + "/" + user + ".rec"); }

    LoginContext ctx(const std::string& user, std::int64_t now)
    {
        return LoginContext{user_ = user, false, "192.0.2.1", now, "sshd", 1000};
    }

    std::optional<InviteOffer> offer(const std::string& user, std::int64_t now = T0)
    {
        auto o = offer_invited_enrollment(*store_, ctx(user, now), opts_);
        EXPECT_TRUE(o) << o.error().message();
        return o ? std::move(*o) : std::nullopt;
    }

    InviteConfirmResult confirm(const std::string& user, InviteOffer& o, const std::string& code,
                                std::int64_t now = T0)
    {
        auto r = confirm_invited_enrollment(*store_, ctx(user, now), opts_, o, code);
        EXPECT_TRUE(r) << r.error().message();
        return r ? std::move(*r) : InviteConfirmResult{};
    }

    static std::string code_of(const Enrollment& e, std::uint64_t counter)
    {
        auto v = hotp_value(e.secret, counter, e.algo, e.digits);
        EXPECT_TRUE(v);
        return v ? format_code(*v, e.digits) : std::string();
    }
    static std::string totp_of(const Enrollment& e, std::int64_t now) { return code_of(e, totp_step(now, e.period)); }
    static std::string wrong_for(const std::string& right) { return right == "000000" ? "111111" : "000000"; }

    AttemptResult attempt(const std::string& user, const std::string& code, std::int64_t now)
    {
        auto r = attempt_code(*store_, ctx(user, now), opts_, code);
        EXPECT_TRUE(r) << r.error().message();
        return r ? *r : AttemptResult{};
    }

    test::TempDir tmp_;
    std::string dir_;
    std::string user_;
    std::optional<UserStore> store_;
    Options opts_;
};

TEST_F(InvitationTest, InviteStoresAnInvitationWithoutASecret)
{
    InviteRequest req = request();
    req.params.digits = 8;
    req.grant_groups = {"wheel", "sudo-2fa", "wheel"};
    req.account = AccountBinding{1000, "alice"};
    auto r = invite_user(*store_, "alice", req, T0);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(r->replaced_invitation);
    EXPECT_FALSE(r->revoked);
    auto rec = load("alice");
    ASSERT_TRUE(rec && rec->invitation);
    EXPECT_FALSE(rec->enrollment);
    EXPECT_NE(rec->invitation->nonce, 0U);
    EXPECT_EQ(rec->invitation->nonce, r->invitation.nonce);
    EXPECT_EQ(rec->invitation->created, T0);
    EXPECT_EQ(rec->invitation->expires, T0 + kWeek);
    EXPECT_EQ(rec->invitation->params.digits, 8U);
    EXPECT_EQ(rec->invitation->invited_by, "root");
    EXPECT_EQ(rec->invitation->grant_groups, (std::vector<std::string>{"wheel", "sudo-2fa"}));
    EXPECT_FALSE(rec->invitation->replace);
    ASSERT_TRUE(rec->account);
    EXPECT_EQ(*rec->account, (AccountBinding{1000, "alice"}));
    EXPECT_EQ(file("alice").find("secret "), std::string::npos) << file("alice");
}

TEST_F(InvitationTest, AnEnrolledUserNeedsReplace)
{
    enroll("bob");
    const std::string before = file("bob");
    auto r = invite_user(*store_, "bob", request(), T0);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::exists);
    EXPECT_NE(r.error().detail.find("--replace"), std::string::npos) << r.error().detail;
    EXPECT_EQ(file("bob"), before);  // nothing written

    // An enrollment never confirmed is not in the way.
    enroll("carol", false);
    EXPECT_TRUE(invite_user(*store_, "carol", request(), T0));

    InviteRequest req = request();
    req.replace = true;
    auto rr = invite_user(*store_, "bob", req, T0);
    ASSERT_TRUE(rr) << rr.error().message();
    EXPECT_FALSE(rr->revoked);
    auto rec = load("bob");
    ASSERT_TRUE(rec && rec->invitation && rec->enrollment);  // the old phone keeps working
    EXPECT_TRUE(rec->invitation->replace);
}

TEST_F(InvitationTest, RevokeNowDeletesTheOldEnrollmentAndNeedsReplace)
{
    enroll("bob");
    InviteRequest req = request();
    req.revoke_now = true;
    auto bad = invite_user(*store_, "bob", req, T0);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Errc::invalid_argument);
    req.replace = true;
    auto r = invite_user(*store_, "bob", req, T0);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->revoked);
    auto rec = load("bob");
    ASSERT_TRUE(rec && rec->invitation);
    EXPECT_FALSE(rec->enrollment);
    EXPECT_TRUE(rec->recovery.hashes.empty());
    EXPECT_EQ(attempt("bob", "123456", T0).outcome, Outcome::not_enrolled);
}

TEST_F(InvitationTest, ExpiryMustBeInTheFutureAndWithin366Days)
{
    for (const std::int64_t bad : {T0 - 1, T0, T0 + kMaxInviteSeconds + 1}) {
        auto r = invite_user(*store_, "alice", request(bad), T0);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, Errc::invalid_argument);
    }
    EXPECT_FALSE(load("alice"));  // nothing written
    EXPECT_TRUE(invite_user(*store_, "alice", request(T0 + 1), T0));
    EXPECT_TRUE(invite_user(*store_, "alice", request(T0 + kMaxInviteSeconds), T0));
    EXPECT_FALSE(invite_user(*store_, "alice", request(), 0));  // a clock before 1970
}

TEST_F(InvitationTest, BadParametersAndGroupsAreRefused)
{
    InviteRequest req = request();
    req.params.digits = 9;
    EXPECT_FALSE(invite_user(*store_, "alice", req, T0));
    req = request();
    req.params.period = 301;
    EXPECT_FALSE(invite_user(*store_, "alice", req, T0));
    req = request();
    req.grant_groups = {"wheel", "-x"};
    auto r = invite_user(*store_, "alice", req, T0);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    req.grant_groups.clear();
    for (std::size_t i = 0; i <= kMaxGrantedGroups; ++i) req.grant_groups.push_back("g" + std::to_string(i));
    EXPECT_FALSE(invite_user(*store_, "alice", req, T0));
    EXPECT_FALSE(load("alice"));
    // With the groups already granted, the record must still hold them all once confirmed.
    enroll("bob");
    std::vector<std::string> granted;
    for (std::size_t i = 0; i < kMaxGrantedGroups; ++i) granted.push_back("old" + std::to_string(i));
    ASSERT_TRUE(record_granted_groups(*store_, "bob", granted));
    req = request();
    req.replace = true;
    req.grant_groups = {"old0"};  // already there: fits
    EXPECT_TRUE(invite_user(*store_, "bob", req, T0));
    req.grant_groups = {"new"};
    auto over = invite_user(*store_, "bob", req, T0);
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, Errc::invalid_argument);
    // HOTP: the period is not used and is stored as the default.
    req = request();
    req.params.type = OtpType::hotp;
    req.params.period = 60;
    auto h = invite_user(*store_, "hank", req, T0);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->invitation.params.period, 30U);
}

TEST_F(InvitationTest, ReinvitingGivesANewNonceAndKeepsTheTally)
{
    ASSERT_EQ(attempt("alice", "123456", T0).outcome, Outcome::not_enrolled);  // a tally-only record
    const Invitation a = invite("alice");
    const Invitation b = invite("alice");
    EXPECT_NE(a.nonce, b.nonce);
    auto r = invite_user(*store_, "alice", request(), T0);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->replaced_invitation);
    EXPECT_NE(r->invitation.nonce, b.nonce);
    EXPECT_EQ(load("alice")->tally.failures, 1U);
}

TEST_F(InvitationTest, UninviteRemovesOnlyTheInvitation)
{
    auto none = uninvite_user(*store_, "alice");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, Errc::not_found);
    // A record made only for the invitation goes with it.
    invite("alice");
    ASSERT_TRUE(uninvite_user(*store_, "alice"));
    EXPECT_FALSE(load("alice"));
    EXPECT_EQ(::access((dir_ + "/alice.rec").c_str(), F_OK), -1);
    // A record with a tally keeps it.
    ASSERT_EQ(attempt("bob", "123456", T0).outcome, Outcome::not_enrolled);
    invite("bob");
    ASSERT_TRUE(uninvite_user(*store_, "bob"));
    auto rec = load("bob");
    ASSERT_TRUE(rec);
    EXPECT_FALSE(rec->invitation);
    EXPECT_EQ(rec->tally.failures, 1U);
    EXPECT_EQ(uninvite_user(*store_, "bob").error().code, Errc::not_found);
}

TEST_F(InvitationTest, OfferOnlyForAnUnexpiredInvitationWithoutAConfirmedEnrollment)
{
    EXPECT_FALSE(offer("nobody"));  // no record
    ASSERT_EQ(attempt("tally", "123456", T0).outcome, Outcome::not_enrolled);
    EXPECT_FALSE(offer("tally"));  // a record, no invitation
    invite("alice", request(T0 + 100));
    auto o = offer("alice");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->nonce, load("alice")->invitation->nonce);
    EXPECT_EQ(o->expires, T0 + 100);
    EXPECT_FALSE(o->pending.enrollment.confirmed);
    EXPECT_EQ(o->pending.enrollment.secret.size(), kSecretBytes);
    EXPECT_EQ(o->pending.recovery_codes.size(), kDefaultRecoveryCodes);
    EXPECT_TRUE(offer("alice", T0 + 99));
    EXPECT_FALSE(offer("alice", T0 + 100));  // expired
    // Two offers draw two secrets.
    auto o2 = offer("alice");
    ASSERT_TRUE(o2);
    EXPECT_NE(o->pending.enrollment.secret.view(), o2->pending.enrollment.secret.view());

    // Enrolled: only an invitation that replaces.
    enroll("bob");
    InviteRequest req = request();
    req.replace = true;
    invite("bob", req);
    EXPECT_TRUE(offer("bob"));
    {
        auto held = store_->lock("bob");
        ASSERT_TRUE(held);
        (*held->record()).invitation->replace = false;  // as a record edited by hand would be
        ASSERT_TRUE(held->commit());
    }
    EXPECT_FALSE(offer("bob"));
    // An unconfirmed enrollment does not stand in the way.
    enroll("carol", false);
    invite("carol");
    EXPECT_TRUE(offer("carol"));
}

TEST_F(InvitationTest, OfferWritesNothing)
{
    invite("alice");
    const std::string path = dir_ + "/alice.rec";
    struct stat before{};
    ASSERT_EQ(::stat(path.c_str(), &before), 0);
    const std::string text = file("alice");
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(offer("alice"));
    struct stat after{};
    ASSERT_EQ(::stat(path.c_str(), &after), 0);
    EXPECT_EQ(file("alice"), text);
    EXPECT_EQ(before.st_ino, after.st_ino);  // not even replaced by the same bytes
    EXPECT_EQ(::access((dir_ + "/alice.tmp").c_str(), F_OK), -1);
}

TEST_F(InvitationTest, NoOfferForALockedUserAnotherAccountOrABucket)
{
    invite("alice");
    ASSERT_TRUE(lock_user(*store_, "alice", T0 + 600, "root"));
    EXPECT_FALSE(offer("alice"));
    EXPECT_TRUE(offer("alice", T0 + 600));  // the lock ended
    // Bound to uid 1000 (ctx() says 1000): another uid is not offered.
    InviteRequest req = request();
    req.account = AccountBinding{2000, "dave"};
    invite("dave", req);
    EXPECT_FALSE(offer("dave"));
    const std::string bucket = *unknown_user_bucket("ghost", nullptr);
    invite(bucket);
    EXPECT_FALSE(offer(bucket));
    // A name that does not exist comes as its digest (ctx.unknown_name): even a
    // record under that very string (a user named so) is not offered, and a
    // confirmation is refused without touching it.
    const std::string digest = unknown_name_digest("ghost");
    invite(digest);
    LoginContext unknown = ctx(digest, T0);
    unknown.unknown_name = true;
    auto none = offer_invited_enrollment(*store_, unknown, opts_);
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
    auto real = offer(digest);
    ASSERT_TRUE(real);
    const std::string before = file(digest);
    EXPECT_FALSE(confirm_invited_enrollment(*store_, unknown, opts_, *real, totp_of(real->pending.enrollment, T0)));
    EXPECT_EQ(file(digest), before);
}

TEST_F(InvitationTest, AnEnrollmentTheAdministratorStoresEndsTheInvitation)
{
    // invite --replace, then the administrator enrolls the user at the
    // terminal after all: the replacing invitation must not stay usable (a
    // login past the first factor would swap the phone), and an offer made
    // before is superseded, not written over the new enrollment.
    InviteRequest req = request();
    invite("alice", req);
    auto before = offer("alice");
    ASSERT_TRUE(before);
    auto pending = prepare_enrollment(EnrollParams{}, 0, T0);
    ASSERT_TRUE(pending);
    const std::string secret(pending->enrollment.secret.view());
    ASSERT_TRUE(store_enrollment(*store_, "alice", std::move(*pending), true));
    EXPECT_FALSE(offer("alice"));
    const auto r = confirm("alice", *before, totp_of(before->pending.enrollment, T0));
    EXPECT_EQ(r.outcome, O::superseded);
    auto rec = UserStore::open(dir_)->load("alice");
    ASSERT_TRUE(rec && *rec);
    EXPECT_FALSE((*rec)->invitation);
    ASSERT_TRUE((*rec)->enrollment);
    EXPECT_EQ(std::string((*rec)->enrollment->secret.view()), secret);
}

TEST_F(InvitationTest, OnlyTheInvitationsGroupsTheOfferKeptAreRecorded)
{
    // The module leaves out of the offer the groups the user is in already;
    // a group the invitation does not name is never recorded, whatever the
    // offer says.
    InviteRequest req = request();
    req.grant_groups = {"wheel", "adm"};
    invite("alice", req);
    auto o = offer("alice");
    ASSERT_TRUE(o);
    o->grant_groups = {"adm", "root"};
    const auto r = confirm("alice", *o, totp_of(o->pending.enrollment, T0));
    ASSERT_EQ(r.outcome, O::enrolled);
    EXPECT_EQ(r.grant_groups, std::vector<std::string>{"adm"});
    auto rec = UserStore::open(dir_)->load("alice");
    ASSERT_TRUE(rec && *rec);
    EXPECT_EQ((*rec)->granted_groups, std::vector<std::string>{"adm"});
}

TEST_F(InvitationTest, TheRightCodeEnrollsAndConsumesTheInvitation)
{
    InviteRequest req = request();
    req.grant_groups = {"wheel"};
    invite("alice", req);
    auto o = offer("alice");
    ASSERT_TRUE(o);
    const Enrollment drawn = o->pending.enrollment.clone();
    const std::string code = totp_of(drawn, T0);
    std::vector<std::string> shown;
    for (const auto& c : o->pending.recovery_codes) shown.emplace_back(c.view());
    const auto r = confirm("alice", *o, code);
    ASSERT_EQ(r.outcome, O::enrolled);
    EXPECT_EQ(r.attempt.outcome, Outcome::success);
    EXPECT_EQ(r.grant_groups, (std::vector<std::string>{"wheel"}));
    ASSERT_EQ(r.recovery_codes.size(), kDefaultRecoveryCodes);
    EXPECT_EQ(r.recovery_codes[0].view(), shown[0]);
    EXPECT_TRUE(o->pending.enrollment.secret.empty());  // stored: the offer's copy is wiped
    EXPECT_TRUE(o->pending.recovery_codes.empty());     // handed over to the result
    auto rec = load("alice");
    ASSERT_TRUE(rec && rec->enrollment);
    EXPECT_FALSE(rec->invitation);
    EXPECT_TRUE(rec->enrollment->confirmed);
    EXPECT_EQ(rec->enrollment->last_step, totp_step(T0, 30));
    EXPECT_EQ(rec->granted_groups, (std::vector<std::string>{"wheel"}));
    EXPECT_EQ(rec->tally.failures, 0U);
    EXPECT_EQ(rec->tally.last_success, T0);
    ASSERT_TRUE(rec->account);
    EXPECT_EQ(*rec->account, (AccountBinding{1000, "alice"}));

    // The confirming code cannot then log in; the next step's can; a recovery code works.
    const auto replay = attempt("alice", code, T0 + 1);
    EXPECT_EQ(replay.outcome, Outcome::wrong_code);
    EXPECT_TRUE(replay.replayed);
    EXPECT_EQ(attempt("alice", totp_of(rec->enrollment.value(), T0 + 30), T0 + 30).outcome, Outcome::success);
    const auto rc = attempt("alice", shown[3], T0 + 31);
    EXPECT_EQ(rc.outcome, Outcome::success);
    EXPECT_TRUE(rc.used_recovery);
    EXPECT_EQ(rc.recovery_left, kDefaultRecoveryCodes - 1);
    // Never twice: the invitation is gone.
    EXPECT_FALSE(offer("alice", T0 + 60));
    o->pending.enrollment = drawn.clone();
    EXPECT_EQ(confirm("alice", *o, totp_of(drawn, T0 + 60), T0 + 60).outcome, O::superseded);
}

TEST_F(InvitationTest, WrongCodesAreCountedAndLockAtDeny)
{
    invite("alice");
    auto o = offer("alice");
    ASSERT_TRUE(o);
    const std::string right = totp_of(o->pending.enrollment, T0);
    const std::string wrong = wrong_for(right);
    auto r1 = confirm("alice", *o, wrong);
    EXPECT_EQ(r1.outcome, O::wrong_code);
    EXPECT_EQ(r1.attempt.outcome, Outcome::wrong_code);
    EXPECT_EQ(r1.attempt.failures, 1U);
    EXPECT_FALSE(r1.attempt.locked_now);
    EXPECT_EQ(load("alice")->tally.failures, 1U);
    EXPECT_TRUE(load("alice")->invitation);  // still invited
    EXPECT_EQ(confirm("alice", *o, "not a code").outcome, O::wrong_code);
    auto r3 = confirm("alice", *o, wrong);
    EXPECT_EQ(r3.outcome, O::wrong_code);
    EXPECT_TRUE(r3.attempt.locked_now);  // deny=3
    // Locked: the right code is not even looked at.
    auto r4 = confirm("alice", *o, right);
    EXPECT_EQ(r4.outcome, O::locked);
    EXPECT_EQ(r4.attempt.outcome, Outcome::locked);
    EXPECT_TRUE(r4.attempt.lock.locked);
    auto rec = load("alice");
    EXPECT_FALSE(rec->enrollment);
    EXPECT_TRUE(rec->invitation);
    EXPECT_EQ(rec->tally.failures, 3U);
    // Once the lock ends, the same offer still confirms (the wrong codes left it as it was).
    EXPECT_EQ(confirm("alice", *o, totp_of(o->pending.enrollment, T0 + 600), T0 + 600).outcome, O::enrolled);
}

TEST_F(InvitationTest, AnOfferIsSupersededByReinviteUninviteExpiryOrAnotherConfirm)
{
    invite("alice");
    auto o = offer("alice");
    ASSERT_TRUE(o);
    invite("alice");  // a new nonce
    const auto r = confirm("alice", *o, totp_of(o->pending.enrollment, T0));
    EXPECT_EQ(r.outcome, O::superseded);
    EXPECT_EQ(load("alice")->tally.failures, 0U);  // not counted
    EXPECT_FALSE(load("alice")->enrollment);

    auto o2 = offer("alice");
    ASSERT_TRUE(o2);
    ASSERT_TRUE(uninvite_user(*store_, "alice"));
    EXPECT_EQ(confirm("alice", *o2, totp_of(o2->pending.enrollment, T0)).outcome, O::superseded);
    EXPECT_FALSE(load("alice"));

    invite("alice", request(T0 + 60));
    auto o3 = offer("alice");
    ASSERT_TRUE(o3);
    EXPECT_EQ(confirm("alice", *o3, totp_of(o3->pending.enrollment, T0 + 60), T0 + 60).outcome, O::superseded);
    EXPECT_FALSE(load("alice")->enrollment);

    invite("alice");
    auto first = offer("alice");
    auto second = offer("alice");
    ASSERT_TRUE(first && second);
    const Enrollment second_drawn = second->pending.enrollment.clone();
    EXPECT_EQ(confirm("alice", *second, totp_of(second_drawn, T0)).outcome, O::enrolled);
    EXPECT_EQ(confirm("alice", *first, totp_of(first->pending.enrollment, T0)).outcome, O::superseded);
    // The enrollment stored is the second's.
    EXPECT_EQ(load("alice")->enrollment->secret.view(), second_drawn.secret.view());
}

TEST_F(InvitationTest, HotpEnrollsAtTheFirstCounterAndConsumesIt)
{
    InviteRequest req = request();
    req.params.type = OtpType::hotp;
    invite("hank", req);
    auto o = offer("hank");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->pending.enrollment.type, OtpType::hotp);
    const Enrollment e = o->pending.enrollment.clone();
    ASSERT_EQ(confirm("hank", *o, code_of(e, 0)).outcome, O::enrolled);
    auto rec = load("hank");
    ASSERT_TRUE(rec && rec->enrollment);
    EXPECT_EQ(rec->enrollment->counter, 1U);
    const auto replay = attempt("hank", code_of(e, 0), T0);
    EXPECT_EQ(replay.outcome, Outcome::wrong_code);
    EXPECT_TRUE(replay.replayed);
    EXPECT_EQ(attempt("hank", code_of(e, 1), T0).outcome, Outcome::success);
}

TEST_F(InvitationTest, ReplaceKeepsTheOldSecretUntilTheNewOneIsConfirmed)
{
    enroll("bob");
    const Enrollment old = load("bob")->enrollment->clone();
    InviteRequest req = request();
    req.replace = true;
    invite("bob", req);
    auto o = offer("bob");
    ASSERT_TRUE(o);
    EXPECT_TRUE(o->replace);
    const Enrollment drawn = o->pending.enrollment.clone();
    EXPECT_EQ(attempt("bob", totp_of(old, T0), T0).outcome, Outcome::success);  // the old phone still works
    ASSERT_EQ(confirm("bob", *o, totp_of(drawn, T0 + 30), T0 + 30).outcome, O::enrolled);
    EXPECT_EQ(attempt("bob", totp_of(old, T0 + 60), T0 + 60).outcome, Outcome::wrong_code);  // and now not
    const Enrollment now = load("bob")->enrollment->clone();
    EXPECT_EQ(now.secret.view(), drawn.secret.view());
    EXPECT_EQ(attempt("bob", totp_of(now, T0 + 90), T0 + 90).outcome, Outcome::success);
}

// The module asks for the current code before offering a replacing
// enrollment (review finding: the ssh key alone must not swap the phone):
// the offer says whether it replaces a confirmed one, and an offer made when
// there was none (--revoke-now) does not replace one that appeared since.
TEST_F(InvitationTest, AnOfferSaysWhetherItReplacesAConfirmedEnrollment)
{
    enroll("bob");
    InviteRequest req = request();
    req.replace = true;
    invite("bob", req);
    auto replacing = offer("bob");
    ASSERT_TRUE(replacing);
    EXPECT_TRUE(replacing->replaces_confirmed);

    enroll("carol");
    req.revoke_now = true;
    invite("carol", req);
    auto fresh = offer("carol");
    ASSERT_TRUE(fresh);
    EXPECT_FALSE(fresh->replaces_confirmed);
    // A confirmed enrollment appears (the invitation kept, as no CLI path
    // does today): the offer shown before any code must not replace it.
    const Enrollment appeared = [&] {
        auto held = store_->lock("carol");
        EXPECT_TRUE(held && held->record());
        auto e = prepare_enrollment({}, 0, T0);
        EXPECT_TRUE(e);
        e->enrollment.confirmed = true;
        Enrollment copy = e->enrollment.clone();
        held->record()->enrollment = std::move(e->enrollment);
        EXPECT_TRUE(held->commit());
        EXPECT_TRUE(held->finish());
        return copy;
    }();
    EXPECT_EQ(confirm("carol", *fresh, totp_of(fresh->pending.enrollment, T0)).outcome, O::superseded);
    const auto rec = load("carol");
    ASSERT_TRUE(rec && rec->enrollment);
    EXPECT_EQ(rec->enrollment->secret.view(), appeared.secret.view());
    // The offer made with the confirmed enrollment in place confirms.
    EXPECT_EQ(confirm("bob", *replacing, totp_of(replacing->pending.enrollment, T0)).outcome, O::enrolled);
}

TEST_F(InvitationTest, ParallelConfirmationsEnrollExactlyOnce)
{
    invite("alice");
    constexpr int kThreads = 8;
    std::vector<InviteOffer> offers;
    for (int i = 0; i < kThreads; ++i) {
        auto o = offer("alice");
        ASSERT_TRUE(o);
        offers.push_back(std::move(*o));
    }
    std::atomic<int> enrolled{0}, superseded{0}, other{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            auto s = UserStore::open(dir_);  // its own handle, as another login's process
            if (!s) {
                ++other;
                return;
            }
            while (!go) std::this_thread::yield();
            const std::string code = totp_of(offers[static_cast<std::size_t>(i)].pending.enrollment, T0);
            auto r = confirm_invited_enrollment(*s, LoginContext{"alice", false, "192.0.2.1", T0, "sshd", 1000},
                                                opts_, offers[static_cast<std::size_t>(i)], code);
            if (r && r->outcome == O::enrolled)
                ++enrolled;
            else if (r && r->outcome == O::superseded)
                ++superseded;
            else
                ++other;
        });
    }
    go = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(enrolled.load(), 1);
    EXPECT_EQ(superseded.load(), kThreads - 1);
    EXPECT_EQ(other.load(), 0);
    auto rec = load("alice");
    ASSERT_TRUE(rec && rec->enrollment);
    EXPECT_FALSE(rec->invitation);
    EXPECT_EQ(rec->tally.failures, 0U);
}

// Crash safety as core can show it: every record written on the way from the
// invitation to the enrollment (a wrong code, the right one) is one a kill -9
// may leave, and each holds the invitation and no secret, or the confirmed
// enrollment and no invitation -- never a secret nobody confirmed.
TEST_F(InvitationTest, EveryRecordWrittenOnTheWayIsInvitedOrConfirmed)
{
    InviteRequest req = request();
    req.grant_groups = {"wheel"};
    invite("alice", req);
    RecordingStore rec_store(*store_);
    auto o = offer_invited_enrollment(rec_store, ctx("alice", T0), opts_);
    ASSERT_TRUE(o && *o);
    EXPECT_TRUE(rec_store.written().empty()) << "the offer wrote";
    const std::string right = totp_of((*o)->pending.enrollment, T0);
    auto w = confirm_invited_enrollment(rec_store, ctx("alice", T0), opts_, **o, wrong_for(right));
    ASSERT_TRUE(w && w->outcome == O::wrong_code);
    auto r = confirm_invited_enrollment(rec_store, ctx("alice", T0), opts_, **o, right);
    ASSERT_TRUE(r && r->outcome == O::enrolled);
    // The wrong code's count, the right code's count, the enrollment: three writes.
    ASSERT_EQ(rec_store.written().size(), 3U);
    for (std::size_t i = 0; i < rec_store.written().size(); ++i) {
        const auto& w_i = rec_store.written()[i];
        ASSERT_TRUE(w_i) << i;
        if (w_i->enrollment) {
            EXPECT_TRUE(w_i->enrollment->confirmed) << "write " << i << " stored a secret nobody confirmed";
            EXPECT_FALSE(w_i->invitation) << "write " << i << " is enrolled and still invited";
            EXPECT_FALSE(w_i->recovery.hashes.empty()) << i;
            EXPECT_EQ(w_i->granted_groups, std::vector<std::string>{"wheel"}) << i;
        } else {
            EXPECT_TRUE(w_i->invitation) << "write " << i << " lost the invitation without enrolling";
        }
    }
    EXPECT_TRUE(rec_store.written().back()->enrollment);
}

// What the module reads where it cannot offer (sudo): is the user invited?
TEST_F(InvitationTest, LockInfoSaysWhetherAnInvitationCouldBeTakenUp)
{
    auto invited = [&](const std::string& user, std::int64_t now) {
        auto i = lock_info(*store_, ctx(user, now), opts_);
        EXPECT_TRUE(i) << i.error().message();
        return i && i->invited;
    };
    EXPECT_FALSE(invited("alice", T0));  // no record
    invite("alice", request(T0 + 100));
    EXPECT_TRUE(invited("alice", T0));
    EXPECT_FALSE(invited("alice", T0 + 100));  // expired
    enroll("bob");
    EXPECT_FALSE(invited("bob", T0));
    InviteRequest req = request();
    req.replace = true;
    invite("bob", req);
    EXPECT_TRUE(invited("bob", T0));
    auto o = offer("alice");
    ASSERT_TRUE(o);
    ASSERT_EQ(confirm("alice", *o, totp_of(o->pending.enrollment, T0)).outcome, O::enrolled);
    EXPECT_FALSE(invited("alice", T0));
}

TEST_F(InvitationTest, LocalLoginsServesInvitationsAndTheAgentRefuses)
{
    invite("alice");
    LocalLogins local(*store_, opts_);
    auto o = local.offer_invite(ctx("alice", T0));
    ASSERT_TRUE(o && o->has_value());
    auto r = local.confirm_invite(ctx("alice", T0), **o, totp_of((*o)->pending.enrollment, T0));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, O::enrolled);

    AgentLogins agent(tmp_ / "no-such-socket", std::chrono::milliseconds(100));
    auto ao = agent.offer_invite(ctx("alice", T0));
    ASSERT_FALSE(ao);
    EXPECT_EQ(ao.error().code, Errc::unsupported);
    EXPECT_NE(ao.error().detail.find("store=agent"), std::string::npos);
    InviteOffer dummy;
    auto ac = agent.confirm_invite(ctx("alice", T0), dummy, "123456");
    ASSERT_FALSE(ac);
    EXPECT_EQ(ac.error().code, Errc::unsupported);
}

}  // namespace
}  // namespace authctl
