// SPDX-License-Identifier: Apache-2.0
// Errors as values: one enum, one text per value, and a small Result<T>.
// Callers map Errc to PAM codes or exit codes in exactly one place each
// (pam_module/pam_codes.cpp, tool/exit_codes.cpp).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace authctl {

enum class Errc {
    invalid_argument,  // a value the caller passed (option, code, name, URI) is malformed or out of range
    invalid_user,      // a user name that cannot be stored (empty, overlong, control bytes, not UTF-8)
    not_found,         // the user has no record / the file does not exist
    exists,            // refusing to replace something that exists
    insecure,          // a file or directory is a symlink, not root-owned, or group/other-accessible
    corrupt,           // a stored record failed to parse
    io,                // a system call failed (the detail names it and the errno text)
    crypto,            // OpenSSL reported a failure
    unsupported,       // not available with this store (enrollment at login with store=agent)
};

// A short, stable English phrase for the category ("corrupt record", ...).
const char* errc_text(Errc code) noexcept;

struct Error {
    Errc code;
    std::string detail;  // one line naming the key, user or file; never a secret

    // "<category>: <detail>", for a log line or a CLI message.
    std::string message() const;
};

// Holds a T or an Error. Deliberately small: has_value(), value(), error().
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Error err) : v_(std::in_place_index<1>, std::move(err)) {}  // NOLINT(google-explicit-constructor)

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }
    const T& operator*() const& { return std::get<0>(v_); }
    T&& operator*() && { return std::get<0>(std::move(v_)); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;

inline Error make_error(Errc code, std::string detail)
{
    return Error{code, std::move(detail)};
}

}  // namespace authctl
