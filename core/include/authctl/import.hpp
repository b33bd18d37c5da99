// SPDX-License-Identifier: Apache-2.0
// Readers for the files of the tools we replace, so users keep their phones:
// ~/.google_authenticator (pam_google_authenticator) and pam_oath usersfiles.
// Both are hostile input (a user writes their own ~/.google_authenticator):
// bounded, strict, and an error names the line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authctl/admin.hpp"
#include "authctl/result.hpp"

namespace authctl {

inline constexpr std::size_t kMaxImportFileBytes = 64 * 1024;

struct GoogleAuthenticatorFile {
    SecretBytes secret;
    OtpType type = OtpType::totp;
    unsigned step = 30;                      // STEP_SIZE
    unsigned window = 3;                     // WINDOW_SIZE (codes accepted in total)
    std::uint64_t counter = 0;               // HOTP_COUNTER: the next counter
    std::optional<std::uint64_t> last_step;  // highest DISALLOW_REUSE step
    bool disallow_reuse = false;
    std::vector<std::string> scratch_codes;  // 8-digit emergency codes
};

// Parses the text of a ~/.google_authenticator file: the base32 secret on the
// first line, then `" OPTION ...` lines and 8-digit scratch codes.
Result<GoogleAuthenticatorFile> parse_google_authenticator(std::string_view text);

// The enrollment the file describes (SHA1, 6 digits, its step and counter;
// confirmed, since the user already uses it; scratch codes become recovery codes).
Result<PendingEnrollment> enrollment_from_google_authenticator(const GoogleAuthenticatorFile& f, std::int64_t now);

struct OathEntry {
    std::size_t line = 0;
    std::string user;
    PendingEnrollment pending;
};

struct OathFile {
    std::vector<OathEntry> entries;
    std::vector<std::string> skipped;  // "line N: user: why" for lines that cannot be imported
};

// Parses a pam_oath usersfile: `TYPE USER PIN SECRET [COUNTER [OTP [TIME]]]`
// with TYPE one of HOTP, HOTP/E[/D], HOTP/T<step>[/D]. Lines with a PIN are
// skipped (authctl has no PINs), as are unknown types; the reason is kept.
Result<OathFile> parse_oath_usersfile(std::string_view text, std::int64_t now);

}  // namespace authctl
