// SPDX-License-Identifier: Apache-2.0
// The one mapping from core errors to PAM return codes.
#pragma once

#include "authctl/options.hpp"
#include "authctl/result.hpp"

namespace authctl::pam {

// Every core error fails closed: storage, configuration, corrupt or insecure
// state and crypto failures are PAM_SERVICE_ERR; an invalid user name is
// PAM_USER_UNKNOWN. Never PAM_SUCCESS.
int to_pam(Errc code) noexcept;

// In fleet mode (store=agent), a fleet that cannot be reached -- the agent
// down or silent, its socket missing, the database unreachable, slow or
// failing, its schema missing -- is PAM_AUTHINFO_UNAVAIL, so a stack can
// choose its fallback with [authinfo_unavail=...]. What is not a matter of
// reaching it -- a socket or agent that is not root's, a record that does not
// open (tampered, moved to another user, sealed with a key this server
// lacks), a schema newer than this build -- is PAM_SERVICE_ERR: a refusal no
// break-glass stack falls back from. Never PAM_SUCCESS.
int to_pam(Errc code, StoreKind store) noexcept;

}  // namespace authctl::pam
