// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the module <-> agent protocol (docs/FILEFORMAT.md, "Agent
// protocol"). Each input is tried as a request payload, as a reply payload and
// as a frame's length prefix. Properties: a rejected payload is
// Errc::invalid_argument; a payload that decodes re-encodes to exactly the
// same bytes (one encoding per message), which decode to the same message.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "authctl/agent_protocol.hpp"

namespace {

using namespace authctl;
using namespace authctl::agent;

void require(bool ok, const char* what)
{
    if (ok) return;
    std::fprintf(stderr, "fuzz_agent_protocol: property failed: %s\n", what);
    __builtin_trap();
}

bool same(const Request& a, const Request& b)
{
    return a.op == b.op && a.is_root == b.is_root && a.unknown_name == b.unknown_name && a.user == b.user && a.service == b.service &&
           a.source == b.source && a.code == b.code;
}

bool same(const Reply& a, const Reply& b)
{
    if (a.ok != b.ok) return false;
    if (!a.ok) return a.errc == b.errc && a.detail == b.detail;
    const AttemptResult& x = a.attempt;
    const AttemptResult& y = b.attempt;
    return x.outcome == y.outcome && x.failures == y.failures && x.locked_now == y.locked_now &&
           x.lock.locked == y.lock.locked && x.lock.until == y.lock.until && x.used_recovery == y.used_recovery &&
           x.recovery_left == y.recovery_left && x.now == y.now && x.replayed == y.replayed &&
           a.info.lock.locked == b.info.lock.locked &&
           a.info.lock.until == b.info.lock.until && a.info.failures == b.info.failures &&
           a.info.enrolled == b.info.enrolled && a.info.now == b.info.now && x.sources == y.sources &&
           x.lock.scope == y.lock.scope && x.lock.failures == y.lock.failures &&
           a.info.lock.scope == b.info.lock.scope && a.info.lock.failures == b.info.lock.failures;
}

// The payload of an encoded frame, after checking that its prefix announces it.
std::string_view payload_of(const std::string& frame)
{
    require(frame.size() > 4, "a frame holds a prefix and a payload");
    auto n = decode_frame_length(reinterpret_cast<const unsigned char*>(frame.data()));
    require(n.has_value() && *n == frame.size() - 4, "the prefix announces the payload's length");
    return std::string_view(frame).substr(4);
}

void check_request(std::string_view input)
{
    auto req = decode_request(input);
    if (!req) {
        require(req.error().code == Errc::invalid_argument, "a rejected request is Errc::invalid_argument");
        return;
    }
    require(req->op != Op::attempt ? req->code.empty() : true, "only an attempt carries a code");
    auto frame = encode_request(*req);
    require(frame.has_value(), "a decoded request encodes");
    const std::string_view payload = payload_of(*frame);
    require(payload == input, "encode(decode(p)) == p for a request");
    auto again = decode_request(payload);
    require(again.has_value() && same(*req, *again), "decode(encode(r)) == r for a request");
}

void check_reply(std::string_view input)
{
    auto rep = decode_reply(input);
    if (!rep) {
        require(rep.error().code == Errc::invalid_argument, "a rejected reply is Errc::invalid_argument");
        return;
    }
    auto frame = encode_reply(*rep);
    require(frame.has_value(), "a decoded reply encodes");
    const std::string_view payload = payload_of(*frame);
    require(payload == input, "encode(decode(p)) == p for a reply");
    auto again = decode_reply(payload);
    require(again.has_value() && same(*rep, *again), "decode(encode(r)) == r for a reply");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_request(input);
    check_reply(input);
    if (size >= 4) {
        auto n = decode_frame_length(data);
        const std::uint32_t raw = (std::uint32_t{data[0]} << 24) | (std::uint32_t{data[1]} << 16) |
                                  (std::uint32_t{data[2]} << 8) | std::uint32_t{data[3]};
        require(n.has_value() == (raw >= 1 && raw <= kMaxFrame), "a frame length is accepted exactly in 1..kMaxFrame");
        require(!n || *n == raw, "a frame length is big-endian");
    }
    return 0;
}
