// The one mapping from core errors to PAM return codes.
#pragma once

#include "authctl/options.hpp"
#include "authctl/result.hpp"

namespace authctl::pam {

// Every core error fails closed: storage, configuration, corrupt or insecure
// state and crypto failures are PAM_SERVICE_ERR; an invalid user name is
// PAM_USER_UNKNOWN. Never PAM_SUCCESS.
int to_pam(Errc code) noexcept;

// In fleet mode (store=agent) every failure to reach a decision -- the agent
// down, its socket missing or unsafe, the database unreachable, slow or
// failing, a schema or key problem -- means the authentication service could
// not be reached: PAM_AUTHINFO_UNAVAIL, so a stack can choose its fallback
// with [authinfo_unavail=...]. Never PAM_SUCCESS.
int to_pam(Errc code, StoreKind store) noexcept;

}  // namespace authctl::pam
