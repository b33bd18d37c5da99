// SPDX-License-Identifier: Apache-2.0
// The module <-> agent protocol (docs/FILEFORMAT.md, "Agent protocol"): one
// request and one reply per connection over a Unix stream socket, each a
// frame of a 4-byte big-endian payload length (1..kMaxFrame) followed by the
// payload. Payloads start with the magic "ACTL" and the protocol version;
// every field has a fixed position, strings are a 2-byte big-endian length
// and bytes, and a payload with a wrong magic, version, enum value, string
// bound or trailing bytes is refused. Pure functions: no I/O here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "authctl/login.hpp"
#include "authctl/result.hpp"

namespace authctl::agent {

// 2: the decision reply ends with `replayed`; 3: then the sources of the
// failures since the last success, and each lock's scope and count; 4: the
// request's is_root byte is a flags byte (kFlagRoot, kFlagUnknownName). A reader
// refuses every version but its own (the module and the agent are upgraded
// together).
inline constexpr std::uint8_t kProtocolVersion = 4;
// The request's flags byte; any other bit set is refused.
inline constexpr std::uint8_t kFlagRoot = 1U << 0;         // LoginContext::is_root
inline constexpr std::uint8_t kFlagUnknownName = 1U << 1;  // LoginContext::unknown_name: user is the name's digest
inline constexpr std::size_t kMaxFrame = 4096;  // payload bytes
inline constexpr std::size_t kMaxUserBytes = 256;
inline constexpr std::size_t kMaxServiceBytes = 64;
inline constexpr std::size_t kMaxSourceBytes = 256;
inline constexpr std::size_t kMaxCodeBytes = 64;
inline constexpr std::size_t kMaxDetailBytes = 512;

enum class Op : std::uint8_t {
    lock_info = 1,         // LoginService::lock_info
    attempt = 2,           // LoginService::attempt_code (the only op that carries a code)
    external_failure = 3,  // LoginService::external_failure
    external_success = 4,  // LoginService::external_success
};

struct Request {
    Op op = Op::lock_info;
    bool is_root = false;
    bool unknown_name = false;  // user is unknown_name_digest() of a name the host does not know (64 hex digits)
    std::string user;     // 1..kMaxUserBytes
    std::string service;  // 0..kMaxServiceBytes
    std::string source;   // 0..kMaxSourceBytes
    std::string code;     // attempt: 0..kMaxCodeBytes; other ops: empty. Wiped by the destructor.

    Request() = default;
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;
    Request(Request&&) noexcept = default;
    Request& operator=(Request&& other) noexcept;  // wipes the code it replaces
    ~Request();
};

// One reply shape for every op. ok == false carries the agent's error
// (errc, detail: no secret in it); ok == true the decision's fields: attempt
// and external_failure fill `attempt`, lock_info fills `info`,
// external_success fills `attempt` too (outcome success or locked).
struct Reply {
    bool ok = false;
    Errc errc = Errc::io;
    std::string detail;  // 0..kMaxDetailBytes
    AttemptResult attempt;
    LockInfo info;
};

// The whole frame (length prefix and payload). The frame of an attempt holds
// the typed code: the caller wipes it (wipe_string) after sending.
// Errc::invalid_argument when a field is over its bound.
Result<std::string> encode_request(const Request& req);
Result<std::string> encode_reply(const Reply& rep);

// Decode a payload (without the length prefix); Errc::invalid_argument naming
// what is wrong on any defect.
Result<Request> decode_request(std::string_view payload);
Result<Reply> decode_reply(std::string_view payload);

// The payload length a 4-byte prefix announces; Errc::invalid_argument when
// it is 0 or over kMaxFrame.
Result<std::uint32_t> decode_frame_length(const unsigned char prefix[4]);

}  // namespace authctl::agent
