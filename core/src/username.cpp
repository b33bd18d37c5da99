// SPDX-License-Identifier: Apache-2.0
#include "authctl/username.hpp"

#include "authctl/text.hpp"

namespace authctl {

Status validate_user_name(std::string_view user)
{
    if (user.empty()) return make_error(Errc::invalid_user, "empty user name");
    if (user.size() > kMaxUserName)
        return make_error(Errc::invalid_user, "user name longer than " + std::to_string(kMaxUserName) + " bytes");
    if (has_control(user)) return make_error(Errc::invalid_user, "user name contains control characters");
    if (!valid_utf8(user)) return make_error(Errc::invalid_user, "user name is not valid UTF-8");
    return Ok{};
}

Result<std::string> encode_user_name(std::string_view user)
{
    if (auto st = validate_user_name(user); !st) return st.error();
    std::string out = percent_encode(user, "_-@.");
    if (out.front() == '.') out.replace(0, 1, "%2E");
    if (out.size() > kMaxUserName)
        return make_error(Errc::invalid_user, "user name too long once encoded for a file name");
    return out;
}

Result<std::string> decode_user_name(std::string_view stem)
{
    auto decoded = percent_decode(stem);
    if (!decoded) return make_error(Errc::invalid_user, "bad escape in file name '" + std::string(stem) + "'");
    if (auto st = validate_user_name(*decoded); !st) return st.error();
    auto again = encode_user_name(*decoded);
    if (!again || *again != stem)
        return make_error(Errc::invalid_user, "file name '" + std::string(stem) + "' is not a canonical user encoding");
    return std::move(*decoded);
}

}  // namespace authctl
