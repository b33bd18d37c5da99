// SPDX-License-Identifier: Apache-2.0
#include "authctl/result.hpp"

namespace authctl {

const char* errc_text(Errc code) noexcept
{
    switch (code) {
        case Errc::invalid_argument: return "invalid argument";
        case Errc::invalid_user: return "invalid user name";
        case Errc::not_found: return "not found";
        case Errc::exists: return "already exists";
        case Errc::insecure: return "insecure file";
        case Errc::corrupt: return "corrupt record";
        case Errc::io: return "I/O error";
        case Errc::crypto: return "crypto error";
        case Errc::unsupported: return "not supported";
    }
    return "unknown error";
}

std::string Error::message() const
{
    std::string out = errc_text(code);
    if (!detail.empty()) {
        out += ": ";
        out += detail;
    }
    return out;
}

}  // namespace authctl
