// SPDX-License-Identifier: Apache-2.0
// Small text helpers shared by the URI, the user-name encoding and the parsers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authctl {

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

// True when `s` holds a byte below 0x20 or 0x7F (NUL, newline, escape, ...).
bool has_control(std::string_view s) noexcept;

// True when every byte of `s` is printable ASCII (0x20..0x7E). Eight bytes at
// a time: the record parser runs it on every line of a record at every login.
bool printable_ascii(std::string_view s) noexcept;

// Percent-encodes every byte except ASCII letters, digits and the bytes in `keep`.
std::string percent_encode(std::string_view s, std::string_view keep);

// Decodes %XX escapes (hex digits in either case). nullopt on a truncated or
// non-hex escape.
std::optional<std::string> percent_decode(std::string_view s);

// `s` without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s) noexcept;

// `s` with each control byte (below 0x20, and 0x7F) written as \xNN: one
// line, safe in a message or on a terminal.
std::string escape_controls(std::string_view s);

// "1 failure", "3 failures": for log lines and messages.
std::string failures_text(std::uint64_t n);

// The meaningful lines of a configuration text (authctl.conf, fleet.conf,
// the fleet key file), the one way all three are read: '#' starts a comment,
// a trailing CR is dropped, spaces and tabs around are trimmed, empty lines
// are skipped.
//
//   ConfigLines lines(text, path);
//   while (lines.next()) use(lines.line(), lines.where());
class ConfigLines {
public:
    ConfigLines(std::string_view text, std::string_view origin) noexcept : rest_(text), origin_(origin) {}
    // Moves to the next meaningful line; false at the end of the text.
    bool next() noexcept;
    std::string_view line() const noexcept { return line_; }
    std::size_t number() const noexcept { return number_; }  // 1-based
    // "ORIGIN:LINE: ", to prefix an error about this line.
    std::string where() const;

private:
    std::string_view rest_;
    std::string_view origin_;
    std::string_view line_;
    std::size_t number_ = 0;
};

}  // namespace authctl
