// SPDX-License-Identifier: Apache-2.0
// Cross-checks the engine against oathtool (OATH Toolkit), an independent
// implementation, for random secrets, times, counters, digits and algorithms.
// The key goes to oathtool on stdin ('-'), never in argv.
#include <gtest/gtest.h>

#include <openssl/rand.h>

#include <random>

#include "authctl/otp.hpp"
#include "test_support.hpp"

namespace authctl {
namespace {

std::string hex(const SecretBytes& key)
{
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < key.size(); ++i) {
        out.push_back(digits[key.data()[i] >> 4]);
        out.push_back(digits[key.data()[i] & 15]);
    }
    return out;
}

std::string oathtool(const std::vector<std::string>& args, const SecretBytes& key)
{
    std::vector<std::string> argv = {"oathtool"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("-");
    int status = -1;
    std::string out = test::run(argv, hex(key) + "\n", status);
    EXPECT_EQ(status, 0) << "oathtool failed";
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

class OathtoolCrossCheck : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!test::have_program("oathtool")) GTEST_FAIL() << "oathtool is not installed (scripts/test installs it)";
    }
    std::mt19937_64 rng{0x5eed1234};  // the cases are reproducible; the secrets are random bytes
};

TEST_F(OathtoolCrossCheck, TotpRandomSecretsTimesDigitsAlgorithms)
{
    const HashAlgo algos[] = {HashAlgo::sha1, HashAlgo::sha256, HashAlgo::sha512};
    const char* names[] = {"sha1", "sha256", "sha512"};
    for (int i = 0; i < 36; ++i) {
        const std::size_t len = 10 + rng() % 55;
        SecretBytes key(len);
        ASSERT_EQ(RAND_bytes(key.data(), static_cast<int>(len)), 1);
        const int a = i % 3;
        const unsigned digits = 6 + static_cast<unsigned>(rng() % 3);
        const unsigned period = 1 + static_cast<unsigned>(rng() % 300);
        // Times up to year ~2500, including the 32-bit rollover region.
        const std::int64_t now = static_cast<std::int64_t>(rng() % 17000000000ULL);
        auto mine = hotp_value(key, totp_step(now, period), algos[a], digits);
        ASSERT_TRUE(mine) << mine.error().message();
        const std::string theirs = oathtool({std::string("--totp=") + names[a], "-d", std::to_string(digits), "-s",
                                             std::to_string(period) + "s", "-N", "@" + std::to_string(now)},
                                            key);
        EXPECT_EQ(format_code(*mine, digits), theirs)
            << "algo " << names[a] << " digits " << digits << " period " << period << " now " << now;
    }
}

TEST_F(OathtoolCrossCheck, HotpRandomSecretsCountersDigits)
{
    for (int i = 0; i < 24; ++i) {
        SecretBytes key(20);
        ASSERT_EQ(RAND_bytes(key.data(), 20), 1);
        const unsigned digits = 6 + static_cast<unsigned>(rng() % 3);
        const std::uint64_t counter = (i % 2 == 0) ? rng() % 1000 : rng() % (1ULL << 40);
        auto mine = hotp_value(key, counter, HashAlgo::sha1, digits);
        ASSERT_TRUE(mine);
        const std::string theirs =
            oathtool({"--hotp", "-d", std::to_string(digits), "-c", std::to_string(counter)}, key);
        EXPECT_EQ(format_code(*mine, digits), theirs) << "digits " << digits << " counter " << counter;
    }
}

TEST_F(OathtoolCrossCheck, VerificationWindowAgreesWithOathtoolWindow)
{
    // oathtool -w 2 prints the codes for counters c..c+2; each must be found by
    // find_counter at exactly that counter.
    SecretBytes key(20);
    ASSERT_EQ(RAND_bytes(key.data(), 20), 1);
    const std::string out = oathtool({"--hotp", "-d", "6", "-c", "1000", "-w", "2"}, key);
    std::istringstream lines(out);
    std::string code;
    std::uint64_t expected = 1000;
    int seen = 0;
    while (std::getline(lines, code)) {
        auto m = find_counter(key, HashAlgo::sha1, 6, code, 999, 1003);
        ASSERT_TRUE(m);
        ASSERT_TRUE(m->has_value()) << code;
        EXPECT_EQ(**m, expected);  // (a chance collision with a nearby counter: ~1e-6)
        ++expected;
        ++seen;
    }
    EXPECT_EQ(seen, 3);
}

}  // namespace
}  // namespace authctl
