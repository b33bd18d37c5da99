// SPDX-License-Identifier: Apache-2.0
// Issue 19, point 1 ("the timing of a locked unknown name matches a locked
// real one"): a wrong answer costs the same work whoever it is for -- an
// enrolled user with or without recovery codes, a real user without an
// enrollment, or a name that does not exist (in its bucket). The wall time
// is measured by scripts/bench (section 7, `scripts/bench --names`); here the
// work itself is counted, exactly: this binary defines PKCS5_PBKDF2_HMAC and
// EVP_MAC_final, which the core linked into it calls instead of libcrypto's,
// and each counts the call and passes it on to libcrypto's (RTLD_NEXT).
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <unistd.h>

#include <atomic>
#include <dlfcn.h>

#include "authctl/enrollment.hpp"
#include "authctl/login.hpp"
#include "authctl/recovery.hpp"
#include "test_support.hpp"

namespace {
std::atomic<long> g_pbkdf2{0};
std::atomic<long> g_mac_final{0};
}  // namespace

extern "C" int PKCS5_PBKDF2_HMAC(const char* pass, int passlen, const unsigned char* salt, int saltlen, int iter,
                                 const EVP_MD* digest, int keylen, unsigned char* out)
{
    using Fn = int (*)(const char*, int, const unsigned char*, int, int, const EVP_MD*, int, unsigned char*);
    static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "PKCS5_PBKDF2_HMAC"));
    ++g_pbkdf2;
    return real == nullptr ? 0 : real(pass, passlen, salt, saltlen, iter, digest, keylen, out);
}

extern "C" int EVP_MAC_final(EVP_MAC_CTX* ctx, unsigned char* out, size_t* outl, size_t outsize)
{
    using Fn = int (*)(EVP_MAC_CTX*, unsigned char*, size_t*, size_t);
    static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "EVP_MAC_final"));
    ++g_mac_final;
    return real == nullptr ? 0 : real(ctx, out, outl, outsize);
}

namespace authctl {
namespace {

constexpr std::int64_t T0 = 1700000010;

struct Work {
    long pbkdf2 = 0;
    long macs = 0;
    Outcome outcome = Outcome::success;
};

class AnswerWorkTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "the store requires root-owned files; run as root";
        auto s = UserStore::open_or_create(tmp_ / "state");
        ASSERT_TRUE(s) << s.error().message();
        store_.emplace(std::move(*s));
        opts_.lockout.deny = 0;  // every answer evaluated
        opts_.lockout.deny_consecutive = 0;
        ASSERT_TRUE(store_->bucket_key());  // made once, before anything is counted
    }

    void enroll(const std::string& user, std::size_t recovery)
    {
        auto held = store_->lock(user);
        ASSERT_TRUE(held);
        UserRecord r;
        auto e = new_enrollment(EnrollParams{}, T0);  // enroll's defaults: TOTP, SHA-1, 6 digits, 30 s
        ASSERT_TRUE(e);
        r.enrollment = std::move(*e);
        if (recovery > 0) {
            ASSERT_TRUE(generate_recovery_codes(r.recovery, recovery));
        }
        held->record() = std::move(r);
        ASSERT_TRUE(held->commit());
    }

    // The work of one wrong answer of `user` (a name that does not exist when unknown).
    Work answer(const std::string& user, const std::string& text, bool unknown = false)
    {
        const std::string digest = unknown_name_digest(user);
        LoginContext ctx{unknown ? std::string_view(digest) : std::string_view(user), false, "192.0.2.1", T0};
        ctx.unknown_name = unknown;
        const long p0 = g_pbkdf2.load();
        const long m0 = g_mac_final.load();
        auto r = attempt_code(*store_, ctx, opts_, text);
        Work w;
        w.pbkdf2 = g_pbkdf2.load() - p0;
        w.macs = g_mac_final.load() - m0;
        EXPECT_TRUE(r) << r.error().message();
        if (r) w.outcome = r->outcome;
        return w;
    }

    test::TempDir tmp_;
    std::optional<UserStore> store_;
    Options opts_;
};

TEST_F(AnswerWorkTest, AWrongAnswerCostsTheSameWorkWhoeverItIsFor)
{
    enroll("plain", 0);
    enroll("coded", 10);
    for (const std::string text : {"000000", "123 456", "abcd-efgh-ijkl-mnop", "ABCDEFGH", "x"}) {
        SCOPED_TRACE(text);
        const Work plain = answer("plain", text);
        const Work coded = answer("coded", text);
        const Work unenrolled = answer("nemo", text);
        const Work unknown = answer("no-such-name", text, true);
        EXPECT_EQ(plain.outcome, Outcome::wrong_code);
        EXPECT_EQ(unenrolled.outcome, Outcome::not_enrolled);
        EXPECT_EQ(unknown.outcome, Outcome::not_enrolled);
        // A code-shaped answer: the whole TOTP window (window 1: three steps).
        const bool code_shaped = text == "000000" || text == "123 456";
        EXPECT_EQ(plain.macs, code_shaped ? 3 : 0);
        for (const Work* w : {&coded, &unenrolled, &unknown}) EXPECT_EQ(w->macs, plain.macs);
        // A recovery-shaped answer: one derivation, codes or not.
        const bool recovery_shaped = text.size() >= 8;
        EXPECT_EQ(coded.pbkdf2, recovery_shaped ? 1 : 0);
        for (const Work* w : {&plain, &unenrolled, &unknown}) EXPECT_EQ(w->pbkdf2, coded.pbkdf2);
    }
}

TEST(RecoveryWork, NoCodesStillDeriveAndNeverMatch)
{
    const RecoverySet none;
    const long p0 = g_pbkdf2.load();
    auto m = match_recovery_code(none, "abcd-efgh-ijkl-mnop");
    ASSERT_TRUE(m);
    EXPECT_FALSE(*m);
    EXPECT_EQ(g_pbkdf2.load() - p0, 1);
    auto short_answer = match_recovery_code(none, "1234");
    ASSERT_TRUE(short_answer);
    EXPECT_FALSE(*short_answer);
    EXPECT_EQ(g_pbkdf2.load() - p0, 1) << "not recovery-shaped: nothing derived, for anyone";
}

}  // namespace
}  // namespace authctl
