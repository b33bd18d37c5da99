// SPDX-License-Identifier: Apache-2.0
// Creating a new enrollment: a fresh secret and validated parameters.
#pragma once

#include <cstdint>

#include "authctl/otpauth_uri.hpp"
#include "authctl/record.hpp"

namespace authctl {

inline constexpr std::size_t kSecretBytes = 20;  // 160 bits, RFC 4226's recommendation

// EnrollParams: record.hpp (an invitation holds them too).

// A new, unconfirmed enrollment with a 160-bit secret from RAND_bytes, created
// at `now`. Errc::invalid_argument for digits outside 6..8 or a period outside
// 1..300, Errc::crypto if the generator fails.
Result<Enrollment> new_enrollment(const EnrollParams& params, std::int64_t now);

// True when the parameters are what every popular app honours (SHA1, 6 digits,
// 30 s); the CLI warns otherwise.
bool widely_supported(const EnrollParams& params) noexcept;

// The key URI for an enrollment.
Result<std::string> enrollment_uri(const Enrollment& e, std::string_view issuer, std::string_view account);

}  // namespace authctl
