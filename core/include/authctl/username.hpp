// SPDX-License-Identifier: Apache-2.0
// User names as file names. A name is accepted when it is 1..kMaxUserName
// bytes of valid UTF-8 without control characters; it is then encoded so that
// no name can leave the state directory or collide with another's files:
// ASCII letters, digits, '_', '-' and '@' stand for themselves, '.' too except
// as the first byte, and every other byte becomes %XX. So "../x" is
// "%2E.%2Fx" and "a/b" is "a%2Fb".
#pragma once

#include <string>
#include <string_view>

#include "authctl/result.hpp"

namespace authctl {

// Both the name and its encoding must fit: the encoding plus a suffix is a file name (NAME_MAX 255).
inline constexpr std::size_t kMaxUserName = 240;

// Errc::invalid_user with a reason when `user` cannot be stored.
Status validate_user_name(std::string_view user);

// The encoded file-name stem for a valid user name (see above).
Result<std::string> encode_user_name(std::string_view user);

// The inverse of encode_user_name; nullopt-like error when `stem` is not an
// encoding this program would have produced.
Result<std::string> decode_user_name(std::string_view stem);

}  // namespace authctl
