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
#include "authctl/options.hpp"
#include "authctl/record.hpp"
#include "authctl/result.hpp"

namespace authctl {

inline constexpr std::size_t kMaxImportFileBytes = 64 * 1024;

struct GoogleAuthenticatorFile {
    SecretBytes secret;
    OtpType type = OtpType::totp;
    unsigned step = 30;                      // STEP_SIZE
    std::optional<unsigned> window;          // WINDOW_SIZE (codes accepted in total; 3 when absent)
    std::uint64_t counter = 0;               // HOTP_COUNTER: the next counter
    std::optional<std::uint64_t> last_step;  // highest DISALLOW_REUSE step
    bool disallow_reuse = false;
    std::optional<unsigned> rate_limit_attempts;  // RATE_LIMIT attempts ...
    unsigned rate_limit_interval = 0;             // ... per this many seconds
    std::optional<long> time_skew;                // TIME_SKEW, in steps
    std::vector<std::string> scratch_codes;       // 8-digit emergency codes
};

// Parses the text of a ~/.google_authenticator file: the base32 secret on the
// first line, then `" OPTION ...` lines (TOTP_AUTH, HOTP_COUNTER, STEP_SIZE,
// WINDOW_SIZE, DISALLOW_REUSE, RATE_LIMIT, TIME_SKEW, RESETTING_TIME_SKEW, as
// pam_google_authenticator writes them) and 8-digit scratch codes. Any other
// option is an error naming it.
Result<GoogleAuthenticatorFile> parse_google_authenticator(std::string_view text);

// The file's settings that the enrollment does not carry over, one line each
// ("WINDOW_SIZE 17: ..."), saying what authctl does instead under `opts`.
// Settings that are carried (secret, TOTP/HOTP, STEP_SIZE, HOTP_COUNTER,
// DISALLOW_REUSE's last step, scratch codes) and a WINDOW_SIZE that accepts
// the same codes as opts' window are not listed.
std::vector<std::string> google_authenticator_not_carried(const GoogleAuthenticatorFile& f, const Options& opts);

enum class ImportAction {
    import,            // no enrollment yet: store it
    already_imported,  // the same secret (and type) is enrolled: nothing to do, even with --force
    replace,           // another enrollment, and force: replace it
    conflict,          // another enrollment, no force: refuse, naming --force
};
// What importing `incoming` does to a user whose record is `existing`. The
// same secret is never imported again, even with force: that would bring back
// scratch codes already used as recovery codes and an older last step.
ImportAction decide_import(const std::optional<UserRecord>& existing, const Enrollment& incoming, bool force) noexcept;

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
// skipped (authctl has no PINs), as are unknown types and keys under
// kMinSecretBytes (80 bits); the reason is kept.
Result<OathFile> parse_oath_usersfile(std::string_view text, std::int64_t now);

// pam_faillock's configuration, carried over to authctl.conf
// (`authctl import faillock`). faillock.conf is read as pam_faillock reads it:
// '#' starts a comment, a line is a key ended by blanks or '=', then its value
// (one '=' and the blanks around it skipped) -- "deny = 3", "deny=3",
// "deny 3" -- or a bare key for a flag. faillock's keys keep their meaning in
// authctl (deny, fail_interval, unlock_time incl. never, even_deny_root,
// root_unlock_time, admin_group, audit, silent, no_log_info,
// local_users_only, nodelay), except dir (faillock's tally directory: never
// carried) and uid_based_files (how faillock names its tally files).

inline constexpr std::uint32_t kFaillockMaxInterval = 604800;  // faillock ignores longer times
inline constexpr std::size_t kFaillockMaxLine = 1023;          // faillock's line buffer

enum class CarryOutcome {
    carried,      // written to authctl.conf (a line replaced or appended)
    same,         // authctl.conf already sets it to the same value
    not_carried,  // note says why
};

struct FaillockSetting {
    std::size_t line = 0;  // in faillock.conf, 1-based
    std::string text;      // the setting as faillock reads it: "deny = 5", "audit"
    CarryOutcome outcome = CarryOutcome::not_carried;
    std::string note;  // why not carried; for a carried one, how when the line differs ("" otherwise)
};

struct FaillockImport {
    std::vector<FaillockSetting> settings;  // one per setting of faillock.conf, in its order
    std::string config;                     // authctl.conf with the settings carried over
    bool changed = false;                   // config differs from the text given
};

// Merges faillock.conf (`faillock_text`) into authctl.conf (`authctl_text`,
// "" when absent): a carried setting replaces the last authctl.conf line for
// the same key (the one in force), else it is appended after a comment naming
// `faillock_origin`; every other line and comment stays as it was. A value
// faillock itself would refuse (not a number, a time over
// kFaillockMaxInterval, a control character, a line over kFaillockMaxLine
// bytes) or that authctl cannot hold (admin_group not a group name) is an
// error naming "FAILLOCK_ORIGIN:LINE:". The result must pass
// check_config_text (so an authctl.conf that is already wrong is an error
// naming its line): nothing is half done.
Result<FaillockImport> import_faillock(std::string_view faillock_text, std::string_view faillock_origin,
                                       std::string_view authctl_text, std::string_view authctl_origin);

}  // namespace authctl
