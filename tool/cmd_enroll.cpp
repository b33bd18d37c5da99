// SPDX-License-Identifier: Apache-2.0
// authctl enroll | show | recovery
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "authctl/admin.hpp"
#include "authctl/base32.hpp"
#include "authctl/otpauth_uri.hpp"
#include "authctl/username.hpp"
#include "commands.hpp"
#include "group_edit.hpp"
#include "qr.hpp"

namespace authctl::cli {
namespace {

std::string default_issuer()
{
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "authctl";
    return host;
}

// --qr utf8|ansi|none|png:FILE|svg:FILE; default utf8 on a terminal, none
// otherwise. Drawn on `say`, where a file written is also named (stderr when
// stdout is JSON, which must stay the JSON alone).
void show_qr(const std::string& mode, const std::string& uri, std::ostream& say = std::cout)
{
    std::string m = mode;
    if (m.empty()) m = ::isatty(STDOUT_FILENO) != 0 ? "utf8" : "none";
    if (m == "none") return;
    const QrMatrix qr = encode_qr(uri);
    if (m == "utf8") {
        say << render_utf8(qr);
    } else if (m == "ansi") {
        say << render_ansi(qr);
    } else if (m.rfind("png:", 0) == 0) {
        write_png(qr, m.substr(4));
        say << "QR code written to " << m.substr(4) << " (mode 0600: it holds the secret; delete it once scanned)\n";
    } else if (m.rfind("svg:", 0) == 0) {
        write_new_file(m.substr(4), render_svg(qr));
        say << "QR code written to " << m.substr(4) << " (mode 0600: it holds the secret; delete it once scanned)\n";
    }
}

void check_qr_mode(const std::string& m)
{
    if (m.empty() || m == "utf8" || m == "ansi" || m == "none") return;
    if ((m.rfind("png:", 0) == 0 || m.rfind("svg:", 0) == 0) && m.size() > 4) return;
    fail(kExitUsage, "--qr: must be utf8, ansi, none, png:FILE or svg:FILE, not '" + m + "'");
}

std::string describe(const Enrollment& e)
{
    std::string d = e.type == OtpType::totp ? "TOTP" : "HOTP";
    d += std::string(", ") + algo_name(e.algo) + ", " + std::to_string(e.digits) + " digits";
    if (e.type == OtpType::totp) d += ", " + std::to_string(e.period) + " s";
    return d;
}

nlohmann::json enrollment_json(const std::string& user, const std::string& uri, const Enrollment& e,
                               const std::vector<SecretBytes>* codes)
{
    std::string secret = base32_encode(e.secret);
    nlohmann::json j = {{"user", user},
                        {"uri", uri},
                        {"secret", secret},
                        {"type", otp_type_name(e.type)},
                        {"algorithm", algo_name(e.algo)},
                        {"digits", e.digits},
                        {"confirmed", e.confirmed}};
    wipe_string(secret);
    if (e.type == OtpType::totp)
        j["period"] = e.period;
    else
        j["counter"] = e.counter;
    if (codes != nullptr) {
        j["recovery_codes"] = nlohmann::json::array();
        for (const auto& c : *codes) j["recovery_codes"].push_back(std::string(c.view()));
    }
    return j;
}

void print_recovery(const std::vector<SecretBytes>& codes)
{
    if (codes.empty()) return;
    std::cout << "\nRecovery codes (each works once; this is the only time they are shown):\n";
    for (const auto& c : codes) std::cout << "  " << c.view() << "\n";
}

struct EnrollArgs {
    Common common;
    std::string user;
    bool totp = false, hotp = false;
    std::string algorithm = "sha1";
    unsigned digits = 6;
    unsigned period = 30;
    std::string issuer;
    std::string qr;
    std::size_t recovery = kDefaultRecoveryCodes;
    bool confirm = false, force = false;
    std::vector<std::string> grant_groups;
};

void run_enroll(const EnrollArgs& a)
{
    check_qr_mode(a.qr);
    if (!a.grant_groups.empty() && !a.confirm) fail(kExitUsage, "--grant-group requires --confirm");
    for (const auto& g : a.grant_groups)
        if (!valid_group_name(g)) fail(kExitUsage, "--grant-group: '" + g + "' is not a group name");
    auto algo = parse_algo(a.algorithm);
    if (!algo) fail(kExitUsage, "--algorithm: must be sha1, sha256 or sha512");
    EnrollParams params;
    params.type = a.hotp ? OtpType::hotp : OtpType::totp;
    params.algo = *algo;
    params.digits = a.digits;
    params.period = a.period;

    const Options opts = load_options(a.common);
    // Group membership is this host's, the fleet record every host's: a grant
    // recorded there would be undone by `remove` on hosts that never made it.
    if (!a.grant_groups.empty() && use_fleet(a.common, opts))
        fail(kExitUsage,
             "--grant-group is for --store file: in fleet mode group membership is each server's own "
             "(grant it with your configuration management)");
    const SystemUser user = require_user(a.user);
    for (const auto& g : a.grant_groups)
        if (!group_exists(g)) fail(kExitFailed, "no such group '" + g + "'");
    const StoreHandle store = open_store(a.common, opts, true);
    if (auto rec = store->load(user.name); !rec) {
        fail(rec.error());
    } else if (*rec && (*rec)->enrollment && !a.force) {
        fail(kExitFailed, "user '" + user.name + "' is already enrolled (use --force to replace the enrollment)");
    }
    if (!widely_supported(params))
        std::cerr << "authctl: warning: Google Authenticator, Microsoft Authenticator and Authy ignore "
                     "algorithm/digits/period and would show wrong codes; SHA1, 6 digits, 30 s works everywhere\n";

    auto pending = prepare_enrollment(params, a.recovery, store.now());
    if (!pending) fail(pending.error());
    const std::string issuer = a.issuer.empty() ? default_issuer() : a.issuer;
    auto uri = enrollment_uri(pending->enrollment, issuer, user.name);
    if (!uri) fail(uri.error());

    // What the app needs comes before any question, whatever the format:
    // with --json, on stderr (stdout holds only the JSON, printed at the end).
    std::ostream& say = a.common.json ? std::cerr : std::cout;
    if (!a.common.json || a.confirm) {
        say << "Enrollment for " << user.name << " (" << describe(pending->enrollment) << "):\n" << *uri << "\n";
    }
    show_qr(a.common.json && a.qr.empty() ? "none" : a.qr, *uri, say);
    if (a.confirm) {
        bool ok = false;
        for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
            std::string code = read_code("Code shown by the app: ");
            // The store's clock: the step recorded here is the one logins compare against.
            auto r = confirm_enrollment(*pending, code, opts, store.now());
            wipe_string(code);
            if (!r) fail(r.error());
            ok = *r;
            if (!ok) std::cerr << "authctl: that code does not match\n";
        }
        if (!ok) fail(kExitFailed, "no matching code; nothing was stored for '" + user.name + "'");
    }
    std::vector<std::string> granted, already;
    // Takes back what this run granted before it failed; says what could not
    // be (no record will name it, so `remove` could not undo it later).
    const auto undo_granted = [&](std::string why) {
        for (const auto& undo : granted)
            if (auto st = remove_from_group(user.name, undo); !st)
                why += "; and " + user.name + " is still in " + undo + ", which it could not take back: " +
                       st.error().detail;
        return why;
    };
    for (const auto& g : a.grant_groups) {
        if (std::find(granted.begin(), granted.end(), g) != granted.end() ||
            std::find(already.begin(), already.end(), g) != already.end())
            continue;
        if (is_member(user.name, g)) {  // not ours to take away later: not recorded
            already.push_back(g);
            continue;
        }
        if (auto st = add_to_group(user.name, g); !st) {
            std::string why = st.error().detail;
            if (!why.empty() && why.back() == '.') why.pop_back();
            fail(kExitFailed, undo_granted(why + " (nothing was stored for '" + user.name + "')"));
        }
        granted.push_back(g);
    }
    const std::vector<SecretBytes> codes = std::move(pending->recovery_codes);
    const Enrollment shown = pending->enrollment.clone();
    pending->account = account_binding(store, user);
    if (auto st = store_enrollment(*store, user.name, std::move(*pending), a.force, granted); !st)
        fail(Error{st.error().code, undo_granted(st.error().detail)});
    if (a.common.json) {
        nlohmann::json j = enrollment_json(user.name, *uri, shown, &codes);
        j["granted_groups"] = granted;
        j["groups_already_member"] = already;
        std::cout << j.dump(2) << "\n";
        return;
    }
    std::cout << (a.confirm ? "Confirmed and stored. The code just used cannot log in again: the first login "
                              "takes the app's next code."
                            : "Stored; confirmed at the first successful login.")
              << "\n";
    for (const auto& g : granted) std::cout << "Added " << user.name << " to group " << g << ".\n";
    for (const auto& g : already)
        std::cout << user.name << " was already in " << g
                  << ": left as it is; 'authctl remove' will not take it away.\n";
    print_recovery(codes);
}

struct ShowArgs {
    Common common;
    std::string user;
    std::string qr;
    std::string issuer;
};

void run_show(const ShowArgs& a)
{
    check_qr_mode(a.qr);
    const Options opts = load_options(a.common);
    const SystemUser user = require_user(a.user);
    const StoreHandle store = open_store(a.common, opts, false);
    auto rec = store->load(user.name);
    if (!rec) fail(rec.error());
    if (!*rec || !(*rec)->enrollment) fail(kExitFailed, "user '" + user.name + "' is not enrolled");
    const Enrollment& e = *(*rec)->enrollment;
    if (e.secret.size() < kMinSecretBytes)  // a record from before the limit: no new device gets that key
        fail(kExitFailed, user.name + ": " + weak_secret_text(e.secret.size()) + "; its URI is not shown again");
    auto uri = enrollment_uri(e, a.issuer.empty() ? default_issuer() : a.issuer, user.name);
    if (!uri) fail(uri.error());
    if (a.common.json) {
        std::cout << enrollment_json(user.name, *uri, e, nullptr).dump(2) << "\n";
        if (!a.qr.empty()) show_qr(a.qr, *uri, std::cerr);
        return;
    }
    std::cout << user.name << " (" << describe(e) << (e.confirmed ? "" : ", not yet confirmed") << "):\n"
              << *uri << "\n";
    show_qr(a.qr, *uri);
}

struct RecoveryArgs {
    Common common;
    std::string user;
    std::size_t count = kDefaultRecoveryCodes;
};

void run_recovery(const RecoveryArgs& a)
{
    const Options opts = load_options(a.common);
    const SystemUser user = require_user(a.user);
    const StoreHandle store = open_store(a.common, opts, false);
    auto codes = regenerate_recovery(*store, user.name, a.count);
    if (!codes) fail(codes.error());
    if (a.common.json) {
        nlohmann::json j = {{"user", user.name}, {"recovery_codes", nlohmann::json::array()}};
        for (const auto& c : *codes) j["recovery_codes"].push_back(std::string(c.view()));
        std::cout << j.dump(2) << "\n";
        return;
    }
    std::cout << "New recovery codes for " << user.name << "; the old ones no longer work.\n";
    print_recovery(*codes);
}

}  // namespace

void register_enroll(CLI::App& app)
{
    auto ea = std::make_shared<EnrollArgs>();
    auto* enroll = app.add_subcommand("enroll", "Create a secret for a user and show it as a URI and QR code");
    add_common(*enroll, ea->common, true);
    enroll->add_option("-u,--user", ea->user, "User to enroll")->required();
    auto* totp = enroll->add_flag("--totp", ea->totp, "Time-based codes (default)");
    auto* hotp = enroll->add_flag("--hotp", ea->hotp, "Counter-based codes");
    totp->excludes(hotp);
    enroll->add_option("--algorithm", ea->algorithm, "HMAC: sha1 (default), sha256, sha512")
        ->check(CLI::IsMember({"sha1", "sha256", "sha512"}, CLI::ignore_case));
    enroll->add_option("--digits", ea->digits, "Code length: 6 (default), 7 or 8")->check(CLI::Range(6, 8));
    enroll->add_option("--period", ea->period, "TOTP step in seconds, 1-300 (default 30)")->check(CLI::Range(1, 300));
    enroll->add_option("--issuer", ea->issuer, "Issuer shown in the app (default: this host's name)");
    enroll->add_option("--qr", ea->qr, "utf8 (default on a terminal), ansi, none, png:FILE, svg:FILE");
    enroll->add_option("--recovery-codes", ea->recovery, "Number of recovery codes, 0-32 (default 10)")
        ->check(CLI::Range(0, 32));
    enroll->add_flag("--confirm", ea->confirm, "Ask for a current code and store nothing until it matches");
    enroll->add_flag("--force", ea->force, "Replace an existing enrollment");
    enroll->add_option("--grant-group", ea->grant_groups,
                       "After a confirmed enrollment, add the user to GROUP (e.g. sudo); undone by remove");
    enroll->callback([ea] { run_enroll(*ea); });

    auto sa = std::make_shared<ShowArgs>();
    auto* show = app.add_subcommand("show", "Show a user's URI and QR code again");
    add_common(*show, sa->common, true);
    show->add_option("-u,--user", sa->user, "User")->required();
    show->add_option("--qr", sa->qr, "utf8 (default on a terminal), ansi, none, png:FILE, svg:FILE");
    show->add_option("--issuer", sa->issuer, "Issuer shown in the app (default: this host's name)");
    show->callback([sa] { run_show(*sa); });

    auto ra = std::make_shared<RecoveryArgs>();
    auto* rec = app.add_subcommand("recovery", "Issue new recovery codes; the old ones stop working");
    add_common(*rec, ra->common, true);
    rec->add_option("-u,--user", ra->user, "User")->required();
    rec->add_option("--count", ra->count, "Number of codes, 1-32 (default 10)")->check(CLI::Range(1, 32));
    rec->callback([ra] { run_recovery(*ra); });
}

}  // namespace authctl::cli
