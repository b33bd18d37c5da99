// SPDX-License-Identifier: Apache-2.0
// Linux audit records of the lockout, written with libaudit as pam_faillock
// writes its own: what to record is the flows' decision (pam_authctl.cpp);
// this only writes it. Audit never decides a login: a kernel without audit,
// a container that may not write to it, or a failed write is never a refusal.
#pragma once

#include <string_view>

#include "authctl/lockout.hpp"

namespace authctl::pam {

enum class AuditEvent {
    failure,  // a counted failure: AUDIT_USER_AUTH, op=authctl-failure, res=failed
    lock,     // this failure locked the user or a source: AUDIT_ANOM_LOGIN_FAILURES and
              // AUDIT_RESP_ACCT_LOCK, op=authctl-lock scope=user|source, res=success (as faillock)
    refused,  // refused because locked: AUDIT_USER_AUTH (AUDIT_USER_ACCT in the account
              // phase), op=authctl-locked scope=user|source, res=failed
};

struct AuditRecord {
    AuditEvent event = AuditEvent::failure;
    LockScope scope = LockScope::user;  // lock, refused: whose lock
    bool account_phase = false;         // refused: in pam_sm_acct_mgmt
};

// Who and from where: acct= the user; hostname= the remote host and addr= its
// address when it is a numeric one (no name is ever resolved); terminal= the
// tty. Bytes of rhost and tty outside [A-Za-z0-9._:%[]/-] are written as '?'
// (at most kMaxSourceLength bytes), so a hostile PAM_RHOST cannot add fields.
struct AuditSubject {
    std::string_view user;
    std::string_view rhost;
    std::string_view tty;
};

// Opens the audit socket, writes the record(s) of `record`, closes it.
// Returns 0 when written, and when the kernel has no audit for this process
// (EPROTONOSUPPORT, EINVAL, EAFNOSUPPORT: no audit in this kernel; EPERM: no
// right to write, as in most containers; a kernel with nobody listening is
// taken as written by libaudit); otherwise the errno of the failure, for the
// caller to log.
int write_audit(const AuditRecord& record, const AuditSubject& subject) noexcept;

}  // namespace authctl::pam
