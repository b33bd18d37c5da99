// SPDX-License-Identifier: Apache-2.0
#include "authctl/record.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include "authctl/base32.hpp"
#include "authctl/text.hpp"
#include "authctl/username.hpp"

namespace authctl {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Limits the parser enforces and validate_record checks before a write.
constexpr std::size_t kMinSaltBytes = 8;
constexpr std::size_t kMaxSaltBytes = 64;
constexpr std::int64_t kMaxTime = INT64_MAX - 1;  // failure times and locked_until; INT64_MAX spells "never"

// Wipes a string that held secret material when the scope ends, however it ends.
struct WipeOnExit {
    std::string& s;
    ~WipeOnExit() { wipe_string(s); }
};

std::string to_hex(const std::uint8_t* p, std::size_t n)
{
    std::string out;
    out.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(kHex[p[i] >> 4]);
        out.push_back(kHex[p[i] & 15U]);
    }
    return out;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view s)
{
    if (s.empty() || s.size() % 2 != 0) return std::nullopt;
    std::vector<std::uint8_t> out;
    out.reserve(s.size() / 2);
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < s.size(); i += 2) {
        const int hi = nibble(s[i]);
        const int lo = nibble(s[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

template <typename T>
std::optional<T> parse_decimal(std::string_view v)
{
    // Digits only, no sign, no leading zero (the one spelling the writer
    // uses), no overflow; in one pass (a record has a
    // hundred or more numbers with a full source table, so this is hot).
    if (v.empty() || (v.size() > 1 && v.front() == '0')) return std::nullopt;
    T n{};
    for (const char c : v) {
        if (c < '0' || c > '9') return std::nullopt;
        if (__builtin_mul_overflow(n, T{10}, &n) || __builtin_add_overflow(n, static_cast<T>(c - '0'), &n))
            return std::nullopt;
    }
    return n;
}

// Every key a record may hold. Only "recovery", "source", "granted_group"
// and "invite_group" may repeat. lock_reason and last_success exist from
// version 2 on, each only when set; since_success, source, account,
// invitation and invite_group from version 3 on, likewise.
constexpr std::array<std::string_view, 25> kKeys = {
    "authctl-user", "account",       "type",          "algorithm",    "digits",        "period",
    "last_step",    "counter",       "secret",       "created",       "confirmed",
    "recovery_kdf", "recovery",      "failures",     "first_failure", "last_failure",
    "last_source",  "locked_until",  "lock_reason",  "last_success",  "since_success",
    "source",       "granted_group", "invitation",   "invite_group",
};

// kKeys index of `key`, or kKeys.size(). The search starts at `hint`: kKeys is
// in the writer's order, so with the previous line's index + 1 as the hint a
// record's keys are found at the first or second try.
constexpr std::size_t key_index(std::string_view key, std::size_t hint = 0) noexcept
{
    for (std::size_t n = 0; n < kKeys.size(); ++n) {
        const std::size_t i = (hint + n) % kKeys.size();
        if (kKeys[i] == key) return i;
    }
    return kKeys.size();
}

// A key named in the parser's code, looked up at compile time (a typo does not build).
struct Key {
    std::size_t index;
};
consteval Key K(std::string_view name)
{
    const std::size_t i = key_index(name);
    if (i == kKeys.size()) throw "not a record key";
    return Key{i};
}

// The record's lines by key: views into the text being parsed, which outlives
// this. A fixed table, so a hostile file costs at most one lookup per line.
struct Fields {
    struct Slot {
        std::size_t line = 0;    // of the first occurrence; 0: absent
        std::string_view value;  // the first occurrence's
        bool taken = false;
    };
    std::array<Slot, kKeys.size()> slots{};
    std::vector<std::string_view> recovery;  // every "recovery" value, in order
    std::vector<std::string_view> groups;    // every "granted_group" value, in order
    std::vector<std::string_view> sources;   // every "source" value, in order
    std::vector<std::string_view> invite_groups;  // every "invite_group" value, in order

    bool has(Key k) const noexcept { return slots[k.index].line != 0; }

    Error corrupt(Key k, const std::string& why) const
    {
        const Slot& s = slots[k.index];
        const std::string where = s.line == 0 ? "" : "line " + std::to_string(s.line) + ": ";
        return make_error(Errc::corrupt, where + "'" + std::string(kKeys[k.index]) + "' " + why);
    }

    Result<std::string_view> take(Key k)
    {
        Slot& s = slots[k.index];
        if (s.line == 0) return make_error(Errc::corrupt, "missing '" + std::string(kKeys[k.index]) + "'");
        s.taken = true;
        return s.value;
    }

    template <typename T>
    Result<T> number(Key k, T min, T max)
    {
        auto v = take(k);
        if (!v) return v.error();
        const auto n = parse_decimal<T>(*v);
        if (!n || *n < min || *n > max)
            return corrupt(k, "is not a number from " + std::to_string(min) + " to " + std::to_string(max));
        return *n;
    }
};

// True when sanitize_source would return `v` unchanged (printable ASCII
// without spaces): the writer then needs no copy of it, and the parser, whose
// line is already known printable, no allocation to check it.
bool clean_source(std::string_view v, std::size_t max) noexcept
{
    if (v.size() > max) return false;
    for (char c : v)
        if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7E) return false;
    return true;
}

// A source entry's key as the writer spells it: "-" for none, else as
// sanitize_source spells it (copied only when that changes it).
std::string written_source_key(const SourceTally& s)
{
    if (s.source.empty()) return "-";
    if (clean_source(s.source, kMaxSourceLength)) return s.source;
    return sanitize_source(s.source);
}

}  // namespace

Enrollment Enrollment::clone() const
{
    Enrollment e;
    e.type = type;
    e.algo = algo;
    e.digits = digits;
    e.period = period;
    e.counter = counter;
    e.secret = secret.clone();
    e.created = created;
    e.confirmed = confirmed;
    e.last_step = last_step;
    return e;
}

UserRecord UserRecord::clone() const
{
    UserRecord r;
    if (enrollment) r.enrollment = enrollment->clone();
    r.recovery = recovery;
    r.tally = tally;
    r.granted_groups = granted_groups;
    r.account = account;
    r.invitation = invitation;
    return r;
}

bool valid_group_name(std::string_view name) noexcept
{
    if (name.empty() || name.size() > kMaxGroupName || name.front() == '-') return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return false;
    return true;
}

SecretBytes serialize_record(const UserRecord& rec)
{
    // The text holds the secret, so it never grows in place (which would leave
    // a stray copy in freed memory): a line that does not fit moves the text to
    // a buffer twice the size and wipes the old one.
    std::string out;
    const WipeOnExit wipe_out{out};  // also when a line's allocation throws
    // 1 KiB fits a record without recovery codes, groups or sources; each of
    // those adds at most a known line length.
    out.reserve(1024 + 80 * rec.recovery.hashes.size() + 80 * rec.granted_groups.size() +
                (7 + kMaxSourceLength + 4 * 21 + 10 + kMaxLockedByLength + 5) * rec.tally.sources.size());
    auto room_for = [&out](std::size_t more) {
        const std::size_t need = out.size() + more;
        if (need <= out.capacity()) return;
        std::string bigger;
        bigger.reserve(2 * need);
        bigger.append(out);
        wipe_string(out);
        out.swap(bigger);
    };
    auto line = [&out, &room_for](std::string_view key, std::string_view value) {
        room_for(key.size() + value.size() + 2);
        out.append(key);
        out.push_back(' ');
        out.append(value);
        out.push_back('\n');
    };
    auto number = [&line](std::string_view key, auto n) {
        char digits[24];
        const auto res = std::to_chars(digits, digits + sizeof digits, n);
        line(key, std::string_view(digits, static_cast<std::size_t>(res.ptr - digits)));
    };
    number("authctl-user", kRecordVersion);
    if (rec.account) {
        // account UID NAME: the name as the store spells it in file names (no spaces, printable ASCII).
        auto stem = encode_user_name(rec.account->name);
        std::string v = rec.account->uid ? std::to_string(*rec.account->uid) : std::string("-");
        v += ' ';
        // validate_record refuses a name that does not encode; "%" never parses back either.
        v += stem ? *stem : std::string("%");
        line("account", v);
    }
    if (const auto& e = rec.enrollment) {
        line("type", otp_type_name(e->type));
        line("algorithm", algo_name(e->algo));
        number("digits", e->digits);
        if (e->type == OtpType::totp) {
            number("period", e->period);
            if (e->last_step)
                number("last_step", *e->last_step);
            else
                line("last_step", "-");
        } else {
            number("counter", e->counter);
        }
        std::string secret = base32_encode(e->secret);
        const WipeOnExit wipe_secret{secret};
        line("secret", secret);
        number("created", e->created);
        line("confirmed", e->confirmed ? "yes" : "no");
    } else {
        line("type", "none");
    }
    if (!rec.recovery.hashes.empty()) {
        line("recovery_kdf", "pbkdf2-sha256 " + std::to_string(rec.recovery.iterations) + " " +
                                 to_hex(rec.recovery.salt.data(), rec.recovery.salt.size()));
        for (const auto& h : rec.recovery.hashes) line("recovery", to_hex(h.data(), h.size()));
    }
    const Tally& t = rec.tally;
    number("failures", t.failures);
    number("first_failure", t.first_failure);
    number("last_failure", t.last_failure);
    // "-" for none; else as sanitize_source spells it (copied only when that changes it).
    auto source_line = [&line](std::string_view key, std::string_view v, std::size_t max) {
        if (v.empty())
            line(key, "-");
        else if (clean_source(v, max))
            line(key, v);
        else
            line(key, sanitize_source(v.substr(0, max)));
    };
    source_line("last_source", t.last_source, kMaxSourceLength);
    if (t.locked_until == kLockedForever)
        line("locked_until", "never");
    else
        number("locked_until", t.locked_until);
    // Only when set, so that a record costs no more to read than it holds.
    if (t.lock_reason == LockReason::admin && !t.locked_by.empty()) {
        const std::string by = clean_source(t.locked_by, kMaxLockedByLength)
                                   ? t.locked_by
                                   : sanitize_source(std::string_view(t.locked_by).substr(0, kMaxLockedByLength));
        line("lock_reason", "admin " + by);
    } else if (t.lock_reason != LockReason::unknown) {
        line("lock_reason", lock_reason_name(t.lock_reason));
    }
    if (t.last_success != 0) {
        char digits[24];
        const auto res = std::to_chars(digits, digits + sizeof digits, t.last_success);
        std::string value(digits, static_cast<std::size_t>(res.ptr - digits));
        value.push_back(' ');
        if (t.last_success_source.empty())
            value.push_back('-');
        else if (clean_source(t.last_success_source, kMaxSourceLength))
            value.append(t.last_success_source);
        else
            value.append(sanitize_source(t.last_success_source));
        line("last_success", value);
    }
    if (t.failures_since_success != 0 || t.sources_since_success != 0)
        line("since_success", std::to_string(t.failures_since_success) + " " + std::to_string(t.sources_since_success));
    for (const SourceTally& s : t.sources) {
        // source KEY FAILURES FIRST LAST LOCKED_UNTIL REASON BY SINCE, built
        // in place (a full table is 32 lines: no temporary strings).
        const std::string copied_key = s.source.empty() || clean_source(s.source, kMaxSourceLength)
                                           ? std::string()
                                           : sanitize_source(s.source);
        const std::string_view key = s.source.empty() ? std::string_view("-")
                                     : copied_key.empty() ? std::string_view(s.source)
                                                          : std::string_view(copied_key);
        std::string copied_by;
        std::string_view by = "-";
        if (s.lock_reason == LockReason::admin && !s.locked_by.empty()) {
            if (clean_source(s.locked_by, kMaxLockedByLength))
                by = s.locked_by;
            else
                by = copied_by = sanitize_source(std::string_view(s.locked_by).substr(0, kMaxLockedByLength));
        }
        const std::string_view reason = s.lock_reason == LockReason::unknown ? "-" : lock_reason_name(s.lock_reason);
        const std::string_view since = s.since_success ? " yes" : " no";
        room_for(7 + key.size() + 4 * 22 + 1 + reason.size() + 1 + by.size() + since.size() + 1);
        out.append("source ").append(key);
        auto put = [&out](auto n) {
            char digits[24];
            const auto res = std::to_chars(digits, digits + sizeof digits, n);
            out.push_back(' ');
            out.append(digits, static_cast<std::size_t>(res.ptr - digits));
        };
        put(s.failures);
        put(s.first_failure);
        put(s.last_failure);
        if (s.locked_until == kLockedForever)
            out.append(" never");
        else
            put(s.locked_until);
        out.append(" ").append(reason).append(" ").append(by);
        out.append(since).push_back('\n');
    }
    for (const auto& g : rec.granted_groups) line("granted_group", g);
    if (const auto& inv = rec.invitation) {
        // invitation NONCE CREATED EXPIRES TYPE ALGO DIGITS PERIOD REPLACE BY
        std::string v = std::to_string(inv->nonce);
        for (const std::int64_t n : {inv->created, inv->expires}) v.append(" ").append(std::to_string(n));
        v.append(" ").append(otp_type_name(inv->params.type));
        v.append(" ").append(algo_name(inv->params.algo));
        v.append(" ").append(std::to_string(inv->params.digits));
        v.append(" ").append(std::to_string(inv->params.period));
        v.append(inv->replace ? " yes " : " no ");
        if (inv->invited_by.empty())
            v.push_back('-');
        else if (clean_source(inv->invited_by, kMaxLockedByLength))
            v.append(inv->invited_by);
        else
            v.append(sanitize_source(std::string_view(inv->invited_by).substr(0, kMaxLockedByLength)));
        line("invitation", v);
        for (const auto& g : inv->grant_groups) line("invite_group", g);
    }
    room_for(4);
    out.append("end\n");
    return SecretBytes(reinterpret_cast<const std::uint8_t*>(out.data()), out.size());
}

Status validate_record(const UserRecord& rec)
{
    auto refuse = [](const std::string& what) {
        return make_error(Errc::invalid_argument, "record not written: " + what);
    };
    if (const auto& e = rec.enrollment) {
        // Not a value the parser could see: the writer would spell it as another.
        if (e->type != OtpType::totp && e->type != OtpType::hotp) return refuse("'type' is not totp or hotp");
        if (e->algo != HashAlgo::sha1 && e->algo != HashAlgo::sha256 && e->algo != HashAlgo::sha512)
            return refuse("'algorithm' is not SHA1, SHA256 or SHA512");
        if (e->digits < kMinDigits || e->digits > kMaxDigits)
            return refuse("'digits' " + std::to_string(e->digits) + " is not from " + std::to_string(kMinDigits) +
                          " to " + std::to_string(kMaxDigits));
        if (e->type == OtpType::totp && (e->period < kMinPeriod || e->period > kMaxPeriod))
            return refuse("'period' " + std::to_string(e->period) + " is not from " + std::to_string(kMinPeriod) +
                          " to " + std::to_string(kMaxPeriod));
        if (e->secret.empty() || e->secret.size() > kMaxSecretBytes)
            return refuse("'secret' is " + std::to_string(e->secret.size()) + " bytes, not 1 to " +
                          std::to_string(kMaxSecretBytes));
        if (e->created < 0) return refuse("'created' is negative");
    }
    // Without hashes the writer leaves out the kdf line, so its values do not matter.
    if (const RecoverySet& r = rec.recovery; !r.hashes.empty()) {
        if (r.iterations < kMinRecoveryIterations || r.iterations > kMaxRecoveryIterations)
            return refuse("'recovery_kdf' has a bad iteration count");
        if (r.salt.size() < kMinSaltBytes || r.salt.size() > kMaxSaltBytes) return refuse("'recovery_kdf' has a bad salt");
        if (r.hashes.size() > kMaxRecoveryCodes) return refuse("too many 'recovery' lines");
    }
    // last_source is not checked: the writer sanitizes it.
    const Tally& t = rec.tally;
    if (t.first_failure < 0 || t.first_failure > kMaxTime) return refuse("'first_failure' is out of range");
    if (t.last_failure < 0 || t.last_failure > kMaxTime) return refuse("'last_failure' is out of range");
    if (t.locked_until < 0) return refuse("'locked_until' is negative");
    if (t.lock_reason != LockReason::unknown && t.lock_reason != LockReason::failures &&
        t.lock_reason != LockReason::admin && t.lock_reason != LockReason::consecutive)
        return refuse("'lock_reason' is not failures, admin or consecutive");
    if (t.lock_reason != LockReason::unknown && t.locked_until == 0) return refuse("'lock_reason' without a lock");
    // locked_by is written only with an admin's lock (sanitized, as last_source), so needs no check.
    if (t.last_success < 0 || t.last_success > kMaxTime) return refuse("'last_success' is out of range");
    if (t.sources.size() > kMaxSources) return refuse("too many 'source' lines");
    for (const SourceTally& s : t.sources) {
        if (s.first_failure < 0 || s.first_failure > kMaxTime || s.last_failure < 0 || s.last_failure > kMaxTime)
            return refuse("a 'source' failure time is out of range");
        if (s.locked_until < 0) return refuse("a 'source' lock is negative");
        if (s.lock_reason != LockReason::unknown && s.lock_reason != LockReason::failures &&
            s.lock_reason != LockReason::admin)
            return refuse("a 'source' lock reason is not failures or admin");
        if ((s.lock_reason != LockReason::unknown) != (s.locked_until != 0))
            return refuse("a 'source' lock without its reason, or a reason without a lock");
    }
    // Keys distinct as written (two may spell the same: "a b" and "a?b", or
    // two that differ only after kMaxSourceLength bytes).
    if (t.sources.size() > 1) {
        // Copies only of the keys the writer would change (rare): the rest are compared in place.
        std::vector<std::string> changed;
        std::array<std::string_view, kMaxSources> keys{};
        changed.reserve(t.sources.size());
        for (std::size_t i = 0; i < t.sources.size(); ++i) {
            const SourceTally& s = t.sources[i];
            if (!s.source.empty() && clean_source(s.source, kMaxSourceLength))
                keys[i] = s.source;
            else
                keys[i] = changed.emplace_back(written_source_key(s));
        }
        const auto end = keys.begin() + static_cast<std::ptrdiff_t>(t.sources.size());
        std::sort(keys.begin(), end);
        if (std::adjacent_find(keys.begin(), end) != end) return refuse("a 'source' key is written twice");
    }
    if (rec.account && !encode_user_name(rec.account->name)) return refuse("'account' does not name a valid user");
    if (rec.granted_groups.size() > kMaxGrantedGroups) return refuse("too many 'granted_group' lines");
    for (const auto& g : rec.granted_groups)
        if (!valid_group_name(g)) return refuse("'granted_group' is not a group name");
    if (const auto& inv = rec.invitation) {
        // invited_by is sanitized by the writer, as locked_by.
        if (inv->nonce == 0) return refuse("'invitation' has a nonce of 0");
        if (inv->created < 0 || inv->created > kMaxTime || inv->expires < 0 || inv->expires > kMaxTime)
            return refuse("'invitation' has a time out of range");
        const EnrollParams& p = inv->params;
        if (p.type != OtpType::totp && p.type != OtpType::hotp) return refuse("'invitation' type is not totp or hotp");
        if (p.algo != HashAlgo::sha1 && p.algo != HashAlgo::sha256 && p.algo != HashAlgo::sha512)
            return refuse("'invitation' algorithm is not SHA1, SHA256 or SHA512");
        if (p.digits < kMinDigits || p.digits > kMaxDigits) return refuse("'invitation' digits out of range");
        if (p.period < kMinPeriod || p.period > kMaxPeriod) return refuse("'invitation' period out of range");
        if (inv->grant_groups.size() > kMaxGrantedGroups) return refuse("too many 'invite_group' lines");
        for (const auto& g : inv->grant_groups)
            if (!valid_group_name(g)) return refuse("'invite_group' is not a group name");
    }
    return Ok{};
}

Result<UserRecord> parse_record(std::string_view text)
{
    if (text.size() > kMaxRecordBytes) return make_error(Errc::corrupt, "record larger than 16 KiB");
    Fields f;
    std::size_t line_no = 0;
    std::size_t hint = 0;  // where the next key is likely to be in kKeys
    bool ended = false;
    while (!text.empty()) {
        ++line_no;
        const auto nl = text.find('\n');
        if (nl == std::string_view::npos)
            return make_error(Errc::corrupt, "line " + std::to_string(line_no) + ": no newline (truncated?)");
        const std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        if (ended) return make_error(Errc::corrupt, "line " + std::to_string(line_no) + ": text after 'end'");
        if (line == "end") {
            ended = true;
            continue;
        }
        const auto sp = line.find(' ');
        if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size())
            return make_error(Errc::corrupt, "line " + std::to_string(line_no) + ": not 'key value'");
        const std::string_view key = line.substr(0, sp);
        const std::string_view value = line.substr(sp + 1);
        if (!printable_ascii(line))
            return make_error(Errc::corrupt, "line " + std::to_string(line_no) + ": non-printable byte");
        if (line_no == 1 && key != "authctl-user") return make_error(Errc::corrupt, "not an authctl user record");
        const std::size_t k = key_index(key, hint);
        if (k == kKeys.size())
            return make_error(Errc::corrupt,
                              "line " + std::to_string(line_no) + ": unexpected key '" + std::string(key) + "'");
        const bool repeats = k == K("recovery").index || k == K("granted_group").index || k == K("source").index ||
                             k == K("invite_group").index;
        auto& slot = f.slots[k];
        if (slot.line != 0 && !repeats)
            return make_error(Errc::corrupt,
                              "line " + std::to_string(line_no) + ": '" + std::string(key) + "' repeated");
        if (slot.line == 0) {
            slot.line = line_no;
            slot.value = value;
        }
        hint = repeats ? k : k + 1;  // a repeated key most likely comes again
        if (k == K("recovery").index) f.recovery.push_back(value);
        if (k == K("granted_group").index) f.groups.push_back(value);
        if (k == K("invite_group").index) {
            if (f.invite_groups.size() >= kMaxGrantedGroups)
                return make_error(Errc::corrupt, "line " + std::to_string(line_no) + ": 'invite_group' lines exceed " +
                                                     std::to_string(kMaxGrantedGroups));
            f.invite_groups.push_back(value);
        }
        if (k == K("source").index) {
            if (f.sources.size() >= kMaxSources)
                return make_error(Errc::corrupt, "line " + std::to_string(line_no) + ": 'source' lines exceed " +
                                                     std::to_string(kMaxSources));
            f.sources.push_back(value);
        }
    }
    if (!ended) return make_error(Errc::corrupt, "no 'end' line (truncated?)");
    if (line_no == 1) return make_error(Errc::corrupt, "empty record");

    auto version = f.number<int>(K("authctl-user"), 1, 1000);
    if (!version) return make_error(Errc::corrupt, "not an authctl user record");
    if (*version < kMinRecordVersion || *version > kRecordVersion)
        return make_error(Errc::corrupt, "record version " + std::to_string(*version) +
                                             " is not supported (this build reads " +
                                             std::to_string(kMinRecordVersion) + " to " +
                                             std::to_string(kRecordVersion) + ")");
    UserRecord rec;
    if (*version >= 3 && f.has(K("account"))) {
        auto v = f.take(K("account"));
        if (!v) return v.error();
        const auto sp = v->find(' ');
        const std::string_view uid = v->substr(0, sp);
        const auto n = parse_decimal<std::uint32_t>(uid);
        auto name = sp == std::string_view::npos ? Result<std::string>(make_error(Errc::corrupt, ""))
                                                 : decode_user_name(v->substr(sp + 1));
        if ((uid != "-" && !n) || !name)
            return f.corrupt(K("account"),
                             "must be 'UID NAME' (UID a number or -, NAME a user name as file names spell it)");
        rec.account = AccountBinding{uid == "-" ? std::nullopt : n, std::move(*name)};
    }
    auto type = f.take(K("type"));
    if (!type) return type.error();
    if (*type != "none") {
        Enrollment e;
        auto t = parse_otp_type(*type);
        if (!t || *type != otp_type_name(*t)) return f.corrupt(K("type"), "must be totp, hotp or none");
        e.type = *t;
        auto algo = f.take(K("algorithm"));
        if (!algo) return algo.error();
        auto a = parse_algo(*algo);
        if (!a || *algo != algo_name(*a)) return f.corrupt(K("algorithm"), "must be SHA1, SHA256 or SHA512");
        e.algo = *a;
        auto digits = f.number<unsigned>(K("digits"), kMinDigits, kMaxDigits);
        if (!digits) return digits.error();
        e.digits = *digits;
        if (e.type == OtpType::totp) {
            auto period = f.number<unsigned>(K("period"), kMinPeriod, kMaxPeriod);
            if (!period) return period.error();
            e.period = *period;
            auto last = f.take(K("last_step"));
            if (!last) return last.error();
            if (*last != "-") {
                auto n = f.number<std::uint64_t>(K("last_step"), 0, UINT64_MAX);
                if (!n) return n.error();
                e.last_step = *n;
            }
        } else {
            auto counter = f.number<std::uint64_t>(K("counter"), 0, UINT64_MAX);
            if (!counter) return counter.error();
            e.counter = *counter;
        }
        auto secret = f.take(K("secret"));
        if (!secret) return secret.error();
        if (!base32_is_canonical(*secret))
            return f.corrupt(K("secret"), "is not canonical base32 (A-Z2-7, no padding)");
        auto key = base32_decode(*secret);
        if (!key || key->empty() || key->size() > kMaxSecretBytes)
            return f.corrupt(K("secret"), "is not 1 to 128 bytes of base32");
        e.secret = std::move(*key);
        auto created = f.number<std::int64_t>(K("created"), 0, INT64_MAX);
        if (!created) return created.error();
        e.created = *created;
        auto confirmed = f.take(K("confirmed"));
        if (!confirmed) return confirmed.error();
        if (*confirmed != "yes" && *confirmed != "no") return f.corrupt(K("confirmed"), "must be yes or no");
        e.confirmed = *confirmed == "yes";
        rec.enrollment = std::move(e);
    }
    if (f.has(K("recovery_kdf"))) {
        auto kdf = f.take(K("recovery_kdf"));
        if (!kdf) return kdf.error();
        std::string_view rest = *kdf;
        constexpr std::string_view kName = "pbkdf2-sha256 ";
        const auto sp = rest.rfind(' ');
        if (rest.substr(0, kName.size()) != kName || sp < kName.size())
            return f.corrupt(K("recovery_kdf"), "must be 'pbkdf2-sha256 ITERATIONS SALT'");
        const std::string_view iter = rest.substr(kName.size(), sp - kName.size());
        const auto n = parse_decimal<std::uint32_t>(iter);
        if (!n || *n < kMinRecoveryIterations || *n > kMaxRecoveryIterations)
            return f.corrupt(K("recovery_kdf"), "has a bad iteration count");
        auto salt = from_hex(rest.substr(sp + 1));
        if (!salt || salt->size() < kMinSaltBytes || salt->size() > kMaxSaltBytes) return f.corrupt(K("recovery_kdf"), "has a bad salt");
        rec.recovery.iterations = *n;
        rec.recovery.salt = std::move(*salt);
        auto& codes = f.slots[K("recovery").index];
        if (codes.line == 0) return f.corrupt(K("recovery_kdf"), "without any 'recovery' line");
        if (f.recovery.size() > kMaxRecoveryCodes)
            return f.corrupt(K("recovery"), "lines exceed " + std::to_string(kMaxRecoveryCodes));
        for (const auto& v : f.recovery) {
            auto h = from_hex(v);
            if (!h || h->size() != RecoveryHash{}.size()) return f.corrupt(K("recovery"), "is not a 32-byte hex hash");
            RecoveryHash hash{};
            std::copy(h->begin(), h->end(), hash.begin());
            rec.recovery.hashes.push_back(hash);
        }
        codes.taken = true;
    }
    Tally& t = rec.tally;
    auto failures = f.number<std::uint32_t>(K("failures"), 0, UINT32_MAX);
    if (!failures) return failures.error();
    t.failures = *failures;
    auto first = f.number<std::int64_t>(K("first_failure"), 0, kMaxTime);
    if (!first) return first.error();
    t.first_failure = *first;
    auto last = f.number<std::int64_t>(K("last_failure"), 0, kMaxTime);
    if (!last) return last.error();
    t.last_failure = *last;
    auto source = f.take(K("last_source"));
    if (!source) return source.error();
    if (!clean_source(*source, kMaxSourceLength))
        return f.corrupt(K("last_source"), "is longer than 128 bytes or has spaces");
    if (*source != "-") t.last_source = std::string(*source);
    auto locked = f.take(K("locked_until"));
    if (!locked) return locked.error();
    if (*locked == "never") {
        t.locked_until = kLockedForever;
    } else {
        auto n = f.number<std::int64_t>(K("locked_until"), 0, kMaxTime);
        if (!n) return n.error();
        t.locked_until = *n;
    }
    // Version 1 has neither (its lines would be left untaken below,
    // "unexpected key"); version 2 has each only when set.
    if (*version >= 2 && f.has(K("lock_reason"))) {
        auto reason = f.take(K("lock_reason"));
        if (!reason) return reason.error();
        constexpr std::string_view kAdminBy = "admin ";
        if (*reason == "failures") {
            t.lock_reason = LockReason::failures;
        } else if (*reason == "consecutive" && *version >= 3) {
            t.lock_reason = LockReason::consecutive;
        } else if (*reason == "admin") {
            t.lock_reason = LockReason::admin;
        } else if (reason->substr(0, kAdminBy.size()) == kAdminBy) {
            const std::string_view by = reason->substr(kAdminBy.size());
            if (by.empty() || !clean_source(by, kMaxLockedByLength))
                return f.corrupt(K("lock_reason"), "names an administrator longer than 64 bytes or with spaces");
            t.lock_reason = LockReason::admin;
            t.locked_by = std::string(by);
        } else {
            return f.corrupt(K("lock_reason"), "must be 'failures', 'consecutive', 'admin' or 'admin NAME'");
        }
        if (t.locked_until == 0) return f.corrupt(K("lock_reason"), "is set but 'locked_until' is 0");
    }
    if (*version >= 2 && f.has(K("last_success"))) {
        auto v = f.take(K("last_success"));
        if (!v) return v.error();
        const auto sp = v->find(' ');
        const auto when = parse_decimal<std::int64_t>(v->substr(0, sp));
        if (sp == std::string_view::npos || !when || *when < 1 || *when > kMaxTime)
            return f.corrupt(K("last_success"), "must be 'TIME SOURCE' with TIME from 1 to " + std::to_string(kMaxTime));
        const std::string_view from = v->substr(sp + 1);
        if (from.empty() || !clean_source(from, kMaxSourceLength))
            return f.corrupt(K("last_success"), "has a source longer than 128 bytes or with spaces");
        t.last_success = *when;
        if (from != "-") t.last_success_source = std::string(from);
    }
    if (*version >= 3 && f.has(K("since_success"))) {
        auto v = f.take(K("since_success"));
        if (!v) return v.error();
        const auto sp = v->find(' ');
        const auto n = parse_decimal<std::uint32_t>(v->substr(0, sp));
        const auto m = sp == std::string_view::npos ? std::nullopt : parse_decimal<std::uint32_t>(v->substr(sp + 1));
        if (!n || !m || (*n == 0 && *m == 0))
            return f.corrupt(K("since_success"), "must be 'FAILURES SOURCES', not both 0");
        t.failures_since_success = *n;
        t.sources_since_success = *m;
    }
    if (auto& lines = f.slots[K("source").index]; *version >= 3 && lines.line != 0) {
        for (const std::string_view v : f.sources) {
            // KEY FAILURES FIRST LAST LOCKED_UNTIL REASON BY SINCE: exactly
            // eight non-empty fields, one space between each.
            std::array<std::string_view, 8> part{};
            std::size_t n = 0;
            std::size_t from = 0;
            bool well_formed = true;
            while (well_formed && from <= v.size()) {
                const auto sp = v.find(' ', from);
                const std::size_t end = sp == std::string_view::npos ? v.size() : sp;
                if (end == from || n == part.size()) well_formed = false;
                else part[n++] = v.substr(from, end - from);
                from = end + 1;
            }
            auto bad = [&f](const std::string& why) { return f.corrupt(K("source"), why); };
            if (!well_formed || n != part.size())
                return bad("must be 'KEY FAILURES FIRST LAST LOCKED_UNTIL REASON BY SINCE'");
            SourceTally s;
            if (part[0].empty() || !clean_source(part[0], kMaxSourceLength))
                return bad("has a key longer than 128 bytes");
            if (part[0] != "-") s.source = std::string(part[0]);
            const auto fails = parse_decimal<std::uint32_t>(part[1]);
            const auto first_at = parse_decimal<std::int64_t>(part[2]);
            const auto last_at = parse_decimal<std::int64_t>(part[3]);
            if (!fails || !first_at || !last_at || *first_at > kMaxTime || *last_at > kMaxTime)
                return bad("has a bad failure count or time");
            s.failures = *fails;
            s.first_failure = *first_at;
            s.last_failure = *last_at;
            if (part[4] == "never") {
                s.locked_until = kLockedForever;
            } else {
                const auto until = parse_decimal<std::int64_t>(part[4]);
                if (!until || *until > kMaxTime) return bad("has a bad lock end");
                s.locked_until = *until;
            }
            if (part[5] == "failures")
                s.lock_reason = LockReason::failures;
            else if (part[5] == "admin")
                s.lock_reason = LockReason::admin;
            else if (part[5] != "-")
                return bad("has a lock reason that is not -, failures or admin");
            if ((s.lock_reason != LockReason::unknown) != (s.locked_until != 0))
                return bad("has a lock without its reason, or a reason without a lock");
            if (part[6] != "-") {
                if (s.lock_reason != LockReason::admin || !clean_source(part[6], kMaxLockedByLength))
                    return bad("names an administrator without an admin lock, or longer than 64 bytes");
                s.locked_by = std::string(part[6]);
            }
            if (part[7] != "yes" && part[7] != "no") return bad("has a SINCE that is not yes or no");
            s.since_success = part[7] == "yes";
            t.sources.push_back(std::move(s));
        }
        // Each key once: sorted views, not a comparison of every pair.
        std::array<std::string_view, kMaxSources> keys{};
        for (std::size_t i = 0; i < t.sources.size(); ++i) keys[i] = t.sources[i].source;
        const auto end = keys.begin() + static_cast<std::ptrdiff_t>(t.sources.size());
        std::sort(keys.begin(), end);
        if (std::adjacent_find(keys.begin(), end) != end) return f.corrupt(K("source"), "names a source twice");
        lines.taken = true;
    }
    if (auto& groups = f.slots[K("granted_group").index]; groups.line != 0) {
        if (f.groups.size() > kMaxGrantedGroups)
            return f.corrupt(K("granted_group"), "lines exceed " + std::to_string(kMaxGrantedGroups));
        for (const auto& g : f.groups) {
            if (!valid_group_name(g)) return f.corrupt(K("granted_group"), "is not a group name");
            rec.granted_groups.emplace_back(g);
        }
        groups.taken = true;
    }
    if (*version >= 3 && f.has(K("invitation"))) {
        auto v = f.take(K("invitation"));
        if (!v) return v.error();
        // NONCE CREATED EXPIRES TYPE ALGO DIGITS PERIOD REPLACE BY: nine
        // non-empty fields, one space between each.
        std::array<std::string_view, 9> part{};
        std::size_t n = 0;
        std::size_t from = 0;
        bool well_formed = true;
        while (well_formed && from <= v->size()) {
            const auto sp = v->find(' ', from);
            const std::size_t end = sp == std::string_view::npos ? v->size() : sp;
            if (end == from || n == part.size())
                well_formed = false;
            else
                part[n++] = v->substr(from, end - from);
            from = end + 1;
        }
        auto bad = [&f](const std::string& why) { return f.corrupt(K("invitation"), why); };
        if (!well_formed || n != part.size())
            return bad("must be 'NONCE CREATED EXPIRES TYPE ALGO DIGITS PERIOD REPLACE BY'");
        Invitation inv;
        const auto nonce = parse_decimal<std::uint64_t>(part[0]);
        if (!nonce || *nonce == 0) return bad("has a nonce that is not a number from 1");
        inv.nonce = *nonce;
        const auto created = parse_decimal<std::int64_t>(part[1]);
        const auto expires = parse_decimal<std::int64_t>(part[2]);
        if (!created || !expires || *created > kMaxTime || *expires > kMaxTime) return bad("has a bad time");
        inv.created = *created;
        inv.expires = *expires;
        const auto inv_type = parse_otp_type(part[3]);
        if (!inv_type || part[3] != otp_type_name(*inv_type)) return bad("has a type that is not totp or hotp");
        inv.params.type = *inv_type;
        const auto a = parse_algo(part[4]);
        if (!a || part[4] != algo_name(*a)) return bad("has an algorithm that is not SHA1, SHA256 or SHA512");
        inv.params.algo = *a;
        const auto digits = parse_decimal<unsigned>(part[5]);
        if (!digits || *digits < kMinDigits || *digits > kMaxDigits) return bad("has bad digits");
        inv.params.digits = *digits;
        const auto period = parse_decimal<unsigned>(part[6]);
        if (!period || *period < kMinPeriod || *period > kMaxPeriod) return bad("has a bad period");
        inv.params.period = *period;
        if (part[7] != "yes" && part[7] != "no") return bad("has a REPLACE that is not yes or no");
        inv.replace = part[7] == "yes";
        if (!clean_source(part[8], kMaxLockedByLength)) return bad("names an inviter longer than 64 bytes");
        if (part[8] != "-") inv.invited_by = std::string(part[8]);
        if (auto& groups = f.slots[K("invite_group").index]; groups.line != 0) {
            for (const auto& g : f.invite_groups) {
                if (!valid_group_name(g)) return f.corrupt(K("invite_group"), "is not a group name");
                inv.grant_groups.emplace_back(g);
            }
            groups.taken = true;
        }
        rec.invitation = std::move(inv);
    }
    // A known key this kind of record does not use (a counter in a TOTP record,
    // an invite_group without an invitation).
    for (std::size_t i = 0; i < kKeys.size(); ++i)
        if (f.slots[i].line != 0 && !f.slots[i].taken)
            return make_error(Errc::corrupt, "line " + std::to_string(f.slots[i].line) + ": unexpected key '" +
                                                 std::string(kKeys[i]) + "'");
    return rec;
}

}  // namespace authctl
