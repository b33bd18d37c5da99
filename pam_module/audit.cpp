// SPDX-License-Identifier: Apache-2.0
#include "audit.hpp"

#include <arpa/inet.h>
#include <libaudit.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace authctl::pam {
namespace {

// A value libaudit prints as it is (hostname=, terminal=): only bytes that
// cannot end the field, the quoted msg='...' or the line.
std::string audit_value(std::string_view text)
{
    std::string out;
    const std::size_t n = text.size() < kMaxSourceLength ? text.size() : kMaxSourceLength;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const char c = text[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == ':' || c == '%' || c == '[' || c == ']' || c == '/' || c == '-';
        out.push_back(ok ? c : '?');
    }
    return out;
}

// addr=: the rhost's own address when it is a numeric one, else "?". Given
// explicitly, so libaudit never resolves a host name (a DNS lookup inside a
// login, on a name the client chose).
std::string audit_addr(std::string_view rhost)
{
    std::string ip = ip_address_text(rhost);
    return ip.empty() ? std::string("?") : ip;
}

// No audit for this process: not an error (pam_faillock's list, plus EPERM:
// no CAP_AUDIT_WRITE, as in a container).
bool no_audit_here(int err) noexcept
{
    return err == EPROTONOSUPPORT || err == EINVAL || err == EAFNOSUPPORT || err == EPERM;
}

class AuditFd {
public:
    AuditFd() noexcept : fd_(audit_open()), err_(fd_ < 0 ? errno : 0) {}
    ~AuditFd()
    {
        if (fd_ >= 0) audit_close(fd_);
    }
    AuditFd(const AuditFd&) = delete;
    AuditFd& operator=(const AuditFd&) = delete;
    int fd() const noexcept { return fd_; }
    int error() const noexcept { return err_; }

private:
    int fd_;
    int err_;
};

}  // namespace

int write_audit(const AuditRecord& record, const AuditSubject& subject) noexcept
{
    try {
        const std::string user(subject.user);
        const std::string host = audit_value(subject.rhost);
        const std::string addr = audit_addr(subject.rhost);
        // "" is libaudit's "no terminal" (terminal=?); NULL would make it look one up.
        const std::string tty = audit_value(subject.tty);
        const std::string scope = record.scope == LockScope::source ? " scope=source" : " scope=user";  // codes: the user's
        struct Line {
            int type;
            std::string op;
            int success;
        };
        Line lines[2];
        std::size_t count = 0;
        switch (record.event) {
            case AuditEvent::failure: lines[count++] = {AUDIT_USER_AUTH, "authctl-failure", 0}; break;
            case AuditEvent::lock:
                lines[count++] = {AUDIT_ANOM_LOGIN_FAILURES, "authctl-lock" + scope, 1};
                lines[count++] = {AUDIT_RESP_ACCT_LOCK, "authctl-lock" + scope, 1};
                break;
            case AuditEvent::refused:
                lines[count++] = {record.account_phase ? AUDIT_USER_ACCT : AUDIT_USER_AUTH, "authctl-locked" + scope,
                                  0};
                break;
        }
        const AuditFd audit;
        if (audit.fd() < 0) return no_audit_here(audit.error()) ? 0 : audit.error();
        for (std::size_t i = 0; i < count; ++i) {
            const int rc = audit_log_acct_message(audit.fd(), lines[i].type, nullptr, lines[i].op.c_str(),
                                                  user.c_str(), static_cast<unsigned>(-1), host.c_str(),
                                                  addr.c_str(), tty.c_str(), lines[i].success);
            // 0: libaudit's "nobody listens" (ECONNREFUSED, or a kernel that
            // refuses audit in this namespace); < 0: -errno.
            if (rc == 0) return 0;
            if (rc < 0) return no_audit_here(-rc) ? 0 : -rc;
        }
        return 0;
    } catch (...) {
        return ENOMEM;
    }
}

}  // namespace authctl::pam
