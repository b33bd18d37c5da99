// SPDX-License-Identifier: Apache-2.0
#include "agent_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <poll.h>

#include "authctl/agent_protocol.hpp"

namespace authctl::agentd {
namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START

Error insecure(const std::string& what)
{
    return make_error(Errc::insecure, what);
}

std::optional<long> parse_long(const char* s)
{
    if (s == nullptr || *s == '\0') return std::nullopt;
    long v = 0;
    const char* end = s + std::strlen(s);
    auto [p, ec] = std::from_chars(s, end, v);
    if (ec != std::errc() || p != end) return std::nullopt;
    return v;
}

int sock_int_option(int fd, int opt)
{
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0) return -1;
    return v;
}

Result<sockaddr_un> unix_address(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path[0] != '/')
        return make_error(Errc::invalid_argument, "socket path '" + path + "' is not absolute");
    if (path.size() >= sizeof addr.sun_path)
        return make_error(Errc::invalid_argument, "socket path '" + path + "' is longer than " +
                                                      std::to_string(sizeof addr.sun_path - 1) + " bytes");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// Whether an agent answers at `addr` (a live socket is not stale).
bool someone_listens(const sockaddr_un& addr)
{
    const UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!probe.valid()) return true;  // cannot tell: do not remove it
    if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return true;
    return errno != ECONNREFUSED && errno != ENOENT;
}

Status check_socket_dir(const std::string& dir)
{
    struct stat st {};
    if (lstat(dir.c_str(), &st) != 0 && errno == ENOENT && dir == kRunDir) {
        if (mkdir(kRunDir, 0755) != 0 && errno != EEXIST) return sys_error("cannot create", dir, errno);
        if (chmod(kRunDir, 0755) != 0) return sys_error("cannot chmod", dir, errno);
    }
    if (lstat(dir.c_str(), &st) != 0) return sys_error("socket directory", dir, errno);
    if (!S_ISDIR(st.st_mode)) return insecure("socket directory '" + dir + "' is not a directory (or is a symlink)");
    if (st.st_uid != 0) return insecure("socket directory '" + dir + "' is not owned by root");
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return insecure("socket directory '" + dir + "' is writable by group or others");
    return Ok{};
}

Status wait_fd(int fd, short events, Deadline deadline, const char* what)
{
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return make_error(Errc::io, std::string("timed out ") + what);
        pollfd p{fd, events, 0};
        const int n = poll(&p, 1, static_cast<int>(left.count()) + 1);
        if (n > 0) return Ok{};
        if (n < 0 && errno != EINTR) return sys_error("poll", what, errno);
    }
}

Status read_exact(int fd, char* buf, std::size_t n, Deadline deadline)
{
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r > 0) {
            got += static_cast<std::size_t>(r);
            continue;
        }
        if (r == 0) return make_error(Errc::io, "the client closed the connection before a whole request");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return sys_error("read", "request", errno);
        if (auto st = wait_fd(fd, POLLIN, deadline, "reading the request"); !st) return st;
    }
    return Ok{};
}

}  // namespace

Result<std::optional<ListenSocket>> activated_socket()
{
    const auto pid = parse_long(std::getenv("LISTEN_PID"));
    const char* fds_text = std::getenv("LISTEN_FDS");
    const std::string fds_copy = fds_text != nullptr ? fds_text : "";
    const auto fds = parse_long(fds_text);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!pid || *pid != static_cast<long>(getpid())) return std::optional<ListenSocket>{};
    if (!fds || *fds != 1)
        return make_error(Errc::invalid_argument,
                          "systemd passed LISTEN_FDS=" + fds_copy + "; authctld takes exactly one socket");

    const int fd = kListenFdsStart;
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return make_error(Errc::invalid_argument, "systemd's fd 3 is not a socket");
    if (sock_int_option(fd, SO_DOMAIN) != AF_UNIX || sock_int_option(fd, SO_TYPE) != SOCK_STREAM ||
        sock_int_option(fd, SO_ACCEPTCONN) != 1)
        return make_error(Errc::invalid_argument, "systemd's fd 3 is not a listening Unix stream socket");
    ListenSocket out;
    out.fd = UniqueFd(fd);
    out.activated = true;
    const int fl = fcntl(fd, F_GETFL);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return sys_error("fcntl", "systemd's socket", errno);
    sockaddr_un addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 && addr.sun_path[0] != '\0')
        out.path.assign(addr.sun_path, strnlen(addr.sun_path, sizeof addr.sun_path));
    else
        out.path = "(systemd socket)";
    return std::optional<ListenSocket>(std::move(out));
}

Result<ListenSocket> bind_socket(const std::string& path)
{
    auto addr = unix_address(path);
    if (!addr) return addr.error();
    const auto slash = path.find_last_of('/');
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    if (auto st = check_socket_dir(dir); !st) return st.error();

    struct stat st {};
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode) || st.st_uid != 0)
            return insecure("refusing to replace '" + path + "': it is not a socket owned by root");
        if (someone_listens(*addr)) return make_error(Errc::exists, "an agent is already listening on '" + path + "'");
        if (unlink(path.c_str()) != 0 && errno != ENOENT)
            return sys_error("cannot remove the stale socket", path, errno);
    } else if (errno != ENOENT) {
        return sys_error("socket", path, errno);
    }

    ListenSocket out;
    out.path = path;
    out.fd = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!out.fd.valid()) return sys_error("socket", path, errno);
    const mode_t old_mask = umask(0177);
    const int rc = bind(out.fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
    const int bind_errno = errno;
    umask(old_mask);
    if (rc != 0) return sys_error("bind", path, bind_errno);
    if (chmod(path.c_str(), 0600) != 0 || lstat(path.c_str(), &st) != 0) {
        const int e = errno;
        unlink(path.c_str());
        return sys_error("socket", path, e);
    }
    out.dev = st.st_dev;
    out.ino = st.st_ino;
    if (listen(out.fd.get(), SOMAXCONN) != 0) {
        const int e = errno;
        unlink_socket(out);
        return sys_error("listen", path, e);
    }
    return out;
}

void unlink_socket(const ListenSocket& sock) noexcept
{
    if (sock.activated || sock.path.empty()) return;
    struct stat st {};
    if (lstat(sock.path.c_str(), &st) == 0 && st.st_dev == sock.dev && st.st_ino == sock.ino) unlink(sock.path.c_str());
}

Result<PeerCred> peer_cred(int fd)
{
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
        return sys_error("getsockopt SO_PEERCRED", "connection", errno);
    return PeerCred{cred.uid, cred.pid};
}

Status read_frame(int fd, std::string& payload, Deadline deadline)
{
    unsigned char prefix[4];
    if (auto st = read_exact(fd, reinterpret_cast<char*>(prefix), sizeof prefix, deadline); !st) return st;
    auto len = agent::decode_frame_length(prefix);
    if (!len) return len.error();
    payload.reserve(agent::kMaxFrame);  // one buffer, never reallocated: no stray copy of a code
    payload.resize(*len);
    return read_exact(fd, payload.data(), payload.size(), deadline);
}

bool peer_gone(int fd) noexcept
{
    pollfd p{fd, POLLRDHUP, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

Status write_all(int fd, std::string_view data, Deadline deadline)
{
    while (!data.empty()) {
        const ssize_t w = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (w > 0) {
            data.remove_prefix(static_cast<std::size_t>(w));
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return sys_error("write", "reply", errno);
        if (auto st = wait_fd(fd, POLLOUT, deadline, "writing the reply"); !st) return st;
    }
    return Ok{};
}

}  // namespace authctl::agentd
