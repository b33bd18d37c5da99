// SPDX-License-Identifier: Apache-2.0
// fleet.conf: every key, every bound, the rules between keys, errors that name
// the line and the key, and the file's ownership and mode.
#include "authctl/fleet_config.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <string>

#include "test_support.hpp"

namespace authctl::fleet {
namespace {

// The smallest valid file: a host, the CA and a password file.
const std::string kBase =
    "host = db1.example.com\n"
    "sslrootcert = /etc/authctl/fleet-ca.pem\n"
    "password_file = /etc/authctl/fleet.password\n";

Result<FleetConfig> parse(const std::string& text)
{
    return parse_fleet_config(text, "fleet.conf");
}

void expect_bad(const std::string& text, const std::string& needle)
{
    auto cfg = parse(text);
    ASSERT_FALSE(cfg) << "accepted:\n" << text;
    EXPECT_EQ(cfg.error().code, Errc::invalid_argument);
    EXPECT_NE(cfg.error().detail.find(needle), std::string::npos) << cfg.error().detail;
}

// `line` appended to kBase: its line number is 4.
void expect_ok(const std::string& line)
{
    auto cfg = parse(kBase + line + "\n");
    EXPECT_TRUE(cfg) << line << ": " << cfg.error().message();
}
void expect_bad_line(const std::string& line, const std::string& key)
{
    expect_bad(kBase + line + "\n", "fleet.conf:4: '" + key + "'");
}

TEST(FleetConfig, DefaultsFromTheSmallestFile)
{
    auto cfg = parse(kBase);
    ASSERT_TRUE(cfg) << cfg.error().message();
    EXPECT_EQ(cfg->host, "db1.example.com");
    EXPECT_EQ(cfg->port, "5432");
    EXPECT_EQ(cfg->dbname, "authctl");
    EXPECT_EQ(cfg->user, "authctl");
    EXPECT_EQ(cfg->password_file, "/etc/authctl/fleet.password");
    EXPECT_EQ(cfg->sslmode, "verify-full");
    EXPECT_EQ(cfg->sslrootcert, "/etc/authctl/fleet-ca.pem");
    EXPECT_EQ(cfg->sslcert, "");
    EXPECT_EQ(cfg->sslkey, "");
    EXPECT_EQ(cfg->target_session_attrs, "read-write");
    EXPECT_EQ(cfg->key_file, "/etc/authctl/fleet.key");
    EXPECT_EQ(cfg->socket, "/run/authctl/agent.sock");
    EXPECT_EQ(cfg->timeout, 5U);
    EXPECT_EQ(cfg->connect_timeout, 3U);
    EXPECT_EQ(cfg->pool, 4U);
}

TEST(FleetConfig, EveryKey)
{
    auto cfg = parse(
        "# the fleet\n"
        "host = db1.example.com,db2.example.com   # primary first\n"
        "port = 5433,6432\n"
        "dbname = authctl_prod\n"
        "user\t=\tauthctl_rw\n"
        "password_file = /etc/authctl/pw\r\n"
        "sslmode = verify-full\n"
        "sslrootcert = /etc/authctl/ca.pem\n"
        "sslcert = /etc/authctl/client.pem\n"
        "sslkey = /etc/authctl/client.key\n"
        "\n"
        "target_session_attrs = read-write\n"
        "key_file = /srv/keys/fleet.key\n"
        "socket = /run/authctld.sock\n"
        "timeout = 10\n"
        "connect_timeout = 10\n"
        "pool = 8\n");
    ASSERT_TRUE(cfg) << cfg.error().message();
    EXPECT_EQ(cfg->host, "db1.example.com,db2.example.com");
    EXPECT_EQ(cfg->port, "5433,6432");
    EXPECT_EQ(cfg->dbname, "authctl_prod");
    EXPECT_EQ(cfg->user, "authctl_rw");
    EXPECT_EQ(cfg->password_file, "/etc/authctl/pw");
    EXPECT_EQ(cfg->sslmode, "verify-full");
    EXPECT_EQ(cfg->sslrootcert, "/etc/authctl/ca.pem");
    EXPECT_EQ(cfg->sslcert, "/etc/authctl/client.pem");
    EXPECT_EQ(cfg->sslkey, "/etc/authctl/client.key");
    EXPECT_EQ(cfg->target_session_attrs, "read-write");
    EXPECT_EQ(cfg->key_file, "/srv/keys/fleet.key");
    EXPECT_EQ(cfg->socket, "/run/authctld.sock");
    EXPECT_EQ(cfg->timeout, 10U);
    EXPECT_EQ(cfg->connect_timeout, 10U);
    EXPECT_EQ(cfg->pool, 8U);
}

TEST(FleetConfig, NumbersAtAndPastTheirBounds)
{
    expect_ok("timeout = 1\nconnect_timeout = 1");
    expect_ok("timeout = 60\nconnect_timeout = 60");
    expect_bad_line("timeout = 0", "timeout");
    expect_bad_line("timeout = 61", "timeout");
    expect_bad(kBase + "timeout = 60\nconnect_timeout = 0\n", "fleet.conf:5: 'connect_timeout' must be a number");
    expect_bad(kBase + "timeout = 60\nconnect_timeout = 61\n", "fleet.conf:5: 'connect_timeout' must be a number");
    expect_ok("pool = 1");
    expect_ok("pool = 64");
    expect_bad_line("pool = 0", "pool");
    expect_bad_line("pool = 65", "pool");
    for (const char* v : {"", "-1", "+1", "1.5", "1 2", "0x10", "ten", "4294967301"})
        expect_bad_line(std::string("pool = ") + v, "pool");
    expect_bad_line("timeout = 99999999999999999999", "timeout");
}

TEST(FleetConfig, ConnectTimeoutMustNotExceedTimeout)
{
    expect_ok("timeout = 7\nconnect_timeout = 7");
    expect_bad(kBase + "timeout = 2\n", "fleet.conf:4: 'connect_timeout' (3) must not exceed 'timeout' (2)");
    expect_bad(kBase + "connect_timeout = 9\ntimeout = 8\n", "fleet.conf:5: 'connect_timeout' (9)");
}

TEST(FleetConfig, Ports)
{
    expect_ok("port = 1");
    expect_ok("port = 65535");
    for (const char* v : {"0", "65536", "", "-1", "+5432", "54 32", "5432,", ",5432", "http", "99999999999"})
        expect_bad_line(std::string("port = ") + v, "port");
}

TEST(FleetConfig, PortsMatchHosts)
{
    const std::string rest = "sslrootcert = /ca.pem\npassword_file = /pw\n";
    EXPECT_TRUE(parse("host = a,b,c\n" + rest));
    EXPECT_TRUE(parse("host = a,b,c\nport = 6432\n" + rest));
    EXPECT_TRUE(parse("host = a,b,c\nport = 1,2,3\n" + rest));
    expect_bad("host = a,b,c\nport = 1,2\n" + rest, "fleet.conf:2: 'port' lists 2 ports for 3 hosts");
    expect_bad("host = a\nport = 1,2\n" + rest, "'port' lists 2 ports for 1 hosts");
    expect_bad("port = 1,2,3,4\nhost = a,b,c\n" + rest, "fleet.conf:1: 'port' lists 4 ports for 3 hosts");
}

TEST(FleetConfig, Hosts)
{
    const std::string rest = "sslrootcert = /ca.pem\npassword_file = /pw\n";
    for (const char* h : {"db", "10.0.0.7", "::1", "db-1.example.com,db-2.example.com"})
        EXPECT_TRUE(parse(std::string("host = ") + h + "\n" + rest)) << h;
    for (const char* h : {"", "a,,b", ",a", "a,", "a b", "a, b", "/var/run/postgresql", "a,/tmp", "@abstract"})
        expect_bad(std::string("host = ") + h + "\n" + rest, "fleet.conf:1: 'host'");
    expect_bad("host = " + std::string(1025, 'a') + "\n" + rest, "fleet.conf:1: 'host'");
    EXPECT_TRUE(parse("host = " + std::string(1024, 'a') + "\n" + rest));
    expect_bad(rest, "fleet.conf: 'host' is required");
}

TEST(FleetConfig, Names)
{
    for (const char* key : {"dbname", "user"}) {
        const std::string k = key;
        expect_ok(k + " = " + std::string(63, 'n'));
        expect_ok(k + " = user@server");
        expect_bad_line(k + " = " + std::string(64, 'n'), k);
        expect_bad_line(k + " =", k);
        expect_bad_line(k + " = a b", k);
        expect_bad_line(k + " = host=evil", k);
        expect_bad_line(k + " = postgresql://evil/db", k);
    }
}

TEST(FleetConfig, Paths)
{
    for (const char* key : {"password_file", "sslrootcert", "sslcert", "sslkey", "key_file", "socket"}) {
        const std::string k = key;
        const std::string companion = k == "sslcert" ? "\nsslkey = /k" : k == "sslkey" ? "\nsslcert = /c" : "";
        const std::string base = k == "password_file" || k == "sslrootcert" ? "host = h\n" : kBase;
        const std::string others = k == "password_file" ? "sslrootcert = /ca\n"
                                   : k == "sslrootcert" ? "password_file = /pw\n"
                                                        : "";
        auto text = [&](const std::string& line) { return base + others + line + companion + "\n"; };
        const std::size_t line_no = base == kBase ? 4 : 3;
        const std::string at = "fleet.conf:" + std::to_string(line_no) + ": '" + k + "'";
        EXPECT_TRUE(parse(text(k + " = /a path/with spaces"))) << k;
        for (const char* v : {"", "relative/path", "./x", "~/x"}) expect_bad(text(k + " = " + v), at);
        const std::size_t max = k == "socket" ? 107 : 4096;
        EXPECT_TRUE(parse(text(k + " = /" + std::string(max - 1, 'p')))) << k;
        expect_bad(text(k + " = /" + std::string(max, 'p')), at);
        expect_bad(text(k + " = /a\x01z"), "control character");
        expect_bad(text(k + " = /a\x7fz"), "control character");
    }
}

TEST(FleetConfig, SslmodeIsVerifyFull)
{
    expect_ok("sslmode = verify-full");
    for (const char* v : {"verify-ca", "require", "prefer", "allow", "disable", "VERIFY-FULL", ""}) {
        auto cfg = parse(kBase + "sslmode = " + v + "\n");
        ASSERT_FALSE(cfg) << v;
        EXPECT_NE(cfg.error().detail.find("fleet.conf:4: 'sslmode' must be verify-full"),
                  std::string::npos)
            << cfg.error().detail;
    }
}

TEST(FleetConfig, TargetSessionAttrsNeedsThePrimary)
{
    expect_ok("target_session_attrs = read-write");
    for (const char* v : {"any", "primary", "standby", "prefer-standby", "read-only"}) {
        auto cfg = parse(kBase + "target_session_attrs = " + v + "\n");
        ASSERT_FALSE(cfg) << v;
        EXPECT_NE(cfg.error().detail.find("fleet.conf:4: 'target_session_attrs'"), std::string::npos);
        EXPECT_NE(cfg.error().detail.find("needs the writable primary"), std::string::npos) << cfg.error().detail;
    }
    expect_bad_line("target_session_attrs = bogus", "target_session_attrs");
}

TEST(FleetConfig, UnknownDuplicateAndMalformedLines)
{
    expect_bad(kBase + "hots = db\n", "fleet.conf:4: unknown key 'hots'");
    expect_bad(kBase + "sslpassword = x\n", "fleet.conf:4: unknown key 'sslpassword'");
    expect_bad(kBase + "Host = db\n", "fleet.conf:4: unknown key 'Host'");
    expect_bad(kBase + "\n# again\nhost = db2\n", "fleet.conf:6: 'host' is set twice (first on line 1)");
    expect_bad(kBase + "pool = 4\npool = 4\n", "fleet.conf:5: 'pool' is set twice (first on line 4)");
    expect_bad(kBase + "verify-full\n", "fleet.conf:4: expected 'key = value'");
    expect_bad(kBase + "= x\n", "fleet.conf:4: expected 'key = value'");
    expect_bad(kBase + "pool = 4\x1b\n", "fleet.conf:4: control character");
}

TEST(FleetConfig, RequiredKeys)
{
    expect_bad("host = h\npassword_file = /pw\n", "fleet.conf: 'sslrootcert' is required");
    expect_bad("sslrootcert = /ca\npassword_file = /pw\n", "fleet.conf: 'host' is required");
    expect_bad("", "fleet.conf: 'host' is required");
    expect_bad_line("key_file =", "key_file");
}

TEST(FleetConfig, CredentialsRule)
{
    const std::string head = "host = h\nsslrootcert = /ca\n";
    expect_bad(head, "fleet.conf: no credentials: set 'password_file', or 'sslcert' and 'sslkey'");
    EXPECT_TRUE(parse(head + "password_file = /pw\n"));
    EXPECT_TRUE(parse(head + "sslcert = /c\nsslkey = /k\n"));
    EXPECT_TRUE(parse(head + "password_file = /pw\nsslcert = /c\nsslkey = /k\n"));
    expect_bad(head + "sslcert = /c\n", "fleet.conf:3: 'sslcert' needs 'sslkey' too");
    expect_bad(head + "sslkey = /k\n", "fleet.conf:3: 'sslkey' needs 'sslcert' too");
    expect_bad(head + "password_file = /pw\nsslkey = /k\n", "fleet.conf:4: 'sslkey' needs 'sslcert' too");
}

class FleetConfigFile : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(::geteuid(), 0U) << "these tests need root (file ownership checks)"; }
    test::TempDir tmp_;
};

TEST_F(FleetConfigFile, LoadsARootOnlyFile)
{
    for (const mode_t mode : std::array<mode_t, 2>{0600, 0400}) {
        const std::string path = tmp_ / ("f" + std::to_string(mode));
        test::write_file(path, kBase, mode);
        auto cfg = load_fleet_config(path);
        ASSERT_TRUE(cfg) << cfg.error().message();
        EXPECT_EQ(cfg->host, "db1.example.com");
    }
    test::write_file(tmp_ / "bad", kBase + "pool = 0\n", 0600);
    auto bad = load_fleet_config(tmp_ / "bad");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().detail.rfind(tmp_ / "bad:4: 'pool'", 0), 0U) << bad.error().detail;
}

TEST_F(FleetConfigFile, RefusesLooseForeignAndSymlinkedFiles)
{
    for (const mode_t mode : std::array<mode_t, 5>{0644, 0640, 0604, 0620, 0602}) {
        const std::string path = tmp_ / ("m" + std::to_string(mode));
        test::write_file(path, kBase, mode);
        auto cfg = load_fleet_config(path);
        ASSERT_FALSE(cfg) << std::oct << mode;
        EXPECT_EQ(cfg.error().code, Errc::insecure) << cfg.error().message();
    }
    test::write_file(tmp_ / "foreign", kBase, 0600);
    ASSERT_EQ(::chown((tmp_ / "foreign").c_str(), 65534, 0), 0);
    auto foreign = load_fleet_config(tmp_ / "foreign");
    ASSERT_FALSE(foreign);
    EXPECT_EQ(foreign.error().code, Errc::insecure);

    test::write_file(tmp_ / "real", kBase, 0600);
    ASSERT_EQ(::symlink((tmp_ / "real").c_str(), (tmp_ / "link").c_str()), 0);
    auto linked = load_fleet_config(tmp_ / "link");
    ASSERT_FALSE(linked);
    EXPECT_EQ(linked.error().code, Errc::insecure);

    auto missing = load_fleet_config(tmp_ / "none");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST(FleetConfigEnvironment, ScrubRemovesEveryPgVariable)
{
    const char* path_before = std::getenv("PATH");
    ASSERT_NE(path_before, nullptr);
    const std::string path = path_before;
    for (const char* name : {"PGHOST", "PGPASSWORD", "PGSSLMODE", "PGSERVICEFILE", "PG", "PG_SOMETHING_ELSE"})
        ASSERT_EQ(::setenv(name, "x", 1), 0);
    ASSERT_EQ(::setenv("PGEMPTY", "", 1), 0);
    ASSERT_EQ(::setenv("AUTHCTL_PGHOST", "kept", 1), 0);
    ASSERT_EQ(::setenv("pghost", "kept", 1), 0);
    scrub_pg_environment();
    for (const char* name :
         {"PGHOST", "PGPASSWORD", "PGSSLMODE", "PGSERVICEFILE", "PG", "PG_SOMETHING_ELSE", "PGEMPTY"})
        EXPECT_EQ(std::getenv(name), nullptr) << name;
    for (char** env = environ; *env != nullptr; ++env) EXPECT_NE(std::string(*env).rfind("PG", 0), 0U) << *env;
    ASSERT_NE(std::getenv("PATH"), nullptr);
    EXPECT_EQ(std::getenv("PATH"), path);
    EXPECT_STREQ(std::getenv("AUTHCTL_PGHOST"), "kept");
    EXPECT_STREQ(std::getenv("pghost"), "kept");
    ::unsetenv("AUTHCTL_PGHOST");
    ::unsetenv("pghost");
    scrub_pg_environment();  // nothing left to remove
    EXPECT_EQ(std::getenv("PGHOST"), nullptr);
}

}  // namespace
}  // namespace authctl::fleet
