// SPDX-License-Identifier: Apache-2.0
#include "authctl/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <memory>

#include "authctl/secret.hpp"
#include "authctl/username.hpp"

namespace authctl {
namespace {

constexpr std::string_view kRecordSuffix = ".rec";
constexpr std::string_view kLockSuffix = ".lock";
constexpr std::string_view kTempSuffix = ".tmp";
constexpr std::string_view kBucketKeyName = ".bucket.key";
constexpr int kLockRetries = 100;
constexpr std::chrono::seconds kLockRetryTime{10};

Result<std::optional<UserRecord>> read_record(int dirfd, std::string_view user, const std::string& stem)
{
    const std::string name = stem + std::string(kRecordSuffix);
    auto text = read_trusted_file(dirfd, name, kMaxRecordBytes, FileTrust::root_private);
    if (!text) {
        if (text.error().code == Errc::not_found) return std::optional<UserRecord>{};
        return make_error(text.error().code, "user '" + std::string(user) + "': " + text.error().detail);
    }
    auto rec = parse_record(text->view());
    if (!rec)
        return make_error(Errc::corrupt, "user '" + std::string(user) + "' (" + name + "): " + rec.error().detail);
    return std::optional<UserRecord>(std::move(*rec));
}

bool ends_with(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The file store's critical section: the user's flock, held until destruction.
class FileRecordTxn final : public RecordTxn {
public:
    FileRecordTxn(UniqueFd dirfd, std::string user, std::string stem, UniqueFd lock)
        : dirfd_(std::move(dirfd)), user_(std::move(user)), stem_(std::move(stem)), lock_(std::move(lock))
    {
    }
    // A user with no record on disk when the lock is let go leaves no lock
    // file behind either (a reset, a verify or a login of a user never
    // enrolled wrote nothing, so nothing of theirs stays in the directory).
    // It is unlinked while still held, as remove does: a waiter finds its
    // file unlinked and starts again.
    ~FileRecordTxn() override
    {
        if (!removed_ && !on_disk_) {
            // Only our own file: not one a stray `rm *.lock` let another holder create.
            const std::string lock_name = stem_ + std::string(kLockSuffix);
            struct stat held {
            }, linked{};
            if (::fstat(lock_.get(), &held) == 0 &&
                ::fstatat(dirfd_.get(), lock_name.c_str(), &linked, AT_SYMLINK_NOFOLLOW) == 0 &&
                held.st_dev == linked.st_dev && held.st_ino == linked.st_ino)
                ::unlinkat(dirfd_.get(), lock_name.c_str(), 0);
        }
    }
    FileRecordTxn(const FileRecordTxn&) = delete;
    FileRecordTxn& operator=(const FileRecordTxn&) = delete;
    std::optional<UserRecord>& record() noexcept override { return record_; }
    void loaded(std::optional<UserRecord> rec) noexcept
    {
        on_disk_ = rec.has_value();
        record_ = std::move(rec);
    }
    Status commit() override;
    // Every commit() was durable when it returned: nothing is left to acknowledge.
    Status finish() override { return Ok{}; }
    std::optional<std::int64_t> clock() const noexcept override { return std::nullopt; }

    int dirfd() const noexcept { return dirfd_.get(); }

private:
    UniqueFd dirfd_;  // our own duplicate: valid even if the UserStore goes first
    std::string user_;
    std::string stem_;
    UniqueFd lock_;
    std::optional<UserRecord> record_;
    bool removed_ = false;
    bool on_disk_ = true;  // the user's record file exists, or may (until read as absent at lock)
};

}  // namespace

Result<Snapshot> Store::snapshot(std::string_view user) const
{
    auto rec = load(user);
    if (!rec) return rec.error();
    return Snapshot{std::move(*rec), std::nullopt};
}

Status Store::scan(const Visitor& visit) const
{
    auto listing = list();
    if (!listing) return listing.error();
    for (const auto& u : listing->users) visit(u, load(u));
    return Ok{};
}

Result<SecretBytes> record_text_for_write(const UserRecord& rec, std::string_view user)
{
    // Never write what could not be read back: a record the parser refuses
    // would lock its user out for good.
    if (auto ok = validate_record(rec); !ok)
        return make_error(ok.error().code, "user '" + std::string(user) + "': " + ok.error().detail);
    SecretBytes text = serialize_record(rec);
    // Unreachable with today's limits (the largest valid record is under
    // 4 KiB), but the parser refuses more than this.
    if (text.size() > kMaxRecordBytes)
        return make_error(Errc::invalid_argument,
                          "user '" + std::string(user) + "': record not written: larger than 16 KiB");
#ifdef AUTHCTL_CROSS_CHECK_WRITES
    // Debug builds (the sanitizer pass of scripts/test) also parse it back,
    // so every test that writes a record checks validate_record against the parser.
    if (auto back = parse_record(text.view()); !back)
        return make_error(Errc::invalid_argument, "validate_record passed a record the parser refuses, for '" +
                                                      std::string(user) + "': " + back.error().detail);
#endif
    return text;
}

Result<UserStore> UserStore::open(const std::string& dir)
{
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        struct stat st {};
        if ((err == ELOOP || err == ENOTDIR) && ::lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
            return make_error(Errc::insecure, "state directory '" + dir + "' is a symbolic link");
        return sys_error("cannot open state directory", dir, err);
    }
    if (auto st = check_fd(fd.get(), dir, S_IFDIR, FileTrust::root_private); !st)
        return make_error(st.error().code, "state directory " + st.error().detail);
    return UserStore(dir, std::move(fd));
}

Result<UserStore> UserStore::open_or_create(const std::string& dir)
{
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return sys_error("cannot create state directory", dir, errno);
    return open(dir);
}

Result<std::optional<UserRecord>> UserStore::load(std::string_view user) const
{
    auto stem = encode_user_name(user);
    if (!stem) return stem.error();
    return read_record(dirfd_.get(), user, *stem);
}

Result<LockedRecord> UserStore::lock(std::string_view user) const
{
    auto stem = encode_user_name(user);
    if (!stem) return stem.error();
    const std::string lock_name = *stem + std::string(kLockSuffix);
    // Each new start means another process held the lock and let its file go
    // (a removal, or a user with no record): progress, not a fault. A waiter
    // gives up only after kLockRetries starts *and* kLockRetryTime.
    const auto give_up = std::chrono::steady_clock::now() + kLockRetryTime;
    for (int attempt = 0; attempt < kLockRetries || std::chrono::steady_clock::now() < give_up; ++attempt) {
        UniqueFd fd(
            ::openat(dirfd_.get(), lock_name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600));
        if (!fd.valid()) {
            if (errno == ELOOP) return make_error(Errc::insecure, "'" + lock_name + "' is a symbolic link");
            return sys_error("cannot open lock file", lock_name, errno);
        }
        // A lock file with no link left was just removed with its user: start again.
        struct stat opened {};
        if (::fstat(fd.get(), &opened) != 0) return sys_error("cannot stat", lock_name, errno);
        if (opened.st_nlink == 0) continue;
        if (auto st = check_fd(fd.get(), lock_name, S_IFREG, FileTrust::root_private); !st) return st.error();
        while (::flock(fd.get(), LOCK_EX) != 0) {
            if (errno != EINTR) return sys_error("cannot lock", lock_name, errno);
        }
        // The holder before us may have removed the user (and the lock file).
        struct stat held {
        }, linked{};
        if (::fstat(fd.get(), &held) != 0) return sys_error("cannot stat", lock_name, errno);
        if (::fstatat(dirfd_.get(), lock_name.c_str(), &linked, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;
            return sys_error("cannot stat", lock_name, errno);
        }
        if (held.st_dev != linked.st_dev || held.st_ino != linked.st_ino) continue;

        UniqueFd dir(::fcntl(dirfd_.get(), F_DUPFD_CLOEXEC, 0));
        if (!dir.valid()) return sys_error("cannot duplicate descriptor of", path_, errno);
        auto txn = std::make_unique<FileRecordTxn>(std::move(dir), std::string(user), *stem, std::move(fd));
        auto rec = read_record(txn->dirfd(), user, *stem);
        if (!rec) return rec.error();
        txn->loaded(std::move(*rec));
        return LockedRecord(std::move(txn), std::string(user));
    }
    return make_error(Errc::io, "cannot lock '" + lock_name + "': it keeps being replaced");
}

Result<UserStore::Listing> UserStore::list() const
{
    const int fd = ::openat(dirfd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("cannot read state directory", path_, errno);
    std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(fd), &::closedir);
    if (!d) {
        const int err = errno;
        ::close(fd);
        return sys_error("cannot read state directory", path_, err);
    }
    Listing out;
    for (;;) {
        errno = 0;
        const dirent* ent = ::readdir(d.get());
        if (ent == nullptr) {
            if (errno != 0) return sys_error("cannot read state directory", path_, errno);
            break;
        }
        const std::string_view name = ent->d_name;
        if (name == "." || name == ".." || name == kBucketKeyName) continue;
        if (ends_with(name, kRecordSuffix)) {
            auto user = decode_user_name(name.substr(0, name.size() - kRecordSuffix.size()));
            if (user) {
                out.users.push_back(std::move(*user));
                continue;
            }
        } else if (ends_with(name, kLockSuffix) || ends_with(name, kTempSuffix)) {
            continue;
        }
        out.unexpected.emplace_back(name);
    }
    std::sort(out.users.begin(), out.users.end());
    std::sort(out.unexpected.begin(), out.unexpected.end());
    return out;
}

namespace {

// The key file, checked: one of root's with no group/other bits and one
// link (check_fd), exactly kBucketKeyBytes.
Result<SecretBytes> read_bucket_key(int dirfd)
{
    const std::string name(kBucketKeyName);
    auto key = read_trusted_file(dirfd, name, kBucketKeyBytes, FileTrust::root_private);
    if (!key) return key.error();
    if (key->size() != kBucketKeyBytes)
        return make_error(Errc::corrupt, "'" + name + "' holds " + std::to_string(key->size()) + " bytes, not " +
                                             std::to_string(kBucketKeyBytes));
    return key;
}

// Writes `key` to a fresh temp file and gives it the key's name unless one is
// there already. Ok(true): ours is the key; Ok(false): another process's won.
Result<bool> publish_bucket_key(int dirfd, const SecretBytes& key)
{
    auto salt = random_secret(8);
    if (!salt) return salt.error();
    std::string tmp = std::string(kBucketKeyName) + ".";
    constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < salt->size(); ++i) {
        tmp.push_back(kHex[salt->data()[i] >> 4]);
        tmp.push_back(kHex[salt->data()[i] & 15U]);
    }
    tmp += kTempSuffix;
    UniqueFd fd(::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return sys_error("cannot create", tmp, errno);
    const auto drop = [&](const char* what, int err) {
        ::unlinkat(dirfd, tmp.c_str(), 0);
        return sys_error(what, tmp, err);
    };
    std::size_t done = 0;
    while (done < key.size()) {
        const ssize_t n = ::write(fd.get(), key.data() + done, key.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return drop("cannot write", errno);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) return drop("cannot fsync", errno);
    fd.reset();
    const std::string name(kBucketKeyName);
    // Never over a key already there (another process's, which may be in use).
    if (::renameat2(dirfd, tmp.c_str(), dirfd, name.c_str(), RENAME_NOREPLACE) != 0) {
        const int err = errno;
        if (err == EEXIST) {
            ::unlinkat(dirfd, tmp.c_str(), 0);
            return false;
        }
        if (err != EINVAL) return drop("cannot rename to the bucket key", err);
        // A file system without RENAME_NOREPLACE: link() never replaces
        // either; readers refuse the key while it has two links.
        if (::linkat(dirfd, tmp.c_str(), dirfd, name.c_str(), 0) != 0) {
            const int lerr = errno;
            ::unlinkat(dirfd, tmp.c_str(), 0);
            if (lerr == EEXIST) return false;
            return sys_error("cannot link the bucket key", name, lerr);
        }
        if (::unlinkat(dirfd, tmp.c_str(), 0) != 0) return sys_error("cannot remove", tmp, errno);
    }
    if (::fsync(dirfd) != 0) return sys_error("cannot fsync directory of", name, errno);
    return true;
}

}  // namespace

Result<SecretBytes> UserStore::existing_bucket_key() const
{
    return read_bucket_key(dirfd_.get());
}

Result<SecretBytes> UserStore::bucket_key() const
{
    auto key = read_bucket_key(dirfd_.get());
    if (key || key.error().code != Errc::not_found) return key;
    auto fresh = random_secret(kBucketKeyBytes);
    if (!fresh) return fresh.error();
    auto ours = publish_bucket_key(dirfd_.get(), *fresh);
    if (!ours) return ours.error();
    if (*ours) return std::move(*fresh);
    return read_bucket_key(dirfd_.get());  // the winner's
}

Status FileRecordTxn::commit()
{
    if (removed_) return make_error(Errc::invalid_argument, "user '" + user_ + "' was removed; its lock is gone");
    const int dirfd = dirfd_.get();
    const std::string rec_name = stem_ + std::string(kRecordSuffix);
    const std::string tmp_name = stem_ + std::string(kTempSuffix);
    if (record_) {
        auto text = record_text_for_write(*record_, user_);
        if (!text) return text.error();
        auto st = replace_file(dirfd, rec_name, tmp_name, text->view());
        if (st) on_disk_ = true;
        return st;
    }
    // The stale temp file first: if it cannot go, the record is still in place.
    if (::unlinkat(dirfd, tmp_name.c_str(), 0) != 0 && errno != ENOENT)
        return sys_error("cannot remove", tmp_name, errno);
    if (::unlinkat(dirfd, rec_name.c_str(), 0) != 0 && errno != ENOENT)
        return sys_error("cannot remove", rec_name, errno);
    if (::fsync(dirfd) != 0) return sys_error("cannot fsync directory of", rec_name, errno);
    // Still holding the lock: waiters notice the unlinked file and retry. From
    // here on this object holds a lock nobody else can see, so it writes no more.
    removed_ = true;
    const std::string lock_name = stem_ + std::string(kLockSuffix);
    if (::unlinkat(dirfd, lock_name.c_str(), 0) != 0 && errno != ENOENT)
        return sys_error("cannot remove", lock_name, errno);
    return Ok{};
}

}  // namespace authctl
