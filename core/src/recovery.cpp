// SPDX-License-Identifier: Apache-2.0
#include "authctl/recovery.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "authctl/base32.hpp"

namespace authctl {
namespace {

Result<RecoveryHash> derive(const RecoverySet& set, std::string_view code)
{
    RecoveryHash out{};
    if (set.salt.empty() || set.iterations > static_cast<std::uint32_t>(INT32_MAX) ||
        PKCS5_PBKDF2_HMAC(code.data(), static_cast<int>(code.size()), set.salt.data(),
                          static_cast<int>(set.salt.size()), static_cast<int>(set.iterations), EVP_sha256(),
                          static_cast<int>(out.size()), out.data()) != 1)
        return make_error(Errc::crypto, "PBKDF2 failed");
    return out;
}

Status fresh_salt(RecoverySet& set)
{
    auto salt = random_secret(kRecoverySaltBytes);
    if (!salt) return salt.error();
    set.salt.assign(salt->data(), salt->data() + salt->size());
    set.iterations = kRecoveryIterations;
    set.hashes.clear();
    return Ok{};
}

}  // namespace

std::optional<std::string> normalize_recovery_code(std::string_view input)
{
    std::string out;
    out.reserve(40);  // never reallocates: no stray copy of a partial code
    for (char c : input) {
        if (c == '-' || c == ' ') continue;
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            wipe_string(out);
            return std::nullopt;
        }
        out.push_back(c);
        if (out.size() > 32) break;
    }
    if (out.size() < 8 || out.size() > 32) {
        wipe_string(out);
        return std::nullopt;
    }
    return out;
}

Result<std::vector<SecretBytes>> generate_recovery_codes(RecoverySet& set, std::size_t count)
{
    if (count == 0 || count > kMaxRecoveryCodes)
        return make_error(Errc::invalid_argument,
                          "recovery code count must be 1 to " + std::to_string(kMaxRecoveryCodes));
    RecoverySet next;
    if (auto st = fresh_salt(next); !st) return st.error();
    std::vector<SecretBytes> shown;
    for (std::size_t i = 0; i < count; ++i) {
        auto raw = random_secret(kRecoveryCodeChars * 5 / 8);
        if (!raw) return raw.error();
        std::string b32 = base32_encode(*raw);
        for (auto& c : b32) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        auto hash = derive(next, b32);
        if (!hash) {
            wipe_string(b32);
            return hash.error();
        }
        next.hashes.push_back(*hash);
        SecretBytes display;
        for (std::size_t k = 0; k < b32.size(); ++k) {
            if (k > 0 && k % 4 == 0) display.push_back('-');
            display.push_back(static_cast<std::uint8_t>(b32[k]));
        }
        wipe_string(b32);
        shown.push_back(std::move(display));
    }
    set = std::move(next);
    return shown;
}

Status import_recovery_codes(RecoverySet& set, const std::vector<std::string>& codes)
{
    if (codes.size() > kMaxRecoveryCodes)
        return make_error(Errc::invalid_argument, "more than " + std::to_string(kMaxRecoveryCodes) + " recovery codes");
    RecoverySet next;
    if (codes.empty()) {
        set = std::move(next);
        return Ok{};
    }
    if (auto st = fresh_salt(next); !st) return st.error();
    for (const auto& code : codes) {
        auto norm = normalize_recovery_code(code);
        if (!norm) return make_error(Errc::invalid_argument, "recovery code is not 8 to 32 letters and digits");
        auto hash = derive(next, *norm);
        wipe_string(*norm);
        if (!hash) return hash.error();
        next.hashes.push_back(*hash);
    }
    set = std::move(next);
    return Ok{};
}

Result<std::optional<std::size_t>> match_recovery_code(const RecoverySet& set, std::string_view input)
{
    auto norm = normalize_recovery_code(input);
    if (!norm) return std::optional<std::size_t>{};
    // No codes: the derivation all the same, with a fixed salt, and no match
    // (issue 19: the time of an answer must not say whether the user has
    // recovery codes, is enrolled, or exists).
    static const RecoverySet kNone{kRecoveryIterations, std::vector<std::uint8_t>(kRecoverySaltBytes, 0), {}};
    auto hash = derive(set.hashes.empty() ? kNone : set, *norm);
    wipe_string(*norm);
    if (!hash) return hash.error();
    std::optional<std::size_t> match;
    for (std::size_t i = 0; i < set.hashes.size(); ++i)
        if (CRYPTO_memcmp(hash->data(), set.hashes[i].data(), hash->size()) == 0 && !match) match = i;
    OPENSSL_cleanse(hash->data(), hash->size());
    return match;
}

}  // namespace authctl
