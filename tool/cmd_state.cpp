// SPDX-License-Identifier: Apache-2.0
// authctl status | reset | unlock | lock | remove
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "authctl/admin.hpp"
#include "authctl/text.hpp"
#include "commands.hpp"
#include "group_edit.hpp"

namespace authctl::cli {
namespace {

bool user_is_root(const std::string& name)
{
    auto u = find_user(name);
    return u && u->uid == 0;
}

// The lock of a status row as JSON: null when not locked; else why (failures,
// admin, or null for a lock recorded before authctl kept the reason), by whom
// (admin locks; null when unknown), until when (ISO 8601 UTC, or null with
// until_reset true).
nlohmann::json lock_json(const StatusRow& r)
{
    if (!r.lock.locked) return nullptr;
    const bool forever = r.lock.until == kLockedForever;
    const char* reason = lock_reason_name(r.lock_reason);
    return {{"reason", *reason != '\0' ? nlohmann::json(reason) : nlohmann::json(nullptr)},
            {"by", r.lock_reason == LockReason::admin && !r.locked_by.empty() ? nlohmann::json(r.locked_by)
                                                                               : nlohmann::json(nullptr)},
            {"until", forever ? nlohmann::json(nullptr) : nlohmann::json(iso_utc(r.lock.until))},
            {"until_reset", forever}};
}

// "locked by hand by bob until 2026-11-30 06:00:00 UTC", "locked after 3 failures until an administrator resets it".
std::string lock_text(const StatusRow& r)
{
    std::string text;
    switch (r.lock_reason) {
        case LockReason::admin:
            text = "locked by hand (authctl lock) by " + (r.locked_by.empty() ? std::string("an unknown administrator")
                                                                              : quoted_name(r.locked_by));
            break;
        case LockReason::failures: text = "locked after " + failures_text(r.failures); break;
        case LockReason::consecutive:
            text = "locked after " + failures_text(r.failures_since_success) +
                   " since the last success (deny_consecutive)";
            break;
        case LockReason::unknown: text = "locked (reason not recorded)"; break;
    }
    return text + (r.lock.until == kLockedForever ? std::string(" until an administrator resets it")
                                                  : " until " + utc_time(r.lock.until) + " UTC");
}

// One per-source entry as JSON: its failures, the last one (Unix time, as
// the user's last_failure), and its lock (locked_until ISO 8601 UTC, or null
// with until_reset true; reason and by as in lock_json).
nlohmann::json source_json(const StatusRow::Source& s)
{
    const bool locked = s.lock.locked;
    const bool forever = locked && s.lock.until == kLockedForever;
    const char* reason = lock_reason_name(s.tally.lock_reason);
    return {{"source", s.tally.source},
            {"failures", s.tally.failures},
            {"last_failure", s.tally.last_failure > 0 ? nlohmann::json(s.tally.last_failure) : nlohmann::json(nullptr)},
            {"locked", locked},
            {"locked_until", locked && !forever ? nlohmann::json(iso_utc(s.lock.until)) : nlohmann::json(nullptr)},
            {"until_reset", forever},
            {"reason", locked && *reason != '\0' ? nlohmann::json(reason) : nlohmann::json(nullptr)},
            {"by", locked && s.tally.lock_reason == LockReason::admin && !s.tally.locked_by.empty()
                       ? nlohmann::json(s.tally.locked_by)
                       : nlohmann::json(nullptr)}};
}

// "from 192.0.2.7: locked after 3 failures until 2026-11-30 06:00:00 UTC",
// "from tty:pts/1: 2 failures, the last 2026-11-30 05:50:00 UTC, not locked".
std::string source_text(const StatusRow::Source& s)
{
    std::string text = "from " + quoted_name(s.tally.source) + ": ";
    if (!s.lock.locked)
        return text + failures_text(s.tally.failures) +
               (s.tally.last_failure > 0 ? ", the last " + utc_time(s.tally.last_failure) + " UTC" : std::string()) +
               ", not locked";
    switch (s.tally.lock_reason) {
        case LockReason::admin:
            text +=
                "locked by hand (authctl lock --source) by " +
                (s.tally.locked_by.empty() ? std::string("an unknown administrator") : quoted_name(s.tally.locked_by));
            break;
        case LockReason::failures:
        case LockReason::consecutive: text += "locked after " + failures_text(s.tally.failures); break;
        case LockReason::unknown: text += "locked (reason not recorded)"; break;
    }
    return text + (s.lock.until == kLockedForever ? std::string(" until an administrator resets it")
                                                  : " until " + utc_time(s.lock.until) + " UTC");
}

std::size_t locked_sources(const StatusRow& r)
{
    return static_cast<std::size_t>(
        std::count_if(r.sources.begin(), r.sources.end(), [](const StatusRow::Source& s) { return s.lock.locked; }));
}

// Whether the row's record still belongs to its account (issue 19, point 5).
BindingStatus binding_of(const StoreHandle& store, const StatusRow& r)
{
    const auto u = find_user(r.user);
    return binding_status(r.account, r.user, u.has_value() || store.fleet != nullptr,
                          u ? binding_uid(store, *u) : std::nullopt);
}

// An invitation (issue 17) as JSON: null when none.
nlohmann::json invitation_json(const StatusRow& r, std::int64_t now)
{
    if (!r.invitation) return nullptr;
    const Invitation& inv = *r.invitation;
    return {{"expires", iso_utc(inv.expires)},
            {"expired", inv.expires <= now},
            {"created", iso_utc(inv.created)},
            {"invited_by", inv.invited_by.empty() ? nlohmann::json(nullptr) : nlohmann::json(inv.invited_by)},
            {"replace", inv.replace},
            {"type", otp_type_name(inv.params.type)},
            {"groups", inv.grant_groups}};
}

// "invited until 2026-12-07 10:00:00 UTC by root (replaces the enrollment; groups: wheel)".
std::string invitation_text(const Invitation& inv, std::int64_t now)
{
    std::string text = inv.expires <= now ? "invitation expired " + utc_time(inv.expires) + " UTC"
                                          : "invited until " + utc_time(inv.expires) + " UTC";
    text += " by " + (inv.invited_by.empty() ? std::string("an unknown administrator") : quoted_name(inv.invited_by));
    std::string extra = otp_type_name(inv.params.type);
    if (inv.replace) extra += "; replaces the enrollment";
    if (!inv.grant_groups.empty()) {
        extra += "; groups:";
        for (const auto& g : inv.grant_groups) extra += " " + quoted_name(g);
    }
    return text + " (" + extra + ")";
}

struct StatusArgs {
    Common common;
    std::string user;
};

void run_status(const StatusArgs& a)
{
    const Options opts = load_options(a.common);
    const StoreHandle store = open_store(a.common, opts, false);
    std::vector<std::string> unexpected;
    const std::int64_t t = store.now();
    std::vector<StatusRow> rows;
    if (!a.user.empty()) {
        const std::string u = require_record_user(a.user).name;
        rows.push_back(status_of(
            *store, u, [&u] { return user_is_root(u); }, opts, t));
    } else {
        // One pass over the store (one query on the fleet database).
        auto st = store->scan([&](const std::string& u, Result<std::optional<UserRecord>>&& rec) {
            rows.push_back(status_row(
                u, rec, [&u] { return user_is_root(u); }, opts, t));
        });
        if (!st) fail(st.error());
        if (store.fleet == nullptr) {
            auto listing = store->list();  // the entries that are not ours, for the warning below
            if (!listing) fail(listing.error());
            unexpected = std::move(listing->unexpected);
        }
    }
    if (a.common.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : rows) {
            nlohmann::json j = {{"user", r.user}};
            if (!r.error.empty()) {
                j["error"] = r.error;
            } else {
                j["enrolled"] = r.enrolled;
                j["confirmed"] = r.confirmed;
                j["type"] = r.enrolled ? nlohmann::json(otp_type_name(r.type)) : nlohmann::json(nullptr);
                j["failures"] = r.failures;
                j["last_failure"] = r.last_failure > 0 ? nlohmann::json(r.last_failure) : nlohmann::json(nullptr);
                j["from"] = r.last_source.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.last_source);
                j["locked"] = r.lock.locked;
                j["unlock_in"] = !r.lock.locked || r.lock.until == kLockedForever ? nlohmann::json(nullptr)
                                                                                  : nlohmann::json(r.lock.until - t);
                j["locked_until"] = !r.lock.locked || r.lock.until == kLockedForever
                                        ? nlohmann::json(nullptr)
                                        : nlohmann::json(iso_utc(r.lock.until));
                j["lock"] = lock_json(r);
                j["last_success"] = r.last_success > 0 ? nlohmann::json(iso_utc(r.last_success)) : nlohmann::json(nullptr);
                j["last_success_from"] =
                    r.last_success_source.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.last_success_source);
                j["recovery_left"] = r.recovery_left;
                j["failures_since_success"] = r.failures_since_success;
                j["sources_since_success"] = r.sources_since_success;
                nlohmann::json sources = nlohmann::json::array();
                for (const auto& src : r.sources) sources.push_back(source_json(src));
                j["sources"] = std::move(sources);
                j["weak_secret"] = r.weak_secret_bytes > 0;
                const BindingStatus b = binding_of(store, r);
                j["binding"] = binding_state_name(b.state);
                j["orphaned"] =
                    b.state == BindingStatus::State::orphaned ? nlohmann::json(b.why) : nlohmann::json(nullptr);
                j["invitation"] = invitation_json(r, t);
            }
            out.push_back(j);
        }
        std::cout << out.dump(2) << "\n";
    } else {
        std::cout << std::left << std::setw(16) << "USER" << std::setw(12) << "ENROLLED" << std::setw(6) << "TYPE"
                  << std::setw(10) << "FAILURES" << std::setw(21) << "LAST FAILURE" << std::setw(18) << "FROM"
                  << std::setw(8) << "LOCKED" << std::setw(22) << "UNLOCKS IN" << std::setw(10) << "RECOVERY"
                  << "LAST SUCCESS\n";
        for (const auto& r : rows) {
            std::cout << std::setw(16) << quoted_name(r.user);
            if (!r.error.empty()) {
                std::cout << "ERROR: " << r.error << "\n";
                continue;
            }
            const std::string unlocks = !r.lock.locked                   ? "-"
                                        : r.lock.until == kLockedForever ? "never (reset needed)"
                                                                         : human_duration(r.lock.until - t);
            std::cout << std::setw(12) << (r.enrolled ? (r.confirmed ? "yes" : "unconfirmed") : "no") << std::setw(6)
                      << (r.enrolled ? otp_type_name(r.type) : "-") << std::setw(10) << r.failures << std::setw(21)
                      << utc_time(r.last_failure) << std::setw(18) << (r.last_source.empty() ? "-" : r.last_source)
                      << std::setw(8)
                      << (r.lock.locked           ? "yes"
                          : locked_sources(r) > 0 ? "source"
                                                  : "no")
                      << std::setw(22) << unlocks << std::setw(10) << r.recovery_left << utc_time(r.last_success)
                      << "\n";
        }
        // What the table has no room for: why each lock, and (one user) where the last success came from.
        for (const auto& r : rows) {
            if (!r.error.empty()) continue;
            if (r.lock.locked) std::cout << quoted_name(r.user) << ": " << lock_text(r) << "\n";
            // Each locked source; for one user, every source the record keeps.
            for (const auto& src : r.sources)
                if (src.lock.locked || !a.user.empty())
                    std::cout << quoted_name(r.user) << ": " << source_text(src) << "\n";
            if (!a.user.empty() && r.failures_since_success > 0)
                std::cout << quoted_name(r.user) << ": " << failures_text(r.failures_since_success)
                          << (r.sources_since_success > 0 ? " from " + std::to_string(r.sources_since_success) +
                                                                (r.sources_since_success == 1 ? " source" : " sources")
                                                          : std::string())
                          << " since the last successful login\n";
            if (r.weak_secret_bytes > 0) std::cout << quoted_name(r.user) << ": " << weak_secret_text(r.weak_secret_bytes) << "\n";
            if (const BindingStatus b = binding_of(store, r); b.state == BindingStatus::State::orphaned)
                std::cout << quoted_name(r.user) << ": ORPHANED record: " << b.why << "\n";
            if (!a.user.empty() && r.last_success > 0)
                std::cout << quoted_name(r.user) << ": last successful login " << utc_time(r.last_success) << " UTC"
                          << (r.last_success_source.empty() ? "" : " from " + r.last_success_source) << "\n";
            if (r.invitation) std::cout << quoted_name(r.user) << ": " << invitation_text(*r.invitation, t) << "\n";
        }
        // The summary, when any user is invited (issue 17).
        const auto invited = std::count_if(rows.begin(), rows.end(), [t](const StatusRow& r) {
            return r.error.empty() && r.invitation && r.invitation->expires > t;
        });
        const auto expired = std::count_if(rows.begin(), rows.end(), [t](const StatusRow& r) {
            return r.error.empty() && r.invitation && r.invitation->expires <= t;
        });
        if (invited > 0 || expired > 0)
            std::cout << invited << (invited == 1 ? " user" : " users") << " invited to enroll at login"
                      << (expired > 0 ? ", " + std::to_string(expired) + " invitation" + (expired == 1 ? "" : "s") +
                                            " expired (authctl uninvite, or invite again)"
                                      : std::string())
                      << "\n";
    }
    for (const auto& name : unexpected)
        std::cerr << "authctl: warning: unexpected entry in " << store->describe() << ": " << name << "\n";
    // One line on stderr that names the problem (the table or JSON also shows it).
    std::vector<std::string> errors;
    for (const auto& r : rows)
        if (!r.error.empty()) errors.push_back(r.error);
    if (errors.size() == 1) fail(kExitFailed, errors.front());
    if (!errors.empty()) fail(kExitFailed, std::to_string(errors.size()) + " records could not be read (see above)");
    // For monitoring (authctl(8), EXIT STATUS): 1 when a user shown is
    // locked, from everywhere or from one of its sources.
    std::vector<std::string> locked;
    for (const auto& r : rows) {
        const std::size_t n = locked_sources(r);
        if (r.lock.locked)
            locked.push_back(quoted_name(r.user) + " is locked");
        else if (n > 0)
            locked.push_back(quoted_name(r.user) + " is locked from " + std::to_string(n) +
                             (n == 1 ? " source" : " sources"));
    }
    if (locked.size() == 1) fail(kExitFailed, locked.front());
    if (!locked.empty()) fail(kExitFailed, std::to_string(locked.size()) + " users are locked");
}

struct ResetArgs {
    Common common;
    std::string user;
    std::string source;      // --source ADDR: only that source's entry
    bool by_source = false;  // --source given (even empty: a usage error)
    bool all = false;
    bool yes = false;
};

// An administrator's --source ADDR as the key the record keeps (an IPv6
// address becomes its /64, "tty:pts/1" stays); a usage error when nothing is left.
std::string source_arg(const std::string& text)
{
    std::string key = source_key_from_text(text);
    if (key.empty()) fail(kExitUsage, "--source: give an address, host name, tty:TTY or service:NAME");
    return key;
}

// reset -u USER --source ADDR: that source's entry only, as faillock --reset
// would: nothing recorded is not an error, it is said.
void run_reset_source(const ResetArgs& a, const Options& opts)
{
    const std::string key = source_arg(a.source);
    const std::string u = require_record_user(a.user).name;
    const StoreHandle store = open_store(a.common, opts, false);
    auto r = reset_user_source(*store, u, key, user_is_root(u), opts, store.now());
    if (!r) fail(r.error());
    if (a.common.json) {
        std::cout << nlohmann::json::array({{{"user", u},
                                             {"source", key},
                                             {"had_entry", r->had_record},
                                             {"failures_cleared", r->cleared},
                                             {"was_locked", r->was_locked}}})
                         .dump(2)
                  << "\n";
        return;
    }
    if (!r->had_record)
        std::cout << u << ": no failures recorded from " << quoted_name(key) << "\n";
    else
        std::cout << u << ": " << failures_text(r->cleared) << " from " << quoted_name(key) << " cleared"
                  << (r->was_locked ? ", source unlocked" : ", was not locked") << "\n";
}

std::string reset_line(const std::string& user, const ResetResult& r)
{
    if (!r.had_record || (r.cleared == 0 && !r.was_locked)) return user + ": no failures recorded, not locked";
    std::string line = user + ": " + failures_text(r.cleared) + " cleared";
    line += r.was_locked ? ", account unlocked" : ", was not locked";
    return line;
}

void run_reset(const ResetArgs& a)
{
    if (a.all == !a.user.empty()) fail(kExitUsage, "give either -u USER or --all");
    if (a.all && a.by_source) fail(kExitUsage, "--source needs -u USER, not --all");
    const Options opts = load_options(a.common);
    if (a.by_source) return run_reset_source(a, opts);
    const StoreHandle store = open_store(a.common, opts, false);
    std::vector<std::string> users;
    if (a.all) {
        auto listing = store->list();
        if (!listing) fail(listing.error());
        users = std::move(listing->users);
        if (!a.yes) {
            if (::isatty(STDIN_FILENO) == 0) fail(kExitFailed, "--all resets every user; add --yes to confirm");
            std::cerr << "Clear the failures and locks of " << users.size() << " users? [y/N] " << std::flush;
            std::string answer;
            std::getline(std::cin, answer);
            if (answer != "y" && answer != "Y" && answer != "yes") fail(kExitFailed, "nothing was reset");
        }
    } else {
        users.push_back(require_record_user(a.user).name);
    }
    nlohmann::json out = nlohmann::json::array();
    const std::int64_t t = store.now();
    for (const auto& u : users) {
        auto r = reset_user(*store, u, user_is_root(u), opts, t);
        if (!r) fail(r.error());
        if (a.common.json)
            out.push_back({{"user", u}, {"failures_cleared", r->cleared}, {"was_locked", r->was_locked}});
        else
            std::cout << reset_line(u, *r) << "\n";
    }
    if (a.common.json) std::cout << out.dump(2) << "\n";
}

struct LockArgs {
    Common common;
    std::string user;
    std::string source;  // --source ADDR: only logins from there
    bool by_source = false;
    std::int64_t seconds = 0;
    bool never = false;
};

void run_lock(const LockArgs& a)
{
    if (a.seconds < 0) fail(kExitUsage, "--for: must be a positive number of seconds");
    const Options opts = load_options(a.common);
    const SystemUser user = require_user(a.user);
    const std::string key = a.by_source ? source_arg(a.source) : std::string();
    const StoreHandle store = open_store(a.common, opts, false);
    const std::int64_t t = store.now();
    const std::int64_t until = a.seconds > 0 ? t + a.seconds : kLockedForever;
    // As the record keeps it (printable, bounded): what --json prints too.
    const std::string by = sanitize_source(std::string_view(admin_identity()).substr(0, kMaxLockedByLength));
    if (key.empty()) {
        if (auto st = lock_user(*store, user.name, until, by); !st) fail(st.error());
    } else if (auto st = lock_user_source(*store, user.name, key, until, by, t); !st) {
        fail(st.error());
    }
    if (user.uid == 0 && !opts.lockout.even_deny_root && !opts.lockout.root_unlock_time_set) {
        if (opts.lockout.root_throttle == 0)
            std::cerr << "authctl: warning: root is never locked (root_throttle=0, no even_deny_root); the lock is "
                         "stored but has no effect\n";
        else
            std::cerr << "authctl: note: root stays able to log in on this machine's console (no even_deny_root)\n";
    }
    if (a.common.json) {
        nlohmann::json j = {{"user", user.name},
                            {"locked", true},
                            {"by", by},
                            {"unlock_in", a.seconds > 0 ? nlohmann::json(a.seconds) : nlohmann::json(nullptr)}};
        if (!key.empty()) j["source"] = key;
        std::cout << j.dump(2) << "\n";
        return;
    }
    const std::string who =
        key.empty() ? user.name + ": locked" : user.name + ": logins from " + quoted_name(key) + " locked";
    const std::string reset = "authctl reset -u " + user.name + (key.empty() ? "" : " --source " + key);
    if (a.seconds > 0)
        std::cout << who << " for " << human_duration(a.seconds) << " (until " << utc_time(until) << " UTC)\n";
    else
        std::cout << who << " until an administrator unlocks it (" << reset << ")\n";
}

struct RemoveArgs {
    Common common;
    std::string user;
};

void run_remove(const RemoveArgs& a)
{
    const Options opts = load_options(a.common);
    const SystemUser user = require_record_user(a.user);
    const StoreHandle store = open_store(a.common, opts, false);
    auto r = remove_user(*store, user.name);
    if (!r) fail(r.error());
    if (!r->existed) fail(kExitFailed, "user '" + user.name + "' has no record");
    // A fleet record's groups may have been granted on another server (a
    // pushed record): this host's memberships are not authctl's to undo there.
    if (store.fleet != nullptr && !r->granted_groups.empty() && !a.common.json)
        std::cout << user.name << ": groups recorded as granted elsewhere left as they are on this host\n";
    const GroupUndo undo =
        undo_granted_groups(user.name, store.fleet != nullptr ? std::vector<std::string>{} : r->granted_groups);
    print_group_undo(user.name, undo, a.common.json);
    if (a.common.json)
        std::cout << nlohmann::json({{"user", user.name},
                                     {"removed", true},
                                     {"invitation_removed", r->had_invitation},
                                     {"groups_removed", undo.removed},
                                     {"groups_left", undo.failed},
                                     {"groups_kept", undo.kept}})
                         .dump(2)
                  << "\n";
    else
        std::cout << user.name << ": enrollment, recovery codes"
                  << (r->had_invitation ? ", invitation" : "") << " and failure record removed\n";
    if (!undo.failed.empty())
        fail(kExitFailed, "could not remove '" + user.name + "' from some groups it was granted (see above)");
}

}  // namespace

void register_state(CLI::App& app)
{
    auto st = std::make_shared<StatusArgs>();
    auto* status = app.add_subcommand("status", "Show enrollment, failures and locks of one user or all");
    add_common(*status, st->common, true);
    status->add_option("-u,--user", st->user, "Only this user");
    status->callback([st] { run_status(*st); });

    for (const char* name : {"reset", "unlock"}) {
        auto ra = std::make_shared<ResetArgs>();
        auto* reset = app.add_subcommand(name, "Clear failures and unlock a user (or --all)");
        add_common(*reset, ra->common, true);
        reset->add_option("-u,--user", ra->user, "User");
        reset->add_flag("--all", ra->all, "Every user in the store");
        auto* source =
            reset->add_option("--source", ra->source,
                              "Only this source's failures and lock (address, host name, tty:TTY or service:NAME)");
        reset->add_flag("-y,--yes", ra->yes, "Do not ask before --all");
        reset->callback([ra, source] {
            ra->by_source = source->count() > 0;
            run_reset(*ra);
        });
    }

    auto la = std::make_shared<LockArgs>();
    auto* lock = app.add_subcommand("lock", "Lock a user by hand");
    add_common(*lock, la->common, true);
    lock->add_option("-u,--user", la->user, "User")->required();
    auto* source = lock->add_option("--source", la->source,
                                    "Only logins from this source (address, host name, tty:TTY or service:NAME)");
    auto* for_opt = lock->add_option("--for", la->seconds, "Seconds (default: until an administrator unlocks)")
                        ->check(CLI::Range(static_cast<std::int64_t>(1), static_cast<std::int64_t>(kMaxInterval) * 10));
    auto* never = lock->add_flag("--never", la->never, "Until an administrator unlocks (the default)");
    for_opt->excludes(never);
    lock->callback([la, source] {
        la->by_source = source->count() > 0;
        run_lock(*la);
    });

    auto rm = std::make_shared<RemoveArgs>();
    auto* remove = app.add_subcommand("remove", "Delete a user's enrollment and undo its --grant-group");
    add_common(*remove, rm->common, true);
    remove->add_option("-u,--user", rm->user, "User")->required();
    remove->callback([rm] { run_remove(*rm); });
}

}  // namespace authctl::cli
