// SPDX-License-Identifier: Apache-2.0
#include "authctl/otp.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <atomic>
#include <memory>

namespace authctl {
namespace {

// OpenSSL's HMAC, fetched once per process and kept: a fetch walks the
// provider store (tens of thousands of instructions) and returns the same
// method each time. Never freed, as OpenSSL keeps its own implicit fetches: the
// host (sshd, sudo) may run OPENSSL_cleanup() at exit before our destructors,
// and the module is linked -z nodelete, so one process holds one reference. A
// failed fetch is not cached; the next login tries again.
EVP_MAC* hmac_method() noexcept
{
    static std::atomic<EVP_MAC*> cached{nullptr};
    EVP_MAC* mac = cached.load(std::memory_order_acquire);
    if (mac != nullptr) return mac;
    // Before the first fetch of a fresh process, libcrypto and its default
    // library context are initialised here, and checked: OpenSSL 3.0 uses a
    // default context whose initialisation ran out of memory all the same
    // (its locks NULL: SIGSEGV in EVP_MAC_fetch), while asking for it first
    // reports the failure (issue 19, point 8). LOAD_CONFIG is what an
    // implicit initialisation does.
    if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr) != 1) return nullptr;
    if (OSSL_LIB_CTX_get0_global_default() == nullptr) return nullptr;
    mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr) return nullptr;
    EVP_MAC* expected = nullptr;
    if (!cached.compare_exchange_strong(expected, mac, std::memory_order_acq_rel)) {
        EVP_MAC_free(mac);  // another thread won the race: use its fetch
        return expected;
    }
    return mac;
}
struct MacCtxDeleter {
    void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};

constexpr std::array<std::uint32_t, 9> kPow10 = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

// One keyed HMAC context, re-initialised per message so the key schedule and
// the algorithm fetch are paid once per verification, not once per counter.
class CounterMac {
public:
    Status init(const SecretBytes& key, HashAlgo algo)
    {
        EVP_MAC* mac = hmac_method();
        if (mac == nullptr) return make_error(Errc::crypto, "EVP_MAC_fetch(HMAC) failed");
        ctx_.reset(EVP_MAC_CTX_new(mac));
        if (!ctx_) return make_error(Errc::crypto, "EVP_MAC_CTX_new failed");
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(algo_name(algo)), 0),
            OSSL_PARAM_construct_end(),
        };
        if (EVP_MAC_init(ctx_.get(), key.data(), key.size(), params) != 1)
            return make_error(Errc::crypto, "EVP_MAC_init failed");
        keyed_ = true;
        return Ok{};
    }

    Result<std::uint32_t> truncated(std::uint64_t counter)
    {
        std::array<unsigned char, 8> msg{};
        for (int i = 7; i >= 0; --i) {
            msg[static_cast<std::size_t>(i)] = static_cast<unsigned char>(counter & 0xFFU);
            counter >>= 8;
        }
        if (!keyed_ && EVP_MAC_init(ctx_.get(), nullptr, 0, nullptr) != 1)
            return make_error(Errc::crypto, "EVP_MAC_init failed");
        keyed_ = false;
        std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
        std::size_t len = 0;
        if (EVP_MAC_update(ctx_.get(), msg.data(), msg.size()) != 1 ||
            EVP_MAC_final(ctx_.get(), out.data(), &len, out.size()) != 1 || len < 20)
            return make_error(Errc::crypto, "HMAC computation failed");
        const unsigned offset = out[len - 1] & 0x0FU;
        const std::uint32_t bin = (static_cast<std::uint32_t>(out[offset] & 0x7FU) << 24) |
                                  (static_cast<std::uint32_t>(out[offset + 1]) << 16) |
                                  (static_cast<std::uint32_t>(out[offset + 2]) << 8) |
                                  static_cast<std::uint32_t>(out[offset + 3]);
        OPENSSL_cleanse(out.data(), out.size());
        return bin;
    }

private:
    std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx_;
    bool keyed_ = false;  // true right after init(): the first message needs no re-init
};

Status check_params(const SecretBytes& key, unsigned digits)
{
    if (key.empty()) return make_error(Errc::invalid_argument, "empty OTP secret");
    if (digits < kMinDigits || digits > kMaxDigits)
        return make_error(Errc::invalid_argument, "digits must be 6, 7 or 8");
    return Ok{};
}

}  // namespace

const char* algo_name(HashAlgo algo) noexcept
{
    switch (algo) {
        case HashAlgo::sha1: return "SHA1";
        case HashAlgo::sha256: return "SHA256";
        case HashAlgo::sha512: return "SHA512";
    }
    return "SHA1";
}

Result<HashAlgo> parse_algo(std::string_view text)
{
    std::string lower;
    for (char c : text) lower.push_back(static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c));
    if (lower == "sha1") return HashAlgo::sha1;
    if (lower == "sha256") return HashAlgo::sha256;
    if (lower == "sha512") return HashAlgo::sha512;
    return make_error(Errc::invalid_argument, "algorithm must be sha1, sha256 or sha512");
}

Result<std::uint32_t> hotp_value(const SecretBytes& key, std::uint64_t counter, HashAlgo algo, unsigned digits)
{
    if (auto st = check_params(key, digits); !st) return st.error();
    CounterMac mac;
    if (auto st = mac.init(key, algo); !st) return st.error();
    auto bin = mac.truncated(counter);
    if (!bin) return bin.error();
    return *bin % kPow10[digits];
}

std::string format_code(std::uint32_t value, unsigned digits)
{
    std::string out(digits, '0');
    for (std::size_t i = digits; i > 0 && value > 0; --i) {
        out[i - 1] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return out;
}

std::uint64_t totp_step(std::int64_t now, unsigned period) noexcept
{
    if (now <= 0 || period == 0) return 0;
    return static_cast<std::uint64_t>(now) / period;
}

bool is_code_syntax(std::string_view code, unsigned digits) noexcept
{
    if (code.size() != digits) return false;
    for (char c : code)
        if (c < '0' || c > '9') return false;
    return true;
}

void TypedCode::clear() noexcept
{
    wipe_bytes(digits_.data(), digits_.size());
    size_ = 0;
}

bool normalize_code(std::string_view typed, unsigned digits, TypedCode& out) noexcept
{
    out.clear();
    if (digits < kMinDigits || digits > kMaxDigits) return false;
    const std::size_t begin = typed.find_first_not_of(' ');
    if (begin == std::string_view::npos) return false;
    typed = typed.substr(begin, typed.find_last_not_of(' ') - begin + 1);
    std::size_t n = 0;  // digits seen; only the first `digits` are kept
    bool dash_seen = false;
    bool after_separator = false;
    for (std::size_t i = 0; i < typed.size(); ++i) {
        const char c = typed[i];
        if (c >= '0' && c <= '9') {
            if (n < digits) out.digits_[n] = c;
            ++n;
            after_separator = false;
            continue;
        }
        // One separator, between two digits: never first or last, never two
        // in a row, and one '-' at most.
        const bool separator = c == ' ' || (c == '-' && !dash_seen);
        if (!separator || i == 0 || i + 1 == typed.size() || after_separator) {
            out.clear();
            return false;
        }
        dash_seen = dash_seen || c == '-';
        after_separator = true;
    }
    if (n != digits) {
        out.clear();
        return false;
    }
    out.size_ = n;
    return true;
}

Result<std::optional<std::uint64_t>> find_counter(const SecretBytes& key, HashAlgo algo, unsigned digits,
                                                  std::string_view code, std::uint64_t first, std::uint64_t last)
{
    if (auto st = check_params(key, digits); !st) return st.error();
    if (last < first || last - first > 2 * kMaxWindow)
        return make_error(Errc::invalid_argument, "counter range too large");
    if (!is_code_syntax(code, digits))
        return make_error(Errc::invalid_argument, "code is not " + std::to_string(digits) + " digits");
    CounterMac mac;
    if (auto st = mac.init(key, algo); !st) return st.error();
    // Downwards, so the first match is the highest: see the header.
    for (std::uint64_t c = last;; --c) {
        auto bin = mac.truncated(c);
        if (!bin) return bin.error();
        std::string candidate = format_code(*bin % kPow10[digits], digits);
        const bool match = equal_ct(candidate, code);
        wipe_string(candidate);
        if (match) return std::optional<std::uint64_t>(c);
        if (c == first) break;
    }
    return std::optional<std::uint64_t>();
}

Result<std::optional<std::uint64_t>> find_consecutive(const SecretBytes& key, HashAlgo algo, unsigned digits,
                                                      std::string_view code1, std::string_view code2,
                                                      std::uint64_t first, std::uint64_t count)
{
    if (auto st = check_params(key, digits); !st) return st.error();
    if (count == 0 || count > kMaxResyncCounters || first > UINT64_MAX - count)
        return make_error(Errc::invalid_argument, "resync range out of bounds");
    if (!is_code_syntax(code1, digits) || !is_code_syntax(code2, digits))
        return make_error(Errc::invalid_argument, "code is not " + std::to_string(digits) + " digits");
    CounterMac mac;
    if (auto st = mac.init(key, algo); !st) return st.error();
    std::optional<std::uint64_t> found;
    bool previous_is_code1 = false;
    // Counters first .. first + count: c - 1 matching code1 and c code2 is a find at c - 1.
    for (std::uint64_t i = 0; i <= count; ++i) {
        const std::uint64_t c = first + i;
        auto bin = mac.truncated(c);
        if (!bin) return bin.error();
        std::string candidate = format_code(*bin % kPow10[digits], digits);
        const bool is_code1 = equal_ct(candidate, code1);
        const bool is_code2 = equal_ct(candidate, code2);
        wipe_string(candidate);
        const bool pair = previous_is_code1 && is_code2;
        if (pair && !found) found = c - 1;  // the lowest; the rest of the range is computed all the same
        previous_is_code1 = is_code1;
    }
    return found;
}

std::optional<CounterRange> totp_range(std::int64_t now, unsigned period, unsigned window,
                                       std::optional<std::uint64_t> last_used) noexcept
{
    const std::uint64_t step = totp_step(now, period);
    CounterRange r{step >= window ? step - window : 0, step + window};
    if (last_used) {
        if (*last_used >= r.last) return std::nullopt;
        if (*last_used >= r.first) r.first = *last_used + 1;
    }
    return r;
}

}  // namespace authctl
