// SPDX-License-Identifier: Apache-2.0
// authctld's sockets: the listening socket (from systemd, or bound here with
// the checks a root-only socket needs) and the bounded I/O of one connection.
// Every wait has a deadline: the agent never hangs on a client.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "authctl/file_util.hpp"
#include "authctl/result.hpp"

namespace authctl::agentd {

inline constexpr const char* kRunDir = "/run/authctl";

struct ListenSocket {
    UniqueFd fd;
    std::string path;        // where it listens (for log lines)
    bool activated = false;  // handed over by systemd: not ours to unlink
    dev_t dev = 0;           // the socket file we bound, to unlink only that one
    ino_t ino = 0;
};

// The socket systemd passed (LISTEN_PID is this process and LISTEN_FDS is 1:
// fd 3, which must be a listening AF_UNIX stream socket); nullopt when this
// process was not socket-activated. LISTEN_FDS other than 1 is an error. The
// LISTEN_* variables are removed from the environment.
Result<std::optional<ListenSocket>> activated_socket();

// Creates, binds and listens on `path`. The parent directory must exist, be a
// directory (not a symlink) owned by root and not writable by group or others
// (Errc::insecure); /run/authctl is created (root, 0755) when it is the
// parent and missing. An existing file at `path` is removed only when it is a
// socket owned by root with no agent listening on it; anything else is
// refused. The socket is created with umask 0177 (mode 0600).
Result<ListenSocket> bind_socket(const std::string& path);

// Removes the socket file we bound, if it is still the one we created.
void unlink_socket(const ListenSocket& sock) noexcept;

struct PeerCred {
    uid_t uid = 0;
    pid_t pid = 0;
};
// The connected peer's credentials (SO_PEERCRED, as of its connect()).
Result<PeerCred> peer_cred(int fd);

using Deadline = std::chrono::steady_clock::time_point;

// Reads one frame's payload (after its 4-byte length prefix, checked by
// agent::decode_frame_length) into `payload` before `deadline`. Errc::io on
// a timeout, a closed connection or a read error; Errc::invalid_argument for
// a bad length. The caller wipes `payload` (it may hold a code).
Status read_frame(int fd, std::string& payload, Deadline deadline);

// True when the client has closed its end (it gave up waiting): its request
// is then not served, so nothing is decided for a caller that is gone.
bool peer_gone(int fd) noexcept;

// Writes all of `data` before `deadline` (MSG_NOSIGNAL: a vanished client
// is an error, not a signal).
Status write_all(int fd, std::string_view data, Deadline deadline);

}  // namespace authctl::agentd
