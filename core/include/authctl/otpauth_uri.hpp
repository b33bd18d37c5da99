// SPDX-License-Identifier: Apache-2.0
// The otpauth:// key URI read by authenticator apps:
//   otpauth://TYPE/ISSUER:ACCOUNT?secret=B32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
// (counter=N instead of period for HOTP).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "authctl/otp.hpp"
#include "authctl/result.hpp"
#include "authctl/secret.hpp"

namespace authctl {

enum class OtpType { totp, hotp };

const char* otp_type_name(OtpType type) noexcept;  // "totp" / "hotp"
Result<OtpType> parse_otp_type(std::string_view text);

struct KeyUri {
    OtpType type = OtpType::totp;
    std::string issuer;   // may be empty
    std::string account;  // required
    SecretBytes secret;   // required, kMinSecretBytes..kMaxSecretBytes
    HashAlgo algo = HashAlgo::sha1;
    unsigned digits = 6;
    unsigned period = 30;       // TOTP only
    std::uint64_t counter = 0;  // HOTP only
};

inline constexpr std::size_t kMaxSecretBytes = 128;
// Every key that enters authctl (enroll, import, a URI, store_enrollment) has
// at least this many bytes: 80 bits, what pam_google_authenticator writes.
// Records already stored are read with 1 byte and up (a record the parser
// refused would lock its user out); `authctl status` and `audit` flag them.
inline constexpr std::size_t kMinSecretBytes = 10;
inline constexpr std::size_t kMaxUriLength = 2048;
inline constexpr std::size_t kMaxLabelPart = 256;

// Builds the URI. The label and issuer are percent-encoded (UTF-8 kept as
// %XX bytes), the secret is base32 without padding, and every parameter is
// written out, including the defaults, so nothing is left to an app's guess.
// Fails with Errc::invalid_argument if `uri` would not parse back.
Result<std::string> build_key_uri(const KeyUri& uri);

// Parses a URI. The scheme and type are case-insensitive; the label's issuer
// prefix may be separated by ':' or "%3A"; an issuer parameter, when both are
// present, must equal the label's prefix. Unknown parameters are ignored (apps
// add e.g. image=); repeated ones, a missing or bad secret, an out-of-range
// algorithm/digits/period/counter, control characters and invalid UTF-8 are
// errors (Errc::invalid_argument) naming the parameter.
Result<KeyUri> parse_key_uri(std::string_view text);

}  // namespace authctl
