// SPDX-License-Identifier: Apache-2.0
#include "authctl/fleet_merge.hpp"

#include <algorithm>

namespace authctl {
namespace {

// One issue of codes with some left on both sides (same salt and
// iterations): only the codes unused on both sides stay usable. Anything else
// cannot be merged without risking a used code: sets issued separately (one
// side regenerated them, perhaps because they leaked), or one side with none
// left (a record keeps no salt once its last code is used, so "used up" looks
// like "never issued"). Then no code is kept, and the caller says so: the
// admin issues new ones. Returns true when codes of `into` were dropped that way.
bool merge_recovery(RecoverySet& into, const RecoverySet& other)
{
    if (into.hashes.empty()) return false;  // nothing here that could be used twice
    if (other.hashes.empty() || into.salt != other.salt || into.iterations != other.iterations) {
        into = RecoverySet{};
        return true;
    }
    std::erase_if(into.hashes, [&other](const RecoveryHash& h) {
        return std::find(other.hashes.begin(), other.hashes.end(), h) == other.hashes.end();
    });
    return false;
}

void merge_groups(std::vector<std::string>& into, const std::vector<std::string>& other)
{
    for (const auto& g : other) {
        if (into.size() >= kMaxGrantedGroups) break;
        if (std::find(into.begin(), into.end(), g) == into.end()) into.push_back(g);
    }
}

// Source locks are never lost by a move either: each source's entry with the
// later lock (on a tie, the one already in `into`), the union of the rest,
// and when that is more than the table holds, the least useful entries go as
// they would at a login (unlocked and oldest first, then the lock ending first).
void merge_sources(std::vector<SourceTally>& into, const std::vector<SourceTally>& other)
{
    for (const SourceTally& o : other) {
        auto it = std::find_if(into.begin(), into.end(), [&o](const SourceTally& s) { return s.source == o.source; });
        if (it == into.end())
            into.push_back(o);
        else if (o.locked_until > it->locked_until)
            *it = o;
    }
    while (into.size() > kMaxSources) {
        auto victim = std::min_element(into.begin(), into.end(), [](const SourceTally& a, const SourceTally& b) {
            if ((a.locked_until == 0) != (b.locked_until == 0)) return a.locked_until == 0;
            if (a.locked_until != b.locked_until) return a.locked_until < b.locked_until;
            return a.last_failure < b.last_failure;
        });
        into.erase(victim);
    }
}

bool same_record(const UserRecord& a, const UserRecord& b)
{
    const SecretBytes ta = serialize_record(a);
    const SecretBytes tb = serialize_record(b);
    return equal_ct(ta.view(), tb.view());
}

}  // namespace

const char* transfer_action_text(TransferAction a) noexcept
{
    switch (a) {
        case TransferAction::copied: return "copied";
        case TransferAction::already_there: return "already there";
        case TransferAction::merged: return "merged";
        case TransferAction::replaced: return "replaced";
        case TransferAction::refused: return "refused: different enrollment";
    }
    return "?";
}

void merge_replay_state(Enrollment& into, const Enrollment& other) noexcept
{
    if (other.last_step && (!into.last_step || *other.last_step > *into.last_step)) into.last_step = other.last_step;
    into.counter = std::max(into.counter, other.counter);
    into.confirmed = into.confirmed || other.confirmed;
}

bool same_enrollment(const Enrollment& a, const Enrollment& b) noexcept
{
    // Evaluate every part, so the time taken says nothing about which differs.
    const bool params = a.type == b.type && a.algo == b.algo && a.digits == b.digits && a.period == b.period;
    const bool secret = equal_ct(a.secret.view(), b.secret.view());
    return params && secret;
}

// A transfer moves a record between stores whose hosts may give the user
// other uids (issue 19): the binding travels by name only, and a store that
// compares uids learns the uid again at the user's next login there.
static std::optional<AccountBinding> by_name(std::optional<AccountBinding> account)
{
    if (account) account->uid = std::nullopt;
    return account;
}

TransferDecision decide_transfer(const UserRecord& source, const std::optional<UserRecord>& destination, bool force)
{
    TransferDecision d;
    if (!destination) {
        d.action = TransferAction::copied;
        d.result = source.clone();
        d.result->account = by_name(source.account);
        d.result->invitation.reset();  // this host's (issue 17): not carried to another store
        return d;
    }
    UserRecord out = destination->clone();
    if (!source.enrollment) {
        d.action = TransferAction::merged;  // a tally only: nothing to copy but the tally and groups
    } else if (!out.enrollment) {
        out.enrollment = source.enrollment->clone();
        out.recovery = source.recovery;
        d.action = TransferAction::copied;
    } else if (same_enrollment(*source.enrollment, *out.enrollment)) {
        merge_replay_state(*out.enrollment, *source.enrollment);
        d.recovery_dropped = merge_recovery(out.recovery, source.recovery);
        d.action = TransferAction::merged;
    } else if (!force) {
        d.action = TransferAction::refused;
        return d;
    } else {
        out.enrollment = source.enrollment->clone();
        out.recovery = source.recovery;
        d.action = TransferAction::replaced;
    }
    // The later lock wins whole (0 = none, kLockedForever the latest); on a tie the destination's stays.
    // The per-source entries of both sides are merged whichever tally wins.
    std::vector<SourceTally> sources = out.tally.sources;
    merge_sources(sources, source.tally.sources);
    if (source.tally.locked_until > out.tally.locked_until) {
        const std::int64_t success = out.tally.last_success;
        std::string success_source = out.tally.last_success_source;
        out.tally = source.tally;
        out.tally.last_success = success;
        out.tally.last_success_source = std::move(success_source);
    }
    out.tally.sources = std::move(sources);
    // The later success wins (with its source), whichever tally was kept.
    if (source.tally.last_success > out.tally.last_success) {
        out.tally.last_success = source.tally.last_success;
        out.tally.last_success_source = source.tally.last_success_source;
    }
    merge_groups(out.granted_groups, source.granted_groups);
    // The binding goes with the enrollment: the source's when it was taken from there.
    const bool taken = d.action == TransferAction::copied || d.action == TransferAction::replaced;
    out.account = by_name(taken && source.account ? source.account : out.account ? out.account : source.account);
    if (d.action == TransferAction::merged && same_record(out, *destination)) {
        d.action = TransferAction::already_there;
        return d;
    }
    d.result = std::move(out);
    return d;
}

}  // namespace authctl
