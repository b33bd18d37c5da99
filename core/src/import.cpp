// SPDX-License-Identifier: Apache-2.0
#include "authctl/import.hpp"

#include <algorithm>
#include <charconv>

#include "authctl/base32.hpp"
#include "authctl/secret.hpp"
#include "authctl/text.hpp"

namespace authctl {
namespace {

template <typename T>
std::optional<T> number(std::string_view s)
{
    T v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::vector<std::string_view> words(std::string_view line)
{
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

Error bad_line(std::size_t n, const std::string& why)
{
    return make_error(Errc::invalid_argument, "line " + std::to_string(n) + ": " + why);
}

std::optional<std::vector<std::uint8_t>> hex_bytes(std::string_view s)
{
    if (s.empty() || s.size() % 2 != 0) return std::nullopt;
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < s.size(); i += 2) {
        auto v = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        const int hi = v(s[i]), lo = v(s[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return out;
}

}  // namespace

Result<GoogleAuthenticatorFile> parse_google_authenticator(std::string_view text)
{
    if (text.size() > kMaxImportFileBytes) return make_error(Errc::invalid_argument, "file larger than 64 KiB");
    if (has_control(text.substr(0, text.find('\n'))) || !valid_utf8(text))
        return make_error(Errc::invalid_argument, "not a google-authenticator file");
    GoogleAuthenticatorFile f;
    bool saw_totp = false, saw_hotp = false;
    std::size_t n = 0;
    while (!text.empty()) {
        ++n;
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (n == 1) {
            auto key = base32_decode(line);
            if (!key || key->size() < kMinSecretBytes || key->size() > kMaxSecretBytes)
                return bad_line(n, "the first line is not a base32 secret of 10 to 128 bytes");
            f.secret = std::move(*key);
            continue;
        }
        if (line.empty()) continue;
        if (line.front() == '"') {
            const auto w = words(line.substr(1));
            if (w.empty()) continue;
            const std::string_view opt = w[0];
            if (opt == "TOTP_AUTH") {
                saw_totp = true;
            } else if (opt == "HOTP_COUNTER") {
                auto c = w.size() == 2 ? number<std::uint64_t>(w[1]) : std::nullopt;
                if (!c) return bad_line(n, "bad HOTP_COUNTER");
                f.counter = *c;
                saw_hotp = true;
            } else if (opt == "STEP_SIZE") {
                auto s = w.size() == 2 ? number<unsigned>(w[1]) : std::nullopt;
                if (!s || *s < kMinPeriod || *s > kMaxPeriod) return bad_line(n, "STEP_SIZE must be 1 to 300");
                f.step = *s;
            } else if (opt == "WINDOW_SIZE") {
                // pam_google_authenticator accepts 1 to 100.
                auto s = w.size() == 2 ? number<unsigned>(w[1]) : std::nullopt;
                if (!s || *s < 1 || *s > 100) return bad_line(n, "WINDOW_SIZE must be 1 to 100");
                f.window = *s;
            } else if (opt == "DISALLOW_REUSE") {
                f.disallow_reuse = true;
                for (std::size_t i = 1; i < w.size(); ++i) {
                    auto s = number<std::uint64_t>(w[i]);
                    if (!s) return bad_line(n, "bad DISALLOW_REUSE entry");
                    if (!f.last_step || *s > *f.last_step) f.last_step = *s;
                }
            } else if (opt == "RATE_LIMIT") {
                // "RATE_LIMIT attempts interval [login times...]"
                auto n_att = w.size() >= 3 ? number<unsigned>(w[1]) : std::nullopt;
                auto secs = w.size() >= 3 ? number<unsigned>(w[2]) : std::nullopt;
                if (!n_att || !secs || *n_att < 1 || *n_att > 100 || *secs < 1 || *secs > 3600)
                    return bad_line(n, "RATE_LIMIT must be 1-100 attempts in 1-3600 seconds");
                f.rate_limit_attempts = *n_att;
                f.rate_limit_interval = *secs;
            } else if (opt == "TIME_SKEW") {
                auto sk = w.size() == 2 ? number<long>(w[1]) : std::nullopt;
                if (!sk || *sk < -100000 || *sk > 100000) return bad_line(n, "bad TIME_SKEW");
                f.time_skew = *sk;
            } else if (opt == "RESETTING_TIME_SKEW") {
                // The module's scratch state while it learns a skew: nothing to carry.
            } else {
                return bad_line(n, "unknown option '" + std::string(opt.substr(0, 40)) + "'");
            }
            continue;
        }
        if (line.size() != 8 || !is_code_syntax(line, 8)) return bad_line(n, "not an 8-digit scratch code");
        if (f.scratch_codes.size() >= kMaxRecoveryCodes) return bad_line(n, "too many scratch codes");
        f.scratch_codes.emplace_back(line);
    }
    if (n == 0) return make_error(Errc::invalid_argument, "empty file");
    if (saw_totp && saw_hotp) return make_error(Errc::invalid_argument, "both TOTP_AUTH and HOTP_COUNTER");
    f.type = saw_hotp ? OtpType::hotp : OtpType::totp;
    return f;
}

Result<PendingEnrollment> enrollment_from_google_authenticator(const GoogleAuthenticatorFile& f, std::int64_t now)
{
    if (now <= 0) return make_error(Errc::invalid_argument, "the clock reads before 1970");
    PendingEnrollment p;
    Enrollment& e = p.enrollment;
    e.type = f.type;
    e.algo = HashAlgo::sha1;
    e.digits = 6;
    e.period = f.step;
    e.counter = f.counter;
    e.secret = f.secret.clone();
    e.created = now;
    e.confirmed = true;
    if (f.type == OtpType::totp) e.last_step = f.last_step;
    if (auto st = import_recovery_codes(p.recovery, f.scratch_codes); !st) return st.error();
    return p;
}

std::vector<std::string> google_authenticator_not_carried(const GoogleAuthenticatorFile& f, const Options& opts)
{
    std::vector<std::string> out;
    const bool totp = f.type == OtpType::totp;
    // authctl accepts 2*window+1 TOTP codes (window steps either side of now)
    // and hotp_window+1 HOTP counters (the stored one and those ahead).
    const unsigned ours = totp ? 2 * opts.window + 1 : opts.hotp_window + 1;
    if (f.window && *f.window != ours) {
        out.push_back("WINDOW_SIZE " + std::to_string(*f.window) + ": not carried over; authctl accepts " +
                      std::to_string(ours) +
                      (totp ? " codes (window=" + std::to_string(opts.window) + ": steps either side of now)"
                            : " counters (hotp_window=" + std::to_string(opts.hotp_window) + " ahead)") +
                      " for every user, set in authctl.conf");
    }
    if (f.rate_limit_attempts) {
        out.push_back("RATE_LIMIT " + std::to_string(*f.rate_limit_attempts) + " " +
                      std::to_string(f.rate_limit_interval) +
                      ": not carried over; authctl counts failures instead of limiting attempts: deny=" +
                      std::to_string(opts.lockout.deny) + " failures within fail_interval=" +
                      std::to_string(opts.lockout.fail_interval) + " s lock the account (authctl.conf)");
    }
    if (f.time_skew && *f.time_skew != 0 && totp) {
        const long skew = *f.time_skew;
        const unsigned long off = static_cast<unsigned long>(skew < 0 ? -skew : skew);
        out.push_back("TIME_SKEW " + std::to_string(skew) +
                      ": not carried over; authctl keeps no per-user clock offset: this phone's clock was " +
                      std::to_string(off) + " step(s) off" +
                      (off > opts.window ? ", more than window=" + std::to_string(opts.window) +
                                               " allows: its codes will be refused until its clock is set right"
                                         : ", within window=" + std::to_string(opts.window)));
    }
    return out;
}

ImportAction decide_import(const std::optional<UserRecord>& existing, const Enrollment& incoming, bool force) noexcept
{
    if (!existing || !existing->enrollment) return ImportAction::import;
    const Enrollment& e = *existing->enrollment;
    if (e.type == incoming.type && equal_ct(e.secret.view(), incoming.secret.view()))
        return ImportAction::already_imported;
    return force ? ImportAction::replace : ImportAction::conflict;
}

Result<OathFile> parse_oath_usersfile(std::string_view text, std::int64_t now)
{
    if (now <= 0) return make_error(Errc::invalid_argument, "the clock reads before 1970");
    if (text.size() > kMaxImportFileBytes * 16) return make_error(Errc::invalid_argument, "file larger than 1 MiB");
    OathFile out;
    std::size_t n = 0;
    while (!text.empty()) {
        ++n;
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const auto w = words(line);
        if (w.empty() || w[0].front() == '#') continue;
        if (w.size() < 4) return bad_line(n, "expected TYPE USER PIN SECRET");
        const std::string user(w[1]);
        const std::string where = "line " + std::to_string(n) + ": " + user + ": ";
        // TYPE: HOTP | HOTP/E[/D] | HOTP/T<step>[/D]
        std::string_view type = w[0];
        Enrollment e;
        e.algo = HashAlgo::sha1;
        e.digits = 6;
        if (type.substr(0, 4) != "HOTP") {
            out.skipped.push_back(where + "unknown token type '" + std::string(type.substr(0, 20)) + "'");
            continue;
        }
        type.remove_prefix(4);
        e.type = OtpType::hotp;
        bool ok = true;
        if (!type.empty()) {
            if (type.front() != '/') ok = false;
            type.remove_prefix(ok ? 1 : 0);
            const auto slash = type.find('/');
            const std::string_view mode = type.substr(0, slash);
            if (mode == "E") {
                e.type = OtpType::hotp;
            } else if (!mode.empty() && mode.front() == 'T') {
                auto step = number<unsigned>(mode.substr(1));
                if (!step || *step < kMinPeriod || *step > kMaxPeriod) ok = false;
                e.type = OtpType::totp;
                e.period = step.value_or(30);
            } else {
                ok = false;
            }
            if (ok && slash != std::string_view::npos) {
                auto d = number<unsigned>(type.substr(slash + 1));
                if (!d || *d < kMinDigits || *d > kMaxDigits) ok = false;
                e.digits = d.value_or(6);
            }
        }
        if (!ok) {
            out.skipped.push_back(where + "unsupported token type '" + std::string(w[0].substr(0, 20)) + "'");
            continue;
        }
        if (w[2] != "-" && w[2] != "+") {
            out.skipped.push_back(where + "has a PIN; authctl does not support PINs");
            continue;
        }
        auto key = hex_bytes(w[3]);
        if (!key || key->size() > kMaxSecretBytes) return bad_line(n, "the secret is not hex");
        e.secret = SecretBytes(key->data(), key->size());
        wipe_bytes(key->data(), key->size());
        if (e.secret.size() < kMinSecretBytes) {
            out.skipped.push_back(where + "the secret is " + std::to_string(e.secret.size()) +
                                  " bytes, under the 10 (80 bits) authctl requires: enroll this user anew");
            continue;
        }
        if (w.size() >= 5) {
            auto c = number<std::uint64_t>(w[4]);
            if (!c) return bad_line(n, "bad counter");
            if (e.type == OtpType::hotp)
                e.counter = *c;
            else if (*c > 0)
                e.last_step = *c;  // pam_oath keeps the last used time step here
        }
        e.created = now;
        e.confirmed = true;
        OathEntry entry;
        entry.line = n;
        entry.user = user;
        entry.pending.enrollment = std::move(e);
        out.entries.push_back(std::move(entry));
    }
    return out;
}

}  // namespace authctl

namespace authctl {
namespace {

bool faillock_space(char c) noexcept
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view faillock_trim(std::string_view s) noexcept
{
    while (!s.empty() && faillock_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && faillock_space(s.back())) s.remove_suffix(1);
    return s;
}

struct FaillockLine {
    std::size_t line = 0;
    std::string key;
    std::string value;  // "" for a bare key
};

// faillock.conf's lines as pam_faillock's read_config_file splits them.
Result<std::vector<FaillockLine>> faillock_lines(std::string_view text, std::string_view origin)
{
    std::vector<FaillockLine> out;
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        const std::string where = std::string(origin) + ":" + std::to_string(number) + ": ";
        if (line.size() > kFaillockMaxLine)
            return make_error(Errc::invalid_argument,
                              where + "line longer than " + std::to_string(kFaillockMaxLine) + " bytes");
        if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = faillock_trim(line);
        for (const char c : line)
            if ((static_cast<unsigned char>(c) < 0x20 && !faillock_space(c)) || c == 0x7f)
                return make_error(Errc::invalid_argument, where + "control character in line");
        if (line.empty()) continue;
        FaillockLine l;
        l.line = number;
        std::size_t i = 0;
        while (i < line.size() && !faillock_space(line[i]) && line[i] != '=') ++i;
        l.key = std::string(line.substr(0, i));
        bool eq = i < line.size() && line[i] == '=';
        if (i < line.size()) ++i;
        // The value: blanks and (when the key did not end with it) one '=' skipped.
        while (i < line.size()) {
            if (line[i] == '=' && !eq)
                eq = true;
            else if (!faillock_space(line[i]))
                break;
            ++i;
        }
        l.value = std::string(line.substr(i));
        out.push_back(std::move(l));
    }
    return out;
}

bool all_digits(std::string_view s) noexcept
{
    return !s.empty() && s.size() <= 10 && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::uint64_t digits_value(std::string_view s) noexcept
{
    std::uint64_t v = 0;
    for (const char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
    return v;
}

// The value of a number or `never` setting, for comparing two spellings;
// nullopt when it is neither.
std::optional<std::uint64_t> number_or_never(std::string_view v)
{
    if (v == "never") return 0;
    if (!all_digits(v)) return std::nullopt;
    return digits_value(v);
}

// What a faillock setting becomes in authctl.conf.
struct Carry {
    bool carried = false;
    std::string value;  // "" for a flag
    std::string note;
};

Result<Carry> carry_faillock(const FaillockLine& l, const std::string& where)
{
    const auto bad = [&where, &l](const std::string& why) {
        return make_error(Errc::invalid_argument, where + l.key + ": " + why);
    };
    Carry c;
    for (const char* flag : {"audit", "silent", "no_log_info", "local_users_only", "nodelay", "even_deny_root"}) {
        if (l.key != flag) continue;
        c.carried = true;
        if (!l.value.empty()) c.note = "faillock ignores the value '" + l.value + "' and turns " + l.key + " on";
        return c;
    }
    if (l.key == "dir") {
        c.note = "faillock's tally directory, not authctl's state directory; authctl's dir is left as it is";
        return c;
    }
    if (l.key == "uid_based_files") {
        c.note = "how faillock names its tally files; authctl keeps its own records";
        return c;
    }
    if (l.key == "deny") {
        if (!all_digits(l.value) || digits_value(l.value) > 65535)
            return bad("'" + l.value + "' is not a number of failures (faillock ignores it too)");
        const std::uint64_t n = digits_value(l.value);
        c.carried = true;
        c.value = std::to_string(std::min<std::uint64_t>(n, kMaxDeny));
        if (n > kMaxDeny) c.note = "carried as deny = " + c.value + ", authctl's ceiling (NIST SP 800-63B)";
        return c;
    }
    if (l.key == "fail_interval" || l.key == "unlock_time" || l.key == "root_unlock_time") {
        const bool never_ok = l.key != "fail_interval";
        if (never_ok && l.value == "never") {
            c.carried = true;
            c.value = "never";
            return c;
        }
        if (!all_digits(l.value) || digits_value(l.value) > kFaillockMaxInterval)
            return bad("'" + l.value + "' is not a number of seconds from 0 to " +
                       std::to_string(kFaillockMaxInterval) + (never_ok ? " or 'never'" : "") +
                       " (faillock ignores it and keeps its default)");
        const std::uint64_t n = digits_value(l.value);
        if (l.key == "fail_interval" && n == 0) {
            c.note =
                "with 0 faillock counts no failure, so nothing locks; authctl's fail_interval is at least 1 "
                "(set deny = 0 for no lockout)";
            return c;
        }
        c.carried = true;
        c.value = std::to_string(n);
        return c;
    }
    if (l.key == "admin_group") {
        Options scratch;
        const std::string_view v = l.value;
        if (auto st = apply_option(scratch, l.key, &v); !st) return bad("'" + l.value + "' is not a group name");
        c.carried = true;
        c.value = l.value;
        return c;
    }
    c.note = "not a faillock option; faillock ignores it too";
    return c;
}

// One line of authctl.conf as its parser reads it: the key ("" for none) and value.
struct ConfLine {
    std::string text;  // the physical line, without its newline
    std::string key;
    std::optional<std::string> value;
};

ConfLine conf_line(std::string_view physical)
{
    ConfLine c{std::string(physical), {}, std::nullopt};
    std::string_view line = physical;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = trim(line);
    if (line.empty()) return c;
    if (const auto eq = line.find('='); eq == std::string_view::npos) {
        c.key = std::string(line);
    } else {
        c.key = std::string(trim(line.substr(0, eq)));
        c.value = std::string(trim(line.substr(eq + 1)));
    }
    return c;
}

bool same_setting(const ConfLine& existing, const std::string& key, const std::string& value)
{
    if (value.empty()) return !existing.value.has_value();
    if (!existing.value) return false;
    if (key == "admin_group") return *existing.value == value;
    const auto a = number_or_never(*existing.value), b = number_or_never(value);
    return a && b && *a == *b;
}

}  // namespace

Result<FaillockImport> import_faillock(std::string_view faillock_text, std::string_view faillock_origin,
                                       std::string_view authctl_text, std::string_view authctl_origin)
{
    auto lines = faillock_lines(faillock_text, faillock_origin);
    if (!lines) return lines.error();

    std::vector<ConfLine> conf;
    const bool ends_with_newline = authctl_text.empty() || authctl_text.back() == '\n';
    for (std::string_view rest = authctl_text; !rest.empty();) {
        const auto nl = rest.find('\n');
        conf.push_back(conf_line(rest.substr(0, nl)));
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    }

    FaillockImport out;
    std::vector<std::string> appended;
    for (std::size_t i = 0; i < lines->size(); ++i) {
        const FaillockLine& l = (*lines)[i];
        const std::string where = std::string(faillock_origin) + ":" + std::to_string(l.line) + ": ";
        FaillockSetting s;
        s.line = l.line;
        s.text = l.value.empty() ? l.key : l.key + " = " + l.value;
        auto carry = carry_faillock(l, where);
        if (!carry) return carry.error();
        // faillock applies its lines in order: a key set again later is the one in force.
        std::size_t later = 0;
        for (std::size_t j = i + 1; j < lines->size(); ++j)
            if ((*lines)[j].key == l.key) later = (*lines)[j].line;
        if (later != 0) {
            s.note = "set again on line " + std::to_string(later) + "; faillock uses the last";
        } else if (!carry->carried) {
            s.note = carry->note;
        } else {
            const std::string written = carry->value.empty() ? l.key : l.key + " = " + carry->value;
            s.note = carry->note;
            ConfLine* existing = nullptr;
            std::size_t existing_line = 0;
            for (std::size_t j = 0; j < conf.size(); ++j)
                if (conf[j].key == l.key) {
                    existing = &conf[j];
                    existing_line = j + 1;
                }
            const std::string at = std::string(authctl_origin) + " line " + std::to_string(existing_line);
            if (existing != nullptr && same_setting(*existing, l.key, carry->value)) {
                s.outcome = CarryOutcome::same;
                s.note = at;
            } else if (existing != nullptr) {
                s.outcome = CarryOutcome::carried;
                s.note = (s.note.empty() ? "" : s.note + "; ") + "replaces " + at + " '" +
                         std::string(trim(existing->text)) + "'";
                *existing = conf_line(written);
            } else {
                s.outcome = CarryOutcome::carried;
                appended.push_back(written);
            }
        }
        out.settings.push_back(std::move(s));
    }

    std::string text;
    for (std::size_t j = 0; j < conf.size(); ++j) {
        text += conf[j].text;
        if (j + 1 < conf.size() || ends_with_newline) text += '\n';
    }
    if (!appended.empty()) {
        if (!text.empty() && text.back() != '\n') text += '\n';
        if (!text.empty()) text += '\n';
        text += "# Carried over from " + sanitize_source(faillock_origin) + " by authctl import faillock\n";
        for (const auto& a : appended) text += a + "\n";
    }
    if (text.size() > kMaxConfigBytes)
        return make_error(Errc::invalid_argument, std::string(authctl_origin) + ": would grow over " +
                                                      std::to_string(kMaxConfigBytes) + " bytes");
    const ConfigCheck check = check_config_text(text, authctl_origin);
    if (!check.problems.empty())
        return make_error(Errc::invalid_argument,
                          check.problems.front().message + " (fix " + std::string(authctl_origin) + " first)");
    out.changed = text != authctl_text;
    out.config = std::move(text);
    return out;
}

}  // namespace authctl
