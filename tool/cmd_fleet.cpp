// SPDX-License-Identifier: Apache-2.0
// authctl fleet init | keygen | rekey | push | pull | status: the fleet
// database's schema and keys, and moving records between this server's state
// directory and the fleet. Every decision about a record (what a push or pull
// makes of it) is core's (fleet_merge.hpp); this file parses and prints.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "authctl/file_util.hpp"
#include "authctl/fleet_merge.hpp"
#include "authctl/login.hpp"
#include "authctl/sealed.hpp"
#include "commands.hpp"

namespace authctl::cli {
namespace {

// Seconds of difference between this host's clock and the database's worth a
// warning (authctld warns at the same figure).
constexpr std::int64_t kClockWarnSeconds = 30;
constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

void require_root()
{
    if (::geteuid() != 0) fail(kExitFailed, "this command needs root: the fleet's settings and keys are root-only");
}

// --fleet-conf and --json: what every fleet subcommand takes; push and pull
// also take --dir and --conf (this server's state directory).
void add_fleet_common(CLI::App& sub, Common& c, bool state_dir)
{
    if (state_dir) {
        sub.add_option("--dir", c.dir, "State directory (default: from the config file, else /var/lib/authctl)");
        sub.add_option("--conf", c.conf, "Configuration file (default: /etc/security/authctl.conf if present)");
    }
    sub.add_option("--fleet-conf", c.fleet_conf, "Fleet settings (default: /etc/authctl/fleet.conf)");
    sub.add_flag("--json", c.json, "Print the result as JSON");
}

// ---- init ----------------------------------------------------------------

struct InitArgs {
    Common common;
};

void run_init(const InitArgs& a)
{
    require_root();
    const auto pg = open_fleet(a.common, false);
    auto before = pg->init_schema();
    if (!before) fail(before.error());
    if (a.common.json) {
        std::cout << nlohmann::json(
                         {{"database", pg->describe()}, {"before", *before}, {"after", fleet::kSchemaVersion}})
                         .dump(2)
                  << "\n";
        return;
    }
    std::cout << pg->describe() << ": schema version " << (*before == 0 ? std::string("none") : std::to_string(*before))
              << " -> " << fleet::kSchemaVersion << (*before == fleet::kSchemaVersion ? " (already current)" : "")
              << "\n";
}

// ---- keygen --------------------------------------------------------------

struct KeygenArgs {
    std::string id;
    std::string out;
    std::string add;
};

// Writes all of `text` to fd; false (errno set) on failure.
bool write_all(int fd, std::string_view text)
{
    while (!text.empty()) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// A new key file: never over an existing file or through a symlink, root 0600.
void create_key_file(const std::string& path, std::string_view text)
{
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
    if (!fd.valid()) fail(kExitFailed, "cannot create '" + path + "': " + std::strerror(errno));
    if (::fchmod(fd.get(), 0600) != 0 || !write_all(fd.get(), text) || ::fsync(fd.get()) != 0) {
        const int err = errno;
        ::unlink(path.c_str());
        fail(kExitFailed, "cannot write '" + path + "': " + std::strerror(err));
    }
    if (::close(fd.release()) != 0) {
        const int err = errno;
        ::unlink(path.c_str());
        fail(kExitFailed, "cannot write '" + path + "': " + std::strerror(err));
    }
}

// The directory part and the name part of a path ("." for a bare name).
std::pair<std::string, std::string> split_path(const std::string& path)
{
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return {".", path};
    return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

void run_keygen(const KeygenArgs& a)
{
    require_root();
    if (a.out.empty() == a.add.empty()) fail(kExitUsage, "give either --out NEW-FILE or --add EXISTING-FILE");
    auto line = new_key_line(a.id);
    if (!line) fail(line.error());
    SecretBytes text;
    const auto append = [&text](std::string_view s) {
        for (const char c : s) text.push_back(static_cast<std::uint8_t>(c));
    };
    if (!a.out.empty()) {
        append("# authctl fleet key file: root 0600, the same keys on every server of the fleet (docs/fleet.md).\n");
        append(*line);
        append("current " + a.id + "\n");
        wipe_string(*line);
        if (auto ring = parse_keyring(text.view(), a.out); !ring) fail(ring.error());
        create_key_file(a.out, text.view());
        std::cout << "wrote key '" << a.id << "' to " << a.out << " as the current key\n";
        return;
    }
    auto old = read_trusted_file(AT_FDCWD, a.add, kMaxKeyFileBytes, FileTrust::root_private);
    if (!old) fail(make_error(old.error().code, "key file " + old.error().detail));
    auto ring = parse_keyring(old->view(), a.add);
    if (!ring) fail(ring.error());
    if (ring->find(a.id) != nullptr) fail(kExitFailed, "'" + a.add + "' already holds a key '" + a.id + "'");
    if (ring->keys.size() >= kMaxFleetKeys)
        fail(kExitFailed, "'" + a.add + "' already holds " + std::to_string(kMaxFleetKeys) +
                              " keys: remove one no row uses (authctl fleet status)");
    append(old->view());
    if (!old->empty() && old->view().back() != '\n') append("\n");
    append(*line);
    wipe_string(*line);
    auto check = parse_keyring(text.view(), a.add);
    if (!check) fail(check.error());
    const auto [dir, name] = split_path(a.add);
    UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd.valid()) fail(kExitFailed, "cannot open '" + dir + "': " + std::strerror(errno));
    // A temp file and a rename: the key file is whole at every instant; 0600, root's.
    if (auto st = replace_file(dirfd.get(), name, name + ".tmp", text.view()); !st) fail(st.error());
    std::cout << "added key '" << a.id << "' to " << a.add << "; the current key is still '" << check->current
              << "'.\nCopy that 'key " << a.id
              << " ...' line, unchanged, into every server's key file (do not run keygen there: the key must be the "
                 "same everywhere), then switch 'current' and run 'authctl fleet rekey' (docs/fleet.md).\n";
}

// ---- rekey ---------------------------------------------------------------

struct RekeyArgs {
    Common common;
    std::string to;  // confirms a change of the fleet's current key
};

void run_rekey(const RekeyArgs& a)
{
    require_root();
    const auto pg = open_fleet(a.common, true);
    const std::string& key = pg->keyring().current;
    if (!a.to.empty() && a.to != key)
        fail(kExitUsage, "--to " + a.to + ": this host's key file names '" + key + "' as current");
    auto info = pg->info();
    if (!info) fail(info.error());
    const std::string before = info->current_key;
    // Moving the fleet to another key is a decision, not a side effect of
    // running rekey on a host whose key file is behind: it takes --to.
    if (!before.empty() && before != key && a.to != key)
        fail(kExitUsage, "the fleet's current key is '" + before + "' and this host's key file names '" + key +
                             "': rekey would re-seal every row under '" + key + "'. Confirm with --to " + key +
                             ", or run it where the key file names the key you mean");
    auto r = pg->rekey();
    if (!r) fail(r.error());
    if (a.common.json) {
        std::cout << nlohmann::json({{"previous_key", before},
                                     {"current_key", key},
                                     {"rows", r->rows},
                                     {"rewritten", r->rewritten}})
                         .dump(2)
                  << "\n";
        return;
    }
    if (before != key) std::cout << "fleet current key: '" << before << "' -> '" << key << "'\n";
    std::cout << "current key '" << key << "': " << r->rows << " rows looked at, " << r->rewritten
              << " re-sealed under it\n";
}

// ---- push / pull ---------------------------------------------------------

struct TransferArgs {
    Common common;
    std::vector<std::string> users;
    bool force = false;
    bool dry_run = false;
};

// What became of one user in a push or pull: core's TransferAction, or one
// of the CLI's own (no record at the source; an error from either store).
enum class Moved { copied, already_there, merged, replaced, refused, skipped, error };
constexpr Moved kAllMoved[] = {Moved::copied,  Moved::already_there, Moved::merged, Moved::replaced,
                               Moved::refused, Moved::skipped,       Moved::error};

Moved moved(TransferAction a)
{
    switch (a) {
        case TransferAction::copied: return Moved::copied;
        case TransferAction::already_there: return Moved::already_there;
        case TransferAction::merged: return Moved::merged;
        case TransferAction::replaced: return Moved::replaced;
        case TransferAction::refused: return Moved::refused;
    }
    return Moved::error;
}

// The JSON key ("already_there") and the text of a line ("already there").
const char* moved_key(Moved m)
{
    switch (m) {
        case Moved::copied: return "copied";
        case Moved::already_there: return "already_there";
        case Moved::merged: return "merged";
        case Moved::replaced: return "replaced";
        case Moved::refused: return "refused";
        case Moved::skipped: return "skipped";
        case Moved::error: return "error";
    }
    return "error";
}

std::string moved_text(Moved m)
{
    switch (m) {
        case Moved::copied: return transfer_action_text(TransferAction::copied);
        case Moved::already_there: return transfer_action_text(TransferAction::already_there);
        case Moved::merged: return transfer_action_text(TransferAction::merged);
        case Moved::replaced: return transfer_action_text(TransferAction::replaced);
        case Moved::refused: return transfer_action_text(TransferAction::refused);
        case Moved::skipped: return "skipped";
        case Moved::error: return "error";
    }
    return "error";
}

struct TransferLine {
    std::string user;
    Moved result = Moved::error;
    std::string detail;
    bool unwritten = false;  // --dry-run: a change that was not written
};

// What moving `src` onto `dst` would do, as the line to print; the record to
// write (if any) in `decision.result`.
TransferLine describe_transfer(const std::string& user, const std::optional<UserRecord>& src,
                               const std::optional<UserRecord>& dst, bool push, bool force, TransferDecision& decision)
{
    TransferLine line{user, Moved::error, "", false};
    if (!src) {
        line.result = Moved::skipped;
        line.detail = push ? "no record on this server" : "no record in the fleet";
        return line;
    }
    decision = decide_transfer(*src, dst, force);
    line.result = moved(decision.action);
    if (decision.action == TransferAction::refused)
        line.detail = push ? "the fleet holds another secret; --force replaces it"
                           : "this server holds another secret; --force replaces it";
    if (decision.recovery_dropped)
        line.detail = "recovery codes differ between the two sides (issued separately, or used up on one): none "
                      "kept; issue new ones with 'authctl recovery -u USER'";
    return line;
}

// --dry-run: the same decision from plain reads, so nothing is written on
// either side (no lock file, no state directory). `local` is null when this
// server has no state directory yet (a pull would create it).
TransferLine preview_one(const Store* local, const Store& fleet, bool push, const std::string& user, bool force)
{
    Result<std::optional<UserRecord>> here = std::optional<UserRecord>{};
    if (local != nullptr) here = local->load(user);
    auto there = fleet.load(user);
    for (const auto* r : {&here, &there})
        if (!*r) return TransferLine{user, Moved::error, r->error().message(), false};
    TransferDecision d;
    TransferLine line = describe_transfer(user, push ? *here : *there, push ? *there : *here, push, force, d);
    line.unwritten = d.result.has_value();
    return line;
}

// Moves one user's record, `push` from `local` to `fleet`, else back. Both
// stores' locks are held, this server's first (in push and pull alike), so
// neither side changes between the read and the write; the write counts only
// once the destination's finish() acknowledged it.
TransferLine transfer_one(const Store& local, const Store& fleet, bool push, const std::string& user, bool force)
{
    auto here = local.lock(user);
    if (!here) return TransferLine{user, Moved::error, here.error().message(), false};
    auto there = fleet.lock(user);
    if (!there) return TransferLine{user, Moved::error, there.error().message(), false};
    LockedRecord& src = push ? *here : *there;
    LockedRecord& dst = push ? *there : *here;
    TransferDecision d;
    TransferLine line = describe_transfer(user, src.record(), dst.record(), push, force, d);
    if (!d.result) return line;
    dst.record() = std::move(d.result);
    Status st = dst.commit();
    if (st) st = dst.finish();
    if (!st) {
        line.result = Moved::error;
        line.detail = st.error().message();
    }
    return line;
}

void run_transfer(const TransferArgs& a, bool push)
{
    const Options opts = load_options(a.common);
    // The fleet first: a pull that cannot reach it creates nothing here. A
    // dry run creates nothing at all: a pull's missing state directory is
    // read as an empty one.
    const auto pg = open_fleet(a.common, true);
    std::optional<UserStore> local;
    if (!(a.dry_run && !push)) {
        local.emplace(open_file_store(opts, !push));
    } else if (auto existing = UserStore::open(opts.dir); existing) {
        local.emplace(std::move(*existing));
    } else if (existing.error().code != Errc::not_found) {
        fail(existing.error());
    }
    std::vector<std::string> users = a.users;
    std::size_t buckets = 0;
    if (users.empty()) {
        auto listing = push ? local->list() : pg->list();
        if (!listing) fail(listing.error());
        // The buckets of names that do not exist are keyed under the key of
        // the side that counted them (this host's, or the fleet's): on the
        // other side no login would ever land in them. Left where they are.
        for (auto& u : listing->users)
            if (is_unknown_user_bucket(u))
                ++buckets;
            else
                users.push_back(std::move(u));
    }
    std::vector<TransferLine> lines;
    std::map<Moved, std::size_t> counts;
    for (const auto& u : users) {
        lines.push_back(a.dry_run ? preview_one(local ? &*local : nullptr, *pg, push, u, a.force)
                                  : transfer_one(*local, *pg, push, u, a.force));
        const TransferLine& l = lines.back();
        ++counts[l.result];
        if (!a.common.json)
            std::cout << l.user << ": " << moved_text(l.result) << (l.detail.empty() ? "" : " (" + l.detail + ")")
                      << (l.unwritten ? " [dry run: not written]" : "") << "\n";
    }
    const std::size_t refused = counts[Moved::refused];
    const std::size_t errors = counts[Moved::error];
    if (a.common.json) {
        nlohmann::json summary = nlohmann::json::object();
        for (const Moved m : kAllMoved) summary[moved_key(m)] = counts[m];
        nlohmann::json j = {{"direction", push ? "push" : "pull"},
                            {"dry_run", a.dry_run},
                            {"buckets_skipped", buckets},
                            {"users", nlohmann::json::array()},
                            {"summary", summary}};
        for (const auto& l : lines)
            j["users"].push_back({{"user", l.user}, {"result", moved_key(l.result)}, {"detail", l.detail}});
        std::cout << j.dump(2) << "\n";
    } else {
        std::string summary;
        for (const Moved m : kAllMoved)
            if (counts[m] > 0)
                summary += (summary.empty() ? "" : ", ") + std::to_string(counts[m]) + " " + moved_text(m);
        std::cout << lines.size() << " user" << (lines.size() == 1 ? "" : "s")
                  << (push ? " pushed from " : " pulled into ") << (local ? local->describe() : opts.dir)
                  << (push ? " to the " : " from the ") << pg->describe() << (summary.empty() ? "" : ": " + summary)
                  << (a.dry_run ? " (dry run: nothing written)" : "") << "\n";
        if (buckets > 0)
            std::cout << buckets << " bucket" << (buckets == 1 ? "" : "s")
                      << " of names that do not exist left as they are (keyed under "
                      << (push ? "this host's" : "the fleet's") << " bucket key, they mean nothing "
                      << (push ? "in the fleet" : "here") << ")\n";
    }
    if (refused + errors > 0)
        fail(kExitFailed, std::to_string(refused) + " refused, " + std::to_string(errors) + " failed (see above)");
}

// ---- status --------------------------------------------------------------

struct StatusArgs {
    Common common;
};

void run_fleet_status(const StatusArgs& a)
{
    require_root();
    const auto pg = open_fleet(a.common, true);
    auto info = pg->info();
    if (!info) fail(info.error());
    const std::int64_t host = now();
    const std::int64_t skew = host - info->db_time;
    const Keyring& ring = pg->keyring();
    const bool have_current = ring.find(info->current_key) != nullptr;
    std::vector<std::string> problems;
    if (skew > kClockWarnSeconds || skew < -kClockWarnSeconds)
        problems.push_back("this host's clock is " + std::to_string(skew) +
                           " s off the database's (the database's clock decides; fix NTP here)");
    if (!have_current)
        problems.push_back("this host's key file lacks the fleet's current key '" + info->current_key +
                           "': writes from this host fail");
    for (const auto& [id, n] : info->rows_per_key)
        if (ring.find(id) == nullptr)
            problems.push_back(std::to_string(n) + " rows are under key '" + id +
                               "', which this host's key file lacks: those users cannot log in through it");
    if (a.common.json) {
        nlohmann::json rows = nlohmann::json::object();
        for (const auto& [id, n] : info->rows_per_key) rows[id] = n;
        std::cout << nlohmann::json({{"database", pg->describe()},
                                     {"db_time", info->db_time},
                                     {"host_time", host},
                                     {"clock_difference", skew},
                                     {"schema_version", info->schema_version},
                                     {"current_key", info->current_key},
                                     {"host_has_current_key", have_current},
                                     {"host_current_key", ring.current},
                                     {"users", info->users},
                                     {"rows_per_key", rows},
                                     {"problems", problems}})
                         .dump(2)
                  << "\n";
    } else {
        std::cout << "database:            " << pg->describe() << "\n"
                  << "database time:       " << utc_time(info->db_time) << " UTC\n"
                  << "this host's time:    " << utc_time(host) << " UTC (" << (skew >= 0 ? "+" : "") << skew << " s)\n"
                  << "schema version:      " << info->schema_version << "\n"
                  << "fleet's current key: " << info->current_key
                  << (have_current ? " (in this host's key file)" : " (NOT in this host's key file)") << "\n"
                  << "host's current key:  " << ring.current << " (this host's key file)\n"
                  << "users:               " << info->users << "\n";
        for (const auto& [id, n] : info->rows_per_key)
            std::cout << "rows under key " << id << ": " << n
                      << (ring.find(id) == nullptr ? " (key not in this host's key file)" : "") << "\n";
        for (const auto& p : problems) std::cout << "problem: " << p << "\n";
    }
    if (!problems.empty()) throw Failure(kExitFailed, std::to_string(problems.size()) + " problem(s)");
}

}  // namespace

void register_fleet(CLI::App& app)
{
    auto* fleet = app.add_subcommand("fleet", "The fleet database: schema, keys, moving records in and out");
    fleet->require_subcommand(1);

    auto ia = std::make_shared<InitArgs>();
    auto* init = fleet->add_subcommand("init", "Create or upgrade the fleet database's schema");
    add_fleet_common(*init, ia->common, false);
    init->callback([ia] { run_init(*ia); });

    auto ka = std::make_shared<KeygenArgs>();
    auto* keygen = fleet->add_subcommand("keygen", "Write a new fleet key file, or add a key to one");
    keygen->add_option("--id", ka->id, "The key's id: 1-32 of A-Z a-z 0-9 . _ -")->required();
    auto* out = keygen->add_option("--out", ka->out, "A new key file holding the key, as the current key");
    auto* add = keygen->add_option("--add", ka->add, "An existing key file to add the key to (current unchanged)");
    out->excludes(add);
    keygen->callback([ka] { run_keygen(*ka); });

    auto ra = std::make_shared<RekeyArgs>();
    auto* rekey = fleet->add_subcommand("rekey", "Re-encrypt every record under this host's current key");
    add_fleet_common(*rekey, ra->common, false);
    rekey->add_option("--to", ra->to, "Confirms moving the fleet to this host's current key (its id)");
    rekey->callback([ra] { run_rekey(*ra); });

    for (const bool push : {true, false}) {
        auto ta = std::make_shared<TransferArgs>();
        auto* sub = fleet->add_subcommand(push ? "push" : "pull",
                                          push ? "Copy this server's records into the fleet database"
                                               : "Copy the fleet's records into this server's state directory");
        add_fleet_common(*sub, ta->common, true);
        sub->add_option("-u,--user", ta->users, "Only this user (repeatable; default: every user)");
        sub->add_flag("--force", ta->force, "Replace a different enrollment at the destination");
        sub->add_flag("--dry-run", ta->dry_run, "Report what would happen; write nothing");
        sub->callback([ta, push] { run_transfer(*ta, push); });
    }

    auto sa = std::make_shared<StatusArgs>();
    auto* status = fleet->add_subcommand("status", "Check the fleet database: clocks, schema, keys, users");
    add_fleet_common(*status, sa->common, false);
    status->callback([sa] { run_fleet_status(*sa); });
}

}  // namespace authctl::cli
