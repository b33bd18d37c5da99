// SPDX-License-Identifier: Apache-2.0
// The buckets of names that do not exist (login.hpp): a keyed map from a
// name's digest to one of 4096 records.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <new>

#include "authctl/login.hpp"

namespace authctl {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::size_t kDigestBytes = 32;  // SHA-256

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

bool is_unknown_name_digest(std::string_view digest) noexcept
{
    if (digest.size() != 2 * kDigestBytes) return false;
    for (const char c : digest)
        if (hex_value(c) < 0) return false;
    return true;
}

std::string unknown_name_digest(std::string_view name)
{
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    std::size_t len = 0;
    // A failure of SHA-256 itself (out of memory in libcrypto) is thrown:
    // the module's wall turns it into PAM_BUF_ERR / PAM_SERVICE_ERR.
    if (EVP_Q_digest(nullptr, "SHA256", nullptr, name.data(), name.size(), md.data(), &len) != 1 || len != kDigestBytes)
        throw std::bad_alloc();
    std::string out;
    out.reserve(2 * kDigestBytes);
    for (std::size_t i = 0; i < kDigestBytes; ++i) {
        out.push_back(kHex[md[i] >> 4]);
        out.push_back(kHex[md[i] & 15U]);
    }
    return out;
}

Result<std::string> unknown_name_bucket(std::string_view digest, const SecretBytes* key)
{
    if (!is_unknown_name_digest(digest))
        return make_error(Errc::invalid_argument, "not the digest of a name (64 lowercase hex digits)");
    std::array<unsigned char, kDigestBytes> raw{};
    for (std::size_t i = 0; i < kDigestBytes; ++i)
        raw[i] = static_cast<unsigned char>(hex_value(digest[2 * i]) << 4 | hex_value(digest[2 * i + 1]));
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    const unsigned char* bits = raw.data();  // no key: SHA-256(name) itself, the public fallback
    if (key != nullptr) {
        if (key->size() != kBucketKeyBytes)
            return make_error(Errc::invalid_argument, "bucket key is " + std::to_string(key->size()) + " bytes, not " +
                                                          std::to_string(kBucketKeyBytes));
        std::size_t len = 0;
        if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key->data(), key->size(), raw.data(), raw.size(),
                      mac.data(), mac.size(), &len) == nullptr ||
            len != kDigestBytes)
            return make_error(Errc::crypto, "HMAC-SHA256 of the bucket failed");
        bits = mac.data();
    }
    const unsigned b = (static_cast<unsigned>(bits[0]) << 4) | (bits[1] >> 4);  // the first 12 bits
    std::string out(kUnknownBucketPrefix);
    out.push_back(kHex[(b >> 8) & 15U]);
    out.push_back(kHex[(b >> 4) & 15U]);
    out.push_back(kHex[b & 15U]);
    OPENSSL_cleanse(mac.data(), mac.size());
    return out;
}

Result<std::string> unknown_user_bucket(std::string_view name, const SecretBytes* key)
{
    return unknown_name_bucket(unknown_name_digest(name), key);
}

bool is_unknown_user_bucket(std::string_view name) noexcept
{
    return name.substr(0, kUnknownBucketPrefix.size()) == kUnknownBucketPrefix;
}

}  // namespace authctl
