// SPDX-License-Identifier: Apache-2.0
#include "pg_store.hpp"

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "authctl/file_util.hpp"
#include "authctl/username.hpp"

namespace authctl::fleet {
namespace {

using Clock = std::chrono::steady_clock;

// The advisory lock that serializes `fleet init` (two-key form, "actl", 1):
// never the same lock as a user's (one-key form).
constexpr const char* kInitLock = "SELECT pg_advisory_xact_lock(1633907820, 1)";
constexpr const char* kNoFile = "/nonexistent/authctl-unset";

std::string first_line(const char* text)
{
    std::string s = text != nullptr ? text : "";
    if (const auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
    for (char& c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return s.empty() ? "no detail" : s;
}

Error db_error(const std::string& what, PGconn* conn)
{
    return make_error(Errc::io, what + ": " + first_line(conn != nullptr ? PQerrorMessage(conn) : nullptr));
}

}  // namespace

// A collision only makes two users share a lock.
Result<std::int64_t> advisory_lock_key(std::string_view user)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(user.data(), user.size(), md, &len, EVP_sha256(), nullptr) != 1 || len < 8)
        return make_error(Errc::crypto, "SHA-256 of a user name failed");
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | md[i];
    return static_cast<std::int64_t>(v >> 1);  // non-negative: printed as a plain literal
}

namespace {

std::int64_t be64(const char* p)
{
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return static_cast<std::int64_t>(v);
}

// The CommitGate of the calling thread, if any (pg_store.hpp).
thread_local const CommitGate* t_commit_gate = nullptr;

struct PgResultFree {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultFree>;

std::string sqlstate(const PGresult* r)
{
    const char* s = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    return s != nullptr ? s : "";
}

}  // namespace

// One database connection, with every wait bounded by a deadline. A
// connection that timed out or failed is marked broken and never reused.
class Conn {
public:
    explicit Conn(PGconn* c) : c_(c) {}
    ~Conn() { PQfinish(c_); }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    bool broken() const noexcept { return broken_ || PQstatus(c_) != CONNECTION_OK; }

    // For an idle connection about to be reused: nothing should be waiting on
    // it; if the server sent something (its goodbye before closing) or closed
    // it, it is not usable. One poll, no waiting. Anything readable at all
    // means the end: a server shutting down sends "FATAL: terminating
    // connection" before it closes, which libpq, reading only what has
    // arrived, takes as a notice while still CONNECTION_OK -- the next
    // statement would then be the one to find the connection gone (the
    // first login after every database restart was refused that way).
    bool alive() noexcept
    {
        if (broken()) return false;
        pollfd p{PQsocket(c_), POLLIN, 0};
        if (::poll(&p, 1, 0) == 0) return true;
        broken_ = true;
        return false;
    }
    void mark_broken() noexcept { broken_ = true; }
    PGconn* raw() const noexcept { return c_; }

    // The server's WARNINGs (NOTICEs and the like are dropped): counted, the
    // first kept, so a COMMIT can tell a clean "COMMIT" from one the server
    // qualified -- "canceling wait for synchronous replication ... committed
    // locally, but might not have been replicated to the standby".
    void start_collecting_warnings() noexcept
    {
        warnings_ = 0;
        first_warning_.clear();
    }
    unsigned warnings() const noexcept { return warnings_; }
    const std::string& first_warning() const noexcept { return first_warning_; }
    static void on_notice(void* self, const PGresult* r)
    {
        auto* conn = static_cast<Conn*>(self);
        const char* sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
        if (sev == nullptr || std::strcmp(sev, "WARNING") != 0) return;
        if (conn->warnings_++ == 0) {
            try {
                conn->first_warning_ = first_line(PQresultErrorMessage(r));
            } catch (...) {
            }
        }
    }

    // Sends one statement (parameters as text or binary) and collects its
    // results until the end, within `deadline`. Returns the last result;
    // Errc::io on a timeout or a lost connection (the connection is then broken).
    Result<PgResult> exec(const char* sql, int n, const char* const* values, const int* lengths, const int* formats,
                          int result_format, Clock::time_point deadline)
    {
        if (broken()) return make_error(Errc::io, "fleet database connection lost");
        const int sent = n == 0 && result_format == 0
                             ? PQsendQuery(c_, sql)
                             : PQsendQueryParams(c_, sql, n, nullptr, values, lengths, formats, result_format);
        if (sent != 1) {
            broken_ = true;
            return db_error("cannot send to the fleet database", c_);
        }
        for (;;) {
            const int f = PQflush(c_);
            if (f == 0) break;
            if (f < 0) {
                broken_ = true;
                return db_error("cannot send to the fleet database", c_);
            }
            if (auto st = wait(POLLOUT | POLLIN, deadline); !st) return st.error();
            if (PQconsumeInput(c_) != 1) {
                broken_ = true;
                return db_error("fleet database connection lost", c_);
            }
        }
        PgResult last;
        for (;;) {
            while (PQisBusy(c_) == 1) {
                if (auto st = wait(POLLIN, deadline); !st) return st.error();
                if (PQconsumeInput(c_) != 1) {
                    broken_ = true;
                    return db_error("fleet database connection lost", c_);
                }
            }
            PGresult* r = PQgetResult(c_);
            if (r == nullptr) break;
            // The first error is the one that explains; later results follow it.
            if (last && PQresultStatus(last.get()) == PGRES_FATAL_ERROR) {
                PQclear(r);
                continue;
            }
            last.reset(r);
        }
        if (!last) {
            broken_ = true;
            return make_error(Errc::io, "fleet database returned no result");
        }
        return last;
    }

    // For a scan: single-row mode, each row to `row`, the deadline extended
    // by `step` after each row (a long listing that keeps moving is not cut).
    Status exec_rows(const char* sql, std::chrono::milliseconds step, const std::function<void(const PGresult*)>& row)
    {
        if (broken()) return make_error(Errc::io, "fleet database connection lost");
        if (PQsendQueryParams(c_, sql, 0, nullptr, nullptr, nullptr, nullptr, 1) != 1 || PQsetSingleRowMode(c_) != 1) {
            broken_ = true;
            return db_error("cannot send to the fleet database", c_);
        }
        auto deadline = Clock::now() + step;
        while (PQflush(c_) == 1) {
            if (auto st = wait(POLLOUT | POLLIN, deadline); !st) return st;
            if (PQconsumeInput(c_) != 1) {
                broken_ = true;
                return db_error("fleet database connection lost", c_);
            }
        }
        Status outcome = Ok{};
        for (;;) {
            while (PQisBusy(c_) == 1) {
                if (auto st = wait(POLLIN, deadline); !st) return st;
                if (PQconsumeInput(c_) != 1) {
                    broken_ = true;
                    return db_error("fleet database connection lost", c_);
                }
            }
            PgResult r(PQgetResult(c_));
            if (!r) break;
            deadline = Clock::now() + step;
            const auto status = PQresultStatus(r.get());
            if (status == PGRES_SINGLE_TUPLE) {
                if (outcome) row(r.get());
            } else if (status != PGRES_TUPLES_OK && outcome) {
                outcome = make_error(sqlstate(r.get()) == "42P01" ? Errc::not_found : Errc::io,
                                     "fleet database: " + first_line(PQresultErrorMessage(r.get())));
            }
        }
        return outcome;
    }

private:
    Status wait(short events, Clock::time_point deadline)
    {
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) {
                broken_ = true;
                return make_error(Errc::io, "fleet database did not answer in time");
            }
            pollfd p{PQsocket(c_), events, 0};
            const int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
            if (rc > 0) return Ok{};
            if (rc < 0 && errno != EINTR) {
                broken_ = true;
                return sys_error("poll on the fleet database connection", "", errno);
            }
        }
    }

    PGconn* c_;
    bool broken_ = false;
    unsigned warnings_ = 0;
    std::string first_warning_;
};

class ConnectionPool {
public:
    ConnectionPool(const FleetConfig& cfg, std::string password) : cfg_(cfg), password_(std::move(password)) {}
    ~ConnectionPool() { wipe_string(password_); }

    // A connection for one operation: an idle one, else a new one while
    // fewer than `pool` exist, else the next one returned, all by `deadline`.
    Result<std::unique_ptr<Conn>> acquire(Clock::time_point deadline)
    {
        {
            std::unique_lock<std::mutex> lk(mu_);
            for (;;) {
                while (!idle_.empty()) {
                    auto c = std::move(idle_.back());
                    idle_.pop_back();
                    if (c->alive()) return c;
                    --open_;  // the server closed it (a restart, a failover): drop it, try the next
                }
                if (open_ < cfg_.pool) break;
                if (cv_.wait_until(lk, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= cfg_.pool)
                    return make_error(Errc::io, "no fleet database connection free in time");
            }
            ++open_;
        }
        auto c = connect(deadline);
        if (!c) {
            std::lock_guard<std::mutex> lk(mu_);
            --open_;
            cv_.notify_one();
        }
        return c;
    }

    void release(std::unique_ptr<Conn> c)
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (c->broken() || PQtransactionStatus(c->raw()) != PQTRANS_IDLE) {
            c.reset();
            --open_;
        } else {
            idle_.push_back(std::move(c));
        }
        cv_.notify_one();
    }

private:
    // libpq's blocking connect over the host list: libpq tries each host in
    // turn, moving on after a refusal (a dead host: at once), a timeout, or a
    // server that is not read-write (a standby, target_session_attrs). Each
    // host (each of its addresses, for libpq) gets connect_timeout, cut to
    // its share of what is left of the operation's deadline, rounded up to a
    // whole second (libpq's unit; its floor is 2 s). A share fixed up front:
    // a host that refuses at once does not pass its time on, and with many
    // hosts the floor can take the list past the deadline (bounded still:
    // hosts x that share). Every parameter is set here; the environment was
    // scrubbed of PG* variables.
    Result<std::unique_ptr<Conn>> connect(Clock::time_point deadline)
    {
        const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left_ms <= 0) return make_error(Errc::io, "cannot connect to the fleet database: no time left");
        const long long hosts = 1 + std::count(cfg_.host.begin(), cfg_.host.end(), ',');
        const long long per_host =
            std::max<long long>(2, std::min<long long>(cfg_.connect_timeout, (left_ms + hosts * 1000 - 1) / (hosts * 1000)));
        const std::string connect_timeout = std::to_string(per_host);
        const std::string user_timeout = std::to_string(cfg_.timeout * 1000);
        const std::string server_options =
            "-c statement_timeout=" + std::to_string(cfg_.timeout * 1000) +
            " -c lock_timeout=" + std::to_string(cfg_.timeout * 1000) +
            " -c idle_in_transaction_session_timeout=" + std::to_string(cfg_.timeout * 2000) +
            " -c synchronous_commit=on -c client_min_messages=warning"
            " -c default_transaction_isolation=read\\ committed";
        const char* keys[] = {"host",          "port",
                              "dbname",        "user",
                              "password",      "sslmode",
                              "sslrootcert",   "sslcert",
                              "sslkey",        "sslcrl",
                              "sslcrldir",     "ssl_min_protocol_version",
                              "sslsni",        "gssencmode",
                              "target_session_attrs", "connect_timeout",
                              "keepalives",    "keepalives_idle",
                              "keepalives_interval",  "keepalives_count",
                              "tcp_user_timeout",     "application_name",
                              "client_encoding",      "options",
                              "channel_binding",      nullptr};
        const char* values[] = {cfg_.host.c_str(),
                                cfg_.port.c_str(),
                                cfg_.dbname.c_str(),
                                cfg_.user.c_str(),
                                password_.empty() ? nullptr : password_.c_str(),
                                cfg_.sslmode.c_str(),
                                cfg_.sslrootcert.c_str(),
                                cfg_.sslcert.empty() ? kNoFile : cfg_.sslcert.c_str(),
                                cfg_.sslkey.empty() ? kNoFile : cfg_.sslkey.c_str(),
                                kNoFile,
                                kNoFile,
                                "TLSv1.2",
                                "1",
                                "disable",
                                cfg_.target_session_attrs.c_str(),
                                connect_timeout.c_str(),
                                "1",
                                "5",
                                "2",
                                "3",
                                user_timeout.c_str(),
                                "authctl",
                                "UTF8",
                                server_options.c_str(),
                                // With a password: SCRAM bound to this TLS channel (SCRAM-SHA-256-PLUS),
                                // so a server that is not the one we verified learns nothing it could use.
                                password_.empty() ? "prefer" : "require",
                                nullptr};
        // A null password would let libpq look for one elsewhere: give the
        // keyword no value at all by ending the list before it when unset.
        if (password_.empty()) {
            keys[4] = "passfile";
            values[4] = kNoFile;
        }
        PGconn* raw = PQconnectdbParams(keys, values, 0);
        if (raw == nullptr) return make_error(Errc::io, "cannot connect to the fleet database: out of memory");
        auto conn = std::make_unique<Conn>(raw);
        if (PQstatus(raw) != CONNECTION_OK) return db_error("cannot connect to the fleet database", raw);
        if (PQsetnonblocking(raw, 1) != 0) return db_error("cannot connect to the fleet database", raw);
        // The server's NOTICEs ("relation ... already exists, skipping") are
        // not for the terminal or the agent's stderr: errors come as results.
        PQsetNoticeReceiver(raw, &Conn::on_notice, conn.get());
        return conn;
    }

    const FleetConfig& cfg_;
    std::string password_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Conn>> idle_;
    unsigned open_ = 0;
};

namespace {

// A connection borrowed for one operation, given back (or dropped, when
// broken or left inside a transaction) at the end.
class Lease {
public:
    Lease(ConnectionPool& pool, std::unique_ptr<Conn> c) : pool_(&pool), c_(std::move(c)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) noexcept = default;
    ~Lease()
    {
        if (c_) pool_->release(std::move(c_));
    }
    Conn& operator*() const noexcept { return *c_; }
    Conn* operator->() const noexcept { return c_.get(); }

private:
    ConnectionPool* pool_;
    std::unique_ptr<Conn> c_;
};

// 32 random bytes as 64 lowercase hex digits (authctl_meta 'bucket_key').
Result<std::string> new_bucket_key_hex()
{
    auto key = random_secret(kBucketKeyBytes);
    if (!key) return key.error();
    constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * key->size());
    for (std::size_t i = 0; i < key->size(); ++i) {
        out.push_back(kHex[key->data()[i] >> 4]);
        out.push_back(kHex[key->data()[i] & 15U]);
    }
    return out;
}

Result<SecretBytes> bucket_key_from_hex(std::string_view hex)
{
    const auto nibble = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    SecretBytes key(kBucketKeyBytes);
    bool ok = hex.size() == 2 * kBucketKeyBytes;
    for (std::size_t i = 0; ok && i < kBucketKeyBytes; ++i) {
        const int hi = nibble(hex[2 * i]);
        const int lo = nibble(hex[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        if (ok) key.data()[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    if (!ok)
        return make_error(Errc::corrupt, "fleet database: authctl_meta 'bucket_key' is not " +
                                             std::to_string(2 * kBucketKeyBytes) + " lowercase hex digits");
    return key;
}

Error query_error(const std::string& what, const PGresult* r)
{
    const std::string state = sqlstate(r);
    if (state == "42P01")
        return make_error(Errc::not_found, "fleet database has no authctl schema: run 'authctl fleet init'");
    return make_error(Errc::io, what + ": " + first_line(PQresultErrorMessage(r)));
}

// Opens a sealed row and parses the record in it.
Result<UserRecord> open_row(const Keyring& ring, std::string_view user, std::string_view sealed)
{
    auto text = open_sealed(ring, user, sealed);
    if (!text) return make_error(text.error().code, "user '" + std::string(user) + "': " + text.error().detail);
    auto rec = parse_record(text->view());
    if (!rec) return make_error(Errc::corrupt, "user '" + std::string(user) + "' (fleet): " + rec.error().detail);
    return std::move(*rec);
}

// A user's row as a decision reads it: the database's clock, the fleet's
// current key and the record (nullopt: no row), in one statement.
struct RowRead {
    std::int64_t clock = 0;
    std::string current_key;
    std::optional<UserRecord> record;
};

Result<RowRead> read_row(Conn& c, const Keyring& ring, const std::string& user, Clock::time_point deadline)
{
    const char* values[] = {user.c_str()};
    auto r = c.exec("SELECT floor(extract(epoch from statement_timestamp()))::int8,"
                    " (SELECT v FROM authctl_meta WHERE k = 'current_key'), u.sealed"
                    " FROM (SELECT 1) AS one LEFT JOIN authctl_users AS u ON u.name = $1",
                    1, values, nullptr, nullptr, 1, deadline);
    if (!r) return r.error();
    const PGresult* res = r->get();
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQgetlength(res, 0, 0) != 8)
        return query_error("cannot read the user's row", res);
    RowRead out;
    out.clock = be64(PQgetvalue(res, 0, 0));
    if (PQgetisnull(res, 0, 1) == 0)
        out.current_key.assign(PQgetvalue(res, 0, 1), static_cast<std::size_t>(PQgetlength(res, 0, 1)));
    if (PQgetisnull(res, 0, 2) == 0) {
        auto rec = open_row(ring, user, {PQgetvalue(res, 0, 2), static_cast<std::size_t>(PQgetlength(res, 0, 2))});
        if (!rec) return rec.error();
        out.record = std::move(*rec);
    }
    return out;
}

// One user's transaction: BEGIN and the advisory lock, the row, the database
// clock and the fleet's current key; writes inside it; COMMIT in finish().
class PgRecordTxn final : public RecordTxn {
public:
    // One deadline for the whole transaction, from the start of lock() to
    // the COMMIT: a decision takes at most the configured timeout.
    PgRecordTxn(Lease lease, const Keyring& ring, std::string user, Clock::time_point deadline,
                std::chrono::milliseconds timeout)
        : lease_(std::move(lease)), ring_(ring), user_(std::move(user)), deadline_(deadline), timeout_(timeout)
    {
    }
    ~PgRecordTxn() override
    {
        if (open_) rollback();
    }

    // Ends the transaction without its writes, within what is left of its
    // deadline (at least 100 ms); a connection that cannot is dropped, which
    // ends the transaction on the server too.
    void rollback() noexcept
    {
        open_ = false;
        try {
            if (lease_->broken()) return;
            const auto at_least = Clock::now() + std::chrono::milliseconds(100);
            auto r = lease_->exec("ROLLBACK", 0, nullptr, nullptr, nullptr, 0, std::max(deadline_, at_least));
            if (!r || PQresultStatus(r->get()) != PGRES_COMMAND_OK) lease_->mark_broken();
        } catch (...) {
            lease_->mark_broken();
        }
    }

    Status begin(std::int64_t key)
    {
        const auto deadline = deadline_;
        // The key is a number we made (advisory_lock_key), so it is spliced in as a
        // literal: BEGIN and the lock then take one round trip.
        // The isolation level and commit durability are set on the
        // transaction itself, so a pooler that drops the connection's startup
        // options cannot weaken them; so is client_min_messages, so that a
        // role or database setting cannot hide the WARNING of a COMMIT that
        // is on the primary alone (finish()).
        const std::string sql =
            "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit TO on; "
            "SET LOCAL client_min_messages TO warning; "
            "SELECT pg_advisory_xact_lock(" + std::to_string(key) + ")";
        auto r = lease_->exec(sql.c_str(), 0, nullptr, nullptr, nullptr, 0, deadline);
        if (!r) return r.error();
        open_ = true;
        if (PQresultStatus(r->get()) != PGRES_TUPLES_OK) return query_error("cannot lock the user's row", r->get());
        // A new statement, so a new snapshot: it sees what the lock's previous holder committed.
        auto row = read_row(*lease_, ring_, user_, deadline);
        if (!row) return row.error();
        clock_ = row->clock;
        current_key_ = std::move(row->current_key);
        record_ = std::move(row->record);
        return Ok{};
    }

    std::optional<UserRecord>& record() noexcept override { return record_; }
    std::optional<std::int64_t> clock() const noexcept override { return clock_; }

    Status commit() override
    {
        if (!open_) return make_error(Errc::invalid_argument, "user '" + user_ + "': transaction already ended");
        const auto deadline = deadline_;
        Result<PgResult> r = make_error(Errc::io, "");
        if (record_) {
            const FleetKey* key = ring_.find(current_key_);
            if (key == nullptr)
                return make_error(Errc::crypto, "this server's fleet key file lacks the fleet's current key '" +
                                                    current_key_ + "' (see 'authctl fleet rekey')");
            auto text = record_text_for_write(*record_, user_);
            if (!text) return text.error();
            auto sealed = seal(*key, user_, text->view());
            if (!sealed) return sealed.error();
            const char* values[] = {user_.c_str(), sealed->data(), key->id.c_str()};
            const int lengths[] = {0, static_cast<int>(sealed->size()), 0};
            const int formats[] = {0, 1, 0};
            r = lease_->exec(
                "INSERT INTO authctl_users (name, sealed, key_id, updated) VALUES ($1, $2, $3, now())"
                " ON CONFLICT (name) DO UPDATE SET sealed = EXCLUDED.sealed, key_id = EXCLUDED.key_id,"
                " updated = EXCLUDED.updated",
                3, values, lengths, formats, 0, deadline);
        } else {
            const char* values[] = {user_.c_str()};
            r = lease_->exec("DELETE FROM authctl_users WHERE name = $1", 1, values, nullptr, nullptr, 0, deadline);
        }
        if (!r) return r.error();
        if (PQresultStatus(r->get()) != PGRES_COMMAND_OK) return query_error("cannot write the user's row", r->get());
        return Ok{};
    }

    // COMMIT, and Ok only on the server's "COMMIT": an aborted transaction
    // answers "ROLLBACK" to it, and no answer at all leaves the outcome unknown.
    Status finish() override
    {
        if (!open_) return make_error(Errc::invalid_argument, "user '" + user_ + "': transaction already ended");
        if (t_commit_gate != nullptr && !t_commit_gate->still_wanted()) {
            rollback();
            return make_error(Errc::io, "user '" + user_ +
                                            "': the client gave up before the commit: rolled back, nothing decided");
        }
        open_ = false;
        lease_->start_collecting_warnings();
        auto r = lease_->exec("COMMIT", 0, nullptr, nullptr, nullptr, 0, deadline_);
        if (!r)
            return make_error(Errc::io, "user '" + user_ + "': commit outcome unknown: " + r.error().detail);
        if (PQstatus(lease_->raw()) != CONNECTION_OK) {
            lease_->mark_broken();
            return make_error(Errc::io, "user '" + user_ + "': commit outcome unknown: the connection was lost: " +
                                            first_line(PQresultErrorMessage(r->get())));
        }
        if (PQresultStatus(r->get()) != PGRES_COMMAND_OK || std::strcmp(PQcmdStatus(r->get()), "COMMIT") != 0) {
            lease_->mark_broken();
            return make_error(Errc::io, "user '" + user_ + "': the fleet database did not commit: " +
                                            first_line(PQresultErrorMessage(r->get())));
        }
        // A COMMIT with a WARNING: with a synchronous standby, the wait for it
        // was cancelled (an administrator, a statement_timeout) and the row is
        // on the primary alone, lost if it fails over now. Not a verdict.
        if (lease_->warnings() != 0) {
            lease_->mark_broken();
            return make_error(Errc::io, "user '" + user_ + "': commit outcome unknown: the database warned: " +
                                            lease_->first_warning());
        }
        return Ok{};
    }

private:
    Lease lease_;
    const Keyring& ring_;
    std::string user_;
    Clock::time_point deadline_;
    std::chrono::milliseconds timeout_;  // for the ROLLBACK of an abandoned transaction
    bool open_ = false;
    std::int64_t clock_ = 0;
    std::string current_key_;
    std::optional<UserRecord> record_;
};

}  // namespace

PgStore::PgStore(const FleetConfig& cfg, Keyring keys) : cfg_(cfg), keys_(std::move(keys)) {}
PgStore::~PgStore() = default;

Result<std::unique_ptr<PgStore>> PgStore::open(const FleetConfig& cfg, Keyring keys)
{
    // The CA decides who may pose as the database, the client certificate
    // and key who we are: none may be changeable by anyone but root.
    for (const auto& [path, trust] : {std::pair{cfg.sslrootcert, FileTrust::root_not_writable},
                                      std::pair{cfg.sslcert, FileTrust::root_not_writable},
                                      std::pair{cfg.sslkey, FileTrust::root_private}}) {
        if (path.empty()) continue;
        auto text = read_trusted_file(AT_FDCWD, path, 1024 * 1024, trust);
        if (!text) return make_error(text.error().code, "fleet TLS file: " + text.error().detail);
    }
    std::string password;
    if (!cfg.password_file.empty()) {
        auto text = read_trusted_file(AT_FDCWD, cfg.password_file, 1024, FileTrust::root_private);
        if (!text) return make_error(text.error().code, "fleet password file: " + text.error().detail);
        std::string_view v = text->view();
        if (const auto nl = v.find('\n'); nl != std::string_view::npos) v = v.substr(0, nl);
        if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
        if (v.empty()) return make_error(Errc::invalid_argument, "fleet password file '" + cfg.password_file + "' is empty");
        password.assign(v);
    }
    std::unique_ptr<PgStore> store(new PgStore(cfg, std::move(keys)));
    store->pool_ = std::make_unique<ConnectionPool>(store->cfg_, std::move(password));
    wipe_string(password);  // a short one was copied, not moved
    return store;
}

namespace {

Result<Lease> borrow(ConnectionPool& pool, Clock::time_point deadline)
{
    auto c = pool.acquire(deadline);
    if (!c) return c.error();
    return Lease(pool, std::move(*c));
}

Status check_user(std::string_view user)
{
    if (auto stem = encode_user_name(user); !stem) return stem.error();
    return Ok{};
}

}  // namespace

Result<Snapshot> PgStore::snapshot(std::string_view user) const
{
    if (auto st = check_user(user); !st) return st.error();
    const auto deadline = Clock::now() + std::chrono::seconds(cfg_.timeout);
    auto lease = borrow(*pool_, deadline);
    if (!lease) return lease.error();
    auto row = read_row(**lease, keys_, std::string(user), deadline);
    if (!row) return row.error();
    return Snapshot{std::move(row->record), row->clock};
}

Result<std::optional<UserRecord>> PgStore::load(std::string_view user) const
{
    auto snap = snapshot(user);
    if (!snap) return snap.error();
    return std::move(snap->record);
}

Result<LockedRecord> PgStore::lock(std::string_view user) const
{
    if (auto st = check_user(user); !st) return st.error();
    auto key = advisory_lock_key(user);
    if (!key) return key.error();
    const auto timeout = std::chrono::milliseconds(cfg_.timeout * 1000);
    const auto deadline = Clock::now() + timeout;
    auto lease = borrow(*pool_, deadline);
    if (!lease) return lease.error();
    auto txn = std::make_unique<PgRecordTxn>(std::move(*lease), keys_, std::string(user), deadline, timeout);
    if (auto st = txn->begin(*key); !st) return st.error();
    return LockedRecord(std::move(txn), std::string(user));
}

namespace {

// A listing of every row (status, rekey): streamed row by row, the client's
// bound renewed by each row that arrives (a listing that keeps moving is not
// cut, one that stalls is), and the server's statement_timeout lifted for
// this one read-only transaction -- it would otherwise cancel a long listing
// read by a slow client.
Status stream_rows(Conn& c, const char* sql, std::chrono::milliseconds step,
                   const std::function<void(const PGresult*)>& row)
{
    auto begin = c.exec("BEGIN READ ONLY; SET LOCAL statement_timeout TO 0", 0, nullptr, nullptr, nullptr, 0,
                        Clock::now() + step);
    if (!begin) return begin.error();
    if (PQresultStatus(begin->get()) != PGRES_COMMAND_OK) return query_error("cannot list the fleet", begin->get());
    if (auto st = c.exec_rows(sql, step, row); !st) return st;  // the connection, left in a transaction, is dropped
    auto end = c.exec("COMMIT", 0, nullptr, nullptr, nullptr, 0, Clock::now() + step);
    if (!end) return end.error();
    if (PQresultStatus(end->get()) != PGRES_COMMAND_OK) return query_error("cannot list the fleet", end->get());
    return Ok{};
}

}  // namespace

Result<Store::Listing> PgStore::list() const
{
    auto lease = borrow(*pool_, Clock::now() + std::chrono::seconds(cfg_.timeout));
    if (!lease) return lease.error();
    Listing out;
    auto st = stream_rows(**lease, "SELECT name FROM authctl_users ORDER BY name COLLATE \"C\"",
                                  std::chrono::seconds(cfg_.timeout), [&out](const PGresult* r) {
                                      out.users.emplace_back(PQgetvalue(r, 0, 0),
                                                             static_cast<std::size_t>(PQgetlength(r, 0, 0)));
                                  });
    if (!st) return st.error();
    return out;
}

Status PgStore::scan(const Visitor& visit) const
{
    auto lease = borrow(*pool_, Clock::now() + std::chrono::seconds(cfg_.timeout));
    if (!lease) return lease.error();
    return stream_rows(
        **lease, "SELECT name, sealed FROM authctl_users ORDER BY name COLLATE \"C\"", std::chrono::seconds(cfg_.timeout),
        [&](const PGresult* r) {
            const std::string name(PQgetvalue(r, 0, 0), static_cast<std::size_t>(PQgetlength(r, 0, 0)));
            if (auto st = check_user(name); !st) {
                visit(name, make_error(Errc::corrupt, "a row whose name is not a user name: " + st.error().detail));
                return;
            }
            auto rec = open_row(keys_, name, {PQgetvalue(r, 0, 1), static_cast<std::size_t>(PQgetlength(r, 0, 1))});
            if (!rec)
                visit(name, rec.error());
            else
                visit(name, std::optional<UserRecord>(std::move(*rec)));
        });
}

std::string PgStore::describe() const
{
    return "fleet database " + cfg_.dbname + " on " + cfg_.host;
}

Status PgStore::check_schema() const
{
    const auto deadline = Clock::now() + std::chrono::seconds(cfg_.timeout);
    auto lease = borrow(*pool_, deadline);
    if (!lease) return lease.error();
    auto r = (*lease)->exec("SELECT v FROM authctl_meta WHERE k = 'schema_version'", 0, nullptr, nullptr, nullptr, 0,
                            deadline);
    if (!r) return r.error();
    const PGresult* res = r->get();
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return query_error("cannot read the schema version", res);
    if (PQntuples(res) != 1)
        return make_error(Errc::not_found, "fleet database has no authctl schema: run 'authctl fleet init'");
    const std::string v = PQgetvalue(res, 0, 0);
    const int version = std::atoi(v.c_str());
    if (version == kSchemaVersion) return Ok{};
    if (version > kSchemaVersion)
        return make_error(Errc::invalid_argument, "fleet database schema version " + v +
                                                      " is newer than this build knows (" +
                                                      std::to_string(kSchemaVersion) + "): upgrade authctl");
    return make_error(Errc::invalid_argument, "fleet database schema version '" + v + "' needs 'authctl fleet init'");
}

Result<int> PgStore::init_schema() const
{
    const auto deadline = Clock::now() + std::chrono::seconds(cfg_.timeout);
    auto lease = borrow(*pool_, deadline);
    if (!lease) return lease.error();
    Conn& c = **lease;
    auto run = [&](const char* sql, int n = 0, const char* const* values = nullptr) -> Result<PgResult> {
        auto r = c.exec(sql, n, values, nullptr, nullptr, 0, deadline);
        if (!r) return r.error();
        const auto s = PQresultStatus(r->get());
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) return query_error("fleet init", r->get());
        return r;
    };
    struct Rollback {
        Conn& c;
        Clock::time_point deadline;
        bool armed = true;
        ~Rollback()
        {
            if (armed && !c.broken()) {
                auto r = c.exec("ROLLBACK", 0, nullptr, nullptr, nullptr, 0, deadline);
                if (!r) c.mark_broken();
            }
        }
    } guard{c, deadline};
    if (auto r = run("BEGIN"); !r) return r.error();
    if (auto r = run(kInitLock); !r) return r.error();
    auto found = run("SELECT to_regclass('authctl_meta') IS NOT NULL");
    if (!found) return found.error();
    int before = 0;
    if (std::strcmp(PQgetvalue(found->get(), 0, 0), "t") == 0) {
        auto v = run("SELECT v FROM authctl_meta WHERE k = 'schema_version'");
        if (!v) return v.error();
        if (PQntuples(v->get()) == 1) before = std::atoi(PQgetvalue(v->get(), 0, 0));
    }
    if (before > kSchemaVersion)
        return make_error(Errc::invalid_argument, "fleet database schema version " + std::to_string(before) +
                                                      " is newer than this build knows (" +
                                                      std::to_string(kSchemaVersion) + "): upgrade authctl");
    if (auto r = run("CREATE TABLE IF NOT EXISTS authctl_meta (k text PRIMARY KEY, v text NOT NULL);"
                     "CREATE TABLE IF NOT EXISTS authctl_users ("
                     " name text PRIMARY KEY CHECK (octet_length(name) BETWEEN 1 AND 256),"
                     " sealed bytea NOT NULL CHECK (octet_length(sealed) <= 20000),"
                     " key_id text NOT NULL,"
                     " updated timestamptz NOT NULL DEFAULT now());"
                     "CREATE INDEX IF NOT EXISTS authctl_users_key_id ON authctl_users (key_id)");
        !r)
        return r.error();
    const std::string version = std::to_string(kSchemaVersion);
    const char* v1[] = {version.c_str()};
    if (auto r = run("INSERT INTO authctl_meta (k, v) VALUES ('schema_version', $1)"
                     " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                     1, v1);
        !r)
        return r.error();
    const char* v2[] = {keys_.current.c_str()};
    if (auto r = run("INSERT INTO authctl_meta (k, v) VALUES ('current_key', $1) ON CONFLICT (k) DO NOTHING", 1, v2);
        !r)
        return r.error();
    auto bucket = new_bucket_key_hex();
    if (!bucket) return bucket.error();
    const char* v3[] = {bucket->c_str()};
    auto put = run("INSERT INTO authctl_meta (k, v) VALUES ('bucket_key', $1) ON CONFLICT (k) DO NOTHING", 1, v3);
    wipe_string(*bucket);
    if (!put) return put.error();
    guard.armed = false;
    auto commit = c.exec("COMMIT", 0, nullptr, nullptr, nullptr, 0, deadline);
    if (!commit) return make_error(Errc::io, "fleet init: commit outcome unknown: " + commit.error().detail);
    if (PQresultStatus(commit->get()) != PGRES_COMMAND_OK || std::strcmp(PQcmdStatus(commit->get()), "COMMIT") != 0)
        return query_error("fleet init: not committed", commit->get());
    return before;
}

Result<SecretBytes> PgStore::bucket_key() const
{
    {
        const std::lock_guard<std::mutex> hold(bucket_key_mutex_);
        if (!bucket_key_.empty()) return bucket_key_.clone();
    }
    const auto deadline = Clock::now() + std::chrono::seconds(cfg_.timeout);
    auto lease = borrow(*pool_, deadline);
    if (!lease) return lease.error();
    const auto read = [&]() -> Result<std::optional<std::string>> {
        auto r = (*lease)->exec("SELECT v FROM authctl_meta WHERE k = 'bucket_key'", 0, nullptr, nullptr, nullptr, 0,
                                deadline);
        if (!r) return r.error();
        if (PQresultStatus(r->get()) != PGRES_TUPLES_OK || PQntuples(r->get()) > 1)
            return query_error("cannot read the bucket key", r->get());
        if (PQntuples(r->get()) == 0) return std::optional<std::string>{};
        return std::optional<std::string>(
            std::string(PQgetvalue(r->get(), 0, 0), static_cast<std::size_t>(PQgetlength(r->get(), 0, 0))));
    };
    // Read first: a key that is there is used even where this role or a
    // read-only standby could not write one. A database made before the key
    // existed gets one now; of two agents racing, the first insert stands and
    // both read it.
    auto hex = read();
    if (!hex) return hex.error();
    if (!*hex) {
        auto fresh = new_bucket_key_hex();
        if (!fresh) return fresh.error();
        const char* values[] = {fresh->c_str()};
        auto put = (*lease)->exec(
            "INSERT INTO authctl_meta (k, v) VALUES ('bucket_key', $1) ON CONFLICT (k) DO NOTHING", 1, values, nullptr,
            nullptr, 0, deadline);
        wipe_string(*fresh);
        if (!put) return put.error();
        if (PQresultStatus(put->get()) != PGRES_COMMAND_OK)
            return query_error("cannot store the bucket key", put->get());
        hex = read();
        if (!hex) return hex.error();
        if (!*hex) return make_error(Errc::io, "the bucket key was stored but cannot be read back");
    }
    auto key = bucket_key_from_hex(**hex);
    wipe_string(**hex);
    if (!key) return key.error();
    const std::lock_guard<std::mutex> hold(bucket_key_mutex_);
    if (bucket_key_.empty()) bucket_key_ = key->clone();
    return key;
}

Result<std::int64_t> PgStore::db_time() const
{
    const auto deadline = Clock::now() + std::chrono::seconds(cfg_.timeout);
    auto lease = borrow(*pool_, deadline);
    if (!lease) return lease.error();
    auto r = (*lease)->exec("SELECT floor(extract(epoch from clock_timestamp()))::int8", 0, nullptr, nullptr, nullptr, 1,
                            deadline);
    if (!r) return r.error();
    if (PQresultStatus(r->get()) != PGRES_TUPLES_OK || PQntuples(r->get()) != 1 || PQgetlength(r->get(), 0, 0) != 8)
        return query_error("cannot read the database clock", r->get());
    return be64(PQgetvalue(r->get(), 0, 0));
}

Result<PgStore::RekeyReport> PgStore::rekey() const
{
    const auto deadline = Clock::now() + std::chrono::seconds(cfg_.timeout);
    std::vector<std::string> names;  // rows not under the current key
    RekeyReport report;
    {
        auto lease = borrow(*pool_, deadline);
        if (!lease) return lease.error();
        const char* values[] = {keys_.current.c_str()};
        auto r = (*lease)->exec(
            "INSERT INTO authctl_meta (k, v) VALUES ('current_key', $1) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
            1, values, nullptr, nullptr, 0, deadline);
        if (!r) return r.error();
        if (PQresultStatus(r->get()) != PGRES_COMMAND_OK) return query_error("cannot set the current key", r->get());
        auto st = stream_rows(**lease, "SELECT name, key_id FROM authctl_users ORDER BY name COLLATE \"C\"",
                                      std::chrono::seconds(cfg_.timeout), [&](const PGresult* row) {
                                          ++report.rows;
                                          if (keys_.current == PQgetvalue(row, 0, 1)) return;
                                          names.emplace_back(PQgetvalue(row, 0, 0),
                                                             static_cast<std::size_t>(PQgetlength(row, 0, 0)));
                                      });
        if (!st) return st.error();
    }
    std::string failed;
    std::size_t failures = 0;
    for (const auto& name : names) {
        // Under the user's lock, so a login in between is neither lost nor undone.
        auto held = lock(name);
        Status st = held ? Status(Ok{}) : Status(held.error());
        if (st && held->record()) {
            st = held->commit();
            if (st) st = held->finish();
            if (st) ++report.rewritten;
        }
        if (!st) {
            ++failures;
            if (failures <= 5) failed += (failed.empty() ? "" : "; ") + st.error().message();
        }
    }
    if (failures > 0)
        return make_error(Errc::crypto, std::to_string(failures) + " of " + std::to_string(report.rows) +
                                            " rows not re-sealed: " + failed);
    return report;
}

Result<PgStore::Info> PgStore::info() const
{
    const auto deadline = Clock::now() + std::chrono::seconds(cfg_.timeout);
    auto lease = borrow(*pool_, deadline);
    if (!lease) return lease.error();
    auto r = (*lease)->exec(
        "SELECT floor(extract(epoch from clock_timestamp()))::int8,"
        " (SELECT v FROM authctl_meta WHERE k = 'schema_version'),"
        " (SELECT v FROM authctl_meta WHERE k = 'current_key'), k.key_id, k.n"
        " FROM (SELECT 1) AS one LEFT JOIN"
        " (SELECT key_id, count(*) AS n FROM authctl_users GROUP BY key_id) AS k ON true"
        " ORDER BY k.key_id COLLATE \"C\"",
        0, nullptr, nullptr, nullptr, 0, deadline);
    if (!r) return r.error();
    const PGresult* res = r->get();
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
        return query_error("cannot read the fleet's state", res);
    Info info;
    info.db_time = std::atoll(PQgetvalue(res, 0, 0));
    info.schema_version = std::atoi(PQgetvalue(res, 0, 1));
    info.current_key = PQgetvalue(res, 0, 2);
    for (int i = 0; i < PQntuples(res); ++i) {
        if (PQgetisnull(res, i, 3) != 0) continue;  // no rows at all
        const auto n = static_cast<std::size_t>(std::atoll(PQgetvalue(res, i, 4)));
        info.rows_per_key.emplace_back(PQgetvalue(res, i, 3), n);
        info.users += n;
    }
    return info;
}

CommitGate::CommitGate(std::function<bool()> still_wanted)
    : still_wanted_(std::move(still_wanted)), outer_(t_commit_gate)
{
    t_commit_gate = this;
}

CommitGate::~CommitGate()
{
    t_commit_gate = outer_;
}

bool CommitGate::still_wanted() const noexcept
{
    try {
        return still_wanted_();
    } catch (...) {
        return false;
    }
}

}  // namespace authctl::fleet
