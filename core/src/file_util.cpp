// SPDX-License-Identifier: Apache-2.0
#include "authctl/file_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace authctl {

void UniqueFd::reset(int fd) noexcept
{
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Error sys_error(const std::string& what, std::string_view name, int err)
{
    return make_error(err == ENOENT ? Errc::not_found : Errc::io,
                      what + " '" + std::string(name) + "': " + std::strerror(err));
}

Status check_fd(int fd, std::string_view name, unsigned type, FileTrust trust, std::size_t* size)
{
    struct stat st {};
    if (::fstat(fd, &st) != 0) return sys_error("cannot stat", name, errno);
    if (size != nullptr) *size = st.st_size > 0 ? static_cast<std::size_t>(st.st_size) : 0;
    const std::string quoted = "'" + std::string(name) + "'";
    if ((st.st_mode & S_IFMT) != type)
        return make_error(Errc::insecure,
                          quoted + (type == S_IFDIR ? " is not a directory" : " is not a regular file"));
    if (st.st_uid != 0) return make_error(Errc::insecure, quoted + " is not owned by root");
    if (trust == FileTrust::root_private) {
        if ((st.st_mode & 077) != 0) return make_error(Errc::insecure, quoted + " is accessible by group or others");
        // No link at all is a file a writer renamed over (or removed) after we
        // opened it: a lock-free reader still holds the whole record it was.
        if (type == S_IFREG && st.st_nlink > 1) return make_error(Errc::insecure, quoted + " has more than one link");
    } else if ((st.st_mode & 022) != 0) {
        return make_error(Errc::insecure, quoted + " is writable by group or others");
    }
    return Ok{};
}

Result<SecretBytes> read_trusted_file(int dirfd, const std::string& name, std::size_t max_bytes, FileTrust trust)
{
    // O_NONBLOCK: a FIFO planted in place of the file must not hang the login.
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid()) {
        if (errno == ELOOP) return make_error(Errc::insecure, "'" + name + "' is a symbolic link");
        return sys_error("cannot open", name, errno);
    }
    std::size_t size = 0;
    if (auto st = check_fd(fd.get(), name, S_IFREG, trust, &size); !st) return st.error();
    // Room for what fstat saw plus one byte, so a file that grew since is
    // noticed; it grows up to max_bytes + 1, where a file counts as too large.
    // (Not max_bytes at once: wiping 16 KiB per record read was most of the
    // cost of reading one.)
    SecretBytes buf(std::min(size, max_bytes) + 1);
    std::size_t have = 0;
    for (;;) {
        if (have == buf.size()) {
            if (buf.size() > max_bytes) break;
            SecretBytes bigger(std::min(buf.size() * 2, max_bytes + 1));
            std::memcpy(bigger.data(), buf.data(), have);
            buf = std::move(bigger);  // wipes the old buffer
        }
        const ssize_t n = ::read(fd.get(), buf.data() + have, buf.size() - have);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error("cannot read", name, errno);
        }
        if (n == 0) break;
        have += static_cast<std::size_t>(n);
    }
    if (have > max_bytes)
        return make_error(Errc::corrupt, "'" + name + "' is larger than " + std::to_string(max_bytes) + " bytes");
    SecretBytes out(buf.data(), have);
    return out;
}

Status replace_file(int dirfd, const std::string& name, const std::string& tmp_name, std::string_view contents,
                    unsigned mode)
{
    // A temp file left by a crash is stale: the caller holds the lock that
    // guards every writer of `name`.
    if (::unlinkat(dirfd, tmp_name.c_str(), 0) != 0 && errno != ENOENT)
        return sys_error("cannot remove stale", tmp_name, errno);
    UniqueFd fd(::openat(dirfd, tmp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return sys_error("cannot create", tmp_name, errno);
    // Set on the fd, whatever the umask: a config file others must read (0644).
    if (mode != 0600 && ::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
        const int err = errno;
        ::unlinkat(dirfd, tmp_name.c_str(), 0);
        return sys_error("cannot set the mode of", tmp_name, err);
    }
    std::size_t done = 0;
    while (done < contents.size()) {
        const ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::unlinkat(dirfd, tmp_name.c_str(), 0);
            return sys_error("cannot write", tmp_name, err);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) {
        const int err = errno;
        ::unlinkat(dirfd, tmp_name.c_str(), 0);
        return sys_error("cannot fsync", tmp_name, err);
    }
    fd.reset();
    if (::renameat(dirfd, tmp_name.c_str(), dirfd, name.c_str()) != 0) {
        const int err = errno;
        ::unlinkat(dirfd, tmp_name.c_str(), 0);
        return sys_error("cannot rename onto", name, err);
    }
    if (::fsync(dirfd) != 0) return sys_error("cannot fsync directory of", name, errno);
    return Ok{};
}

}  // namespace authctl
