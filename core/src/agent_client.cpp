// SPDX-License-Identifier: Apache-2.0
#include "authctl/agent_client.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <poll.h>
#include <utility>

#include "authctl/file_util.hpp"
#include "authctl/invitation.hpp"
#include "authctl/lockout.hpp"
#include "authctl/secret.hpp"
#include "authctl/text.hpp"

namespace authctl {
namespace {

using Clock = std::chrono::steady_clock;

// The one deadline of an exchange; every wait is bounded by what is left of it.
class Deadline {
public:
    explicit Deadline(std::chrono::milliseconds timeout) : timeout_(timeout), end_(Clock::now() + timeout) {}

    // Milliseconds left, rounded up (a wait never ends before the deadline);
    // 0 once it has passed.
    int remaining_ms() const
    {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(end_ - Clock::now()).count();
        if (left <= 0) return 0;
        return left > INT_MAX ? INT_MAX : static_cast<int>(left);
    }
    Error expired() const
    {
        return make_error(Errc::io, "agent did not answer within " + std::to_string(timeout_.count()) + " ms");
    }

private:
    std::chrono::milliseconds timeout_;
    Clock::time_point end_;
};

// Wipes a string that held the request frame (it holds the code) on every path out.
class WipeOnExit {
public:
    explicit WipeOnExit(std::string& s) : s_(s) {}
    ~WipeOnExit() { wipe_string(s_); }
    WipeOnExit(const WipeOnExit&) = delete;
    WipeOnExit& operator=(const WipeOnExit&) = delete;

private:
    std::string& s_;
};

Error io_error(const std::string& what, int err)
{
    return make_error(Errc::io, what + ": " + std::strerror(err));
}

Error missing(const std::string& path)
{
    return make_error(Errc::io, "agent socket " + path + " missing (is authctld running?)");
}

// Waits until `fd` is ready for `events` (or has an error or hangup for the
// next call to report), within the deadline.
Status wait_for(int fd, short events, const Deadline& deadline)
{
    for (;;) {
        const int ms = deadline.remaining_ms();
        if (ms == 0) return deadline.expired();
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            return io_error("cannot poll the agent socket", errno);
        }
        if (n > 0) return Ok{};
    }
}

std::string parent_of(const std::string& path)
{
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// The socket and the directory holding it: only root may have made or be able
// to replace the socket. The directory is stat'ed through symlinks (/var/run
// is one on Debian): what matters is the directory the name resolves in.
Status check_socket_path(const std::string& path)
{
    const std::string dir = parent_of(path);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        if (errno == ENOENT) return missing(path);
        return io_error("cannot stat agent socket directory '" + dir + "'", errno);
    }
    const std::string qdir = "agent socket directory '" + dir + "'";
    if (!S_ISDIR(st.st_mode)) return make_error(Errc::insecure, qdir + " is not a directory");
    if (st.st_uid != 0) return make_error(Errc::insecure, qdir + " is not owned by root");
    if ((st.st_mode & 022) != 0) return make_error(Errc::insecure, qdir + " is writable by group or others");

    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return missing(path);
        return io_error("cannot stat agent socket '" + path + "'", errno);
    }
    const std::string qpath = "agent socket '" + path + "'";
    if (!S_ISSOCK(st.st_mode)) return make_error(Errc::insecure, qpath + " is not a socket");
    if (st.st_uid != 0) return make_error(Errc::insecure, qpath + " is not owned by root");
    if ((st.st_mode & 022) != 0) return make_error(Errc::insecure, qpath + " is writable by group or others");
    return Ok{};
}

Status check_connect_error(int err, const std::string& path)
{
    if (err == ENOENT) return missing(path);
    if (err == ECONNREFUSED) return make_error(Errc::io, "agent not running (" + path + " refuses connections)");
    return io_error("cannot connect to agent socket '" + path + "'", err);
}

Result<sockaddr_un> socket_address(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return make_error(Errc::invalid_argument,
                          "agent socket path must be 1.." + std::to_string(sizeof addr.sun_path - 1) + " bytes");
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

// A non-blocking connect within the deadline. EAGAIN is a full listen backlog
// (a busy agent): nothing was sent, so connecting again shortly is not a retry
// of the request.
Result<UniqueFd> connect_agent(const sockaddr_un& addr, const std::string& path, const Deadline& deadline)
{
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) return io_error("cannot create a Unix socket", errno);
    for (;;) {
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
        const int err = errno;
        if (err == EISCONN) return fd;
        if (err == EINTR) continue;
        if (err == EAGAIN) {
            const int ms = deadline.remaining_ms();
            if (ms == 0) return deadline.expired();
            ::poll(nullptr, 0, ms < 5 ? ms : 5);
            continue;
        }
        if (err != EINPROGRESS) return check_connect_error(err, path).error();
        if (auto st = wait_for(fd.get(), POLLOUT, deadline); !st) return st.error();
        int so_error = 0;
        socklen_t len = sizeof so_error;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
            return io_error("cannot read the connect result", errno);
        if (so_error == 0) return fd;
        return check_connect_error(so_error, path).error();
    }
}

Status check_peer(int fd, const std::string& path)
{
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return io_error("cannot read the agent's credentials (SO_PEERCRED)", errno);
    if (cred.uid != 0)
        return make_error(Errc::insecure,
                          "agent at '" + path + "' runs as uid " + std::to_string(cred.uid) + ", not root");
    return Ok{};
}

// MSG_NOSIGNAL: an agent that closed the connection must not raise SIGPIPE
// inside sshd or sudo.
Status send_all(int fd, std::string_view bytes, const Deadline& deadline)
{
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n >= 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        const int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            if (auto st = wait_for(fd, POLLOUT, deadline); !st) return st;
            continue;
        }
        if (err == EPIPE || err == ECONNRESET)
            return make_error(Errc::io, "agent closed the connection before the request was sent");
        return io_error("cannot send the request to the agent", err);
    }
    return Ok{};
}

Status recv_exact(int fd, char* out, std::size_t size, const Deadline& deadline, const char* what)
{
    std::size_t have = 0;
    while (have < size) {
        const ssize_t n = ::recv(fd, out + have, size - have, 0);
        if (n > 0) {
            have += static_cast<std::size_t>(n);
            continue;
        }
        const int err = n == 0 ? 0 : errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            if (auto st = wait_for(fd, POLLIN, deadline); !st) return st;
            continue;
        }
        if (err == 0 || err == ECONNRESET)
            return make_error(Errc::io, std::string("agent closed the connection after ") + std::to_string(have) +
                                            " of " + std::to_string(size) + " bytes of the " + what);
        return io_error(std::string("cannot read the ") + what + " from the agent", err);
    }
    return Ok{};
}

// Bytes a PAM item may hold that the wire does not carry become '?'; the
// service only names the caller in the agent's log lines.
std::string printable_prefix(std::string_view s, std::size_t max)
{
    std::string out(s.substr(0, max));
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7E) c = '?';
    }
    return out;
}

}  // namespace

Result<agent::Reply> call_agent(const std::string& socket_path, const agent::Request& req,
                                std::chrono::milliseconds timeout)
{
    const Deadline deadline(timeout);
    auto encoded = agent::encode_request(req);
    if (!encoded) return encoded.error();
    std::string frame = std::move(*encoded);
    const WipeOnExit wipe_frame(frame);

    auto addr = socket_address(socket_path);
    if (!addr) return addr.error();
    if (auto st = check_socket_path(socket_path); !st) return st.error();
    auto fd = connect_agent(*addr, socket_path, deadline);
    if (!fd) return fd.error();
    if (auto st = check_peer(fd->get(), socket_path); !st) return st.error();
    if (auto st = send_all(fd->get(), frame, deadline); !st) return st.error();
    wipe_string(frame);

    unsigned char prefix[4] = {};
    if (auto st = recv_exact(fd->get(), reinterpret_cast<char*>(prefix), sizeof prefix, deadline, "reply length"); !st)
        return st.error();
    auto length = agent::decode_frame_length(prefix);
    if (!length) return length.error();
    std::string payload(*length, '\0');
    if (auto st = recv_exact(fd->get(), payload.data(), payload.size(), deadline, "reply"); !st) return st.error();
    return agent::decode_reply(payload);
}

Result<agent::Reply> AgentLogins::call(agent::Op op, const LoginContext& ctx, std::string_view code)
{
    // The local store refuses such a name as invalid_user too (PAM_USER_UNKNOWN).
    if (ctx.user.empty() || ctx.user.size() > agent::kMaxUserBytes || !valid_utf8(ctx.user) || has_control(ctx.user))
        return make_error(Errc::invalid_user, "user name cannot be sent to the agent (1.." +
                                                  std::to_string(agent::kMaxUserBytes) +
                                                  " bytes of UTF-8 without control bytes)");
    agent::Request req;
    req.op = op;
    req.is_root = ctx.is_root;
    req.user.assign(ctx.user);
    req.service = printable_prefix(ctx.service, agent::kMaxServiceBytes);
    req.source = sanitize_source(ctx.source);  // what the store records of it anyway
    // A code the wire cannot carry (over kMaxCodeBytes, or not printable
    // ASCII) is sent empty: the agent counts it as a wrong code, as the local
    // store counts such a code, instead of failing without counting it.
    if (op == agent::Op::attempt && code.size() <= agent::kMaxCodeBytes && printable_ascii(code)) req.code.assign(code);

    auto reply = call_agent(path_, req, timeout_);
    if (!reply) return reply.error();
    if (!reply->ok) return make_error(reply->errc, "agent: " + reply->detail);
    return reply;
}

Result<LockInfo> AgentLogins::lock_info(const LoginContext& ctx)
{
    auto reply = call(agent::Op::lock_info, ctx, {});
    if (!reply) return reply.error();
    return reply->info;
}

Result<AttemptResult> AgentLogins::attempt_code(const LoginContext& ctx, std::string_view code)
{
    auto reply = call(agent::Op::attempt, ctx, code);
    if (!reply) return reply.error();
    return reply->attempt;
}

Result<AttemptResult> AgentLogins::external_failure(const LoginContext& ctx)
{
    auto reply = call(agent::Op::external_failure, ctx, {});
    if (!reply) return reply.error();
    return reply->attempt;
}

Result<AttemptResult> AgentLogins::external_success(const LoginContext& ctx)
{
    auto reply = call(agent::Op::external_success, ctx, {});
    if (!reply) return reply.error();
    return reply->attempt;
}

Result<std::optional<InviteOffer>> AgentLogins::offer_invite(const LoginContext& /*ctx*/)
{
    return make_error(Errc::unsupported, std::string(kInviteUnsupportedWithAgent));
}

Result<InviteConfirmResult> AgentLogins::confirm_invite(const LoginContext& /*ctx*/, InviteOffer& /*offer*/,
                                                        std::string_view /*code*/)
{
    return make_error(Errc::unsupported, std::string(kInviteUnsupportedWithAgent));
}

}  // namespace authctl
