// SPDX-License-Identifier: Apache-2.0
// Reads the kernel's audit records as they are logged: a netlink socket bound
// to the read-only multicast group AUDIT_NLGRP_READLOG (needs CAP_AUDIT_READ;
// auditd need not run). The kernel drops user records while audit is disabled
// (audit=0, the default without auditd): the reader then enables it with
// AUDIT_SET and puts the previous value back when it is destroyed -- and, should
// the test process die first, a watchdog child it forked does (it waits on a
// pipe; end of file without a word from the reader means the reader died).
// available() is false, with why(), where the kernel or the container refuses
// any of it; the tests skip then and say so.
#pragma once

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace authctl::test {

// The user-space record types (libaudit.h), spelled out so that the reader
// does not take them from the library whose use it checks.
inline constexpr int kAuditUserAuth = 1100;
inline constexpr int kAuditUserAcct = 1101;
inline constexpr int kAuditAnomLoginFailures = 2100;
inline constexpr int kAuditRespAcctLock = 2207;

struct AuditLine {
    int type = 0;      // AUDIT_USER_AUTH, AUDIT_ANOM_LOGIN_FAILURES, ...
    std::string text;  // "audit(...): pid=... uid=0 ... msg='op=... acct=... res=...'"
};

class AuditReader {
public:
    AuditReader() { start(); }
    ~AuditReader() { stop(); }
    AuditReader(const AuditReader&) = delete;
    AuditReader& operator=(const AuditReader&) = delete;

    bool available() const { return why_.empty(); }
    const std::string& why() const { return why_; }
    bool enabled_by_us() const { return enabled_by_us_; }

    // The kernel's audit `enabled` value now (0 off, 1 on, 2 locked on), -1
    // when it cannot be read.
    static int kernel_enabled()
    {
        std::string why;
        const int fd = open_control(why);
        if (fd < 0) return -1;
        std::uint32_t enabled = 0;
        const int err = get_enabled(fd, enabled);
        ::close(fd);
        return err == 0 ? static_cast<int>(enabled) : -1;
    }

    // Every record received until none came for `quiet` (the kernel's
    // kauditd thread delivers them after the write returns), or `limit` has
    // passed (other processes keep writing records on a busy machine).
    std::vector<AuditLine> drain(std::chrono::milliseconds quiet = std::chrono::milliseconds(500),
                                 std::chrono::milliseconds limit = std::chrono::milliseconds(5000))
    {
        std::vector<AuditLine> out;
        if (read_fd_ < 0) return out;
        std::vector<char> buf(1 << 16);
        const auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            pollfd p{read_fd_, POLLIN, 0};
            const int n = ::poll(&p, 1, static_cast<int>(quiet.count()));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            const ssize_t got = ::recv(read_fd_, buf.data(), buf.size(), MSG_DONTWAIT);
            if (got <= 0) continue;
            int left = static_cast<int>(got);
            for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
                const char* data = static_cast<const char*>(NLMSG_DATA(h));
                std::string text(data, h->nlmsg_len - NLMSG_HDRLEN);
                while (!text.empty() && text.back() == '\0') text.pop_back();
                out.push_back({h->nlmsg_type, std::move(text)});
            }
        }
        return out;
    }

private:
    static int open_control(std::string& why)
    {
        const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
        if (fd < 0) {
            why = std::string("no audit netlink socket: ") + std::strerror(errno);
            return -1;
        }
        const timeval tv{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return fd;
    }

    // AUDIT_SET of `enabled` as one datagram, built before any fork.
    struct SetMessage {
        nlmsghdr h;
        audit_status s;
    };
    static SetMessage set_message(std::uint32_t enabled)
    {
        SetMessage m{};
        m.h.nlmsg_len = sizeof m;
        m.h.nlmsg_type = AUDIT_SET;
        m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        m.h.nlmsg_seq = 2;
        m.s.mask = AUDIT_STATUS_ENABLED;
        m.s.enabled = enabled;
        return m;
    }
    static bool send_to_kernel(int fd, const void* msg, std::size_t len)
    {
        sockaddr_nl kernel{};
        kernel.nl_family = AF_NETLINK;
        return ::sendto(fd, msg, len, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) ==
               static_cast<ssize_t>(len);
    }
    // The kernel's answer to a request: `type`'s payload into `out`, or the
    // error of an NLMSG_ERROR (0 is the acknowledgement). -1: no answer.
    static int await(int fd, std::uint16_t type, std::vector<char>& out)
    {
        std::vector<char> buf(1 << 16);
        for (int tries = 0; tries < 16; ++tries) {
            const ssize_t got = ::recv(fd, buf.data(), buf.size(), 0);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) return -1;
            int left = static_cast<int>(got);
            for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
                if (h->nlmsg_type == NLMSG_ERROR) {
                    const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
                    if (e->error != 0 || type == NLMSG_ERROR) return -e->error;
                } else if (h->nlmsg_type == type) {
                    const char* d = static_cast<const char*>(NLMSG_DATA(h));
                    out.assign(d, d + (h->nlmsg_len - NLMSG_HDRLEN));
                    return 0;
                }
            }
        }
        return -1;
    }
    static int get_enabled(int fd, std::uint32_t& enabled)
    {
        nlmsghdr h{};
        h.nlmsg_len = sizeof h;
        h.nlmsg_type = AUDIT_GET;
        h.nlmsg_flags = NLM_F_REQUEST;
        h.nlmsg_seq = 1;
        if (!send_to_kernel(fd, &h, sizeof h)) return errno;
        std::vector<char> reply;
        const int rc = await(fd, AUDIT_GET, reply);
        if (rc != 0) return rc < 0 ? ETIMEDOUT : rc;
        audit_status s{};
        std::memcpy(&s, reply.data(), std::min(reply.size(), sizeof s));
        enabled = s.enabled;
        return 0;
    }
    static int set_enabled(int fd, std::uint32_t enabled)
    {
        const SetMessage m = set_message(enabled);
        if (!send_to_kernel(fd, &m, sizeof m)) return errno;
        std::vector<char> none;
        const int rc = await(fd, NLMSG_ERROR, none);
        return rc < 0 ? ETIMEDOUT : rc;
    }

    void start()
    {
        ctl_fd_ = open_control(why_);
        if (ctl_fd_ < 0) return;
        if (const int err = get_enabled(ctl_fd_, previous_); err != 0) {
            why_ = std::string("AUDIT_GET refused: ") + std::strerror(err);
            return;
        }
        if (previous_ == 0) {
            // The watchdog first: from here on the previous value comes back
            // however this process ends.
            int fds[2];
            if (::pipe2(fds, O_CLOEXEC) != 0) {
                why_ = std::string("pipe: ") + std::strerror(errno);
                return;
            }
            const SetMessage restore = set_message(previous_);
            const pid_t pid = ::fork();
            if (pid < 0) {
                ::close(fds[0]);
                ::close(fds[1]);
                why_ = std::string("fork: ") + std::strerror(errno);
                return;
            }
            if (pid == 0) {
                ::close(fds[1]);
                char c = 0;
                ssize_t n;
                do n = ::read(fds[0], &c, 1);
                while (n < 0 && errno == EINTR);
                if (n == 0) {  // the reader died without restoring
                    const int s = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
                    if (s >= 0) send_to_kernel(s, &restore, sizeof restore);
                }
                ::_exit(0);
            }
            ::close(fds[0]);
            watchdog_ = pid;
            watchdog_pipe_ = fds[1];
            if (const int err = set_enabled(ctl_fd_, 1); err != 0) {
                why_ = std::string("audit is disabled in this kernel and AUDIT_SET to enable it was refused: ") +
                       std::strerror(err);
                return;
            }
            enabled_by_us_ = true;
        }
        read_fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
        if (read_fd_ < 0) {
            why_ = std::string("no audit netlink socket: ") + std::strerror(errno);
            return;
        }
        const int size = 1 << 20;
        ::setsockopt(read_fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        sockaddr_nl local{};
        local.nl_family = AF_NETLINK;
        local.nl_groups = 1U << (AUDIT_NLGRP_READLOG - 1);
        if (::bind(read_fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
            why_ = std::string("cannot bind to the read-only audit log group (AUDIT_NLGRP_READLOG): ") +
                   std::strerror(errno);
            ::close(read_fd_);
            read_fd_ = -1;
        }
    }

    void stop()
    {
        if (read_fd_ >= 0) ::close(read_fd_);
        if (enabled_by_us_ && set_enabled(ctl_fd_, previous_) == 0) restored_ = true;
        if (watchdog_ > 0) {
            // A word: restored, nothing to do. End of file alone: do it.
            if (restored_ || !enabled_by_us_) (void)!::write(watchdog_pipe_, "x", 1);
            ::close(watchdog_pipe_);
            int status = 0;
            while (::waitpid(watchdog_, &status, 0) < 0 && errno == EINTR) {
            }
        }
        if (ctl_fd_ >= 0) ::close(ctl_fd_);
    }

    std::string why_;
    int ctl_fd_ = -1;
    int read_fd_ = -1;
    std::uint32_t previous_ = 0;
    bool enabled_by_us_ = false;
    bool restored_ = false;
    pid_t watchdog_ = -1;
    int watchdog_pipe_ = -1;
};

}  // namespace authctl::test
