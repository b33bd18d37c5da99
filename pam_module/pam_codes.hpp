// The one mapping from core errors to PAM return codes.
#pragma once

#include "authctl/result.hpp"

namespace authctl::pam {

// Every core error fails closed: storage, configuration, corrupt or insecure
// state and crypto failures are PAM_SERVICE_ERR; an invalid user name is
// PAM_USER_UNKNOWN. Never PAM_SUCCESS.
int to_pam(Errc code) noexcept;

}  // namespace authctl::pam
