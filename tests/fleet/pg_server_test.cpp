// SPDX-License-Identifier: Apache-2.0
// The test PostgreSQL server harness itself (tests/fleet/pg_test_server.sh,
// tests/support/pg_server.hpp): TLS with the test CA only, SCRAM passwords,
// no plain connections, pause/resume/restart/dump, and nothing left running.
#include "pg_server.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <libpq-fe.h>
#include <memory>
#include <poll.h>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using authctl::test::PgTestServer;
using authctl::test::read_file;

struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

struct Params {
    std::string host = "127.0.0.1";
    std::string port;
    std::string dbname = "authctl";
    std::string user = "authctl";
    std::string password;
    std::string sslmode = "verify-full";
    std::string sslrootcert;
};

Params params_for(const PgTestServer& pg)
{
    Params p;
    p.port = std::to_string(pg.port());
    p.password = pg.password();
    p.sslrootcert = pg.ca();
    return p;
}

// Every keyword explicit; nothing from the environment, ~/.pgpass or
// ~/.postgresql (a client certificate file that does not exist is not sent).
Conn connect(const Params& p)
{
    const char* keys[] = {"host",        "port",     "dbname",          "user",    "password", "sslmode",
                          "sslrootcert", "passfile", "connect_timeout", "sslcert", "sslkey",   nullptr};
    const char* values[] = {p.host.c_str(),
                            p.port.c_str(),
                            p.dbname.c_str(),
                            p.user.c_str(),
                            p.password.c_str(),
                            p.sslmode.c_str(),
                            p.sslrootcert.c_str(),
                            "/nonexistent/pgpass",
                            "5",
                            "/nonexistent/client.crt",
                            "/nonexistent/client.key",
                            nullptr};
    return Conn(PQconnectdbParams(keys, values, 0));
}

std::string select_one(PGconn* c)
{
    PGresult* r = PQexec(c, "SELECT 1");
    std::string v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return v;
}

// Sends `sql` and waits at most `bound` for the whole result; "" on timeout.
std::string query_bounded(PGconn* c, const char* sql, std::chrono::milliseconds bound, bool* timed_out)
{
    *timed_out = false;
    if (PQsendQuery(c, sql) != 1) return "";
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (PQisBusy(c)) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            *timed_out = true;
            return "";
        }
        pollfd pfd{PQsocket(c), POLLIN, 0};
        const int n = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (n < 0) return "";
        if (n > 0 && PQconsumeInput(c) != 1) return "";
    }
    std::string v;
    while (PGresult* r = PQgetResult(c)) {
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) v = PQgetvalue(r, 0, 0);
        PQclear(r);
    }
    return v;
}

TEST(PgServer, StartsWithTlsAndScramAndTheFilesTheFleetNeeds)
{
    auto pg = PgTestServer::start();
    ASSERT_GT(pg->port(), 0);
    ASSERT_GT(pg->postmaster_pid(), 0);
    EXPECT_EQ(::kill(pg->postmaster_pid(), 0), 0);

    Conn c = connect(params_for(*pg));
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(PQsslInUse(c.get()), 1);
    EXPECT_EQ(select_one(c.get()), "1");

    // The root-only files: fleet.conf, fleet.key, the passwords, the env.
    for (const std::string& f : std::vector<std::string>{pg->fleet_conf_path(), pg->key_file(), pg->password_file(),
                                                         pg->super_password_file(), pg->dir() + "/env", pg->ca_key()}) {
        struct stat st {};
        ASSERT_EQ(::stat(f.c_str(), &st), 0) << f;
        EXPECT_EQ(st.st_uid, 0u) << f;
        EXPECT_EQ(st.st_mode & 07777, 0600u) << f;
    }
    const std::string conf = read_file(pg->fleet_conf_path());
    for (const std::string& line : std::vector<std::string>{
             "host = 127.0.0.1\n", "port = " + std::to_string(pg->port()) + "\n", "dbname = authctl\n",
             "user = authctl\n", "password_file = " + pg->password_file() + "\n", "sslmode = verify-full\n",
             "sslrootcert = " + pg->ca() + "\n", "key_file = " + pg->key_file() + "\n",
             "socket = " + pg->agent_socket() + "\n", "timeout = 5\n", "connect_timeout = 3\n", "pool = 4\n"}) {
        EXPECT_NE(conf.find(line), std::string::npos) << line << " not in\n" << conf;
    }
    const std::string keys = read_file(pg->key_file());
    EXPECT_NE(keys.find("\nkey k1 "), std::string::npos) << keys;
    EXPECT_NE(keys.find("\ncurrent k1\n"), std::string::npos) << keys;

    // The harness's own psql: superuser over TLS, database authctl owned by authctl.
    std::string out;
    ASSERT_EQ(pg->psql("SELECT current_user || ' ' || pg_get_userbyid(datdba) || ' ' || "
                       "(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) "
                       "FROM pg_database WHERE datname = current_database()",
                       &out),
              0);
    EXPECT_EQ(out, "postgres authctl true");
    ASSERT_EQ(pg->psql("SHOW fsync", &out), 0);
    EXPECT_EQ(out, "on");
    ASSERT_EQ(pg->psql("SHOW password_encryption", &out), 0);
    EXPECT_EQ(out, "scram-sha-256");
    ASSERT_EQ(pg->psql("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'authctl'", &out), 0);
    EXPECT_EQ(out, "t");
    // pg_hba.conf: TLS + SCRAM on loopback (and, for a standby, replication as
    // the replicator role only), the superuser on the socket; nothing else.
    ASSERT_EQ(pg->psql("SELECT string_agg(type || ' ' || array_to_string(database, ',') || ' ' || "
                       "array_to_string(user_name, ',') || ' ' || coalesce(address, '-') || ' ' || auth_method, "
                       "'; ' ORDER BY line_number) FROM pg_hba_file_rules",
                       &out),
              0);
    EXPECT_EQ(out, "hostssl all all 127.0.0.1 scram-sha-256; hostssl replication replicator 127.0.0.1 scram-sha-256; "
                   "local all postgres - scram-sha-256");
}

TEST(PgServer, RefusesTheWrongCaAWrongPasswordAndPlainConnections)
{
    auto pg = PgTestServer::start();

    Params wrong_ca = params_for(*pg);
    wrong_ca.sslrootcert = pg->wrong_ca();
    Conn c1 = connect(wrong_ca);
    EXPECT_EQ(PQstatus(c1.get()), CONNECTION_BAD);
    EXPECT_NE(std::string(PQerrorMessage(c1.get())).find("certificate verify failed"), std::string::npos)
        << PQerrorMessage(c1.get());

    Params wrong_password = params_for(*pg);
    wrong_password.password = "not-" + wrong_password.password;
    Conn c2 = connect(wrong_password);
    EXPECT_EQ(PQstatus(c2.get()), CONNECTION_BAD);
    EXPECT_NE(std::string(PQerrorMessage(c2.get())).find("password authentication failed"), std::string::npos)
        << PQerrorMessage(c2.get());

    Params plain = params_for(*pg);
    plain.sslmode = "disable";
    plain.sslrootcert = "";
    Conn c3 = connect(plain);
    EXPECT_EQ(PQstatus(c3.get()), CONNECTION_BAD);
    EXPECT_NE(std::string(PQerrorMessage(c3.get())).find("no encryption"), std::string::npos)
        << PQerrorMessage(c3.get());

    // verify-full checks the name: "localhost" is in the certificate, another name is not.
    Params by_name = params_for(*pg);
    by_name.host = "localhost";
    Conn c4 = connect(by_name);
    EXPECT_EQ(PQstatus(c4.get()), CONNECTION_OK) << PQerrorMessage(c4.get());

    // The right settings still work.
    Conn ok = connect(params_for(*pg));
    ASSERT_EQ(PQstatus(ok.get()), CONNECTION_OK) << PQerrorMessage(ok.get());
    EXPECT_EQ(select_one(ok.get()), "1");
}

TEST(PgServer, PauseHangsQueriesAndResumeAnswersThem)
{
    auto pg = PgTestServer::start();
    Conn c = connect(params_for(*pg));
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    ASSERT_EQ(select_one(c.get()), "1");

    ASSERT_TRUE(pg->pause());
    bool timed_out = false;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(query_bounded(c.get(), "SELECT 2", std::chrono::seconds(1), &timed_out), "");
    EXPECT_TRUE(timed_out) << "the paused server answered";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));

    ASSERT_TRUE(pg->resume());
    // The query sent while paused is answered now, on the same connection.
    bool late = false;
    std::string v;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (PQisBusy(c.get()) && std::chrono::steady_clock::now() < deadline) {
        pollfd pfd{PQsocket(c.get()), POLLIN, 0};
        if (::poll(&pfd, 1, 200) > 0) {
            ASSERT_EQ(PQconsumeInput(c.get()), 1) << PQerrorMessage(c.get());
        }
    }
    ASSERT_FALSE(PQisBusy(c.get())) << "no answer 10 s after resume";
    while (PGresult* r = PQgetResult(c.get())) {
        if (PQresultStatus(r) == PGRES_TUPLES_OK) v = PQgetvalue(r, 0, 0);
        PQclear(r);
    }
    EXPECT_EQ(v, "2");
    EXPECT_EQ(query_bounded(c.get(), "SELECT 3", std::chrono::seconds(5), &late), "3");
    EXPECT_FALSE(late);
    // New connections too.
    Conn c2 = connect(params_for(*pg));
    ASSERT_EQ(PQstatus(c2.get()), CONNECTION_OK) << PQerrorMessage(c2.get());
    EXPECT_EQ(select_one(c2.get()), "1");
}

TEST(PgServer, RestartKeepsDataAndPortAndDumpIsPlainSql)
{
    auto pg = PgTestServer::start();
    const int port = pg->port();
    const pid_t pid = pg->postmaster_pid();
    ASSERT_EQ(pg->psql("CREATE TABLE harness_probe (v text); INSERT INTO harness_probe VALUES ('durable')"), 0);

    ASSERT_TRUE(pg->restart());
    EXPECT_EQ(pg->port(), port);
    EXPECT_NE(pg->postmaster_pid(), pid);
    EXPECT_NE(::kill(pid, 0), 0) << "the old postmaster is still there";
    std::string out;
    ASSERT_EQ(pg->psql("SELECT v FROM harness_probe", &out), 0);
    EXPECT_EQ(out, "durable");

    // A restart of a paused server works too.
    ASSERT_TRUE(pg->pause());
    ASSERT_TRUE(pg->restart());
    ASSERT_EQ(pg->psql("SELECT v FROM harness_probe", &out), 0);
    EXPECT_EQ(out, "durable");

    const std::string dump = pg->dir() + "/dump.sql";
    ASSERT_TRUE(pg->dump(dump));
    const std::string sql = read_file(dump);
    EXPECT_NE(sql.find("CREATE TABLE public.harness_probe"), std::string::npos);
    EXPECT_NE(sql.find("durable"), std::string::npos);
}

// The processes whose working directory is `dir` (the postmaster and every
// process it started run in the data directory).
std::vector<pid_t> processes_in(const std::string& dir)
{
    std::vector<pid_t> pids;
    struct stat want {};
    if (::stat(dir.c_str(), &want) != 0) return pids;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        struct stat st {};
        if (::stat((entry.path() / "cwd").c_str(), &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino) {
            pids.push_back(static_cast<pid_t>(std::stol(name)));
        }
    }
    return pids;
}

TEST(PgServer, NothingIsLeftRunningAfterTheFixture)
{
    pid_t pid = 0;
    std::string dir;
    std::vector<pid_t> server;
    {
        auto pg = PgTestServer::start();
        pid = pg->postmaster_pid();
        dir = pg->dir();
        ASSERT_EQ(::kill(pid, 0), 0);
        Conn c = connect(params_for(*pg));  // a backend too
        ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
        server = processes_in(dir + "/data");
        EXPECT_GE(server.size(), 3u);  // postmaster, checkpointer, ..., our backend
        ASSERT_TRUE(pg->pause());      // even a paused server is stopped
    }
    EXPECT_NE(::kill(pid, 0), 0) << "postmaster " << pid << " survived the fixture";
    for (const pid_t p : server) EXPECT_NE(::kill(p, 0), 0) << "server process " << p << " survived the fixture";
    struct stat st {};
    EXPECT_NE(::stat(dir.c_str(), &st), 0) << dir << " was not removed";

    // stop is idempotent, also on a directory that is gone.
    auto pg = PgTestServer::start();
    EXPECT_TRUE(pg->stop());
    EXPECT_TRUE(pg->stop());
    EXPECT_NE(::kill(pg->postmaster_pid(), 0), 0);
}

// A test process that dies without running the fixture's destructor (a crash,
// a SIGKILL from ctest's timeout) leaves no server behind: the script's keeper
// watches PGT_WATCH_PID.
TEST(PgServer, AServerWhoseOwnerDiedIsStopped)
{
    authctl::test::TempDir tmp;
    ::chmod(tmp.path().c_str(), 0711);
    const std::string dir = tmp / "pg";
    const pid_t owner = ::fork();
    ASSERT_GE(owner, 0);
    if (owner == 0) {
        ::pause();
        ::_exit(0);
    }
    const auto r = authctl::test::run_cmd(
        {"env", "PGT_WATCH_PID=" + std::to_string(owner), PgTestServer::script(), "start", dir}, "", 120);
    ASSERT_EQ(r.code, 0) << r.err;
    pid_t pid = 0;
    {
        std::istringstream env(read_file(dir + "/env"));
        for (std::string line; std::getline(env, line);) {
            if (line.rfind("PGT_PID=", 0) == 0) pid = static_cast<pid_t>(std::stol(line.substr(8)));
        }
    }
    ASSERT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, 0), 0);

    ::kill(owner, SIGKILL);
    int ws = 0;
    ::waitpid(owner, &ws, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (::kill(pid, 0) == 0 && std::chrono::steady_clock::now() < deadline) ::usleep(50 * 1000);
    EXPECT_NE(::kill(pid, 0), 0) << "the server outlived its owner";
    EXPECT_EQ(authctl::test::run_cmd({PgTestServer::script(), "stop", dir}, "", 90).code, 0);
}

}  // namespace
