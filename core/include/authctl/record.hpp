// SPDX-License-Identifier: Apache-2.0
// A user's record: enrollment, recovery-code hashes, replay state and failure
// tally, in the versioned text format of docs/FILEFORMAT.md. The parser treats
// the file as hostile: every key known, each at most once, every value checked,
// an explicit end marker (a truncated file never parses).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authctl/lockout.hpp"
#include "authctl/otp.hpp"
#include "authctl/otpauth_uri.hpp"
#include "authctl/recovery.hpp"
#include "authctl/result.hpp"
#include "authctl/secret.hpp"

namespace authctl {

// The version written; every version from kMinRecordVersion on is read (an
// older record converts to the current version on its next write). 3: the
// per-source table and the failures since the last success; the account
// binding; an invitation (issue 17).
inline constexpr int kRecordVersion = 3;
inline constexpr int kMinRecordVersion = 1;
inline constexpr std::size_t kMaxRecordBytes = 16 * 1024;

struct Enrollment {
    OtpType type = OtpType::totp;
    HashAlgo algo = HashAlgo::sha1;
    unsigned digits = 6;
    unsigned period = 30;                    // TOTP
    std::uint64_t counter = 0;               // HOTP: the next counter to accept
    SecretBytes secret;                      // 1..kMaxSecretBytes (new keys: kMinSecretBytes..)
    std::int64_t created = 0;                // Unix time
    bool confirmed = false;                  // a code has been verified for it
    std::optional<std::uint64_t> last_step;  // TOTP: highest time step accepted

    Enrollment clone() const;
};

// The account a record belongs to (record version 3, issue 19): the uid and
// the name it was enrolled for, or bound to at its first login after an
// upgrade. A login whose account has another uid (the user deleted and the
// name given to a new account, a record copied or renamed to another user) is
// refused (check_binding, login.hpp) until an administrator re-binds it
// (`authctl rebind`).
struct AccountBinding {
    std::optional<std::uint32_t> uid;  // nullopt: bound by name only (a fleet's record: uids differ per host)
    std::string name;                  // the user name (a valid user name, username.hpp)

    bool operator==(const AccountBinding&) const = default;
};

inline constexpr std::size_t kMaxGrantedGroups = 8;
inline constexpr std::size_t kMaxGroupName = 64;

// The parameters of a new enrollment (enrollment.hpp, and an invitation's).
struct EnrollParams {
    OtpType type = OtpType::totp;
    HashAlgo algo = HashAlgo::sha1;
    unsigned digits = 6;
    unsigned period = 30;
};

// An invitation to enroll at the user's own login (issue 17, invitation.hpp):
// no secret, only what the enrollment will be and until when it may be made.
struct Invitation {
    std::uint64_t nonce = 0;                // random (RAND_bytes), != 0; a new invitation gets a new one
    std::int64_t created = 0;               // Unix time
    std::int64_t expires = 0;               // Unix time
    EnrollParams params;                    // type, algo, digits, period for the new enrollment
    bool replace = false;                   // may replace a confirmed enrollment (lost phone)
    std::string invited_by;                 // sanitised like Tally::locked_by (<= kMaxLockedByLength)
    std::vector<std::string> grant_groups;  // <= kMaxGrantedGroups, valid_group_name
};

struct UserRecord {
    std::optional<Enrollment> enrollment;  // nullopt: a tally only (failures of a user not enrolled)
    RecoverySet recovery;
    Tally tally;
    std::vector<std::string> granted_groups;  // added by `authctl enroll --grant-group`; undone by `remove`
    std::optional<AccountBinding> account;    // nullopt: unbound (a version-1/2 record until its next login)
    std::optional<Invitation> invitation;     // `authctl invite` (issue 17): with or without an enrollment

    UserRecord clone() const;
};

// The file's text. Contains the secret: the buffer wipes itself.
SecretBytes serialize_record(const UserRecord& rec);

// True for a group name the record can hold: 1..kMaxGroupName bytes of
// letters, digits, '_', '-', '.', not starting with '-'.
bool valid_group_name(std::string_view name) noexcept;

// Parses a file's text; Errc::corrupt naming the line and key on any defect.
Result<UserRecord> parse_record(std::string_view text);

// Fails (Errc::invalid_argument, naming the field) exactly when parse_record
// would refuse serialize_record(rec): a value out of the format's range, a bad
// group name, too many codes or groups; and for a type or algorithm that is
// none of the enum's names (the writer would spell it as another). The store
// checks every record with it before writing, so nothing it writes locks a
// user out; it costs a few hundred instructions where parsing the text back
// costs thousands. The two are held in step by a property test and a fuzzer,
// and Debug builds parse every written record back as well
// (AUTHCTL_CROSS_CHECK_WRITES).
Status validate_record(const UserRecord& rec);

}  // namespace authctl
