// SPDX-License-Identifier: Apache-2.0
#include "pam_codes.hpp"

#include <security/_pam_types.h>

namespace authctl::pam {

int to_pam(Errc code) noexcept
{
    switch (code) {
        case Errc::invalid_user: return PAM_USER_UNKNOWN;
        case Errc::invalid_argument:
        case Errc::not_found:
        case Errc::exists:
        case Errc::insecure:
        case Errc::corrupt:
        case Errc::io:
        case Errc::crypto:
        case Errc::unsupported: return PAM_SERVICE_ERR;
    }
    return PAM_SERVICE_ERR;
}

int to_pam(Errc code, StoreKind store) noexcept
{
    if (store != StoreKind::agent) return to_pam(code);
    switch (code) {
        case Errc::io:         // the agent down or silent, the database unreachable, slow or failing
        case Errc::not_found:  // no schema yet
            return PAM_AUTHINFO_UNAVAIL;
        case Errc::invalid_user: return PAM_USER_UNKNOWN;
        case Errc::invalid_argument:
        case Errc::exists:
        case Errc::insecure:  // a socket or agent that is not root's: not a service to fall back from
        case Errc::corrupt:
        case Errc::crypto:  // a row that does not open: tampered, moved, or a key this server lacks
        case Errc::unsupported:
            return PAM_SERVICE_ERR;
    }
    return PAM_SERVICE_ERR;
}

}  // namespace authctl::pam
