// SPDX-License-Identifier: Apache-2.0
// The fleet's settings, for authctld and the CLI (parsed in core; only the
// PostgreSQL store, agent/pg_store.hpp, uses them to connect): /etc/authctl/fleet.conf,
// root-owned and mode 0600 or stricter (anything looser is refused: it names
// the database and the files that hold its credentials). "key = value"
// lines, '#' comments; unknown keys and bad values are errors naming the line.
//
//   host = db1.example.com,db2.example.com   libpq host list (required)
//   port = 5432                              one port, or one per host
//   dbname = authctl                         (default authctl)
//   user = authctl                           (default authctl)
//   password_file = /etc/authctl/fleet.password   root 0600: the password, one line
//   sslmode = verify-full                    verify-full only (the default): nothing weaker
//   sslrootcert = /etc/authctl/fleet-ca.pem  required: the CA that signed the server's certificate
//   sslcert = PATH, sslkey = PATH            client certificate instead of / besides a password
//   target_session_attrs = read-write        the only value: every decision needs the primary
//   key_file = /etc/authctl/fleet.key        the fleet keyring (sealed.hpp), required
//   socket = /run/authctl/agent.sock         where authctld listens
//   timeout = 5                              seconds, 1..60: bound on one database operation
//   connect_timeout = 3                      seconds, 1..60: bound on one connection attempt per host
//   pool = 4                                 database connections kept by authctld, 1..64
//
// Every libpq parameter the fleet uses is set from here, explicitly; nothing
// comes from the environment (scrub_pg_environment() removes PG* variables).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "authctl/result.hpp"

namespace authctl::fleet {

inline constexpr const char* kDefaultFleetConfig = "/etc/authctl/fleet.conf";

struct FleetConfig {
    std::string host;
    std::string port = "5432";
    std::string dbname = "authctl";
    std::string user = "authctl";
    std::string password_file;  // empty: no password (client certificate)
    std::string sslmode = "verify-full";
    std::string sslrootcert;
    std::string sslcert;
    std::string sslkey;
    std::string target_session_attrs = "read-write";
    std::string key_file = "/etc/authctl/fleet.key";
    std::string socket = "/run/authctl/agent.sock";
    unsigned timeout = 5;          // seconds
    unsigned connect_timeout = 3;  // seconds
    unsigned pool = 4;
};

// Parses the text of a fleet.conf; `origin` prefixes errors ("PATH:LINE: ").
Result<FleetConfig> parse_fleet_config(std::string_view text, std::string_view origin);

// Reads and parses the file (root-owned, no group/other access at all: Errc::insecure).
Result<FleetConfig> load_fleet_config(const std::string& path);

// Removes every PG* variable from this process's environment, so libpq can
// take nothing from it. Called by authctld and the CLI before any connection.
void scrub_pg_environment() noexcept;

}  // namespace authctl::fleet
