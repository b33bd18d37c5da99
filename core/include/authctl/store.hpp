// SPDX-License-Identifier: Apache-2.0
// The store seam: every login and admin decision in core runs over `Store`,
// which has two implementations -- the file store below (the default) and the
// PostgreSQL fleet store (agent/pg_store.hpp, linked only by authctld and the
// CLI). A decision takes a user's record with lock(), changes it, writes it
// with commit() and ends with finish(); its verdict counts only when finish()
// succeeded.
//
// The file store: one record file per user in a root-only state directory.
//
//   DIR/            root:root 0700
//   DIR/NAME.rec    the record (docs/FILEFORMAT.md), root 0600, replaced atomically
//   DIR/NAME.lock   empty, root 0600: flock()ed for every read-modify-write
//   DIR/NAME.tmp    transient, during a replace
//
//   DIR/.bucket.key the key of the buckets of unknown names (kBucketKeyBytes
//                   raw bytes), root 0600; DIR/.bucket.key.*.tmp while it is made
//
// NAME is the encoded user name (username.hpp), so the three suffixes never
// collide, and no NAME starts with '.' (encoded as %2E), so no record is the key. Every path is opened relative to the directory fd with O_NOFOLLOW;
// each file's type, owner and mode are checked on the opened fd.
//
// Concurrency: UserStore::lock() holds the user's lock file exclusively until
// the LockedRecord is destroyed, so a check, a verification and the recording
// of its result form one critical section. Writers replace the record by
// rename, so a reader without the lock (load(), `authctl status`) always sees
// a whole record. A lock file is unlinked only by its holder (remove()), and a
// waiter that wakes up holding a lock on an unlinked file tries again.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authctl/file_util.hpp"
#include "authctl/record.hpp"
#include "authctl/result.hpp"

namespace authctl {

// One user's record inside a store's critical section (the file store's flock,
// a database transaction). Implementations live with their store.
class RecordTxn {
public:
    virtual ~RecordTxn() = default;
    virtual std::optional<UserRecord>& record() noexcept = 0;
    // Writes record() (nullopt: deletes the user) inside the section. The file
    // store makes it durable here; the database store within its transaction.
    virtual Status commit() = 0;
    // Ends the section. Ok only when every commit() is durable and acknowledged
    // (the database's COMMIT); otherwise the outcome is unknown: fail closed.
    virtual Status finish() = 0;
    // The store's clock for this section (the database's time), or nullopt
    // when the caller's clock is the one to use (the file store).
    virtual std::optional<std::int64_t> clock() const noexcept = 0;
};

// A user's record held in its store's critical section. Changes made to
// record() reach the store only through commit(); a decision's verdict stands
// only once finish() returned Ok. Dropping the object without finish() ends
// the section (a database transaction is rolled back).
class LockedRecord {
public:
    LockedRecord(std::unique_ptr<RecordTxn> txn, std::string user) : txn_(std::move(txn)), user_(std::move(user)) {}
    std::optional<UserRecord>& record() noexcept { return txn_->record(); }
    const std::string& user() const noexcept { return user_; }

    // For the file store: writes record() (atomic replace), or deletes the
    // user's files when it is nullopt. A record that would not parse back is
    // refused and not written. On failure the old record is in place, except
    // when the final directory fsync (or, on removal, unlinking the lock file)
    // fails after the change: the caller must then treat the outcome as
    // unknown and fail closed. After a removal, further commits are refused.
    Status commit() { return txn_->commit(); }
    Status finish() { return txn_->finish(); }

    // The time this section's decisions use: the store's clock when it has
    // one, else `fallback` (the caller's).
    std::int64_t now(std::int64_t fallback) const noexcept { return txn_->clock().value_or(fallback); }

private:
    std::unique_ptr<RecordTxn> txn_;
    std::string user_;
};

// A record read outside any critical section, with the store's clock at the read.
struct Snapshot {
    std::optional<UserRecord> record;
    std::optional<std::int64_t> clock;  // nullopt: use the caller's clock
};

inline constexpr std::size_t kBucketKeyBytes = 32;

class Store {
public:
    virtual ~Store() = default;

    // Reads a user's record without taking the lock. nullopt when the user has
    // none; Errc::corrupt / Errc::insecure when the record is bad (never "absent").
    virtual Result<std::optional<UserRecord>> load(std::string_view user) const = 0;

    // As load(), with the store's clock at the time of the read.
    virtual Result<Snapshot> snapshot(std::string_view user) const;

    // Takes the user's exclusive lock (blocking, bounded by the store) and loads the record.
    virtual Result<LockedRecord> lock(std::string_view user) const = 0;

    struct Listing {
        std::vector<std::string> users;       // decoded names with a record, sorted
        std::vector<std::string> unexpected;  // entries that are not ours
    };
    // Every user with a record. Cost is linear in the store, for `status`.
    virtual Result<Listing> list() const = 0;

    // Calls `visit` for every user with a record, in name order, each with its
    // record or the error reading it; for listings of every user (status,
    // audit). The default lists, then loads each user.
    using Visitor = std::function<void(const std::string& user, Result<std::optional<UserRecord>>&& rec)>;
    virtual Status scan(const Visitor& visit) const;

    // The key of the buckets of names that do not exist (login.hpp,
    // unknown_name_bucket): kBucketKeyBytes random bytes, created at first
    // need and the same for every later caller (a creation race ends with one
    // key). The file store keeps it in DIR/.bucket.key, the fleet store in its
    // database. Errc::insecure / Errc::corrupt for a key that is not right,
    // Errc::io when it cannot be read or made.
    virtual Result<SecretBytes> bucket_key() const = 0;

    // Where the records are, for messages ("/var/lib/authctl", "fleet database").
    virtual std::string describe() const = 0;
};

// Checks a record that is about to be written (validate_record) and returns
// its text (docs/FILEFORMAT.md), naming `user` in any error; what every store
// writes, so nothing stored can fail to parse back.
Result<SecretBytes> record_text_for_write(const UserRecord& rec, std::string_view user);

// The file store.
class UserStore : public Store {
public:
    // Opens an existing state directory, refusing a symlink, a directory not
    // owned by root, or one with any group/other permission (Errc::insecure).
    // Errc::not_found when it does not exist.
    static Result<UserStore> open(const std::string& dir);

    // As open(), but first creates the directory (root, 0700) when it is
    // missing; its parent must exist.
    static Result<UserStore> open_or_create(const std::string& dir);

    Result<std::optional<UserRecord>> load(std::string_view user) const override;

    // Takes the user's flock (blocking) and loads the record.
    Result<LockedRecord> lock(std::string_view user) const override;

    using Listing = Store::Listing;
    Result<Listing> list() const override;

    std::string describe() const override { return path_; }

    // DIR/.bucket.key: read (O_NOFOLLOW, a regular file of root's, no
    // group/other bits, one link, exactly kBucketKeyBytes), or when missing
    // made race-free: written to a fresh temp file (O_EXCL), fsynced, then
    // renamed to its name only if none is there yet (RENAME_NOREPLACE); the
    // loser of a race reads the winner's.
    Result<SecretBytes> bucket_key() const override;
    // The key file only read, never made (doctor): Errc::not_found when there
    // is none yet, else the key or why it is refused.
    Result<SecretBytes> existing_bucket_key() const;

    const std::string& path() const noexcept { return path_; }
    int fd() const noexcept { return dirfd_.get(); }

private:
    UserStore(std::string path, UniqueFd fd) : path_(std::move(path)), dirfd_(std::move(fd)) {}
    std::string path_;
    UniqueFd dirfd_;
};

}  // namespace authctl
