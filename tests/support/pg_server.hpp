// SPDX-License-Identifier: Apache-2.0
// A throwaway PostgreSQL 15 server for GoogleTest fixtures, driven by
// tests/fleet/pg_test_server.sh (its path: the compile definition
// AUTHCTL_PG_TEST_SERVER). Needs root (the server runs as the postgres user).
//
//   auto pg = authctl::test::PgTestServer::start();   // throws std::runtime_error on failure
//   pg->fleet_conf_path();   // a ready fleet.conf: verify-full TLS, SCRAM password
//   pg->psql("SELECT count(*) FROM authctl_users", &out);
//   pg->pause(); ... pg->resume();
//   // the destructor stops the server (immediate) and removes its directory
//
// Replication (pg_test_server.sh standby / promote / crash / fleet-conf):
//   auto sb = PgTestServer::standby_of(*pg, PgTestServer::Sync::on);   // a hot standby, streaming
//   PgTestServer::write_fleet_conf(path, {pg.get(), sb.get()});        // host = both, read-write
//   pg->crash(); sb->promote();                                        // a failover
//   pg->rebuild_as_standby_of(*sb, PgTestServer::Sync::on);            // same port, fresh copy
// A standby shares its primary's CA, certificate, passwords and fleet key, so
// either server's fleet.conf, key_file(), psql() and ca() work the same way.
//
// Every command runs with a deadline (run_cmd: SIGALRM), so nothing here can
// hang a test. The server is also stopped by the script's keeper if this
// process dies without running the destructor (PGT_WATCH_PID).
//
// AUTHCTL_PG_TEST_KEEP=1 in the environment keeps the directory (data,
// logs) after the server was stopped, for post-mortems.
#pragma once

#include <gtest/gtest.h>

#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"

#ifndef AUTHCTL_PG_TEST_SERVER
#error "AUTHCTL_PG_TEST_SERVER (the path of tests/fleet/pg_test_server.sh) must be defined"
#endif

namespace authctl::test {

class PgTestServer {
public:
    // Deadlines (seconds) of the script's subcommands.
    static constexpr unsigned kStartDeadline = 120;
    static constexpr unsigned kStopDeadline = 90;
    static constexpr unsigned kCommandDeadline = 60;

    static const char* script() { return AUTHCTL_PG_TEST_SERVER; }

    // Creates a private directory under $TMPDIR (default /tmp) and starts a
    // server in DIR = that/pg. Throws std::runtime_error with the script's
    // error line and the tail of the server's log when it does not come up.
    static std::unique_ptr<PgTestServer> start()
    {
        std::unique_ptr<PgTestServer> s(new PgTestServer());  // destroyed (stopped) on any throw below
        const CmdResult r = run_cmd({"env", "PGT_WATCH_PID=" + std::to_string(::getpid()), script(), "start", s->dir_},
                                    "", kStartDeadline);
        if (r.code != 0) {
            throw std::runtime_error("pg_test_server start failed (exit " + std::to_string(r.code) + "): " + r.err +
                                     s->log_tail());
        }
        s->read_env();
        return s;
    }

    ~PgTestServer()
    {
        if (!stop()) ADD_FAILURE() << "pg_test_server stop " << dir_ << " failed";
        const char* keep = std::getenv("AUTHCTL_PG_TEST_KEEP");
        if (keep != nullptr && *keep != '\0' && std::string(keep) != "0") {
            std::cerr << "AUTHCTL_PG_TEST_KEEP: kept " << dir_ << "\n";
            return;
        }
        ::nftw(
            base_.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
            FTW_DEPTH | FTW_PHYS);
    }

    PgTestServer(const PgTestServer&) = delete;
    PgTestServer& operator=(const PgTestServer&) = delete;

    // The server's directory (see pg_test_server.sh for its layout).
    const std::string& dir() const { return dir_; }
    std::string host() const { return "127.0.0.1"; }
    int port() const { return port_; }
    std::string dbname() const { return "authctl"; }
    std::string user() const { return "authctl"; }
    // root 0600 files: a ready authctl fleet.conf, the fleet keyring, the
    // authctl role's password (one line).
    std::string fleet_conf_path() const { return dir_ + "/fleet.conf"; }
    std::string key_file() const { return dir_ + "/fleet.key"; }
    std::string password_file() const { return dir_ + "/authctl.password"; }
    std::string password() const { return first_line(password_file()); }
    std::string super_user() const { return "postgres"; }
    std::string super_password_file() const { return dir_ + "/super.password"; }
    // The CA that signed the server's certificate; an unrelated CA.
    std::string ca() const { return dir_ + "/tls/ca.pem"; }
    std::string wrong_ca() const { return dir_ + "/tls/wrong-ca.pem"; }
    std::string ca_key() const { return dir_ + "/tls/ca.key"; }
    // Where authctld can listen (fleet.conf's socket).
    std::string agent_socket() const { return dir_ + "/agent.sock"; }
    std::string log_path() const { return dir_ + "/log/postgresql.log"; }
    // The postmaster's pid (changes with restart()).
    pid_t postmaster_pid() const { return pid_; }
    // libpq keywords for the authctl role, without the password.
    std::string conninfo() const
    {
        return "host=127.0.0.1 port=" + std::to_string(port_) +
               " dbname=authctl user=authctl sslmode=verify-full sslrootcert=" + ca();
    }

    // Runs `sql` as the superuser (psql -X -v ON_ERROR_STOP=1 -tAc SQL over
    // TLS, database authctl). Returns psql's exit code (0: ok; 128 + SIGALRM
    // when the deadline hit). `out`: stdout without trailing newlines; `err`: stderr.
    int psql(const std::string& sql, std::string* out = nullptr, std::string* err = nullptr) const
    {
        CmdResult r = run_cmd({script(), "psql", dir_, "-tAc", sql}, "", kCommandDeadline);
        while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
        if (out != nullptr) *out = r.out;
        if (err != nullptr) *err = r.err;
        return r.code;
    }

    // SIGSTOP / SIGCONT the postmaster and all its children.
    bool pause() { return command("pause", kCommandDeadline); }
    bool resume() { return command("resume", kCommandDeadline); }
    // Fast shutdown and start again on the same port (a new postmaster_pid()).
    bool restart()
    {
        if (!command("restart", kStartDeadline)) return false;
        read_env();
        return true;
    }
    // pg_dump of database authctl (plain SQL) to `path`.
    bool dump(const std::string& path) { return command("dump", kCommandDeadline, {path}); }
    enum class Sync { on, off };

    // A new hot standby of `primary` in its own directory: synchronous
    // (primary's synchronous_standby_names names it) or asynchronous.
    // Returns once it streams. Throws std::runtime_error on failure.
    static std::unique_ptr<PgTestServer> standby_of(const PgTestServer& primary, Sync sync)
    {
        std::unique_ptr<PgTestServer> s(new PgTestServer());
        const CmdResult r = run_cmd({"env", "PGT_WATCH_PID=" + std::to_string(::getpid()), script(), "standby",
                                     primary.dir_, s->dir_, sync == Sync::on ? "sync" : "async"},
                                    "", kStartDeadline);
        if (r.code != 0)
            throw std::runtime_error("pg_test_server standby failed (exit " + std::to_string(r.code) + "): " + r.err +
                                     s->log_tail());
        s->read_env();
        return s;
    }

    // This directory's server (an old primary, crashed or not) rebuilt as a
    // standby of `primary`, on the same port. False (and a test failure) otherwise.
    bool rebuild_as_standby_of(const PgTestServer& primary, Sync sync)
    {
        const CmdResult r = run_cmd({"env", "PGT_WATCH_PID=" + std::to_string(::getpid()), script(), "standby",
                                     primary.dir_, dir_, sync == Sync::on ? "sync" : "async"},
                                    "", kStartDeadline);
        if (r.code != 0) {
            ADD_FAILURE() << "pg_test_server standby failed (exit " << r.code << "): " << r.err << log_tail();
            return false;
        }
        read_env();
        return true;
    }
    // pg_ctl promote; true once the server accepts writes.
    bool promote() { return command("promote", kStartDeadline); }
    // SIGKILL to the postmaster and all its children at once; true once gone.
    bool crash() { return command("crash", kCommandDeadline); }

    // Writes `out` (root 0600): a fleet.conf naming every server of `servers`
    // in that order (target_session_attrs = read-write), with the first one's
    // password, CA and key.
    static bool write_fleet_conf(const std::string& out, const std::vector<const PgTestServer*>& servers)
    {
        if (servers.empty()) return false;
        std::vector<std::string> argv{script(), "fleet-conf", servers.front()->dir_, out};
        for (std::size_t i = 1; i < servers.size(); ++i) argv.push_back(servers[i]->dir_);
        const CmdResult r = run_cmd(argv, "", kCommandDeadline);
        if (r.code != 0) ADD_FAILURE() << "pg_test_server fleet-conf failed (exit " << r.code << "): " << r.err;
        return r.code == 0;
    }

    // Stops the server now (immediate); the destructor does it otherwise.
    // Idempotent. True when the postmaster is gone (kill(pid, 0) fails).
    bool stop()
    {
        const CmdResult r = run_cmd({script(), "stop", dir_}, "", kStopDeadline);
        if (r.code != 0) std::cerr << "pg_test_server stop: " << r.err;
        return r.code == 0 && (pid_ <= 0 || ::kill(pid_, 0) != 0);
    }

private:
    PgTestServer()
    {
        const char* tmp = std::getenv("TMPDIR");
        std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/authctl-pg-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        base_ = tmpl;
        ::chmod(base_.c_str(), 0711);  // the postgres user must traverse it; nothing to list
        dir_ = base_ + "/pg";
    }

    bool command(const std::string& what, unsigned deadline, const std::vector<std::string>& extra = {})
    {
        std::vector<std::string> argv{script(), what, dir_};
        argv.insert(argv.end(), extra.begin(), extra.end());
        const CmdResult r = run_cmd(argv, "", deadline);
        if (r.code == 0) return true;
        ADD_FAILURE() << "pg_test_server " << what << " failed (exit " << r.code << "): " << r.err;
        return false;
    }

    void read_env()
    {
        std::istringstream in(read_file(dir_ + "/env"));
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("PGT_PORT=", 0) == 0) port_ = std::stoi(line.substr(9));
            if (line.rfind("PGT_PID=", 0) == 0) pid_ = static_cast<pid_t>(std::stol(line.substr(8)));
        }
        if (port_ <= 0 || pid_ <= 0) throw std::runtime_error("pg_test_server: no port/pid in " + dir_ + "/env");
    }

    static std::string first_line(const std::string& path)
    {
        std::string s = read_file(path);
        const auto nl = s.find('\n');
        return nl == std::string::npos ? s : s.substr(0, nl);
    }

    std::string log_tail() const
    {
        std::string text;
        for (const char* name : {"harness.log", "postgresql.log"}) {
            std::istringstream in(read_file(dir_ + "/log/" + name));
            std::vector<std::string> lines;
            for (std::string line; std::getline(in, line);) lines.push_back(line);
            if (lines.empty()) continue;
            text += std::string("\n--- ") + name + " (last lines) ---";
            for (std::size_t i = lines.size() > 16 ? lines.size() - 16 : 0; i < lines.size(); ++i)
                text += "\n" + lines[i];
        }
        return text;
    }

    std::string base_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = 0;
};

}  // namespace authctl::test
