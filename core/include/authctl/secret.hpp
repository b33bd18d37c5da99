// SPDX-License-Identifier: Apache-2.0
// Secrets are a type: a byte buffer that wipes itself (OPENSSL_cleanse) when it
// is destroyed, moved from or resized, and that is never copied by accident.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "authctl/result.hpp"

namespace authctl {

class SecretBytes {
public:
    SecretBytes() = default;
    explicit SecretBytes(std::size_t n) : bytes_(n, 0) {}
    SecretBytes(const std::uint8_t* data, std::size_t n) : bytes_(data, data + n) {}
    ~SecretBytes() { wipe(); }

    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    SecretBytes(SecretBytes&& other) noexcept;
    SecretBytes& operator=(SecretBytes&& other) noexcept;

    // An explicit copy, for the rare place that needs one.
    SecretBytes clone() const { return SecretBytes(data(), size()); }

    std::uint8_t* data() noexcept { return bytes_.data(); }
    const std::uint8_t* data() const noexcept { return bytes_.data(); }
    std::size_t size() const noexcept { return bytes_.size(); }
    bool empty() const noexcept { return bytes_.empty(); }
    void push_back(std::uint8_t b);
    std::string_view view() const noexcept { return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()}; }

    // Zeroes the contents and empties the buffer.
    void wipe() noexcept;

    // Keeps the first n bytes (n <= size()); the rest is zeroed, in place.
    void truncate(std::size_t n) noexcept;

private:
    std::vector<std::uint8_t> bytes_;
};

// Fills a buffer of n bytes from the OS CSPRNG through OpenSSL RAND_bytes.
// Fails with Errc::crypto when the generator is not seeded.
Result<SecretBytes> random_secret(std::size_t n);

// Constant-time equality of two byte strings; unequal lengths compare unequal
// (the length itself is not secret).
[[nodiscard]] bool equal_ct(std::string_view a, std::string_view b) noexcept;

// Wipes any string that held secret material.
void wipe_string(std::string& s) noexcept;

// Wipes n bytes at p (a C string from a PAM conversation, say).
void wipe_bytes(void* p, std::size_t n) noexcept;

}  // namespace authctl
