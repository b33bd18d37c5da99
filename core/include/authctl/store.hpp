// The user store: one record file per user in a root-only state directory.
//
//   DIR/            root:root 0700
//   DIR/NAME.rec    the record (docs/FILEFORMAT.md), root 0600, replaced atomically
//   DIR/NAME.lock   empty, root 0600: flock()ed for every read-modify-write
//   DIR/NAME.tmp    transient, during a replace
//
// NAME is the encoded user name (username.hpp), so the three suffixes never
// collide. Every path is opened relative to the directory fd with O_NOFOLLOW;
// each file's type, owner and mode are checked on the opened fd.
//
// Concurrency: UserStore::lock() holds the user's lock file exclusively until
// the LockedRecord is destroyed, so a check, a verification and the recording
// of its result form one critical section. Writers replace the record by
// rename, so a reader without the lock (load(), `authctl status`) always sees
// a whole record. A lock file is unlinked only by its holder (remove()), and a
// waiter that wakes up holding a lock on an unlinked file tries again.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "authctl/file_util.hpp"
#include "authctl/record.hpp"
#include "authctl/result.hpp"

namespace authctl {

class LockedRecord;

class UserStore {
public:
    // Opens an existing state directory, refusing a symlink, a directory not
    // owned by root, or one with any group/other permission (Errc::insecure).
    // Errc::not_found when it does not exist.
    static Result<UserStore> open(const std::string& dir);

    // As open(), but first creates the directory (root, 0700) when it is
    // missing; its parent must exist.
    static Result<UserStore> open_or_create(const std::string& dir);

    // Reads a user's record without taking the lock. nullopt when the user has
    // none; Errc::corrupt / Errc::insecure when the file is bad (never "absent").
    Result<std::optional<UserRecord>> load(std::string_view user) const;

    // Takes the user's exclusive lock (blocking) and loads the record.
    Result<LockedRecord> lock(std::string_view user) const;

    struct Listing {
        std::vector<std::string> users;       // decoded names with a .rec file, sorted
        std::vector<std::string> unexpected;  // entries that are not ours
    };
    // Every user with a record. Cost is linear in the directory, for `status`.
    Result<Listing> list() const;

    const std::string& path() const noexcept { return path_; }
    int fd() const noexcept { return dirfd_.get(); }

private:
    UserStore(std::string path, UniqueFd fd) : path_(std::move(path)), dirfd_(std::move(fd)) {}
    std::string path_;
    UniqueFd dirfd_;
};

// A user's record held under the user's lock. Changes made to record() reach
// the disk only through commit(); dropping the object releases the lock.
class LockedRecord {
public:
    std::optional<UserRecord>& record() noexcept { return record_; }
    const std::string& user() const noexcept { return user_; }

    // Writes record() (atomic replace), or deletes the user's files when it is
    // nullopt. A record that would not parse back is refused and not written.
    // On failure the old record is in place, except when the final directory
    // fsync (or, on removal, unlinking the lock file) fails after the change:
    // the caller must then treat the outcome as unknown and fail closed. After
    // a removal, further commits are refused.
    Status commit();

private:
    friend class UserStore;
    LockedRecord(UniqueFd dirfd, std::string user, std::string stem, UniqueFd lock)
        : dirfd_(std::move(dirfd)), user_(std::move(user)), stem_(std::move(stem)), lock_(std::move(lock))
    {
    }
    UniqueFd dirfd_;  // our own duplicate: valid even if the UserStore goes first
    std::string user_;
    std::string stem_;
    UniqueFd lock_;
    std::optional<UserRecord> record_;
    bool removed_ = false;
};

}  // namespace authctl
