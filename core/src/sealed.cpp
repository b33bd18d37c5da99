// SPDX-License-Identifier: Apache-2.0
#include "authctl/sealed.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <memory>
#include <stdexcept>

#include "authctl/file_util.hpp"
#include "authctl/text.hpp"

namespace authctl {
namespace {

constexpr std::string_view kMagic = "AS1";
// The associated data starts with this tag, NUL included: a sealed value made
// for another purpose or format version never opens as a record.
constexpr std::string_view kAadTag{"authctl-sealed-v1\0", 18};
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kHeaderBytes = 4;  // magic and the key id length
constexpr std::size_t kMaxKeyFileBytes = std::size_t{64} * 1024;
// A seal must fit EVP's int lengths, with room for the header and the tag.
constexpr std::size_t kMaxPlainBytes = INT_MAX - 1024;

struct CipherCtxDeleter {
    void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }  // cleanses the key schedule
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

bool valid_key_id(std::string_view id) noexcept
{
    if (id.empty() || id.size() > kMaxKeyIdBytes) return false;
    for (const char c : id) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

// "authctl-sealed-v1" NUL | user length (4 bytes, big-endian) | user | key id.
// The user's length is explicit and the key id runs to the end (GCM
// authenticates the total length), so no (user, key id) pair can be read as
// another: ("alice", "k1") and ("alicek", "1") differ.
std::string associated_data(std::string_view user, std::string_view key_id)
{
    std::string aad;
    aad.reserve(kAadTag.size() + 4 + user.size() + key_id.size());
    aad.append(kAadTag);
    const auto n = static_cast<std::uint32_t>(user.size());
    for (int shift = 24; shift >= 0; shift -= 8) aad.push_back(static_cast<char>((n >> shift) & 0xFFU));
    aad.append(user);
    aad.append(key_id);
    return aad;
}

const unsigned char* bytes(std::string_view s) noexcept
{
    return reinterpret_cast<const unsigned char*>(s.data());
}

struct SealedParts {
    std::string_view key_id;
    std::string_view nonce;
    std::string_view ciphertext;
    std::string_view tag;
};

Result<SealedParts> split_sealed(std::string_view sealed)
{
    if (sealed.size() < kHeaderBytes || sealed.substr(0, kMagic.size()) != kMagic)
        return make_error(Errc::corrupt, "sealed record does not start with '" + std::string(kMagic) + "'");
    const std::size_t id_len = static_cast<unsigned char>(sealed[kMagic.size()]);
    if (id_len == 0 || id_len > kMaxKeyIdBytes)
        return make_error(Errc::corrupt, "sealed record has a key id length of " + std::to_string(id_len));
    if (sealed.size() < kHeaderBytes + id_len + kNonceBytes + kTagBytes)
        return make_error(Errc::corrupt, "sealed record is truncated (" + std::to_string(sealed.size()) + " bytes)");
    SealedParts parts;
    parts.key_id = sealed.substr(kHeaderBytes, id_len);
    if (!valid_key_id(parts.key_id)) return make_error(Errc::corrupt, "sealed record names an invalid key id");
    parts.nonce = sealed.substr(kHeaderBytes + id_len, kNonceBytes);
    const std::size_t body = kHeaderBytes + id_len + kNonceBytes;
    parts.ciphertext = sealed.substr(body, sealed.size() - body - kTagBytes);
    parts.tag = sealed.substr(sealed.size() - kTagBytes);
    return parts;
}

// The strict base64 of a key file: padded, canonical (unused bits zero), no
// whitespace. Returns the decoded length, or -1 when `s` is not such base64.
long canonical_base64_length(std::string_view s) noexcept
{
    static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (s.empty() || s.size() % 4 != 0) return -1;
    std::size_t pad = 0;
    while (pad < 2 && s[s.size() - 1 - pad] == '=') ++pad;
    const std::string_view data = s.substr(0, s.size() - pad);
    for (const char c : data)
        if (kAlphabet.find(c) == std::string_view::npos) return -1;  // '=' inside, too much padding, ...
    const std::size_t last = kAlphabet.find(data.back());
    if ((pad == 1 && (last & 0x3U) != 0) || (pad == 2 && (last & 0xFU) != 0)) return -1;
    return static_cast<long>(s.size() / 4 * 3 - pad);
}

Result<SecretBytes> decode_key(std::string_view b64, const std::string& what)
{
    const long n = canonical_base64_length(b64);
    if (n < 0) return make_error(Errc::invalid_argument, what + " is not valid base64");
    if (n != static_cast<long>(kFleetKeyBytes))
        return make_error(Errc::invalid_argument,
                          what + " is " + std::to_string(n) + " bytes, not " + std::to_string(kFleetKeyBytes));
    // EVP_DecodeBlock counts padding as zero bytes: 44 characters give 33.
    SecretBytes out(b64.size() / 4 * 3);
    if (EVP_DecodeBlock(out.data(), bytes(b64), static_cast<int>(b64.size())) != static_cast<int>(out.size()))
        return make_error(Errc::invalid_argument, what + " is not valid base64");
    out.truncate(kFleetKeyBytes);
    return out;
}

}  // namespace

const FleetKey* Keyring::find(std::string_view id) const noexcept
{
    for (const auto& k : keys)
        if (k.id == id) return &k;
    return nullptr;
}

const FleetKey& Keyring::current_key() const
{
    const FleetKey* k = find(current);
    if (k == nullptr) throw std::logic_error("keyring has no key '" + current + "'");
    return *k;
}

Result<Keyring> parse_keyring(std::string_view text, std::string_view origin)
{
    // Errors name the line and at most a valid key id: never a token that may be
    // key material (a pasted key, a line missing its id).
    Keyring ring;
    std::size_t current_line = 0;
    ConfigLines lines(text, origin);
    while (lines.next()) {
        std::string_view line = lines.line();
        const std::size_t line_no = lines.number();
        const auto where = lines.where();
        std::array<std::string_view, 4> words{};
        std::size_t count = 0;
        while (!line.empty() && count < words.size()) {
            const auto end = line.find_first_of(" \t");
            words[count++] = line.substr(0, end);
            line = trim(end == std::string_view::npos ? std::string_view{} : line.substr(end));
        }
        for (std::size_t i = 0; i < count; ++i)
            if (has_control(words[i])) return make_error(Errc::invalid_argument, where + "control character in line");
        const std::string_view id = count > 1 ? words[1] : std::string_view{};
        if (words[0] == "key") {
            if (count != 3) return make_error(Errc::invalid_argument, where + "expected 'key ID BASE64'");
            if (!valid_key_id(id))
                return make_error(Errc::invalid_argument, where + "a key id is 1 to 32 of A-Z a-z 0-9 . _ -");
            const std::string quoted = "key '" + std::string(id) + "'";
            if (ring.find(id) != nullptr) return make_error(Errc::invalid_argument, where + quoted + " defined twice");
            if (ring.keys.size() == kMaxFleetKeys)
                return make_error(Errc::invalid_argument,
                                  where + "more than " + std::to_string(kMaxFleetKeys) + " keys");
            auto key = decode_key(words[2], quoted);
            if (!key) return make_error(key.error().code, where + key.error().detail);
            ring.keys.push_back(FleetKey{std::string(id), std::move(*key)});
        } else if (words[0] == "current") {
            if (count != 2) return make_error(Errc::invalid_argument, where + "expected 'current ID'");
            if (!valid_key_id(id))
                return make_error(Errc::invalid_argument, where + "a key id is 1 to 32 of A-Z a-z 0-9 . _ -");
            if (current_line != 0)
                return make_error(Errc::invalid_argument, where + "a second 'current' line (the first is line " +
                                                              std::to_string(current_line) + ")");
            ring.current = std::string(id);
            current_line = line_no;
        } else {
            return make_error(Errc::invalid_argument, where + "expected 'key ID BASE64' or 'current ID'");
        }
    }
    if (current_line == 0) return make_error(Errc::invalid_argument, std::string(origin) + ": no 'current ID' line");
    if (ring.find(ring.current) == nullptr)
        return make_error(Errc::invalid_argument, std::string(origin) + ":" + std::to_string(current_line) +
                                                      ": 'current' names key '" + ring.current +
                                                      "', which the file does not define");
    return ring;
}

Result<Keyring> load_keyring(const std::string& path)
{
    // root_private: root-owned, no group/other bit, one link, not a symlink.
    auto text = read_trusted_file(AT_FDCWD, path, kMaxKeyFileBytes, FileTrust::root_private);
    if (!text) return text.error();
    return parse_keyring(text->view(), path);
}

Result<std::string> new_key_line(std::string_view id)
{
    if (!valid_key_id(id)) return make_error(Errc::invalid_argument, "a key id is 1 to 32 of A-Z a-z 0-9 . _ -");
    auto key = random_secret(kFleetKeyBytes);
    if (!key) return key.error();
    SecretBytes b64(4 * ((kFleetKeyBytes + 2) / 3) + 1);  // EVP_EncodeBlock adds a NUL
    const int n = EVP_EncodeBlock(b64.data(), key->data(), static_cast<int>(key->size()));
    if (n != static_cast<int>(b64.size()) - 1) return make_error(Errc::crypto, "EVP_EncodeBlock failed");
    std::string line;
    line.reserve(4 + id.size() + 1 + b64.size() + 1);  // no reallocation leaves a copy behind
    line.append("key ").append(id).append(" ").append(b64.view().substr(0, static_cast<std::size_t>(n)));
    line.push_back('\n');
    return line;
}

Result<std::string> seal(const FleetKey& key, std::string_view user, std::string_view plain)
{
    if (!valid_key_id(key.id)) return make_error(Errc::invalid_argument, "fleet key has an invalid id");
    if (key.key.size() != kFleetKeyBytes)
        return make_error(Errc::invalid_argument,
                          "fleet key '" + key.id + "' is not " + std::to_string(kFleetKeyBytes) + " bytes");
    if (user.size() > UINT32_MAX || plain.size() > kMaxPlainBytes)
        return make_error(Errc::invalid_argument, "record or user name too large to seal");
    const std::string aad = associated_data(user, key.id);

    std::string out;
    out.reserve(kHeaderBytes + key.id.size() + kNonceBytes + plain.size() + kTagBytes);
    out.append(kMagic);
    out.push_back(static_cast<char>(key.id.size()));
    out.append(key.id);
    const std::size_t nonce_at = out.size();
    out.resize(nonce_at + kNonceBytes + plain.size() + kTagBytes);
    auto* nonce = reinterpret_cast<unsigned char*>(out.data()) + nonce_at;
    unsigned char* cipher = nonce + kNonceBytes;
    unsigned char* tag = cipher + plain.size();

    if (RAND_bytes(nonce, static_cast<int>(kNonceBytes)) != 1) return make_error(Errc::crypto, "RAND_bytes failed");
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    const EVP_CIPHER* aes = EVP_aes_256_gcm();
    int len = 0;
    if (!ctx || aes == nullptr || EVP_EncryptInit_ex(ctx.get(), aes, nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes), nullptr) != 1 ||
        EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.key.data(), nonce) != 1 ||
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1)
        return make_error(Errc::crypto, "AES-256-GCM setup failed");
    if (!plain.empty() &&
        (EVP_EncryptUpdate(ctx.get(), cipher, &len, bytes(plain), static_cast<int>(plain.size())) != 1 ||
         len != static_cast<int>(plain.size())))
        return make_error(Errc::crypto, "AES-256-GCM encryption failed");
    if (EVP_EncryptFinal_ex(ctx.get(), tag, &len) != 1 || len != 0 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag) != 1)
        return make_error(Errc::crypto, "AES-256-GCM finalisation failed");
    return out;
}

Result<std::string> sealed_key_id(std::string_view sealed)
{
    auto parts = split_sealed(sealed);
    if (!parts) return parts.error();
    return std::string(parts->key_id);
}

Result<SecretBytes> open_sealed(const Keyring& ring, std::string_view user, std::string_view sealed)
{
    auto parts = split_sealed(sealed);
    if (!parts) return parts.error();
    const std::string id(parts->key_id);
    const FleetKey* key = ring.find(id);
    if (key == nullptr) return make_error(Errc::crypto, "sealed record names key '" + id + "', not in the keyring");
    if (key->key.size() != kFleetKeyBytes)
        return make_error(Errc::crypto, "fleet key '" + id + "' is not " + std::to_string(kFleetKeyBytes) + " bytes");
    if (user.size() > UINT32_MAX || parts->ciphertext.size() > kMaxPlainBytes)
        return make_error(Errc::crypto, "sealed record or user name too large");
    const std::string aad = associated_data(user, id);
    std::array<unsigned char, kTagBytes> tag{};
    std::copy(parts->tag.begin(), parts->tag.end(), tag.begin());

    SecretBytes plain(parts->ciphertext.size());  // wipes itself on every return below
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    const EVP_CIPHER* aes = EVP_aes_256_gcm();
    int len = 0;
    if (!ctx || aes == nullptr || EVP_DecryptInit_ex(ctx.get(), aes, nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes), nullptr) != 1 ||
        EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key->key.data(), bytes(parts->nonce)) != 1 ||
        EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1)
        return make_error(Errc::crypto, "AES-256-GCM setup failed");
    if (!plain.empty() && (EVP_DecryptUpdate(ctx.get(), plain.data(), &len, bytes(parts->ciphertext),
                                             static_cast<int>(parts->ciphertext.size())) != 1 ||
                           len != static_cast<int>(plain.size())))
        return make_error(Errc::crypto, "AES-256-GCM decryption failed");
    // Nothing decrypted is returned unless the tag matches.
    std::array<unsigned char, kTagBytes> scratch{};
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag.data()) != 1 ||
        EVP_DecryptFinal_ex(ctx.get(), scratch.data(), &len) != 1 || len != 0)
        return make_error(Errc::crypto, "sealed record under key '" + id +
                                            "' does not authenticate (another user's, another key's, or altered)");
    return plain;
}

}  // namespace authctl
