// SPDX-License-Identifier: Apache-2.0
// An arbitrary UserRecord, in range or not, built from a source of choices: a
// seeded generator in the unit test, the fuzzer's bytes in fuzz_record_write.
// Values cluster at the format's limits (one below, at, one above), where
// validate_record and parse_record could disagree.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "authctl/record.hpp"

namespace authctl::test {

// Source needs: std::uint64_t below(std::uint64_t n) (0..n-1; n > 0) and
// std::uint64_t any() (every 64-bit value possible).
template <typename Source>
UserRecord arbitrary_record(Source& src)
{
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
    auto time_value = [&src]() -> std::int64_t {
        switch (src.below(7)) {
            case 0: return -1;
            case 1: return 0;
            case 2: return kMax - 1;
            case 3: return kMax;
            case 4: return kMin;
            case 5: return static_cast<std::int64_t>(src.any());
            default: return 1700000000 + static_cast<std::int64_t>(src.below(1000000));
        }
    };
    auto pick_u32 = [&src](std::initializer_list<std::uint32_t> edges) -> std::uint32_t {
        const std::uint64_t i = src.below(edges.size() + 1);
        return i == edges.size() ? static_cast<std::uint32_t>(src.any()) : edges.begin()[i];
    };
    auto bytes = [&src](std::size_t n) {
        std::string s;
        for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(src.below(256)));
        return s;
    };

    UserRecord r;
    if (src.below(5) != 0) {
        Enrollment e;
        // Now and then a value outside the enum (see enums_in_range).
        const OtpType types[] = {OtpType::totp, OtpType::hotp, static_cast<OtpType>(2 + src.below(250))};
        e.type = types[src.below(50) == 0 ? 2 : src.below(2)];
        const HashAlgo algos[] = {HashAlgo::sha1, HashAlgo::sha256, HashAlgo::sha512,
                                  static_cast<HashAlgo>(3 + src.below(250))};
        e.algo = algos[src.below(50) == 0 ? 3 : src.below(3)];
        e.digits = pick_u32({0, kMinDigits - 1, kMinDigits, 7, kMaxDigits, kMaxDigits + 1});
        e.period = pick_u32({0, kMinPeriod, 30, kMaxPeriod, kMaxPeriod + 1});
        e.counter = src.below(2) == 0 ? src.any() : std::numeric_limits<std::uint64_t>::max();
        if (src.below(2) == 0) e.last_step = src.below(2) == 0 ? src.any() : 0;
        const std::size_t sizes[] = {0, 1, 10, 20, 64, kMaxSecretBytes, kMaxSecretBytes + 1};
        const std::string key = bytes(sizes[src.below(7)]);
        e.secret = SecretBytes(reinterpret_cast<const std::uint8_t*>(key.data()), key.size());
        e.created = time_value();
        e.confirmed = src.below(2) == 0;
        r.enrollment = std::move(e);
    }
    if (src.below(3) == 0) {
        r.recovery.iterations = pick_u32({0, kMinRecoveryIterations - 1, kMinRecoveryIterations, kRecoveryIterations,
                                          kMaxRecoveryIterations, kMaxRecoveryIterations + 1});
        const std::size_t salts[] = {0, 7, 8, 16, 64, 65};
        const std::string salt = bytes(salts[src.below(6)]);
        r.recovery.salt.assign(salt.begin(), salt.end());
        const std::size_t counts[] = {0, 1, 10, kMaxRecoveryCodes, kMaxRecoveryCodes + 1};
        const std::size_t n = counts[src.below(5)];
        for (std::size_t i = 0; i < n; ++i) {
            RecoveryHash h{};
            for (auto& b : h) b = static_cast<std::uint8_t>(src.below(256));
            r.recovery.hashes.push_back(h);
        }
    }
    r.tally.failures = pick_u32({0, 1, 3, std::numeric_limits<std::uint32_t>::max()});
    r.tally.first_failure = time_value();
    r.tally.last_failure = time_value();
    const std::string sources[] = {"", "-", "192.0.2.7", "a b", "tty1\x01", std::string(kMaxSourceLength + 5, 'h'),
                                   "caf\xc3\xa9"};
    r.tally.last_source = src.below(8) == 7 ? bytes(src.below(200)) : sources[src.below(7)];
    r.tally.locked_until = src.below(4) == 0 ? kLockedForever : time_value();
    // Now and then a reason outside the enum (see enums_in_range), or one without a lock.
    const LockReason reasons[] = {LockReason::unknown, LockReason::failures, LockReason::admin,
                                  LockReason::consecutive, static_cast<LockReason>(4 + src.below(250))};
    r.tally.lock_reason = reasons[src.below(50) == 0 ? 4 : src.below(4)];
    const std::string admins[] = {"", "-", "bob", "uid:1000", "a b", std::string(kMaxLockedByLength, 'b'),
                                  std::string(kMaxLockedByLength + 1, 'b'), "caf\xc3\xa9"};
    r.tally.locked_by = src.below(3) == 0 ? admins[src.below(8)] : std::string();
    r.tally.last_success = src.below(3) == 0 ? 0 : time_value();
    r.tally.last_success_source = src.below(8) == 7 ? bytes(src.below(200)) : sources[src.below(7)];
    // Version 3: the failures since the last success and the source table,
    // its keys now and then alike as written ("a b" and "a?b", "" and "-",
    // two that differ only after kMaxSourceLength bytes).
    if (src.below(2) == 0) {
        r.tally.failures_since_success = pick_u32({0, 1, std::numeric_limits<std::uint32_t>::max()});
        r.tally.sources_since_success = pick_u32({0, 1, 32});
    }
    const std::string keys[] = {"",
                                "-",
                                "a b",
                                "a?b",
                                "192.0.2.7",
                                "2001:db8:1:2::/64",
                                "tty:pts/3",
                                std::string(kMaxSourceLength, 'k'),
                                std::string(kMaxSourceLength, 'k') + "x",
                                "caf\xc3\xa9"};
    const std::size_t table_sizes[] = {0, 1, 2, 3, kMaxSources, kMaxSources + 1};
    const std::size_t n_sources = src.below(3) == 0 ? table_sizes[src.below(6)] : 0;
    // A table is refused if any entry is: entries are mostly in range, so
    // that whole tables pass often enough to be tested.
    auto entry_time = [&src, &time_value]() -> std::int64_t {
        return src.below(8) == 0 ? time_value() : 1700000000 + static_cast<std::int64_t>(src.below(1000000));
    };
    for (std::size_t i = 0; i < n_sources; ++i) {
        SourceTally s;
        // Mostly distinct keys; now and then one from the list (which may collide).
        s.source = src.below(16) == 0 ? keys[src.below(10)]
                   : src.below(16) == 0 ? bytes(src.below(200))
                                         : "h" + std::to_string(i);
        s.failures = pick_u32({0, 1, 3, std::numeric_limits<std::uint32_t>::max()});
        s.first_failure = src.below(4) == 0 ? 0 : entry_time();
        s.last_failure = entry_time();
        s.locked_until = src.below(2) == 0 ? 0 : src.below(4) == 0 ? kLockedForever : entry_time();
        const LockReason source_reasons[] = {LockReason::unknown, LockReason::failures, LockReason::admin,
                                             static_cast<LockReason>(3 + src.below(250))};
        // Mostly the reason that goes with the lock; now and then any.
        if (src.below(16) == 0)
            s.lock_reason = source_reasons[src.below(100) == 0 ? 3 : src.below(3)];
        else
            s.lock_reason = s.locked_until == 0 ? LockReason::unknown
                            : src.below(2) == 0 ? LockReason::failures
                                                : LockReason::admin;
        s.locked_by = src.below(3) == 0 ? admins[src.below(8)] : std::string();
        s.since_success = src.below(2) == 0;
        r.tally.sources.push_back(std::move(s));
    }
    const std::string groups[] = {"wheel", "sudo-2fa", "a.b_c", "", "-x", "a b", std::string(kMaxGroupName, 'g'),
                                  std::string(kMaxGroupName + 1, 'g'), "caf\xc3\xa9"};
    const std::uint64_t n_groups = src.below(kMaxGrantedGroups + 2);
    for (std::uint64_t i = 0; i < n_groups; ++i)
        r.granted_groups.push_back(src.below(6) == 0 ? groups[src.below(9)] : groups[src.below(3)]);
    if (src.below(3) == 0) {
        const std::string names[] = {"alice", "../x y", "-", "", "caf\xc3\xa9", std::string(300, 'n'), "a\x01"};
        std::optional<std::uint32_t> uid;
        if (src.below(3) != 0) uid = pick_u32({0, 1000, std::numeric_limits<std::uint32_t>::max()});
        r.account = AccountBinding{uid, names[src.below(7)]};
    }
    // Issue 17: an invitation, with or without an enrollment; now and then a
    // type or algorithm outside the enum (see enums_in_range).
    if (src.below(3) == 0) {
        // Mostly in range, so that records with one pass often enough to be tested.
        Invitation inv;
        inv.nonce = src.below(32) == 0 ? 0 : src.below(2) == 0 ? src.any() : std::numeric_limits<std::uint64_t>::max();
        inv.created = src.below(16) == 0 ? time_value() : entry_time();
        inv.expires = src.below(16) == 0 ? time_value() : entry_time();
        const OtpType types[] = {OtpType::totp, OtpType::hotp, static_cast<OtpType>(2 + src.below(250))};
        inv.params.type = types[src.below(50) == 0 ? 2 : src.below(2)];
        const HashAlgo algos[] = {HashAlgo::sha1, HashAlgo::sha256, HashAlgo::sha512,
                                  static_cast<HashAlgo>(3 + src.below(250))};
        inv.params.algo = algos[src.below(50) == 0 ? 3 : src.below(3)];
        inv.params.digits = src.below(8) == 0 ? pick_u32({0, kMinDigits - 1, kMinDigits, 7, kMaxDigits, kMaxDigits + 1})
                                              : kMinDigits + static_cast<unsigned>(src.below(3));
        inv.params.period =
            src.below(8) == 0 ? pick_u32({0, kMinPeriod, 30, kMaxPeriod, kMaxPeriod + 1}) : 30;
        inv.replace = src.below(2) == 0;
        inv.invited_by = src.below(2) == 0 ? admins[src.below(8)] : std::string();
        const std::uint64_t n_invite_groups = src.below(4) == 0 ? src.below(kMaxGrantedGroups + 2) : src.below(3);
        for (std::uint64_t i = 0; i < n_invite_groups; ++i)
            inv.grant_groups.push_back(src.below(6) == 0 ? groups[src.below(9)] : groups[src.below(3)]);
        r.invitation = std::move(inv);
    }
    return r;
}

// False for a record whose type, algorithm (the enrollment's or the
// invitation's) or lock reason (the user's or a source's) is none of the enum's names:
// validate_record refuses it, though the parser may read the writer's text
// (it spells an unknown algorithm SHA1).
inline bool enums_in_range(const UserRecord& r)
{
    auto in_enum = [](LockReason reason) {
        return reason == LockReason::unknown || reason == LockReason::failures || reason == LockReason::admin;
    };
    // consecutive is a user-wide reason only (a source is never locked by the cap).
    if (!in_enum(r.tally.lock_reason) && r.tally.lock_reason != LockReason::consecutive) return false;
    for (const SourceTally& s : r.tally.sources)
        if (!in_enum(s.lock_reason)) return false;
    if (const auto& inv = r.invitation) {
        const auto t = inv->params.type;
        const auto a = inv->params.algo;
        if (t != OtpType::totp && t != OtpType::hotp) return false;
        if (a != HashAlgo::sha1 && a != HashAlgo::sha256 && a != HashAlgo::sha512) return false;
    }
    if (!r.enrollment) return true;
    const auto t = r.enrollment->type;
    const auto a = r.enrollment->algo;
    return (t == OtpType::totp || t == OtpType::hotp) &&
           (a == HashAlgo::sha1 || a == HashAlgo::sha256 || a == HashAlgo::sha512);
}

}  // namespace authctl::test
