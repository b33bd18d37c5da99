// SPDX-License-Identifier: Apache-2.0
#include "authctl/otpauth_uri.hpp"

#include <charconv>
#include <map>

#include "authctl/base32.hpp"
#include "authctl/text.hpp"

namespace authctl {
namespace {

// Unreserved characters of RFC 3986; everything else is escaped.
constexpr std::string_view kUnreserved = "-._~";

Error bad(std::string detail)
{
    return make_error(Errc::invalid_argument, "otpauth URI: " + std::move(detail));
}

bool equal_nocase(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

Result<std::string> decode_text(std::string_view raw, const char* what)
{
    auto decoded = percent_decode(raw);
    if (!decoded) return bad(std::string("bad percent-escape in ") + what);
    if (decoded->size() > kMaxLabelPart) return bad(std::string(what) + " too long");
    if (has_control(*decoded) || !valid_utf8(*decoded))
        return bad(std::string(what) + " has control characters or invalid UTF-8");
    return std::move(*decoded);
}

template <typename T>
Result<T> parse_number(std::string_view s, const char* what, T min, T max)
{
    T v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < min || v > max)
        return bad(std::string(what) + " must be a number from " + std::to_string(min) + " to " + std::to_string(max));
    return v;
}

Status check_label_part(std::string_view s, const char* what)
{
    if (s.size() > kMaxLabelPart) return bad(std::string(what) + " too long");
    if (has_control(s) || !valid_utf8(s)) return bad(std::string(what) + " has control characters or invalid UTF-8");
    return Ok{};
}

}  // namespace

const char* otp_type_name(OtpType type) noexcept
{
    return type == OtpType::hotp ? "hotp" : "totp";
}

Result<OtpType> parse_otp_type(std::string_view text)
{
    if (equal_nocase(text, "totp")) return OtpType::totp;
    if (equal_nocase(text, "hotp")) return OtpType::hotp;
    return make_error(Errc::invalid_argument, "type must be totp or hotp");
}

Result<std::string> build_key_uri(const KeyUri& uri)
{
    if (uri.account.empty()) return bad("account is empty");
    if (auto st = check_label_part(uri.account, "account"); !st) return st.error();
    if (auto st = check_label_part(uri.issuer, "issuer"); !st) return st.error();
    if (uri.secret.size() < kMinSecretBytes || uri.secret.size() > kMaxSecretBytes)
        return bad("secret must be 10 to 128 bytes (at least 80 bits)");
    if (uri.digits < kMinDigits || uri.digits > kMaxDigits) return bad("digits must be 6, 7 or 8");
    if (uri.type == OtpType::totp && (uri.period < kMinPeriod || uri.period > kMaxPeriod))
        return bad("period must be 1 to 300");

    std::string out;
    out.reserve(kMaxUriLength + 4 * kMaxLabelPart);  // one buffer: the secret is never copied by a reallocation
    out += "otpauth://";
    out += otp_type_name(uri.type);
    out += '/';
    if (!uri.issuer.empty()) {
        out += percent_encode(uri.issuer, kUnreserved);
        out += ':';
    } else if (uri.account.find(':') != std::string::npos) {
        out += ':';  // an empty issuer, said so: else the account's "%3A" would be read as the separator
    }
    out += percent_encode(uri.account, kUnreserved);
    out += "?secret=";
    std::string secret = base32_encode(uri.secret);
    out += secret;
    wipe_string(secret);
    if (!uri.issuer.empty()) {
        out += "&issuer=";
        out += percent_encode(uri.issuer, kUnreserved);
    }
    out += "&algorithm=";
    out += algo_name(uri.algo);
    out += "&digits=";
    out += std::to_string(uri.digits);
    if (uri.type == OtpType::totp) {
        out += "&period=";
        out += std::to_string(uri.period);
    } else {
        out += "&counter=";
        out += std::to_string(uri.counter);
    }
    if (out.size() > kMaxUriLength) {  // escaped UTF-8 triples: long names can outgrow what parse_key_uri reads
        wipe_string(out);
        return bad("longer than " + std::to_string(kMaxUriLength) + " characters once escaped");
    }
    return out;
}

Result<KeyUri> parse_key_uri(std::string_view text)
{
    if (text.size() > kMaxUriLength) return bad("longer than " + std::to_string(kMaxUriLength) + " characters");
    constexpr std::string_view kScheme = "otpauth://";
    if (text.size() < kScheme.size() || !equal_nocase(text.substr(0, kScheme.size()), kScheme))
        return bad("does not start with otpauth://");
    text.remove_prefix(kScheme.size());

    const auto slash = text.find('/');
    if (slash == std::string_view::npos) return bad("no label");
    KeyUri out;
    auto type = parse_otp_type(text.substr(0, slash));
    if (!type) return bad("type must be totp or hotp");
    out.type = *type;
    text.remove_prefix(slash + 1);

    const auto qmark = text.find('?');
    if (qmark == std::string_view::npos) return bad("no parameters");
    // Split the raw label before decoding: a literal ':' separates the issuer
    // (an issuer's own colons are escaped, as build_key_uri writes them);
    // without one, the first "%3A" does, as some tools write it.
    const std::string_view raw_label = text.substr(0, qmark);
    std::string_view raw_issuer;
    std::string_view raw_account = raw_label;
    if (const auto colon = raw_label.find(':'); colon != std::string_view::npos) {
        raw_issuer = raw_label.substr(0, colon);
        raw_account = raw_label.substr(colon + 1);
    } else {
        for (std::size_t i = 0; i + 3 <= raw_label.size(); ++i) {
            if (raw_label[i] == '%' && raw_label[i + 1] == '3' &&
                (raw_label[i + 2] == 'A' || raw_label[i + 2] == 'a')) {
                raw_issuer = raw_label.substr(0, i);
                raw_account = raw_label.substr(i + 3);
                break;
            }
        }
    }
    auto issuer = decode_text(raw_issuer, "label");
    if (!issuer) return issuer.error();
    auto account = decode_text(raw_account, "label");
    if (!account) return account.error();
    out.issuer = std::move(*issuer);
    out.account = std::string(trim(*account));
    if (out.account.empty()) return bad("account is empty");

    // Parameter values include the secret: wipe them all on every way out.
    struct Params {
        std::map<std::string, std::string, std::less<>> map;
        ~Params()
        {
            for (auto& kv : map) wipe_string(kv.second);
        }
    } holder;
    auto& params = holder.map;
    std::string_view query = text.substr(qmark + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        const std::string key(pair.substr(0, eq));
        if (key.empty()) return bad("empty parameter name");
        auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!value) return bad("bad percent-escape in parameter " + key);
        if (!params.try_emplace(key, std::move(*value)).second) {  // try_emplace leaves *value alone on failure
            wipe_string(*value);
            return bad("parameter " + key + " repeated");
        }
    }

    const auto secret = params.find("secret");
    if (secret == params.end() || secret->second.empty()) return bad("no secret");
    auto key = base32_decode(secret->second);
    wipe_string(secret->second);
    if (!key) return bad("secret is not valid base32");
    if (key->size() < kMinSecretBytes || key->size() > kMaxSecretBytes)
        return bad("secret must be 10 to 128 bytes (at least 80 bits)");
    out.secret = std::move(*key);

    if (const auto it = params.find("issuer"); it != params.end()) {
        if (auto st = check_label_part(it->second, "issuer"); !st) return st.error();
        if (!out.issuer.empty() && out.issuer != it->second) return bad("issuer parameter differs from the label");
        out.issuer = it->second;
    }
    if (const auto it = params.find("algorithm"); it != params.end()) {
        auto algo = parse_algo(it->second);
        if (!algo) return bad("algorithm must be SHA1, SHA256 or SHA512");
        out.algo = *algo;
    }
    if (const auto it = params.find("digits"); it != params.end()) {
        auto d = parse_number<unsigned>(it->second, "digits", kMinDigits, kMaxDigits);
        if (!d) return d.error();
        out.digits = *d;
    }
    if (const auto it = params.find("period"); it != params.end()) {
        auto p = parse_number<unsigned>(it->second, "period", kMinPeriod, kMaxPeriod);
        if (!p) return p.error();
        out.period = *p;
    }
    const auto counter = params.find("counter");
    if (out.type == OtpType::hotp) {
        if (counter == params.end()) return bad("hotp URI without counter");
        auto c = parse_number<std::uint64_t>(counter->second, "counter", 0, UINT64_MAX);
        if (!c) return c.error();
        out.counter = *c;
    }
    return out;
}

}  // namespace authctl
