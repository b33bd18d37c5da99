// SPDX-License-Identifier: Apache-2.0
// The fleet store: every user's record in one PostgreSQL database, behind the
// same Store seam as the file store, so the login and admin decisions in core
// run over it unchanged. Linked only by authctld and the CLI (never by the
// PAM module): it brings libpq and TLS.
//
// Schema (docs/FILEFORMAT.md, "Fleet database"):
//   authctl_meta(k text primary key, v text not null)   'schema_version', 'current_key', 'bucket_key'
//   authctl_users(name text primary key, sealed bytea not null, key_id text not null,
//                 updated timestamptz not null)
// `sealed` is the record's text (docs/FILEFORMAT.md) sealed with the fleet key
// (sealed.hpp), the user name bound as associated data: a dump holds no secret.
//
// Concurrency: lock() opens a transaction (READ COMMITTED), takes a
// transaction-scoped advisory lock on the user name's hash, then reads the row
// and the database's clock; commit() writes the row inside the transaction;
// finish() COMMITs and returns Ok only when the server acknowledged it. A
// LockedRecord dropped without finish() rolls back. Nothing is held while a
// user types: the module's prompt decision is a plain read (snapshot()).
//
// Bounds: every database wait (connect, TLS, query, commit) is bounded by the
// configured timeout through libpq's non-blocking API and poll(); a connection
// that timed out or failed is discarded, never reused. A commit whose answer
// was not received is reported as Errc::io ("outcome unknown"): fail closed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "authctl/sealed.hpp"
#include "authctl/store.hpp"
#include "authctl/fleet_config.hpp"

namespace authctl::fleet {

inline constexpr int kSchemaVersion = 1;

class ConnectionPool;

// The key of a user's transaction-scoped advisory lock: the first 8 bytes of
// SHA-256 of the name, shifted right by one (non-negative). Every writer of a
// user's row holds it (docs/FILEFORMAT.md, "Fleet database").
Result<std::int64_t> advisory_lock_key(std::string_view user);

// While a CommitGate lives on a thread, every PgStore transaction that thread
// finishes asks still_wanted() right before its COMMIT, and rolls back
// instead when the answer is no. authctld sets one per request: when the
// module has given up waiting (and told its login PAM_AUTHINFO_UNAVAIL), the
// decision must not stand -- no failure counted, no code consumed.
class CommitGate {
public:
    explicit CommitGate(std::function<bool()> still_wanted);
    ~CommitGate();
    CommitGate(const CommitGate&) = delete;
    CommitGate& operator=(const CommitGate&) = delete;
    bool still_wanted() const noexcept;

private:
    std::function<bool()> still_wanted_;
    const CommitGate* outer_;
};

class PgStore final : public Store {
public:
    // Connects lazily: opening never touches the network. `pool_size`
    // connections at most are kept and shared by concurrent callers (thread-safe).
    static Result<std::unique_ptr<PgStore>> open(const FleetConfig& cfg, Keyring keys);
    ~PgStore() override;

    Result<std::optional<UserRecord>> load(std::string_view user) const override;
    Result<Snapshot> snapshot(std::string_view user) const override;
    Result<LockedRecord> lock(std::string_view user) const override;
    Result<Listing> list() const override;
    Status scan(const Visitor& visit) const override;
    std::string describe() const override;

    // The fleet's bucket key (authctl_meta 'bucket_key', kBucketKeyBytes as
    // lowercase hex): one for every host, so that a name's bucket, and its
    // lock, are the same fleet-wide. Made by init_schema, or here for a
    // database made before (INSERT ... ON CONFLICT DO NOTHING, then read: a
    // race ends with one key). Cached once read. Errc::corrupt for a value
    // that is not 64 hex digits.
    Result<SecretBytes> bucket_key() const override;

    // Checks that the schema exists and is of a version this build knows:
    // Errc::not_found when missing ("run authctl fleet init"), Errc::invalid_argument
    // when newer than kSchemaVersion, naming both versions.
    Status check_schema() const;

    // Creates the schema, or upgrades an older one, in one transaction; a
    // newer one is refused. Sets current_key to the keyring's current key when unset,
    // and bucket_key to 32 random bytes when unset.
    // Returns the version found before (0: none).
    Result<int> init_schema() const;

    // The database's clock (Unix seconds).
    Result<std::int64_t> db_time() const;

    struct RekeyReport {
        std::size_t rows = 0;       // rows looked at
        std::size_t rewritten = 0;  // re-sealed under the current key
    };
    // Makes the keyring's current key the fleet's current key, then re-seals
    // every row not under it, one short transaction per row (logins go on).
    // Rows whose key is not in the keyring are an error naming them.
    Result<RekeyReport> rekey() const;

    // What `authctl fleet status` shows, from one statement.
    struct Info {
        std::int64_t db_time = 0;  // the database's clock (Unix seconds)
        int schema_version = 0;    // 0: no version row
        std::string current_key;   // the fleet's current key ("" when unset)
        std::size_t users = 0;
        std::vector<std::pair<std::string, std::size_t>> rows_per_key;  // by key id
    };
    Result<Info> info() const;

    const Keyring& keyring() const noexcept { return keys_; }

private:
    PgStore(const FleetConfig& cfg, Keyring keys);
    FleetConfig cfg_;
    Keyring keys_;
    std::unique_ptr<ConnectionPool> pool_;
    mutable std::mutex bucket_key_mutex_;
    mutable SecretBytes bucket_key_;  // empty until read
};

}  // namespace authctl::fleet
