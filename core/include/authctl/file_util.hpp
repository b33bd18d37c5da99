// SPDX-License-Identifier: Apache-2.0
// File primitives for root-owned state: every open is relative to a directory
// fd, never follows a symlink, and checks type, owner and mode on the opened fd
// (no check-then-open races).
#pragma once

#include <string>
#include <string_view>

#include "authctl/result.hpp"
#include "authctl/secret.hpp"

namespace authctl {

enum class FileTrust {
    root_private,       // owned by root, no group/other access at all, one link (state)
    root_not_writable,  // owned by root, not writable by group/other (config)
};

// An owned file descriptor, closed on destruction.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept
    {
        if (this != &o) reset(o.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    int release() noexcept
    {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

// "what 'name': strerror(err)" as an Errc::io error (Errc::not_found for ENOENT).
Error sys_error(const std::string& what, std::string_view name, int err);

// Checks an open fd against `trust` and its expected type (S_IFREG/S_IFDIR);
// Errc::insecure naming `name` on a mismatch. `size`, when given, receives the
// file's size.
Status check_fd(int fd, std::string_view name, unsigned type, FileTrust trust, std::size_t* size = nullptr);

// Reads a whole regular file `name` relative to `dirfd` (AT_FDCWD for a path),
// after checking it against `trust`. Files larger than max_bytes are refused
// (Errc::corrupt). The contents come back in a self-wiping buffer.
Result<SecretBytes> read_trusted_file(int dirfd, const std::string& name, std::size_t max_bytes, FileTrust trust);

// Replaces `name` in `dirfd` atomically: writes `tmp_name` (created fresh,
// mode `mode`, 0600 unless told), fsyncs it, renames it over `name` and fsyncs
// the directory. A crash at any instant leaves either the old or the new file
// under `name`.
Status replace_file(int dirfd, const std::string& name, const std::string& tmp_name, std::string_view contents,
                    unsigned mode = 0600);

}  // namespace authctl
