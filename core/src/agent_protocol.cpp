// SPDX-License-Identifier: Apache-2.0
#include "authctl/agent_protocol.hpp"

#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "authctl/secret.hpp"
#include "authctl/text.hpp"

namespace authctl::agent {
namespace {

constexpr std::string_view kMagic = "ACTL";
constexpr std::size_t kHeaderBytes = 5;  // magic, version

// Largest payloads, so an encoder reserves once (a request's buffer is never
// reallocated after the code is in it, leaving no copy behind) and the bounds
// are checked against kMaxFrame at compile time.
constexpr std::size_t kMaxRequestPayload =
    kHeaderBytes + 2 + (2 + kMaxUserBytes) + (2 + kMaxServiceBytes) + (2 + kMaxSourceBytes) + (2 + kMaxCodeBytes);
constexpr std::size_t kErrorReplyPayload = kHeaderBytes + 1 + 1 + 2;  // + detail
constexpr std::size_t kOkReplyPayload =
    kHeaderBytes + 1 + (1 + 4 + 1 + 1 + 8 + 1 + 4 + 8) + (1 + 8 + 4 + 1 + 8) + 1 + (4 + 1 + 4 + 1 + 4);
static_assert(kMaxRequestPayload <= kMaxFrame);
static_assert(kErrorReplyPayload + kMaxDetailBytes <= kMaxFrame);
static_assert(kMaxUserBytes <= 0xFFFF && kMaxSourceBytes <= 0xFFFF && kMaxDetailBytes <= 0xFFFF);  // u16 lengths

constexpr std::uint8_t kLastErrc = static_cast<std::uint8_t>(Errc::crypto);
constexpr std::uint8_t kLastOutcome = static_cast<std::uint8_t>(Outcome::not_enrolled);

Error defect(const char* what, const std::string& text)
{
    return make_error(Errc::invalid_argument, std::string("agent ") + what + ": " + text);
}

// What a string field may hold; the same test for encoding and decoding, so
// whatever is encoded decodes and nothing else does.
enum class Charset {
    user,       // valid UTF-8, no control bytes
    printable,  // printable ASCII (0x20..0x7E)
};

struct FieldRule {
    const char* name;
    std::size_t min;
    std::size_t max;
    Charset charset;
};

constexpr FieldRule kUser{"user", 1, kMaxUserBytes, Charset::user};
constexpr FieldRule kService{"service", 0, kMaxServiceBytes, Charset::printable};
constexpr FieldRule kSource{"source", 0, kMaxSourceBytes, Charset::printable};
constexpr FieldRule kCode{"code", 0, kMaxCodeBytes, Charset::printable};
constexpr FieldRule kDetail{"detail", 0, kMaxDetailBytes, Charset::user};

// Never quotes the value: a code is a secret, and the others are named, not echoed.
Status check_field(const char* what, const FieldRule& rule, std::string_view s)
{
    if (s.size() < rule.min || s.size() > rule.max)
        return defect(what, std::string(rule.name) + " is " + std::to_string(s.size()) + " bytes, not " +
                                std::to_string(rule.min) + ".." + std::to_string(rule.max));
    const bool fits = rule.charset == Charset::printable ? printable_ascii(s) : valid_utf8(s) && !has_control(s);
    if (!fits)
        return defect(what, std::string(rule.name) + (rule.charset == Charset::printable
                                                          ? " holds a byte that is not printable ASCII"
                                                          : " is not UTF-8 without control bytes"));
    return Ok{};
}

bool valid_op(std::uint8_t op) noexcept
{
    return op >= static_cast<std::uint8_t>(Op::lock_info) && op <= static_cast<std::uint8_t>(Op::external_success);
}

Status check_request(const Request& req)
{
    constexpr const char* what = "request";
    if (!valid_op(static_cast<std::uint8_t>(req.op)))
        return defect(what, "op " + std::to_string(static_cast<unsigned>(req.op)) + " is not an operation");
    for (const auto& [rule, value] : {std::pair{&kUser, &req.user}, std::pair{&kService, &req.service},
                                      std::pair{&kSource, &req.source}, std::pair{&kCode, &req.code}}) {
        if (auto st = check_field(what, *rule, *value); !st) return st.error();
    }
    if (req.op != Op::attempt && !req.code.empty()) return defect(what, "a code on an op other than attempt");
    if (req.unknown_name && !is_unknown_name_digest(req.user))
        return defect(what, "an unknown name's user is not its digest (64 lowercase hex digits)");
    return Ok{};
}

// Appends big-endian integers and length-prefixed strings to a string whose
// capacity the caller reserved.
class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void boolean(bool v) { u8(v ? 1 : 0); }
    void u16(std::uint16_t v) { be(v, 2); }
    void u32(std::uint32_t v) { be(v, 4); }
    void i64(std::int64_t v) { be(static_cast<std::uint64_t>(v), 8); }
    void str(std::string_view s)
    {
        u16(static_cast<std::uint16_t>(s.size()));
        out_.append(s);
    }
    void header()
    {
        out_.append(kMagic);
        u8(kProtocolVersion);
    }

private:
    void be(std::uint64_t v, int bytes)
    {
        for (int i = bytes - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
    }
    std::string& out_;
};

// Reads the same. Sticky: the first defect (a field cut short, a bad value)
// is kept and every later read returns zero, so a decoder reads its fields in
// wire order and asks once, at the end, whether all of them were there.
class Reader {
public:
    Reader(std::string_view in, const char* what) : in_(in), what_(what) {}

    bool failed() const noexcept { return err_.has_value(); }
    void fail(Error e)
    {
        if (!err_) err_ = std::move(e);
    }

    std::uint8_t u8(const char* field) { return static_cast<std::uint8_t>(be(1, field)); }
    bool boolean(const char* field)
    {
        const std::uint8_t v = u8(field);
        if (v > 1) fail(defect(what_, std::string(field) + " is " + std::to_string(v) + ", not 0 or 1"));
        return v == 1;
    }
    std::uint32_t u32(const char* field) { return static_cast<std::uint32_t>(be(4, field)); }
    std::int64_t i64(const char* field) { return static_cast<std::int64_t>(be(8, field)); }  // two's complement
    // A string checked against its rule; the view points into the payload.
    std::string_view str(const FieldRule& rule)
    {
        const auto len = static_cast<std::size_t>(be(2, rule.name));
        const std::string_view bytes = take(len, rule.name);
        if (failed()) return {};
        if (auto st = check_field(what_, rule, bytes); !st) {
            fail(st.error());
            return {};
        }
        return bytes;
    }
    void header()
    {
        if (in_.substr(0, kMagic.size()) != kMagic) fail(defect(what_, "does not start with the magic \"ACTL\""));
        take(kMagic.size(), "magic");
        const std::uint8_t version = u8("version");
        if (!failed() && version != kProtocolVersion)
            fail(defect(what_, "version " + std::to_string(version) + " (this reads " +
                                   std::to_string(kProtocolVersion) + ")"));
    }
    // The first defect met, else trailing bytes, else Ok.
    Status finish() const
    {
        if (err_) return *err_;
        if (!in_.empty()) return defect(what_, std::to_string(in_.size()) + " trailing bytes");
        return Ok{};
    }

private:
    std::string_view take(std::size_t n, const char* field)
    {
        if (failed()) return {};
        if (in_.size() < n) {
            fail(defect(what_, std::string("truncated in ") + field));
            return {};
        }
        const std::string_view out = in_.substr(0, n);
        in_.remove_prefix(n);
        return out;
    }
    std::uint64_t be(std::size_t bytes, const char* field)
    {
        std::uint64_t v = 0;
        for (const char c : take(bytes, field)) v = (v << 8) | static_cast<unsigned char>(c);
        return v;
    }
    std::string_view in_;
    const char* what_;
    std::optional<Error> err_;
};

// The frame's length prefix, written before the payload that follows it.
void frame_prefix(std::string& out, std::size_t payload)
{
    Writer(out).u32(static_cast<std::uint32_t>(payload));
}

}  // namespace

Request& Request::operator=(Request&& other) noexcept
{
    if (this != &other) {
        wipe_string(code);
        op = other.op;
        is_root = other.is_root;
        unknown_name = other.unknown_name;
        user = std::move(other.user);
        service = std::move(other.service);
        source = std::move(other.source);
        code = std::move(other.code);
        wipe_string(other.code);
    }
    return *this;
}

Request::~Request()
{
    wipe_string(code);
}

Result<std::string> encode_request(const Request& req)
{
    if (auto st = check_request(req); !st) return st.error();
    const std::size_t payload =
        kHeaderBytes + 2 + 2 + req.user.size() + 2 + req.service.size() + 2 + req.source.size() + 2 + req.code.size();
    std::string out;
    out.reserve(4 + kMaxRequestPayload);  // never reallocated: no stray copy of the code
    frame_prefix(out, payload);
    Writer w(out);
    w.header();
    w.u8(static_cast<std::uint8_t>(req.op));
    w.u8(static_cast<std::uint8_t>((req.is_root ? kFlagRoot : 0U) | (req.unknown_name ? kFlagUnknownName : 0U)));
    w.str(req.user);
    w.str(req.service);
    w.str(req.source);
    w.str(req.code);
    return Result<std::string>(std::move(out));  // moved, never copied: it holds the code
}

Result<std::string> encode_reply(const Reply& rep)
{
    std::string out;
    if (!rep.ok) {
        const auto errc = static_cast<unsigned>(rep.errc);
        if (errc > kLastErrc) return defect("reply", "errc " + std::to_string(errc) + " is not an Errc");
        if (auto st = check_field("reply", kDetail, rep.detail); !st) return st.error();
        out.reserve(4 + kErrorReplyPayload + rep.detail.size());
        frame_prefix(out, kErrorReplyPayload + rep.detail.size());
        Writer w(out);
        w.header();
        w.boolean(false);
        w.u8(static_cast<std::uint8_t>(errc));
        w.str(rep.detail);
        return out;
    }
    const auto outcome = static_cast<unsigned>(rep.attempt.outcome);
    if (outcome > kLastOutcome) return defect("reply", "outcome " + std::to_string(outcome) + " is not an Outcome");
    for (const LockScope sc : {rep.attempt.lock.scope, rep.info.lock.scope})
        if (static_cast<unsigned>(sc) > static_cast<unsigned>(LockScope::codes))
            return defect("reply", "lock scope " + std::to_string(static_cast<unsigned>(sc)) + " is not a LockScope");
    if (rep.attempt.recovery_left > std::numeric_limits<std::uint32_t>::max())
        return defect("reply", "recovery_left " + std::to_string(rep.attempt.recovery_left) + " is over 2^32-1");
    out.reserve(4 + kOkReplyPayload);
    frame_prefix(out, kOkReplyPayload);
    Writer w(out);
    w.header();
    w.boolean(true);
    const AttemptResult& a = rep.attempt;
    w.u8(static_cast<std::uint8_t>(outcome));
    w.u32(a.failures);
    w.boolean(a.locked_now);
    w.boolean(a.lock.locked);
    w.i64(a.lock.until);
    w.boolean(a.used_recovery);
    w.u32(static_cast<std::uint32_t>(a.recovery_left));
    w.i64(a.now);
    const LockInfo& i = rep.info;
    w.boolean(i.lock.locked);
    w.i64(i.lock.until);
    w.u32(i.failures);
    w.boolean(i.enrolled);
    w.i64(i.now);
    w.boolean(a.replayed);  // version 2
    w.u32(a.sources);       // version 3
    w.u8(static_cast<std::uint8_t>(a.lock.scope));
    w.u32(a.lock.failures);
    w.u8(static_cast<std::uint8_t>(i.lock.scope));
    w.u32(i.lock.failures);
    return out;
}

Result<Request> decode_request(std::string_view payload)
{
    Reader r(payload, "request");
    r.header();
    const std::uint8_t op = r.u8("op");
    if (!r.failed() && !valid_op(op)) r.fail(defect("request", "op " + std::to_string(op) + " is not an operation"));
    Request req;
    req.op = static_cast<Op>(op);
    const std::uint8_t flags = r.u8("flags");
    if (!r.failed() && (flags & ~(kFlagRoot | kFlagUnknownName)) != 0)
        r.fail(defect("request", "flags " + std::to_string(flags) + " set a bit that is not a flag"));
    req.is_root = (flags & kFlagRoot) != 0;
    req.unknown_name = (flags & kFlagUnknownName) != 0;
    req.user.assign(r.str(kUser));
    req.service.assign(r.str(kService));
    req.source.assign(r.str(kSource));
    req.code.assign(r.str(kCode));
    if (!r.failed() && req.op != Op::attempt && !req.code.empty())
        r.fail(defect("request", "a code on an op other than attempt"));
    if (!r.failed() && req.unknown_name && !is_unknown_name_digest(req.user))
        r.fail(defect("request", "an unknown name's user is not its digest (64 lowercase hex digits)"));
    if (auto st = r.finish(); !st) return st.error();
    return req;
}

Result<Reply> decode_reply(std::string_view payload)
{
    Reader r(payload, "reply");
    r.header();
    Reply rep;
    rep.ok = r.boolean("ok");
    if (!rep.ok) {
        const std::uint8_t errc = r.u8("errc");
        if (!r.failed() && errc > kLastErrc)
            r.fail(defect("reply", "errc " + std::to_string(errc) + " is not an Errc"));
        rep.errc = static_cast<Errc>(errc);
        rep.detail.assign(r.str(kDetail));
        if (auto st = r.finish(); !st) return st.error();
        return rep;
    }
    const std::uint8_t outcome = r.u8("outcome");
    if (!r.failed() && outcome > kLastOutcome)
        r.fail(defect("reply", "outcome " + std::to_string(outcome) + " is not an Outcome"));
    AttemptResult& a = rep.attempt;
    a.outcome = static_cast<Outcome>(outcome);
    a.failures = r.u32("failures");
    a.locked_now = r.boolean("locked_now");
    a.lock.locked = r.boolean("lock.locked");
    a.lock.until = r.i64("lock.until");
    a.used_recovery = r.boolean("used_recovery");
    a.recovery_left = r.u32("recovery_left");
    a.now = r.i64("now");
    LockInfo& i = rep.info;
    i.lock.locked = r.boolean("info.lock.locked");
    i.lock.until = r.i64("info.lock.until");
    i.failures = r.u32("info.failures");
    i.enrolled = r.boolean("info.enrolled");
    i.now = r.i64("info.now");
    a.replayed = r.boolean("replayed");
    a.sources = r.u32("sources");
    auto scope = [&r](const char* field) {
        const std::uint8_t v = r.u8(field);
        if (!r.failed() && v > static_cast<std::uint8_t>(LockScope::codes))
            r.fail(defect("reply", std::string(field) + " " + std::to_string(v) + " is not a lock scope"));
        return static_cast<LockScope>(v);
    };
    a.lock.scope = scope("lock.scope");
    a.lock.failures = r.u32("lock.failures");
    i.lock.scope = scope("info.lock.scope");
    i.lock.failures = r.u32("info.lock.failures");
    if (auto st = r.finish(); !st) return st.error();
    return rep;
}

Result<std::uint32_t> decode_frame_length(const unsigned char prefix[4])
{
    const std::uint32_t n = (std::uint32_t{prefix[0]} << 24) | (std::uint32_t{prefix[1]} << 16) |
                            (std::uint32_t{prefix[2]} << 8) | std::uint32_t{prefix[3]};
    if (n == 0 || n > kMaxFrame)
        return defect("frame", "length " + std::to_string(n) + " is not 1.." + std::to_string(kMaxFrame));
    return n;
}

}  // namespace authctl::agent
