// SPDX-License-Identifier: Apache-2.0
// RFC 4226 HOTP and RFC 6238 TOTP over HMAC-SHA1/SHA256/SHA512 (OpenSSL EVP_MAC).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "authctl/result.hpp"
#include "authctl/secret.hpp"

namespace authctl {

enum class HashAlgo { sha1, sha256, sha512 };

// "SHA1", "SHA256", "SHA512": the spelling of otpauth URIs and OpenSSL digest names.
const char* algo_name(HashAlgo algo) noexcept;
// Accepts sha1/sha256/sha512 in any case; Errc::invalid_argument otherwise.
Result<HashAlgo> parse_algo(std::string_view text);

inline constexpr unsigned kMinDigits = 6;
inline constexpr unsigned kMaxDigits = 8;
inline constexpr unsigned kMinPeriod = 1;
inline constexpr unsigned kMaxPeriod = 300;
inline constexpr unsigned kMaxWindow = 10;  // steps either side (TOTP) or ahead (HOTP)

// The HOTP value of `counter`: dynamic truncation, modulo 10^digits.
// Requires a non-empty key and kMinDigits <= digits <= kMaxDigits; fails with
// Errc::invalid_argument otherwise, Errc::crypto if OpenSSL fails.
Result<std::uint32_t> hotp_value(const SecretBytes& key, std::uint64_t counter, HashAlgo algo, unsigned digits);

// The code as the user types it: `value` left-padded with zeros to `digits`.
std::string format_code(std::uint32_t value, unsigned digits);

// The RFC 6238 time step for Unix time `now` (T0 = 0). Times before 1970 map
// to step 0. period must be in [kMinPeriod, kMaxPeriod].
std::uint64_t totp_step(std::int64_t now, unsigned period) noexcept;

// True when `code` is exactly `digits` ASCII digits: the only shape a one-time
// code is ever compared in.
bool is_code_syntax(std::string_view code, unsigned digits) noexcept;

// A typed one-time code with its group separators taken out: at most
// kMaxDigits digits in a fixed buffer, wiped when it goes, never copied or
// moved (so no stray copy of the code is left behind).
class TypedCode {
public:
    TypedCode() = default;
    ~TypedCode() { clear(); }
    TypedCode(const TypedCode&) = delete;
    TypedCode& operator=(const TypedCode&) = delete;

    std::string_view view() const noexcept { return {digits_.data(), size_}; }
    void clear() noexcept;

private:
    friend bool normalize_code(std::string_view typed, unsigned digits, TypedCode& out) noexcept;
    std::array<char, kMaxDigits> digits_{};
    std::size_t size_ = 0;
};

// The one reading of a one-time code as a person types it (the PAM prompt,
// `authctl verify`, `enroll --confirm`, `resync`). Apps show codes in groups
// ("123 456", "1234 5678"), so: spaces at either end are dropped (not tabs:
// the fleet agent's wire carries printable ASCII only, and a code must read
// the same on every store);
// between two digits there may be ONE separator, a space or a '-', with at
// most one '-' in the whole code; what is left must be exactly `digits`
// digits. Accepted: "123456", " 123 456 ", "123-456", "12 34 56",
// "1234 5678". Refused: "12a456", "123  456", "123--456", "123 - 456",
// "12-34-56", "-123456", "123456-", a tab or any other byte anywhere. True with
// the digits in `out`; false (out empty) otherwise.
[[nodiscard]] bool normalize_code(std::string_view typed, unsigned digits, TypedCode& out) noexcept;

// Checks `code` against the HOTP values of the counters in [first, last]
// (inclusive, at most 2*kMaxWindow+1 counters), each compared in constant time,
// from `last` down. Returns the highest matching counter, or nullopt:
// recording the highest means a value that occurs twice in the window cannot
// be accepted a second time at the other counter. It stops at that match, so
// a wrong code is always compared with every counter (its timing tells
// nothing) and a right one's timing tells only which counter it matched. For
// TOTP, whose current step is the second from the top, that saves an HMAC.
// Fails with Errc::invalid_argument for a bad range, digits or code shape.
Result<std::optional<std::uint64_t>> find_counter(const SecretBytes& key, HashAlgo algo, unsigned digits,
                                                  std::string_view code, std::uint64_t first, std::uint64_t last);

// Resynchronisation of an HOTP token that ran ahead: the lowest counter c in
// [first, first + count) whose value is `code1` while c + 1's is `code2`
// (codes as find_counter takes them: exactly `digits` digits), or nullopt.
// Every counter of the range is computed and compared in constant time,
// whatever matches, so the time taken tells nothing about where. count is 1 to
// kMaxResyncCounters, and first + count must not wrap; Errc::invalid_argument
// otherwise, or for bad digits or code shapes.
inline constexpr std::uint64_t kMaxResyncCounters = 10000;
Result<std::optional<std::uint64_t>> find_consecutive(const SecretBytes& key, HashAlgo algo, unsigned digits,
                                                      std::string_view code1, std::string_view code2,
                                                      std::uint64_t first, std::uint64_t count);

// The counters a TOTP check at `now` may accept: [step-window, step+window],
// raised above `last_used` (a step accepted before is never accepted again).
// Returns nullopt when the range is empty.
struct CounterRange {
    std::uint64_t first;
    std::uint64_t last;
};
std::optional<CounterRange> totp_range(std::int64_t now, unsigned period, unsigned window,
                                       std::optional<std::uint64_t> last_used) noexcept;

}  // namespace authctl
