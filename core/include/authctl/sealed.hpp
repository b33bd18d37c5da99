// SPDX-License-Identifier: Apache-2.0
// Records at rest in the fleet database: AES-256-GCM (OpenSSL EVP) under a
// fleet key that every server holds in a root-only key file. The user name and
// the key id are bound as associated data, so a sealed record copied to
// another user's row, or relabelled with another key id, does not open.
//
// Sealed form (bytes): "AS1" | key id length (1 byte) | key id | 12-byte nonce
// (random) | ciphertext | 16-byte tag.
//
// Key file (docs/fleet.md): root-owned, mode 0600 (anything looser is
// refused), text lines "key ID BASE64-32-BYTES", '#' comments, and exactly one
// line "current ID" naming the key that new writes use. Every other key is
// kept for reading rows not yet re-encrypted (authctl fleet rekey).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "authctl/result.hpp"
#include "authctl/secret.hpp"

namespace authctl {

inline constexpr std::size_t kFleetKeyBytes = 32;
inline constexpr std::size_t kMaxKeyIdBytes = 32;  // [A-Za-z0-9._-], 1..32
inline constexpr std::size_t kMaxFleetKeys = 16;

struct FleetKey {
    std::string id;
    SecretBytes key;  // kFleetKeyBytes
};

struct Keyring {
    std::vector<FleetKey> keys;
    std::string current;  // id of the key new writes use

    const FleetKey* find(std::string_view id) const noexcept;
    const FleetKey& current_key() const;  // exists in a parsed keyring
};

// Parses a key file's text; Errc::invalid_argument naming the line otherwise.
Result<Keyring> parse_keyring(std::string_view text, std::string_view origin);

// Reads and parses the key file (root-owned, 0600 or stricter: Errc::insecure otherwise).
Result<Keyring> load_keyring(const std::string& path);

// A new random key with `id`, as a key file line "key ID BASE64".
Result<std::string> new_key_line(std::string_view id);

// Seals `plain` for `user` under `key`.
Result<std::string> seal(const FleetKey& key, std::string_view user, std::string_view plain);

// The key id a sealed value names; Errc::corrupt when malformed.
Result<std::string> sealed_key_id(std::string_view sealed);

// Opens a sealed value for `user` with the key it names. Errc::crypto when the
// key is not in the ring or authentication fails (wrong user, wrong key, any
// changed byte); Errc::corrupt when malformed.
Result<SecretBytes> open_sealed(const Keyring& ring, std::string_view user, std::string_view sealed);

}  // namespace authctl
