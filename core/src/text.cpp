// SPDX-License-Identifier: Apache-2.0
#include "authctl/text.hpp"

#include <cstdint>
#include <cstring>

#include <openssl/crypto.h>

namespace authctl {
namespace {

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_alnum(unsigned char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

bool valid_utf8(std::string_view s) noexcept
{
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        char32_t cp = 0;
        char32_t min = 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xE0U) == 0xC0U) {
            len = 2, cp = c & 0x1FU, min = 0x80;
        } else if ((c & 0xF0U) == 0xE0U) {
            len = 3, cp = c & 0x0FU, min = 0x800;
        } else if ((c & 0xF8U) == 0xF0U) {
            len = 4, cp = c & 0x07U, min = 0x10000;
        } else {
            return false;
        }
        if (s.size() - i < len) return false;
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0U) != 0x80U) return false;
            cp = (cp << 6) | (cc & 0x3FU);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

bool has_control(std::string_view s) noexcept
{
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F) return true;
    }
    return false;
}

bool printable_ascii(std::string_view s) noexcept
{
    // Per 64-bit word (the classic "hasless"/"hasmore" tests, exact as a yes/no
    // answer): bit 7 of a byte of (w - 0x20..) & ~w is set somewhere iff a byte
    // is below 0x20; of (w + 0x01..) | w iff a byte is above 0x7E.
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
    constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
    std::uint64_t bad = 0;
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, s.data() + i, 8);
        bad |= (((w - 0x20 * kOnes) & ~w) | (w + kOnes) | w) & kHighs;
    }
    for (; i < s.size(); ++i) {
        const auto u = static_cast<unsigned char>(s[i]);
        bad |= static_cast<unsigned>(u - 0x20U) > 0x5EU ? 1U : 0U;
    }
    return bad == 0;
}

std::string percent_encode(std::string_view s, std::string_view keep)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (is_alnum(u) || keep.find(c) != std::string_view::npos) {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(kHex[u >> 4]);
            out.push_back(kHex[u & 15U]);
        }
    }
    return out;
}

std::optional<std::string> percent_decode(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        const int hi = s.size() - i < 3 ? -1 : hex_value(s[i + 1]);
        const int lo = s.size() - i < 3 ? -1 : hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) {
            // What was decoded so far may be part of a secret.
            OPENSSL_cleanse(out.data(), out.capacity());
            return std::nullopt;
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool ConfigLines::next() noexcept
{
    while (!rest_.empty()) {
        ++number_;
        const auto nl = rest_.find('\n');
        std::string_view line = rest_.substr(0, nl);
        rest_ = nl == std::string_view::npos ? std::string_view{} : rest_.substr(nl + 1);
        if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        line = trim(line);
        if (line.empty()) continue;
        line_ = line;
        return true;
    }
    return false;
}

std::string ConfigLines::where() const
{
    return std::string(origin_) + ":" + std::to_string(number_) + ": ";
}

std::string escape_controls(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u != 0x7F) {
            out += c;
            continue;
        }
        static constexpr char hex[] = "0123456789abcdef";
        out += {'\\', 'x', hex[u >> 4], hex[u & 0xF]};
    }
    return out;
}

std::string failures_text(std::uint64_t n)
{
    return std::to_string(n) + (n == 1 ? " failure" : " failures");
}

}  // namespace authctl
