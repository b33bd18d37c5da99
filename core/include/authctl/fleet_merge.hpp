// SPDX-License-Identifier: Apache-2.0
// Moving a user's record between two stores (`authctl fleet push`: this
// server's files into the fleet database; `authctl fleet pull`: the reverse),
// as one pure decision: what the destination's record becomes, given the
// source's record and the destination's. The CLI runs it inside the
// destination's critical section and writes the result.
//
// The rule (docs/fleet.md, "Moving servers into the fleet"):
//  - Destination has no record, or only a tally (no enrollment): the source's
//    enrollment, recovery codes and granted groups are copied.
//  - Both hold the SAME enrollment (secret -- compared in constant time --,
//    type, algorithm, digits, period): merged. The replay state is the higher
//    of the two (TOTP last_step, HOTP counter), so no code used on either side
//    is accepted again; confirmed if either is. Recovery codes issued together
//    (same salt and iterations) keep only the codes unused on both sides; a
//    set issued separately (another salt) is not mixed in: the destination's
//    stays, and the result says so.
//  - A DIFFERENT enrollment at the destination is refused (nothing changes),
//    unless forced: then the source's enrollment and recovery codes replace it.
//  - Source without an enrollment (a tally only): the destination's enrollment stays.
//  - The tally (failures, lock): the destination's is kept, unless the
//    source's carries a lock that ends later (a lock is never lost by a move;
//    kLockedForever outlasts any other), in which case the source's tally is
//    taken whole (with its lock's reason and who set it). Failures below the
//    lock threshold are not summed: at most deny-1 failures counted on one
//    side are forgotten, once, by a move. Per-source entries (per_source) are
//    merged whichever tally wins: each source's later lock, the union of the
//    rest, at most kMaxSources (unlocked and oldest go first).
//  - The last success (time and source): the later of the two.
//  - Granted groups (for `authctl remove`): the union, the destination's first,
//    at most kMaxGrantedGroups.
//  - An invitation (issue 17, `authctl invite`) is the source store's own and
//    is not carried over; the destination's, if any, stays.
// A result equal to the destination's record is reported as already_there and
// needs no write.
#pragma once

#include <optional>

#include "authctl/record.hpp"

namespace authctl {

enum class TransferAction {
    copied,         // the destination had no enrollment: the source's was copied
    already_there,  // same enrollment, and merging changes nothing
    merged,         // same enrollment: replay state, recovery codes, tally or groups merged
    replaced,       // different enrollment, forced: the source's replaced it
    refused,        // different enrollment, not forced: nothing changes
};

// "copied", "already there", "merged", "replaced", "refused: different enrollment".
const char* transfer_action_text(TransferAction a) noexcept;

struct TransferDecision {
    TransferAction action = TransferAction::refused;
    std::optional<UserRecord> result;        // what to write; nullopt for refused and already_there
    // Same enrollment, but the recovery codes could not be merged safely (issued
    // separately, or none left on one side): none are kept; issue new ones.
    bool recovery_dropped = false;
};

// True when both enrollments are the same secret and parameters (the
// secret compared in constant time; replay state and confirmation ignored).
bool same_enrollment(const Enrollment& a, const Enrollment& b) noexcept;

// The replay state of two copies of the same enrollment (same_enrollment):
// `into` takes the higher TOTP last_step and HOTP counter of the two, so no
// code used with either is accepted again; confirmed if either is. Also what
// a re-import of the same key keeps (store_enrollment).
void merge_replay_state(Enrollment& into, const Enrollment& other) noexcept;

// The decision for one user (see the rule above). `source` is the record to
// move; `destination` the destination's current record (nullopt: none).
TransferDecision decide_transfer(const UserRecord& source, const std::optional<UserRecord>& destination, bool force);

}  // namespace authctl
