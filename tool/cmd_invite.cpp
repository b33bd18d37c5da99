// SPDX-License-Identifier: Apache-2.0
// authctl invite | uninvite (issue 17): the user enrolls at the next login,
// past a first factor, in the session (pam_authctl shows the QR code); here
// only the invitation is stored.
#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "authctl/invitation.hpp"
#include "commands.hpp"
#include "group_edit.hpp"

namespace authctl::cli {
namespace {

std::optional<std::int64_t> parse_invite_duration(const std::string& text)
{
    // Nd, Nh, Nm: N a positive number without sign or leading zero.
    if (text.size() < 2 || text.size() > 8) return std::nullopt;
    const char unit = text.back();
    const std::string digits = text.substr(0, text.size() - 1);
    if (digits.front() == '0') return std::nullopt;
    std::int64_t n = 0;
    for (const char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    switch (unit) {
        case 'd': return n * 24 * 3600;
        case 'h': return n * 3600;
        case 'm': return n * 60;
        default: return std::nullopt;
    }
}

std::optional<std::int64_t> parse_invite_date(const std::string& text)
{
    // YYYY-MM-DD (the end of that day) or YYYY-MM-DDTHH:MM, local time.
    auto num = [&text](std::size_t at, std::size_t len) -> int {
        int n = 0;
        for (std::size_t i = at; i < at + len; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(text[i]))) return -1;
            n = n * 10 + (text[i] - '0');
        }
        return n;
    };
    const bool day_only = text.size() == 10;
    if (!day_only && text.size() != 16) return std::nullopt;
    if (text[4] != '-' || text[7] != '-') return std::nullopt;
    if (!day_only && (text[10] != 'T' || text[13] != ':')) return std::nullopt;
    const int year = num(0, 4), month = num(5, 2), day = num(8, 2);
    const int hour = day_only ? 23 : num(11, 2), minute = day_only ? 59 : num(14, 2);
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 ||
        minute > 59)
        return std::nullopt;
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = day_only ? 59 : 0;
    tm.tm_isdst = -1;
    const std::time_t t = std::mktime(&tm);
    // mktime moves 2026-02-30 to March: such a date does not exist.
    if (t == static_cast<std::time_t>(-1) || tm.tm_mday != day || tm.tm_mon != month - 1) return std::nullopt;
    return static_cast<std::int64_t>(t);
}

std::string describe(const EnrollParams& p)
{
    std::string d = p.type == OtpType::totp ? "TOTP" : "HOTP";
    d += std::string(", ") + algo_name(p.algo) + ", " + std::to_string(p.digits) + " digits";
    if (p.type == OtpType::totp) d += ", " + std::to_string(p.period) + " s";
    return d;
}

// A group's members: listed in it, or with it as their primary group; sorted, once each.
std::vector<std::string> group_members(const std::string& group)
{
    const struct group* gr = ::getgrnam(group.c_str());
    if (gr == nullptr) fail(kExitFailed, "no such group '" + quoted_name(group) + "'");
    const gid_t gid = gr->gr_gid;
    std::vector<std::string> out;
    for (char** m = gr->gr_mem; m != nullptr && *m != nullptr; ++m) out.emplace_back(*m);
    ::setpwent();
    while (const struct passwd* pw = ::getpwent())
        if (pw->pw_gid == gid) out.emplace_back(pw->pw_name);
    ::endpwent();
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

struct InviteArgs {
    Common common;
    std::string user;
    std::string group;
    std::string until;
    std::string duration;
    bool totp = false, hotp = false;
    std::string algorithm = "sha1";
    unsigned digits = 6;
    unsigned period = 30;
    std::vector<std::string> grant_groups;
    bool replace = false;
    bool revoke_now = false;
};

nlohmann::json invitation_json(const std::string& user, const InviteResult& r)
{
    const Invitation& inv = r.invitation;
    return {{"user", user},
            {"invited", true},
            {"expires", iso_utc(inv.expires)},
            {"type", otp_type_name(inv.params.type)},
            {"replace", inv.replace},
            {"groups", inv.grant_groups},
            {"replaced_invitation", r.replaced_invitation},
            {"revoked", r.revoked}};
}

void run_invite(const InviteArgs& a)
{
    if (a.user.empty() == a.group.empty()) fail(kExitUsage, "give either -u USER or --group GROUP");
    if (!a.group.empty() && a.replace)
        fail(kExitUsage, "--replace is for one user (-u USER): --group invites only members not enrolled");
    if (a.revoke_now && !a.replace) fail(kExitUsage, "--revoke-now goes with --replace");
    auto algo = parse_algo(a.algorithm);
    if (!algo) fail(kExitUsage, "--algorithm: must be sha1, sha256 or sha512");
    for (const auto& g : a.grant_groups)
        if (!valid_group_name(g)) fail(kExitUsage, "--grant-group: '" + quoted_name(g) + "' is not a group name");
    std::optional<std::int64_t> seconds;
    std::optional<std::int64_t> at;
    if (!a.duration.empty()) {
        seconds = parse_invite_duration(a.duration);
        if (!seconds) fail(kExitUsage, "--for: give a duration as Nd, Nh or Nm (7d, 12h, 30m), not '" +
                                           quoted_name(a.duration) + "'");
    }
    if (!a.until.empty()) {
        at = parse_invite_date(a.until);
        if (!at) fail(kExitUsage, "--until: give a date as YYYY-MM-DD or YYYY-MM-DDTHH:MM (local time), not '" +
                                      quoted_name(a.until) + "'");
    }
    EnrollParams params;
    params.type = a.hotp ? OtpType::hotp : OtpType::totp;
    params.algo = *algo;
    params.digits = a.digits;
    params.period = a.period;

    const Options opts = load_options(a.common);
    if (use_fleet(a.common, opts))
        fail(kExitFailed, std::string("invite: ") + std::string(kInviteUnsupportedWithAgent) +
                              " (the fleet database is this host's store)");
    for (const auto& g : a.grant_groups)
        if (!group_exists(g)) fail(kExitFailed, "no such group '" + quoted_name(g) + "'");
    const StoreHandle store = open_store(a.common, opts, true);
    const std::int64_t t = store.now();
    const std::int64_t expires = at ? *at : t + (seconds ? *seconds : kDefaultInviteSeconds);
    if (expires <= t) fail(kExitUsage, "the invitation would end in the past (" + utc_time(expires) + " UTC)");
    if (expires - t > kMaxInviteSeconds) fail(kExitUsage, "an invitation lasts at most 366 days");
    if (!widely_supported(params))
        std::cerr << "authctl: warning: Google Authenticator, Microsoft Authenticator and Authy ignore "
                     "algorithm/digits/period and would show wrong codes; SHA1, 6 digits, 30 s works everywhere\n";

    InviteRequest req;
    req.params = params;
    req.expires = expires;
    req.grant_groups = a.grant_groups;
    req.replace = a.replace;
    req.revoke_now = a.revoke_now;
    req.invited_by = sanitize_source(std::string_view(admin_identity()).substr(0, kMaxLockedByLength));

    std::vector<std::string> users;
    if (!a.user.empty())
        users.push_back(require_user(a.user).name);
    else
        users = group_members(a.group);

    nlohmann::json out = nlohmann::json::array();
    std::vector<std::string> invited, skipped, missing;
    for (const auto& name : users) {
        const auto u = find_user(name);
        if (!u) {  // a stale member of /etc/group
            missing.push_back(name);
            continue;
        }
        req.account = account_binding(store, *u);
        auto r = invite_user(*store, u->name, req, t);
        if (!r && r.error().code == Errc::exists && !a.group.empty()) {
            skipped.push_back(u->name);
            continue;
        }
        if (!r && r.error().code == Errc::exists)
            fail(kExitFailed, "user '" + quoted_name(u->name) +
                                  "' is already enrolled (add --replace to let them enroll a new phone at their next "
                                  "login)");
        if (!r) fail(r.error());
        invited.push_back(u->name);
        if (a.common.json) {
            out.push_back(invitation_json(u->name, *r));
            continue;
        }
        std::cout << quoted_name(u->name) << ": invited until " << utc_time(expires) << " UTC ("
                  << describe(r->invitation.params) << ")"
                  << (r->replaced_invitation ? ", replacing the earlier invitation" : "") << "\n";
        if (r->revoked) std::cout << quoted_name(u->name) << ": the old enrollment was deleted (--revoke-now)\n";
        else if (a.replace) std::cout << quoted_name(u->name) << ": the old enrollment works until the new one is confirmed\n";
    }
    if (a.common.json) {
        for (const auto& s : skipped) out.push_back({{"user", s}, {"invited", false}, {"reason", "enrolled"}});
        for (const auto& m : missing) out.push_back({{"user", m}, {"invited", false}, {"reason", "no such user"}});
        std::cout << out.dump(2) << "\n";
        return;
    }
    if (!a.group.empty()) {
        auto list = [](const std::vector<std::string>& v) {
            std::string s;
            for (const auto& n : v) s += (s.empty() ? "" : ", ") + quoted_name(n);
            return s;
        };
        std::cout << "group " << quoted_name(a.group) << ": " << invited.size() << " invited";
        if (!invited.empty()) std::cout << " (" << list(invited) << ")";
        std::cout << "\n";
        if (!skipped.empty())
            std::cout << "skipped, already enrolled: " << list(skipped) << " (invite each with -u USER --replace)\n";
        if (!missing.empty()) std::cout << "skipped, no such user: " << list(missing) << "\n";
    }
    if (!invited.empty())
        std::cout << "Each enrolls at the next login through a stack where a first factor ran before pam_authctl "
                     "(ssh with AuthenticationMethods publickey,keyboard-interactive).\n";
}

struct UninviteArgs {
    Common common;
    std::string user;
};

void run_uninvite(const UninviteArgs& a)
{
    const Options opts = load_options(a.common);
    if (use_fleet(a.common, opts))
        fail(kExitFailed, std::string("uninvite: ") + std::string(kInviteUnsupportedWithAgent) +
                              " (the fleet database is this host's store)");
    const SystemUser user = require_record_user(a.user);
    const StoreHandle store = open_store(a.common, opts, false);
    if (auto st = uninvite_user(*store, user.name); !st) {
        if (st.error().code == Errc::not_found)
            fail(kExitFailed, "user '" + quoted_name(user.name) + "' has no invitation");
        fail(st.error());
    }
    if (a.common.json)
        std::cout << nlohmann::json({{"user", user.name}, {"invited", false}}).dump(2) << "\n";
    else
        std::cout << quoted_name(user.name) << ": invitation withdrawn\n";
}

}  // namespace

void register_invite(CLI::App& app)
{
    auto ia = std::make_shared<InviteArgs>();
    auto* invite = app.add_subcommand("invite", "Let a user (or a group's members) enroll at their next login");
    add_common(*invite, ia->common, true);
    auto* user = invite->add_option("-u,--user", ia->user, "User");
    auto* group = invite->add_option("--group", ia->group, "Every member of GROUP without a confirmed enrollment");
    user->excludes(group);
    auto* until = invite->add_option("--until", ia->until, "Last day (YYYY-MM-DD, end of day) or YYYY-MM-DDTHH:MM, local time");
    auto* dur = invite->add_option("--for", ia->duration, "Lifetime: Nd, Nh or Nm (default 7d; at most 366d)");
    until->excludes(dur);
    auto* totp = invite->add_flag("--totp", ia->totp, "Time-based codes (the default)");
    auto* hotp = invite->add_flag("--hotp", ia->hotp, "Counter-based codes");
    totp->excludes(hotp);
    invite->add_option("--algorithm", ia->algorithm, "sha1 (default), sha256 or sha512");
    invite->add_option("--digits", ia->digits, "6 (default), 7 or 8")->check(CLI::Range(kMinDigits, kMaxDigits));
    invite->add_option("--period", ia->period, "TOTP period in seconds (default 30)")
        ->check(CLI::Range(kMinPeriod, kMaxPeriod));
    invite->add_option("--grant-group", ia->grant_groups, "Add the user to GROUP once enrolled (repeatable)");
    auto* replace = invite->add_flag("--replace", ia->replace,
                                     "The user is enrolled: let a new phone replace it (lost phone)");
    invite->add_flag("--revoke-now", ia->revoke_now, "With --replace: delete the old enrollment now")->needs(replace);
    invite->callback([ia] { run_invite(*ia); });

    auto ua = std::make_shared<UninviteArgs>();
    auto* uninvite = app.add_subcommand("uninvite", "Withdraw a user's invitation");
    add_common(*uninvite, ua->common, true);
    uninvite->add_option("-u,--user", ua->user, "User")->required();
    uninvite->callback([ua] { run_uninvite(*ua); });
}

}  // namespace authctl::cli
