// SPDX-License-Identifier: Apache-2.0
// Records at rest in the fleet database: AES-256-GCM with the user name and the
// key id bound as associated data, and the root-only key file that holds the
// fleet keys.
#include "authctl/sealed.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace authctl {
namespace {

// Fixed keys for the parser tests (32 bytes each, canonical base64).
const std::string kKeyA = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // 00 01 .. 1f
const std::string kKeyB = "//////////////////////////////////////////8=";  // 32 x ff
constexpr std::size_t kOverhead = 4 + 12 + 16;                             // header, nonce, tag (plus the id)

Keyring ring_from(const std::string& text)
{
    auto ring = parse_keyring(text, "test.key");
    if (!ring) throw std::runtime_error(ring.error().message());
    return std::move(*ring);
}

// A keyring with two fresh keys, k1 (current) and k2.
Keyring fresh_ring()
{
    return ring_from(*new_key_line("k1") + *new_key_line("k2") + "current k1\n");
}

const std::string kRecord = "authctl-record 1\ntype totp\nsecret JBSWY3DPEHPK3PXP\n";

TEST(Sealed, RoundTrip)
{
    const Keyring ring = fresh_ring();
    auto sealed = seal(ring.current_key(), "alice", kRecord);
    ASSERT_TRUE(sealed) << sealed.error().message();
    EXPECT_EQ(sealed->size(), kOverhead + 2 + kRecord.size());
    EXPECT_EQ(sealed->substr(0, 6), std::string("AS1\x02k1", 6));
    EXPECT_EQ(sealed->find("JBSWY3DP"), std::string::npos) << "the secret is visible in the sealed form";
    auto id = sealed_key_id(*sealed);
    ASSERT_TRUE(id);
    EXPECT_EQ(*id, "k1");
    auto plain = open_sealed(ring, "alice", *sealed);
    ASSERT_TRUE(plain) << plain.error().message();
    EXPECT_EQ(plain->view(), kRecord);
}

// Every server must open what another sealed: the layout and the associated
// data are pinned here by decrypting with plain EVP calls.
TEST(Sealed, LayoutAndAssociatedDataAreAsDocumented)
{
    const Keyring ring = ring_from("key fleet-1 " + kKeyA + "\ncurrent fleet-1\n");
    const std::string user = "alice";
    const std::string sealed = *seal(ring.current_key(), user, kRecord);
    ASSERT_EQ(sealed.substr(0, 4), std::string("AS1\x07", 4));
    ASSERT_EQ(sealed.substr(4, 7), "fleet-1");
    const std::string nonce = sealed.substr(11, 12);
    const std::string cipher = sealed.substr(23, sealed.size() - 23 - 16);
    std::string tag = sealed.substr(sealed.size() - 16);
    const std::string aad = std::string("authctl-sealed-v1\0", 18) + std::string("\0\0\0\x05", 4) + user + "fleet-1";
    const auto u = [](const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); };

    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    ASSERT_NE(ctx, nullptr);
    std::string plain(cipher.size(), '\0');
    int len = 0;
    EXPECT_EQ(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, ring.current_key().key.data(), u(nonce)), 1);
    EXPECT_EQ(EVP_DecryptUpdate(ctx, nullptr, &len, u(aad), static_cast<int>(aad.size())), 1);
    EXPECT_EQ(EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(plain.data()), &len, u(cipher),
                                static_cast<int>(cipher.size())),
              1);
    EXPECT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag.data()), 1);
    unsigned char scratch[16];
    EXPECT_EQ(EVP_DecryptFinal_ex(ctx, scratch, &len), 1) << "the associated data is not as documented";
    EVP_CIPHER_CTX_free(ctx);
    EXPECT_EQ(plain, kRecord);
}

TEST(Sealed, RoundTripsUnderAnOlderKeyAndEmptyValues)
{
    const Keyring ring = fresh_ring();
    auto sealed = seal(*ring.find("k2"), "bob", kRecord);
    ASSERT_TRUE(sealed);
    auto plain = open_sealed(ring, "bob", *sealed);
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->view(), kRecord);

    auto empty = seal(ring.current_key(), "", "");
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->size(), kOverhead + 2);
    auto opened = open_sealed(ring, "", *empty);
    ASSERT_TRUE(opened) << opened.error().message();
    EXPECT_TRUE(opened->empty());
    EXPECT_FALSE(open_sealed(ring, "x", *empty));
}

TEST(Sealed, AnotherUserDoesNotOpen)
{
    const Keyring ring = fresh_ring();
    const std::string sealed = *seal(ring.current_key(), "alice", kRecord);
    for (const char* user : {"bob", "alic", "alice ", "Alice", "alicek1", ""}) {
        auto plain = open_sealed(ring, user, sealed);
        ASSERT_FALSE(plain) << user;
        EXPECT_EQ(plain.error().code, Errc::crypto) << user;
        EXPECT_EQ(plain.error().detail.find("JBSWY3DP"), std::string::npos);
    }
}

TEST(Sealed, RelabelledKeyIdDoesNotOpenEvenWithTheSameKeyBytes)
{
    // Both ids hold the same key: only the associated data tells them apart.
    const Keyring ring = ring_from("key k1 " + kKeyA + "\nkey k2 " + kKeyA + "\ncurrent k1\n");
    std::string sealed = *seal(ring.current_key(), "alice", kRecord);
    ASSERT_TRUE(open_sealed(ring, "alice", sealed));
    sealed[5] = '2';
    ASSERT_EQ(*sealed_key_id(sealed), "k2");
    auto plain = open_sealed(ring, "alice", sealed);
    ASSERT_FALSE(plain);
    EXPECT_EQ(plain.error().code, Errc::crypto);
}

TEST(Sealed, AssociatedDataIsUnambiguous)
{
    // ("alice", key "k1") and ("alicek", key "1") concatenate alike; the user's
    // length prefix keeps them apart. Same key bytes under both ids.
    const Keyring ring = ring_from("key k1 " + kKeyA + "\nkey 1 " + kKeyA + "\ncurrent k1\n");
    const std::string sealed = *seal(ring.current_key(), "alice", kRecord);
    const std::string relabelled = std::string("AS1\x01", 4) + "1" + sealed.substr(6);
    ASSERT_EQ(*sealed_key_id(relabelled), "1");
    auto plain = open_sealed(ring, "alicek", relabelled);
    ASSERT_FALSE(plain);
    EXPECT_EQ(plain.error().code, Errc::crypto);
}

TEST(Sealed, EveryChangedByteFails)
{
    const Keyring ring = fresh_ring();
    const std::string sealed = *seal(ring.current_key(), "alice", kRecord);
    for (std::size_t i = 0; i < sealed.size(); ++i) {
        for (const unsigned char mask : std::array<unsigned char, 3>{0x01, 0x80, 0xFF}) {
            std::string changed = sealed;
            changed[i] = static_cast<char>(static_cast<unsigned char>(changed[i]) ^ mask);
            auto plain = open_sealed(ring, "alice", changed);
            ASSERT_FALSE(plain) << "byte " << i << " ^ " << int{mask} << " still opens";
            EXPECT_TRUE(plain.error().code == Errc::crypto || plain.error().code == Errc::corrupt)
                << i << ": " << plain.error().message();
        }
    }
    EXPECT_FALSE(open_sealed(ring, "alice", sealed + '\0'));
    EXPECT_FALSE(open_sealed(ring, "alice", sealed + sealed));
}

TEST(Sealed, EveryTruncationFailsCleanly)
{
    const Keyring ring = fresh_ring();
    const std::string sealed = *seal(ring.current_key(), "alice", kRecord);
    const std::size_t shortest = kOverhead + 2;
    for (std::size_t n = 0; n < sealed.size(); ++n) {
        const std::string cut = sealed.substr(0, n);
        auto plain = open_sealed(ring, "alice", cut);
        ASSERT_FALSE(plain) << n;
        EXPECT_EQ(plain.error().code, n < shortest ? Errc::corrupt : Errc::crypto) << n << ": " << plain.error().detail;
        EXPECT_EQ(sealed_key_id(cut).has_value(), n >= shortest) << n;
    }
}

TEST(Sealed, MalformedHeadersAreCorrupt)
{
    const Keyring ring = fresh_ring();
    const std::string tail(28, 'x');
    for (const std::string& bad : {std::string("AS2\x02k1", 6) + tail, std::string("AS1\x00", 4) + tail,
                                   std::string("AS1\x21", 4) + std::string(33, 'a') + tail,
                                   std::string("AS1\x02k/", 6) + tail, std::string("AS1\x02k\n", 6) + tail}) {
        auto id = sealed_key_id(bad);
        ASSERT_FALSE(id) << bad;
        EXPECT_EQ(id.error().code, Errc::corrupt);
        auto plain = open_sealed(ring, "alice", bad);
        ASSERT_FALSE(plain);
        EXPECT_EQ(plain.error().code, Errc::corrupt);
    }
}

TEST(Sealed, UnknownKeyIdFails)
{
    const Keyring ring = fresh_ring();
    const std::string sealed = *seal(ring.current_key(), "alice", kRecord);
    const Keyring other = ring_from(*new_key_line("k9") + "current k9\n");
    auto plain = open_sealed(other, "alice", sealed);
    ASSERT_FALSE(plain);
    EXPECT_EQ(plain.error().code, Errc::crypto);
    EXPECT_NE(plain.error().detail.find("'k1'"), std::string::npos) << plain.error().detail;

    // The same id with other key bytes: authentication fails.
    const Keyring impostor = ring_from(*new_key_line("k1") + "current k1\n");
    auto forged = open_sealed(impostor, "alice", sealed);
    ASSERT_FALSE(forged);
    EXPECT_EQ(forged.error().code, Errc::crypto);
}

TEST(Sealed, TwoSealsOfTheSameValueDiffer)
{
    const Keyring ring = fresh_ring();
    const std::string a = *seal(ring.current_key(), "alice", kRecord);
    const std::string b = *seal(ring.current_key(), "alice", kRecord);
    EXPECT_NE(a, b);
    EXPECT_NE(a.substr(6, 12), b.substr(6, 12)) << "nonce reused";
    EXPECT_EQ(open_sealed(ring, "alice", a)->view(), open_sealed(ring, "alice", b)->view());
}

TEST(Sealed, RefusesAMalformedKey)
{
    FleetKey bad{"k1", SecretBytes(16)};
    auto sealed = seal(bad, "alice", kRecord);
    ASSERT_FALSE(sealed);
    EXPECT_EQ(sealed.error().code, Errc::invalid_argument);
    FleetKey bad_id{"k 1", SecretBytes(kFleetKeyBytes)};
    EXPECT_FALSE(seal(bad_id, "alice", kRecord));
    FleetKey long_id{std::string(33, 'a'), SecretBytes(kFleetKeyBytes)};
    EXPECT_FALSE(seal(long_id, "alice", kRecord));
    FleetKey max_id{std::string(32, 'a'), SecretBytes(kFleetKeyBytes)};
    auto ok = seal(max_id, "alice", kRecord);
    ASSERT_TRUE(ok);
    EXPECT_EQ(*sealed_key_id(*ok), std::string(32, 'a'));
}

// --- the key file ---

void expect_refused(const std::string& text, const std::string& needle)
{
    auto ring = parse_keyring(text, "fleet.key");
    ASSERT_FALSE(ring) << "accepted:\n" << text;
    EXPECT_EQ(ring.error().code, Errc::invalid_argument);
    EXPECT_NE(ring.error().detail.find(needle), std::string::npos) << ring.error().detail;
    // No error echoes key material.
    for (const std::string& key : {kKeyA, kKeyB, kKeyA.substr(0, 20), kKeyB.substr(0, 20)})
        EXPECT_EQ(ring.error().detail.find(key), std::string::npos) << ring.error().detail;
}

TEST(Keyring, ParsesAValidFile)
{
    auto ring = parse_keyring(
        "# fleet keys\n\nkey 2024-01 " + kKeyA + "  # old\r\n\tkey\t2025.a_B-9\t" + kKeyB + "\ncurrent 2025.a_B-9\n",
        "fleet.key");
    ASSERT_TRUE(ring) << ring.error().message();
    ASSERT_EQ(ring->keys.size(), 2U);
    EXPECT_EQ(ring->current, "2025.a_B-9");
    EXPECT_EQ(&ring->current_key(), ring->find("2025.a_B-9"));
    EXPECT_EQ(ring->find("nope"), nullptr);
    const FleetKey* a = ring->find("2024-01");
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(a->key.size(), kFleetKeyBytes);
    for (std::size_t i = 0; i < kFleetKeyBytes; ++i) EXPECT_EQ(a->key.data()[i], i);
    EXPECT_EQ(ring->current_key().key.view(), std::string(32, '\xff'));
}

TEST(Keyring, NeedsExactlyOneCurrentNamingAKey)
{
    expect_refused("key k1 " + kKeyA + "\n", "fleet.key: no 'current ID' line");
    expect_refused("", "no 'current ID' line");
    expect_refused("key k1 " + kKeyA + "\ncurrent k2\n", "fleet.key:2: 'current' names key 'k2'");
    expect_refused("current k1\nkey k1 " + kKeyA + "\ncurrent k1\n", "fleet.key:3: a second 'current' line");
    expect_refused("key k1 " + kKeyA + "\ncurrent\n", "fleet.key:2: expected 'current ID'");
    expect_refused("key k1 " + kKeyA + "\ncurrent k1 k1\n", "fleet.key:2: expected 'current ID'");
    // current before its key is fine
    EXPECT_TRUE(parse_keyring("current k1\nkey k1 " + kKeyA + "\n", "x"));
}

TEST(Keyring, RefusesBadBase64)
{
    const std::string head = "current k1\nkey k1 ";
    expect_refused(head + kKeyA.substr(0, 43) + "\n", "fleet.key:2: key 'k1' is not valid base64");  // no padding
    expect_refused(head + kKeyA.substr(0, 42) + "!=" + "\n", "is not valid base64");
    expect_refused(head + kKeyA.substr(0, 20) + "=" + kKeyA.substr(21) + "\n", "is not valid base64");
    expect_refused(head + kKeyA.substr(0, 42) + "9=\n", "is not valid base64");  // non-canonical last bits
    expect_refused(head + kKeyA + "=\n", "is not valid base64");
    expect_refused(head + "====\n", "is not valid base64");
    expect_refused(head + kKeyA.substr(0, 40) + " " + kKeyA.substr(40) + "\n", "expected 'key ID BASE64'");
    expect_refused("current k1\nkey k1\n", "fleet.key:2: expected 'key ID BASE64'");
    expect_refused("current k1\nkey " + kKeyA + "\n", "expected 'key ID BASE64'");
    expect_refused("current k1\n" + kKeyA + "\n", "expected 'key ID BASE64' or 'current ID'");
}

TEST(Keyring, RefusesWrongKeyLengths)
{
    expect_refused("current k1\nkey k1 AAECAwQFBgcICQoLDA0ODw==\n", "key 'k1' is 16 bytes, not 32");
    expect_refused("current k1\nkey k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", "is 31 bytes, not 32");
    expect_refused("current k1\nkey k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n", "is 33 bytes, not 32");
    expect_refused(
        "current k1\nkey k1 "
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==\n",
        "is 64 bytes, not 32");
}

TEST(Keyring, RefusesDuplicateAndBadIds)
{
    expect_refused("key k1 " + kKeyA + "\nkey k1 " + kKeyB + "\ncurrent k1\n", "fleet.key:2: key 'k1' defined twice");
    for (const std::string& id : std::vector<std::string>{"k/1", "k:1", "k+1", "ké", std::string(33, 'a'), "k=1"})
        expect_refused("key " + id + " " + kKeyA + "\ncurrent k1\n", "fleet.key:1: a key id is 1 to 32");
    expect_refused("key k1 " + kKeyA + "\ncurrent k/1\n", "fleet.key:2: a key id is 1 to 32");
    expect_refused("key k1 " + kKeyA + "\x01\ncurrent k1\n", "fleet.key:1: control character");
    EXPECT_TRUE(parse_keyring("key " + std::string(32, 'a') + " " + kKeyA + "\ncurrent " + std::string(32, 'a'), "x"));
}

TEST(Keyring, RefusesTooManyKeys)
{
    std::string text = "current k0\n";
    for (std::size_t i = 0; i < kMaxFleetKeys; ++i) text += "key k" + std::to_string(i) + " " + kKeyA + "\n";
    auto ring = parse_keyring(text, "fleet.key");
    ASSERT_TRUE(ring) << ring.error().message();
    EXPECT_EQ(ring->keys.size(), kMaxFleetKeys);
    expect_refused(text + "key k" + std::to_string(kMaxFleetKeys) + " " + kKeyA + "\n",
                   "fleet.key:" + std::to_string(kMaxFleetKeys + 2) + ": more than 16 keys");
}

TEST(Keyring, NewKeyLineRoundTrips)
{
    auto line = new_key_line("2025-06");
    ASSERT_TRUE(line) << line.error().message();
    EXPECT_EQ(line->substr(0, 12), "key 2025-06 ");
    EXPECT_EQ(line->size(), 12 + 44 + 1U);
    EXPECT_EQ(line->back(), '\n');
    auto ring = parse_keyring(*line + "current 2025-06\n", "new");
    ASSERT_TRUE(ring) << ring.error().message();
    EXPECT_EQ(ring->current_key().key.size(), kFleetKeyBytes);
    EXPECT_NE(*new_key_line("2025-06"), *line) << "two new keys are equal";
    auto sealed = seal(ring->current_key(), "carol", kRecord);
    ASSERT_TRUE(sealed);
    EXPECT_EQ(open_sealed(*ring, "carol", *sealed)->view(), kRecord);
    for (const std::string& bad : std::vector<std::string>{"", "a b", "a/b", std::string(33, 'x')}) {
        auto refused = new_key_line(bad);
        ASSERT_FALSE(refused) << bad;
        EXPECT_EQ(refused.error().code, Errc::invalid_argument);
    }
}

class KeyringFile : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(::geteuid(), 0U) << "these tests need root (file ownership checks)";
        text_ = "key k1 " + kKeyA + "\ncurrent k1\n";
    }
    test::TempDir tmp_;
    std::string text_;
};

TEST_F(KeyringFile, LoadsARootOnlyFile)
{
    for (const mode_t mode : std::array<mode_t, 2>{0600, 0400}) {
        const std::string path = tmp_ / ("k" + std::to_string(mode));
        test::write_file(path, text_, mode);
        auto ring = load_keyring(path);
        ASSERT_TRUE(ring) << ring.error().message();
        EXPECT_EQ(ring->current, "k1");
    }
}

TEST_F(KeyringFile, RefusesLooseForeignAndSymlinkedFiles)
{
    for (const mode_t mode : std::array<mode_t, 5>{0640, 0604, 0644, 0660, 0610}) {
        const std::string path = tmp_ / ("m" + std::to_string(mode));
        test::write_file(path, text_, mode);
        auto ring = load_keyring(path);
        ASSERT_FALSE(ring) << std::oct << mode;
        EXPECT_EQ(ring.error().code, Errc::insecure) << ring.error().message();
    }
    test::write_file(tmp_ / "foreign", text_, 0600);
    ASSERT_EQ(::chown((tmp_ / "foreign").c_str(), 65534, 0), 0);
    auto foreign = load_keyring(tmp_ / "foreign");
    ASSERT_FALSE(foreign);
    EXPECT_EQ(foreign.error().code, Errc::insecure);

    test::write_file(tmp_ / "real", text_, 0600);
    ASSERT_EQ(::symlink((tmp_ / "real").c_str(), (tmp_ / "link").c_str()), 0);
    auto linked = load_keyring(tmp_ / "link");
    ASSERT_FALSE(linked);
    EXPECT_EQ(linked.error().code, Errc::insecure);

    auto missing = load_keyring(tmp_ / "none");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST_F(KeyringFile, ParseErrorsNameThePath)
{
    test::write_file(tmp_ / "bad", "key k1 " + kKeyA + "\n", 0600);
    auto ring = load_keyring(tmp_ / "bad");
    ASSERT_FALSE(ring);
    EXPECT_EQ(ring.error().code, Errc::invalid_argument);
    EXPECT_EQ(ring.error().detail.rfind(tmp_ / "bad: ", 0), 0U) << ring.error().detail;
}

}  // namespace
}  // namespace authctl
