// SPDX-License-Identifier: Apache-2.0
// The module <-> agent wire format (docs/FILEFORMAT.md, "Agent protocol"):
// round trips of every op and reply shape, the byte layout written out here
// independently of the encoder, every bound at and over its limit, truncation
// at every length, wrong magic, version and enum values, and trailing bytes.
#include "authctl/agent_protocol.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <vector>

namespace authctl::agent {
namespace {

// Payloads built byte by byte, as FILEFORMAT.md describes them.
class Raw {
public:
    Raw& u8(unsigned v)
    {
        b_.push_back(static_cast<char>(v & 0xFFU));
        return *this;
    }
    Raw& u16(std::size_t v) { return be(v, 2); }
    Raw& u32(std::uint64_t v) { return be(v, 4); }
    Raw& i64(std::int64_t v) { return be(static_cast<std::uint64_t>(v), 8); }
    Raw& str(std::string_view s)
    {
        u16(s.size());
        b_.append(s);
        return *this;
    }
    Raw& bytes(std::string_view s)
    {
        b_.append(s);
        return *this;
    }
    Raw& header() { return bytes("ACTL").u8(kProtocolVersion); }
    const std::string& get() const { return b_; }

private:
    Raw& be(std::uint64_t v, int n)
    {
        for (int i = n - 1; i >= 0; --i) b_.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
        return *this;
    }
    std::string b_;
};

std::string request_payload(unsigned op, unsigned is_root, std::string_view user, std::string_view service,
                            std::string_view source, std::string_view code)
{
    return Raw().header().u8(op).u8(is_root).str(user).str(service).str(source).str(code).get();
}

Request make_request(Op op, std::string user, std::string code = {})
{
    Request r;
    r.op = op;
    r.user = std::move(user);
    r.service = "sshd";
    r.source = "192.0.2.7";
    r.code = std::move(code);
    return r;
}

// The payload of a frame, after checking that its prefix announces it.
std::string payload_of(const std::string& frame)
{
    EXPECT_GE(frame.size(), 4U);
    if (frame.size() < 4) return {};
    auto n = decode_frame_length(reinterpret_cast<const unsigned char*>(frame.data()));
    EXPECT_TRUE(n) << n.error().message();
    if (!n) return {};
    EXPECT_EQ(*n, frame.size() - 4);
    return frame.substr(4);
}

void expect_same(const Request& a, const Request& b)
{
    EXPECT_EQ(a.op, b.op);
    EXPECT_EQ(a.is_root, b.is_root);
    EXPECT_EQ(a.unknown_name, b.unknown_name);
    EXPECT_EQ(a.user, b.user);
    EXPECT_EQ(a.service, b.service);
    EXPECT_EQ(a.source, b.source);
    EXPECT_EQ(a.code, b.code);
}

void expect_same(const Reply& a, const Reply& b)
{
    ASSERT_EQ(a.ok, b.ok);
    if (!a.ok) {
        EXPECT_EQ(a.errc, b.errc);
        EXPECT_EQ(a.detail, b.detail);
        return;
    }
    EXPECT_EQ(a.attempt.outcome, b.attempt.outcome);
    EXPECT_EQ(a.attempt.failures, b.attempt.failures);
    EXPECT_EQ(a.attempt.locked_now, b.attempt.locked_now);
    EXPECT_EQ(a.attempt.lock.locked, b.attempt.lock.locked);
    EXPECT_EQ(a.attempt.lock.until, b.attempt.lock.until);
    EXPECT_EQ(a.attempt.used_recovery, b.attempt.used_recovery);
    EXPECT_EQ(a.attempt.recovery_left, b.attempt.recovery_left);
    EXPECT_EQ(a.attempt.now, b.attempt.now);
    EXPECT_EQ(a.info.lock.locked, b.info.lock.locked);
    EXPECT_EQ(a.info.lock.until, b.info.lock.until);
    EXPECT_EQ(a.info.failures, b.info.failures);
    EXPECT_EQ(a.info.enrolled, b.info.enrolled);
    EXPECT_EQ(a.info.now, b.info.now);
    EXPECT_EQ(a.attempt.replayed, b.attempt.replayed);
    EXPECT_EQ(a.attempt.sources, b.attempt.sources);
    EXPECT_EQ(a.attempt.lock.scope, b.attempt.lock.scope);
    EXPECT_EQ(a.attempt.lock.failures, b.attempt.lock.failures);
    EXPECT_EQ(a.info.lock.scope, b.info.lock.scope);
    EXPECT_EQ(a.info.lock.failures, b.info.lock.failures);
}

// Fails the test unless `r` is an Errc::invalid_argument whose detail names `what`.
template <typename T>
void expect_defect(const Result<T>& r, const std::string& what)
{
    ASSERT_FALSE(r) << "accepted; expected a defect naming '" << what << "'";
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << r.error().message();
    EXPECT_NE(r.error().detail.find(what), std::string::npos) << r.error().detail;
}

void round_trip(const Request& req)
{
    auto frame = encode_request(req);
    ASSERT_TRUE(frame) << frame.error().message();
    auto back = decode_request(payload_of(*frame));
    ASSERT_TRUE(back) << back.error().message();
    expect_same(req, *back);
}

void round_trip(const Reply& rep)
{
    auto frame = encode_reply(rep);
    ASSERT_TRUE(frame) << frame.error().message();
    auto back = decode_reply(payload_of(*frame));
    ASSERT_TRUE(back) << back.error().message();
    expect_same(rep, *back);
}

Reply error_reply(Errc errc, std::string detail)
{
    Reply r;
    r.ok = false;
    r.errc = errc;
    r.detail = std::move(detail);
    return r;
}

// Every reply shape a LoginService answer takes, with extreme values.
std::vector<Reply> ok_replies()
{
    std::vector<Reply> out;
    Reply r;
    r.ok = true;
    r.attempt.outcome = Outcome::success;  // attempt: a recovery code
    r.attempt.failures = 2;
    r.attempt.sources = 2;  // the failures since the last success came from two sources
    r.attempt.used_recovery = true;
    r.attempt.recovery_left = 9;
    r.attempt.now = 1700000010;
    out.push_back(r);
    r = Reply{};
    r.ok = true;
    r.attempt.outcome = Outcome::wrong_code;  // attempt / external_failure that locked
    r.attempt.failures = std::numeric_limits<std::uint32_t>::max();
    r.attempt.locked_now = true;
    r.attempt.lock = {true, 1700000610, LockScope::user, std::numeric_limits<std::uint32_t>::max()};
    r.attempt.now = std::numeric_limits<std::int64_t>::max();
    out.push_back(r);
    r = Reply{};
    r.ok = true;
    r.attempt.outcome = Outcome::wrong_code;  // a failure that locked its source only
    r.attempt.failures = 3;
    r.attempt.locked_now = true;
    r.attempt.lock = {true, 1700000610, LockScope::source, 3};
    r.attempt.now = 1700000010;
    out.push_back(r);
    r = Reply{};
    r.ok = true;
    r.attempt.outcome = Outcome::locked;  // locked for good
    r.attempt.failures = 3;
    r.attempt.lock = {true, std::numeric_limits<std::int64_t>::max(), LockScope::user, 3};
    r.attempt.recovery_left = std::numeric_limits<std::uint32_t>::max();
    r.attempt.now = std::numeric_limits<std::int64_t>::min();
    out.push_back(r);
    r = Reply{};
    r.ok = true;
    r.attempt.outcome = Outcome::wrong_code;  // a code already used
    r.attempt.failures = 1;
    r.attempt.replayed = true;
    r.attempt.now = 1700000040;
    out.push_back(r);
    r = Reply{};
    r.ok = true;
    r.attempt.outcome = Outcome::not_enrolled;
    r.attempt.now = -1;
    out.push_back(r);
    r = Reply{};
    r.ok = true;  // lock_info
    r.info.lock = {true, -5, LockScope::user, 7};
    r.info.failures = 7;
    r.info.enrolled = true;
    r.info.now = 1700000000;
    out.push_back(r);
    r = Reply{};
    r.ok = true;  // lock_info: this source locked by an administrator
    r.info.lock = {true, std::numeric_limits<std::int64_t>::max(), LockScope::source, 0};
    r.info.failures = 0;
    r.info.now = 1700000000;
    out.push_back(r);
    r = Reply{};
    r.ok = true;  // external_success: what was counted since the last success
    r.attempt.failures = 4;
    r.attempt.sources = std::numeric_limits<std::uint32_t>::max();
    out.push_back(r);
    r = Reply{};
    r.ok = true;  // external_success refused: the source is locked
    r.attempt.outcome = Outcome::locked;
    r.attempt.failures = std::numeric_limits<std::uint32_t>::max();
    r.attempt.lock = {true, 1700000610, LockScope::source, std::numeric_limits<std::uint32_t>::max()};
    out.push_back(r);
    return out;
}

constexpr Op kOps[] = {Op::lock_info, Op::attempt, Op::external_failure, Op::external_success};
constexpr Errc kErrcs[] = {Errc::invalid_argument, Errc::invalid_user, Errc::not_found, Errc::exists,
                           Errc::insecure,         Errc::corrupt,      Errc::io,        Errc::crypto};

TEST(AgentProtocol, RequestRoundTripsForEveryOp)
{
    for (const Op op : kOps) {
        for (const bool root : {false, true}) {
            SCOPED_TRACE(static_cast<int>(op));
            Request r = make_request(op, "J\xC3\xBCrgen", op == Op::attempt ? "123456" : "");
            r.is_root = root;
            round_trip(r);
        }
    }
    for (const Op op : kOps) {
        for (const bool root : {false, true}) {
            Request r = make_request(op, unknown_name_digest("mallory"), op == Op::attempt ? "123456" : "");
            r.is_root = root;
            r.unknown_name = true;
            round_trip(r);
        }
    }
    Request named = make_request(Op::lock_info, "mallory");
    named.unknown_name = true;
    EXPECT_FALSE(encode_request(named)) << "an unknown name goes as its digest only";
    Request empty_fields = make_request(Op::attempt, "a");
    empty_fields.service.clear();
    empty_fields.source.clear();
    round_trip(empty_fields);  // an attempt with an empty code is sent (and counted wrong)
    round_trip(make_request(Op::attempt, "bob", "k7m2-q4xp w3zr-tb5n"));
}

TEST(AgentProtocol, RequestBytesAreTheDocumentedLayout)
{
    Request r = make_request(Op::attempt, "al", "12");
    r.is_root = true;
    r.service = "su";
    r.source = "";
    auto frame = encode_request(r);
    ASSERT_TRUE(frame);
    const std::string expected(
        "\0\0\0\x15"
        "ACTL\x04"
        "\x02\x01"
        "\0\x02"
        "al"
        "\0\x02"
        "su"
        "\0\0"
        "\0\x02"
        "12",
        25);
    EXPECT_EQ(*frame, expected);
    EXPECT_EQ(*frame, std::string("\0\0\0\x15", 4) + request_payload(2, 1, "al", "su", "", "12"));
    r.is_root = false;
    r.unknown_name = true;
    r.user = unknown_name_digest("al");
    frame = encode_request(r);
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->substr(4, 7), std::string("ACTL\x04\x02\x02", 7)) << "flags: bit 1, unknown name";
}

TEST(AgentProtocol, ReplyRoundTripsForEveryShape)
{
    for (const Errc e : kErrcs) {
        SCOPED_TRACE(errc_text(e));
        round_trip(error_reply(e, std::string("user 'J\xC3\xBCrgen': ") + errc_text(e)));
    }
    round_trip(error_reply(Errc::io, ""));
    for (const Reply& r : ok_replies()) round_trip(r);
}

TEST(AgentProtocol, ReplyBytesAreTheDocumentedLayout)
{
    auto err = encode_reply(error_reply(Errc::corrupt, "bad"));
    ASSERT_TRUE(err);
    EXPECT_EQ(*err, std::string("\0\0\0\x0c"
                                "ACTL\x04"
                                "\x00\x05"
                                "\0\x03"
                                "bad",
                                16));

    Reply r;
    r.ok = true;
    r.attempt.outcome = Outcome::locked;
    r.attempt.failures = 0x01020304;
    r.attempt.locked_now = true;
    r.attempt.lock = {true, -2};
    r.attempt.used_recovery = true;
    r.attempt.recovery_left = 5;
    r.attempt.now = 0x1122334455667788;
    r.info.lock = {true, 9};
    r.info.failures = 6;
    r.info.enrolled = true;
    r.info.now = 10;
    r.attempt.replayed = true;
    r.attempt.sources = 0x0A0B0C0D;
    r.attempt.lock.scope = LockScope::source;
    r.attempt.lock.failures = 0x05060708;
    r.info.lock.scope = LockScope::user;
    r.info.lock.failures = 0x11;
    const std::string payload = Raw()
                                    .header()
                                    .u8(1)
                                    .u8(2)
                                    .u32(0x01020304)
                                    .u8(1)
                                    .u8(1)
                                    .i64(-2)
                                    .u8(1)
                                    .u32(5)
                                    .i64(0x1122334455667788)
                                    .u8(1)
                                    .i64(9)
                                    .u32(6)
                                    .u8(1)
                                    .i64(10)
                                    .u8(1)  // replayed (version 2)
                                    .u32(0x0A0B0C0D)  // sources (version 3)
                                    .u8(1)            // lock.scope: source
                                    .u32(0x05060708)  // lock.failures
                                    .u8(0)            // info.lock.scope: user
                                    .u32(0x11)        // info.lock.failures
                                    .get();
    ASSERT_EQ(payload.size(), 71U);
    auto ok = encode_reply(r);
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, std::string("\0\0\0\x47", 4) + payload);
}

TEST(AgentProtocol, OkReplyIgnoresErrorFieldsAndErrorReplyIgnoresTheRest)
{
    Reply ok = ok_replies()[1];
    ok.errc = Errc::crypto;
    ok.detail = std::string(5000, 'x');  // not encoded, so not checked
    auto frame = encode_reply(ok);
    ASSERT_TRUE(frame) << frame.error().message();
    EXPECT_EQ(frame->size(), 4U + 71U);

    Reply err = ok_replies()[0];
    err.ok = false;
    err.errc = Errc::not_found;
    err.detail = "no record";
    frame = encode_reply(err);
    ASSERT_TRUE(frame);
    auto back = decode_reply(payload_of(*frame));
    ASSERT_TRUE(back);
    EXPECT_FALSE(back->ok);
    EXPECT_EQ(back->attempt.failures, 0U);  // defaults: nothing of the attempt crossed
}

struct Bound {
    const char* name;
    std::size_t max;
    std::size_t min;
};

Request with_field(const char* name, std::string value)
{
    Request r = make_request(Op::attempt, "alice", "123456");
    const std::string_view n = name;
    if (n == "user") r.user = std::move(value);
    if (n == "service") r.service = std::move(value);
    if (n == "source") r.source = std::move(value);
    if (n == "code") r.code = std::move(value);
    return r;
}

std::string payload_with_field(const char* name, const std::string& value)
{
    const std::string_view n = name;
    return request_payload(2, 0, n == "user" ? value : "alice", n == "service" ? value : "sshd",
                           n == "source" ? value : "192.0.2.7", n == "code" ? value : "123456");
}

TEST(AgentProtocol, RequestStringBoundsAtAndOverTheLimit)
{
    for (const Bound& b : {Bound{"user", kMaxUserBytes, 1}, Bound{"service", kMaxServiceBytes, 0},
                           Bound{"source", kMaxSourceBytes, 0}, Bound{"code", kMaxCodeBytes, 0}}) {
        SCOPED_TRACE(b.name);
        const std::string at(b.max, '7');
        const std::string over(b.max + 1, '7');
        round_trip(with_field(b.name, at));
        EXPECT_TRUE(decode_request(payload_with_field(b.name, at)));
        expect_defect(encode_request(with_field(b.name, over)), b.name);
        expect_defect(decode_request(payload_with_field(b.name, over)), b.name);
        if (b.min > 0) {
            expect_defect(encode_request(with_field(b.name, "")), b.name);
            expect_defect(decode_request(payload_with_field(b.name, "")), b.name);
        }
    }
    // A string whose announced length runs past the payload.
    expect_defect(decode_request(Raw().header().u8(1).u8(0).u16(5).bytes("ab").get()), "truncated in user");
    // The largest request fits a frame many times over.
    Request big = with_field("user", std::string(kMaxUserBytes, 'u'));
    big.service.assign(kMaxServiceBytes, 's');
    big.source.assign(kMaxSourceBytes, 'o');
    big.code.assign(kMaxCodeBytes, '9');
    auto frame = encode_request(big);
    ASSERT_TRUE(frame);
    EXPECT_LE(frame->size() - 4, kMaxFrame);
}

TEST(AgentProtocol, DetailBoundAtAndOverTheLimit)
{
    round_trip(error_reply(Errc::io, std::string(kMaxDetailBytes, 'd')));
    expect_defect(encode_reply(error_reply(Errc::io, std::string(kMaxDetailBytes + 1, 'd'))), "detail");
    const auto payload = [](std::size_t n) { return Raw().header().u8(0).u8(6).str(std::string(n, 'd')).get(); };
    EXPECT_TRUE(decode_reply(payload(kMaxDetailBytes)));
    expect_defect(decode_reply(payload(kMaxDetailBytes + 1)), "detail");
}

TEST(AgentProtocol, StringsMustFitTheirField)
{
    const std::vector<std::pair<const char*, std::string>> bad = {
        {"user", std::string("a\0b", 3)},
        {"user", "a\nb"},
        {"user", "a\x7F"},
        {"user", "\xC3"},             // truncated UTF-8
        {"user", "\xC0\xAF"},         // overlong
        {"service", "s\xC3\xBC"},     // not ASCII
        {"service", "ss\td"},         // control
        {"source", "host\r"},         // control
        {"source", "h\xFF"},          // not ASCII
        {"code", "12345\n"},          // control
        {"code", "\xD9\xA1\xD9\xA2"}  // Arabic-Indic digits: not ASCII
    };
    for (const auto& [field, value] : bad) {
        SCOPED_TRACE(std::string(field) + " #" + std::to_string(value.size()));
        expect_defect(encode_request(with_field(field, value)), field);
        expect_defect(decode_request(payload_with_field(field, value)), field);
    }
    round_trip(with_field("user", "\xE2\x82\xAC uro"));  // UTF-8 and a space are a user name
    round_trip(with_field("code", "k7m2-q4xp w3zr-tb5n"));
    expect_defect(encode_reply(error_reply(Errc::io, "two\nlines")), "detail");
    expect_defect(decode_reply(Raw().header().u8(0).u8(6).str("a\x1b[31m").get()), "detail");
}

TEST(AgentProtocol, CodeOnlyOnAttempt)
{
    for (const Op op : {Op::lock_info, Op::external_failure, Op::external_success}) {
        SCOPED_TRACE(static_cast<int>(op));
        expect_defect(encode_request(make_request(op, "alice", "123456")), "code");
        expect_defect(decode_request(request_payload(static_cast<unsigned>(op), 0, "alice", "", "", "1")), "code");
        EXPECT_TRUE(decode_request(request_payload(static_cast<unsigned>(op), 0, "alice", "", "", "")));
    }
}

TEST(AgentProtocol, TruncatedPayloadsAreRefusedAtEveryLength)
{
    std::vector<std::string> payloads;
    for (const Op op : kOps) {
        auto f = encode_request(make_request(op, "alice", op == Op::attempt ? "123456" : ""));
        ASSERT_TRUE(f);
        payloads.push_back(payload_of(*f));
    }
    for (const std::string& p : payloads) {
        for (std::size_t n = 0; n < p.size(); ++n) {
            auto r = decode_request(std::string_view(p).substr(0, n));
            ASSERT_FALSE(r) << "request cut at " << n << " of " << p.size() << " decoded";
            EXPECT_EQ(r.error().code, Errc::invalid_argument);
        }
    }
    std::vector<Reply> replies = ok_replies();
    replies.push_back(error_reply(Errc::corrupt, "corrupt record for 'alice'"));
    replies.push_back(error_reply(Errc::io, ""));
    for (const Reply& rep : replies) {
        auto f = encode_reply(rep);
        ASSERT_TRUE(f);
        const std::string p = payload_of(*f);
        for (std::size_t n = 0; n < p.size(); ++n) {
            auto r = decode_reply(std::string_view(p).substr(0, n));
            ASSERT_FALSE(r) << "reply cut at " << n << " of " << p.size() << " decoded";
            EXPECT_EQ(r.error().code, Errc::invalid_argument);
        }
    }
    expect_defect(decode_reply(Raw().header().u8(1).u8(0).u32(1).get()), "truncated in locked_now");
}

TEST(AgentProtocol, WrongMagicOrVersionIsRefused)
{
    const std::string req = request_payload(1, 0, "alice", "", "", "");
    const std::string rep = Raw().header().u8(0).u8(6).str("x").get();
    for (const std::string& p : {req, rep}) {
        for (std::size_t i = 0; i < 4; ++i) {
            std::string bad = p;
            bad[i] = static_cast<char>(bad[i] ^ 0x20);  // "aCTL", ...
            expect_defect(decode_request(bad), "magic");
            expect_defect(decode_reply(bad), "magic");
        }
        for (const unsigned version : {0U, 1U, 2U, 3U, 5U, 255U}) {  // 3: the module and agent are upgraded together
            std::string bad = p;
            bad[4] = static_cast<char>(version);
            expect_defect(decode_request(bad), "version " + std::to_string(version));
            expect_defect(decode_reply(bad), "version " + std::to_string(version));
        }
    }
    expect_defect(decode_request(""), "magic");
    expect_defect(decode_reply("ACT"), "magic");
}

TEST(AgentProtocol, EnumAndFlagValuesOutsideTheirRangeAreRefused)
{
    for (const unsigned op : {0U, 5U, 255U})
        expect_defect(decode_request(request_payload(op, 0, "alice", "", "", "")), "op " + std::to_string(op));
    // Version 4: a flags byte (bit 0 root, bit 1 unknown name); every other bit is refused.
    const std::string digest = unknown_name_digest("mallory");
    for (const unsigned flags : {4U, 5U, 6U, 7U, 8U, 0x80U, 0xFFU})
        expect_defect(decode_request(request_payload(1, flags, digest, "", "", "")), "flags " + std::to_string(flags));
    // An unknown name is its digest, never the name.
    expect_defect(decode_request(request_payload(1, 2, "alice", "", "", "")), "digest");
    expect_defect(decode_request(request_payload(1, 2, digest.substr(1), "", "", "")), "digest");
    for (const unsigned flags : {0U, 1U, 2U, 3U}) {
        auto ok = decode_request(request_payload(1, flags, digest, "", "", ""));
        ASSERT_TRUE(ok) << flags << ": " << ok.error().message();
        EXPECT_EQ(ok->is_root, (flags & 1U) != 0);
        EXPECT_EQ(ok->unknown_name, (flags & 2U) != 0);
    }

    expect_defect(decode_reply(Raw().header().u8(2).get()), "ok");
    for (const unsigned errc : {8U, 255U})
        expect_defect(decode_reply(Raw().header().u8(0).u8(errc).str("").get()), "errc " + std::to_string(errc));

    auto frame = encode_reply(ok_replies()[0]);
    ASSERT_TRUE(frame);
    const std::string ok = payload_of(*frame);
    std::string bad = ok;
    bad[6] = 4;  // outcome
    expect_defect(decode_reply(bad), "outcome 4");
    // Each boolean of an ok reply, at its offset, set to 2.
    for (const auto& [offset, name] : std::vector<std::pair<std::size_t, std::string>>{{11, "locked_now"},
                                                                                       {12, "lock.locked"},
                                                                                       {21, "used_recovery"},
                                                                                       {34, "info.lock.locked"},
                                                                                       {47, "info.enrolled"},
                                                                                       {56, "replayed"}}) {
        bad = ok;
        bad[offset] = 2;
        expect_defect(decode_reply(bad), name);
    }
    // Each lock scope (version 3), at its offset, set past LockScope::codes.
    ASSERT_EQ(ok.size(), 71U);
    for (const auto& [offset, name] :
         std::vector<std::pair<std::size_t, std::string>>{{61, "lock.scope"}, {66, "info.lock.scope"}}) {
        for (const unsigned v : {0U, 1U, 2U}) {
            bad = ok;
            bad[offset] = static_cast<char>(v);
            EXPECT_TRUE(decode_reply(bad)) << name << " " << v;
        }
        for (const unsigned v : {3U, 255U}) {
            bad = ok;
            bad[offset] = static_cast<char>(v);
            expect_defect(decode_reply(bad), name + " " + std::to_string(v) + " is not a lock scope");
        }
    }

    Request r = make_request(Op::lock_info, "alice");
    r.op = static_cast<Op>(9);
    expect_defect(encode_request(r), "op 9");
    Reply e = error_reply(static_cast<Errc>(8), "x");
    expect_defect(encode_reply(e), "errc 8");
    Reply o = ok_replies()[0];
    o.attempt.outcome = static_cast<Outcome>(4);
    expect_defect(encode_reply(o), "outcome 4");
    o = ok_replies()[0];
    o.attempt.lock.scope = static_cast<LockScope>(3);
    expect_defect(encode_reply(o), "lock scope 3");
    o = ok_replies()[0];
    o.info.lock.scope = static_cast<LockScope>(200);
    expect_defect(encode_reply(o), "lock scope 200");
}

TEST(AgentProtocol, TrailingBytesAreRefused)
{
    auto req = encode_request(make_request(Op::attempt, "alice", "123456"));
    ASSERT_TRUE(req);
    expect_defect(decode_request(payload_of(*req) + '\0'), "1 trailing bytes");
    for (const Reply& rep : {ok_replies()[0], error_reply(Errc::io, "x")}) {
        auto f = encode_reply(rep);
        ASSERT_TRUE(f);
        expect_defect(decode_reply(payload_of(*f) + "zz"), "2 trailing bytes");
    }
}

TEST(AgentProtocol, RecoveryLeftOverU32IsRefusedAtEncode)
{
    if constexpr (sizeof(std::size_t) > sizeof(std::uint32_t)) {
        Reply r = ok_replies()[0];
        r.attempt.recovery_left = std::size_t{std::numeric_limits<std::uint32_t>::max()} + 1;
        expect_defect(encode_reply(r), "recovery_left");
    }
}

TEST(AgentProtocol, FrameLengthIsBigEndianWithinOneToMaxFrame)
{
    const auto length = [](std::uint32_t n) {
        const unsigned char p[4] = {static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
                                    static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
        return decode_frame_length(p);
    };
    EXPECT_EQ(*length(1), 1U);
    EXPECT_EQ(*length(0x0102), 0x0102U);
    EXPECT_EQ(*length(kMaxFrame), kMaxFrame);
    expect_defect(length(0), "length 0");
    expect_defect(length(kMaxFrame + 1), "length 4097");
    expect_defect(length(0xFFFFFFFF), "length");
}

TEST(AgentProtocol, RequestDestructorWipesTheCode)
{
    // A short code lives inside the object (the small-string buffer): after
    // the destructor, the object's bytes must not hold it any more.
    alignas(Request) unsigned char storage[sizeof(Request)];
    auto* r = new (storage) Request();
    r->op = Op::attempt;
    r->user = "alice";
    r->code = "918273";
    const std::string_view bytes(reinterpret_cast<const char*>(storage), sizeof storage);
    ASSERT_NE(bytes.find("918273"), std::string_view::npos);  // the premise: the code is in the object
    r->~Request();
    EXPECT_EQ(bytes.find("918273"), std::string_view::npos);
}

}  // namespace
}  // namespace authctl::agent
