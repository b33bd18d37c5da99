// SPDX-License-Identifier: Apache-2.0
// Recovery codes: shown once, stored only as salted PBKDF2-HMAC-SHA256 hashes
// (one salt per user, so a login attempt costs one derivation however many
// codes are stored). NIST SP 800-63B asks a salted key-derivation function of
// look-up secrets below 112 bits.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "authctl/result.hpp"
#include "authctl/secret.hpp"

namespace authctl {

inline constexpr std::uint32_t kRecoveryIterations = 10000;
inline constexpr std::uint32_t kMinRecoveryIterations = 1000;
inline constexpr std::uint32_t kMaxRecoveryIterations = 10000000;
inline constexpr std::size_t kRecoverySaltBytes = 16;
inline constexpr std::size_t kMaxRecoveryCodes = 32;
inline constexpr std::size_t kRecoveryCodeChars = 16;  // 80 bits of base32, shown as xxxx-xxxx-xxxx-xxxx

using RecoveryHash = std::array<std::uint8_t, 32>;

struct RecoverySet {
    std::uint32_t iterations = kRecoveryIterations;
    std::vector<std::uint8_t> salt;  // empty when there are no codes
    std::vector<RecoveryHash> hashes;
};

// The canonical form a code is hashed in: '-' and spaces removed, letters
// lower-cased. nullopt unless the result is 8..32 characters of [a-z0-9]
// (authctl codes are 16 base32 characters; imported google-authenticator
// scratch codes are 8 digits).
std::optional<std::string> normalize_recovery_code(std::string_view input);

// Replaces `set` with `count` fresh random codes (1..kMaxRecoveryCodes) and
// returns them for display, formatted xxxx-xxxx-xxxx-xxxx.
Result<std::vector<SecretBytes>> generate_recovery_codes(RecoverySet& set, std::size_t count);

// Replaces `set` with hashes of the given codes (import of scratch codes).
// Each must normalize; at most kMaxRecoveryCodes.
Status import_recovery_codes(RecoverySet& set, const std::vector<std::string>& codes);

// The index of the stored hash `input` matches (compared in constant time,
// every hash compared), or nullopt. nullopt too when `input` is not code-shaped.
// A code-shaped input is derived (PBKDF2) even when the set holds no codes,
// with a fixed salt, and never matches: the time of an answer does not say
// whether its user has recovery codes (issue 19).
Result<std::optional<std::size_t>> match_recovery_code(const RecoverySet& set, std::string_view input);

}  // namespace authctl
