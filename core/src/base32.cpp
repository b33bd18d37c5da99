// SPDX-License-Identifier: Apache-2.0
#include "authctl/base32.hpp"

namespace authctl {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int symbol_value(char c) noexcept
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

bool is_ignorable(char c) noexcept
{
    return c == ' ' || c == '\t' || c == '-';
}

// A group of 8 symbols can end after 2, 4, 5, 7 or 8 (8/16/24/32/40 bits):
// other lengths leave a symbol without a whole byte.
bool whole_bytes_length(std::size_t symbols) noexcept
{
    const std::size_t tail = symbols % 8;
    return tail != 1 && tail != 3 && tail != 6;
}

}  // namespace

std::string base32_encode(const std::uint8_t* data, std::size_t n)
{
    std::string out;
    out.reserve((n * 8 + 4) / 5);
    unsigned buffer = 0;
    int bits = 0;
    for (std::size_t i = 0; i < n; ++i) {
        buffer = (buffer << 8) | data[i];
        bits += 8;
        while (bits >= 5) {
            out.push_back(kAlphabet[(buffer >> (bits - 5)) & 31U]);
            bits -= 5;
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31U]);
    return out;
}

bool base32_is_canonical(std::string_view text) noexcept
{
    if (text.empty()) return false;
    for (char c : text)
        if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7'))) return false;
    if (!whole_bytes_length(text.size())) return false;
    const unsigned spare = static_cast<unsigned>(text.size() * 5 % 8);  // 0..4 bits, all in the last symbol
    const int last = symbol_value(text.back());
    return (static_cast<unsigned>(last) & ((1U << spare) - 1U)) == 0;
}

Result<SecretBytes> base32_decode(std::string_view text)
{
    if (text.size() > kBase32MaxInput)
        return make_error(Errc::invalid_argument, "base32 input longer than " + std::to_string(kBase32MaxInput));
    SecretBytes out(text.size() * 5 / 8);  // room for every symbol; cut to what was decoded
    std::size_t n = 0;
    unsigned buffer = 0;
    int bits = 0;
    std::size_t symbols = 0;
    std::size_t padding = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (is_ignorable(c)) continue;
        if (c == '=') {
            ++padding;
            continue;
        }
        const int v = symbol_value(c);
        if (v < 0 || padding > 0)
            return make_error(Errc::invalid_argument, "invalid base32 character at position " + std::to_string(i + 1));
        ++symbols;
        buffer = ((buffer << 5) | static_cast<unsigned>(v)) & 0xFFFFU;
        bits += 5;
        if (bits >= 8) {
            out.data()[n++] = static_cast<std::uint8_t>(buffer >> (bits - 8));
            bits -= 8;
        }
    }
    if (!whole_bytes_length(symbols)) return make_error(Errc::invalid_argument, "truncated base32 input");
    const std::size_t tail = symbols % 8;
    if (padding != 0 && (tail == 0 || padding != 8 - tail))
        return make_error(Errc::invalid_argument, "wrong base32 padding");
    // Leftover bits (fewer than 8) are dropped, as other decoders do: hand-made
    // secrets in the wild do not always zero them.
    out.truncate(n);
    return out;
}

}  // namespace authctl
