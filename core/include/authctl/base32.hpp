// SPDX-License-Identifier: Apache-2.0
// RFC 4648 base32 (alphabet A-Z2-7), as used in otpauth:// URIs.
#pragma once

#include <string>
#include <string_view>

#include "authctl/result.hpp"
#include "authctl/secret.hpp"

namespace authctl {

// Encodes bytes as upper-case base32 without '=' padding.
std::string base32_encode(const std::uint8_t* data, std::size_t n);
inline std::string base32_encode(const SecretBytes& s)
{
    return base32_encode(s.data(), s.size());
}

// True when `text` is exactly what base32_encode writes for some bytes: A-Z and
// 2-7 only, no padding, a length whole bytes can have, zero bits after the
// last byte.
bool base32_is_canonical(std::string_view text) noexcept;

// Decodes base32: case-insensitive; spaces, tabs and '-' are ignored; trailing
// '=' padding is optional but, when present, must be the correct amount. Rejects
// other characters, '=' before the end and impossible lengths (1, 3 or 6 symbols
// in the last group); leftover bits below a whole byte are dropped. Fails with Errc::invalid_argument
// naming the position of the first bad character. Inputs longer than
// kBase32MaxInput characters are refused.
inline constexpr std::size_t kBase32MaxInput = 1024;
Result<SecretBytes> base32_decode(std::string_view text);

}  // namespace authctl
