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
        case Errc::crypto: return PAM_SERVICE_ERR;
    }
    return PAM_SERVICE_ERR;
}

int to_pam(Errc code, StoreKind store) noexcept
{
    return store == StoreKind::agent ? PAM_AUTHINFO_UNAVAIL : to_pam(code);
}

}  // namespace authctl::pam
