// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the code a user types at the prompt, through the whole
// login decision (authctl::attempt_code) over a real store. One TOTP user is
// enrolled once, with a fixed secret (RFC 6238's) and two recovery codes, so
// the seed corpus can hold the right answers; the clock is fixed; deny=0 so
// the user is never locked. Properties, for every input:
//   - success exactly when the input is one of the codes of the window
//     (typed in groups or not: normalize_code), or normalizes to a recovery
//     code not used yet; otherwise wrong_code;
//   - a code accepted once is refused when it is tried again;
//   - normalize_code and normalize_recovery_code agree with references
//     written here.
// After a success the user is removed and the enrollment stored again, so
// every input starts from the same state.
#include <ftw.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authctl/admin.hpp"
#include "authctl/login.hpp"
#include "authctl/otp.hpp"
#include "authctl/recovery.hpp"

namespace {

using namespace authctl;

constexpr std::int64_t kNow = 1700000010;  // step 56666667 at 30 s, 10 s into it
constexpr std::string_view kUser = "alice";
constexpr std::string_view kSecret = "12345678901234567890";  // RFC 6238's SHA1 key
// One authctl-shaped recovery code and one google-authenticator scratch code.
const std::vector<std::string> kRecoveryCodes = {"k7m2-q4xp-w3zr-tb5n", "31415926"};

struct State {
    std::string dir;
    std::optional<UserStore> store;
    Options opts;
    Enrollment enrollment;  // as stored before any attempt
    RecoverySet recovery;
    std::vector<std::string> window_codes;        // the codes accepted at kNow
    std::vector<std::string> recovery_canonical;  // kRecoveryCodes, canonical
};
State* g = nullptr;

[[noreturn]] void die(const std::string& why)
{
    std::fprintf(stderr, "fuzz_code: %s\n", why.c_str());
    std::exit(1);
}

void require(bool ok, const char* what, std::string_view input)
{
    if (ok) return;
    std::fprintf(stderr, "fuzz_code: property failed: %s (input %zu bytes)\n", what, input.size());
    __builtin_trap();
}

// What normalize_recovery_code promises, written out independently.
std::optional<std::string> reference_normalize(std::string_view input)
{
    std::string out;
    for (char c : input) {
        if (c == '-' || c == ' ') continue;
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return std::nullopt;
        out.push_back(c);
    }
    if (out.size() < 8 || out.size() > 32) return std::nullopt;
    return out;
}

// What normalize_code promises for 6 digits, written out independently:
// trimmed of spaces, digit groups joined by single spaces or by one '-'.
std::optional<std::string> reference_code(std::string_view input)
{
    while (!input.empty() && input.front() == ' ') input.remove_prefix(1);
    while (!input.empty() && input.back() == ' ') input.remove_suffix(1);
    std::string digits;
    int dashes = 0;
    char prev = '\0';
    for (char c : input) {
        const bool digit = c >= '0' && c <= '9';
        if (!digit) {
            if (c != ' ' && c != '-') return std::nullopt;
            if (!(prev >= '0' && prev <= '9')) return std::nullopt;  // first, or after a separator
            if (c == '-' && ++dashes > 1) return std::nullopt;
        } else {
            digits.push_back(c);
        }
        prev = c;
    }
    if (!(prev >= '0' && prev <= '9') || digits.size() != 6) return std::nullopt;
    return digits;
}

void store_baseline()
{
    // Removed first: storing the same key over itself keeps the higher replay
    // state (store_enrollment), which would carry the last input's step over.
    if (auto rm = remove_user(*g->store, kUser); !rm) die("cannot remove the user: " + rm.error().message());
    PendingEnrollment p;
    p.enrollment = g->enrollment.clone();
    p.recovery = g->recovery;
    if (auto st = store_enrollment(*g->store, kUser, std::move(p), true); !st)
        die("cannot store the enrollment: " + st.error().message());
}

void remove_dir()
{
    if (g == nullptr || g->dir.empty()) return;
    ::nftw(
        g->dir.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    if (::geteuid() != 0) die("needs root: the store accepts only root-owned files");
    g = new State;
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/authctl-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) die("mkdtemp failed in " + tmpl);  // root, 0700
    g->dir = tmpl;
    std::atexit(remove_dir);
    auto store = UserStore::open(g->dir);
    if (!store) die(store.error().message());
    g->store.emplace(std::move(*store));

    g->opts.lockout.deny = 0;  // never lock: every input is evaluated
    auto pending = prepare_enrollment(EnrollParams{}, 0, kNow);
    if (!pending) die(pending.error().message());
    pending->enrollment.secret = SecretBytes(reinterpret_cast<const std::uint8_t*>(kSecret.data()), kSecret.size());
    if (auto st = import_recovery_codes(pending->recovery, kRecoveryCodes); !st) die(st.error().message());
    g->enrollment = pending->enrollment.clone();
    g->recovery = pending->recovery;
    store_baseline();

    const Enrollment& e = g->enrollment;
    const auto range = totp_range(kNow, e.period, g->opts.window, e.last_step);
    if (!range) die("empty TOTP window");
    for (std::uint64_t c = range->first; c <= range->last; ++c) {
        auto v = hotp_value(e.secret, c, e.algo, e.digits);
        if (!v) die(v.error().message());
        g->window_codes.push_back(format_code(*v, e.digits));
    }
    for (const auto& c : kRecoveryCodes) g->recovery_canonical.push_back(*reference_normalize(c));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    const auto norm = normalize_recovery_code(input);
    const auto ref = reference_normalize(input);
    require(norm == ref, "normalize_recovery_code matches the reference", input);

    const auto code = reference_code(input);
    TypedCode typed;
    const bool took = normalize_code(input, 6, typed);
    require(took == code.has_value() && (!took || typed.view() == *code), "normalize_code matches the reference",
            input);
    bool is_otp = false;
    for (const auto& c : g->window_codes) is_otp = is_otp || (code && *code == c);
    bool is_recovery = false;
    for (const auto& c : g->recovery_canonical) is_recovery = is_recovery || (ref && *ref == c);

    const LoginContext ctx{kUser, false, "fuzz", kNow};
    auto r = attempt_code(*g->store, ctx, g->opts, input);
    if (!r) die("attempt_code failed: " + r.error().message());
    if (!is_otp && !is_recovery) {
        require(r->outcome == Outcome::wrong_code, "anything but a valid code is wrong_code", input);
        return 0;
    }
    require(r->outcome == Outcome::success, "a valid code is accepted", input);
    require(r->used_recovery == is_recovery, "used_recovery exactly for a recovery code", input);

    auto replay = attempt_code(*g->store, ctx, g->opts, input);
    if (!replay) die("attempt_code failed: " + replay.error().message());
    require(replay->outcome == Outcome::wrong_code, "a code is accepted only once", input);
    store_baseline();
    return 0;
}
