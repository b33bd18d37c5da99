// SPDX-License-Identifier: Apache-2.0
#include "authctl/secret.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <climits>

namespace authctl {

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_))
{
    other.bytes_.clear();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept
{
    if (this != &other) {
        wipe();
        bytes_ = std::move(other.bytes_);
        other.bytes_.clear();
    }
    return *this;
}

void SecretBytes::push_back(std::uint8_t b)
{
    if (bytes_.size() == bytes_.capacity()) {
        // Grow by hand so the old storage is wiped rather than left to the allocator.
        std::vector<std::uint8_t> bigger;
        bigger.reserve(bytes_.empty() ? 32 : bytes_.size() * 2);
        bigger.assign(bytes_.begin(), bytes_.end());
        wipe();
        bytes_ = std::move(bigger);
    }
    bytes_.push_back(b);
}

void SecretBytes::wipe() noexcept
{
    // Construct the spare capacity too, so every byte the buffer ever held is wiped.
    bytes_.resize(bytes_.capacity());
    if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
    bytes_.clear();
}

void SecretBytes::truncate(std::size_t n) noexcept
{
    if (n >= bytes_.size()) return;
    OPENSSL_cleanse(bytes_.data() + n, bytes_.size() - n);
    bytes_.resize(n);  // shrinking never reallocates
}

Result<SecretBytes> random_secret(std::size_t n)
{
    SecretBytes out(n);
    if (n > INT_MAX || RAND_bytes(out.data(), static_cast<int>(n)) != 1)
        return make_error(Errc::crypto, "RAND_bytes failed");
    return out;
}

bool equal_ct(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe_string(std::string& s) noexcept
{
    if (s.capacity() > 0) OPENSSL_cleanse(s.data(), s.capacity());
    s.clear();
}

}  // namespace authctl

namespace authctl {

void wipe_bytes(void* p, std::size_t n) noexcept
{
    if (p != nullptr && n > 0) OPENSSL_cleanse(p, n);
}

}  // namespace authctl
