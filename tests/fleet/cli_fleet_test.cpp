// SPDX-License-Identifier: Apache-2.0
// The authctl CLI on the fleet database, as an administrator runs it: the
// real binary against a real PostgreSQL 15 (tests/fleet/pg_test_server.sh:
// TLS, SCRAM, 127.0.0.1), with codes from oathtool and QR codes read back by
// zbarimg. fleet init, every record command with --store fleet, push and pull
// between a state directory and the fleet, what a dump holds, a sealed value
// moved to another user's row, rekey under a second key, and `authctl status`
// over 100 000 fleet users.
//
// Users come from tests/module/data/passwd through nss_wrapper (nss_main.cpp).
#include <gtest/gtest.h>

#include <dirent.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <libpq-fe.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <sstream>
#include <string>
#include <vector>

#include "authctl/enrollment.hpp"
#include "authctl/login.hpp"
#include "authctl/record.hpp"
#include "authctl/sealed.hpp"
#include "authctl/store.hpp"
#include "pg_server.hpp"
#include "test_support.hpp"

namespace authctl {
namespace {

using test::CmdResult;
using test::run_cmd;

std::string trimmed(std::string s)
{
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

std::string oathtool_totp(const std::string& b32, std::int64_t at)
{
    int status = 0;
    std::string out = test::run({"oathtool", "-b", "--totp", "-N", "@" + std::to_string(at), "-"}, b32 + "\n", status);
    EXPECT_EQ(status, 0);
    return trimmed(out);
}

std::string oathtool_hotp(const std::string& b32, std::uint64_t counter)
{
    int status = 0;
    std::string out = test::run({"oathtool", "-b", "--hotp", "-c", std::to_string(counter), "-"}, b32 + "\n", status);
    EXPECT_EQ(status, 0);
    return trimmed(out);
}

// A code for the next time step: valid for the whole window.
std::string next_code(const std::string& b32)
{
    return oathtool_totp(b32, std::time(nullptr) + 30);
}

bool contains(const std::string& hay, const std::string& needle)
{
    return hay.find(needle) != std::string::npos;
}

class CliFleet : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        try {
            pg_ = test::PgTestServer::start();
        } catch (const std::exception& e) {
            start_error_ = e.what();
        }
    }
    static void TearDownTestSuite() { pg_.reset(); }

    void SetUp() override
    {
        ASSERT_EQ(::geteuid(), 0U) << "fleet tests run as root";
        ASSERT_TRUE(start_error_.empty()) << start_error_;
        ASSERT_NE(::getpwnam("alice"), nullptr) << "nss_wrapper is not active";
        for (const char* tool : {"oathtool", "zbarimg"})
            ASSERT_TRUE(test::have_program(tool)) << tool << " is not installed (scripts/test installs it)";
        conf_ = tmp_ / "authctl.conf";
        test::write_file(conf_, "# cli fleet test\n", 0644);
        fleet_conf_ = pg_->fleet_conf_path();
        // Every test starts from a current schema, no users, and k1 as the fleet's key.
        const CmdResult init = fleet_cmd({"init"});
        ASSERT_EQ(init.code, 0) << init.err;
        std::string err;
        ASSERT_EQ(pg_->psql("TRUNCATE authctl_users; UPDATE authctl_meta SET v = 'k1' WHERE k = 'current_key'", nullptr,
                            &err),
                  0)
            << err;
    }

    static CmdResult cli(const std::vector<std::string>& args, const std::string& input = "", unsigned deadline = 60)
    {
        std::vector<std::string> argv{AUTHCTL_CLI};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_cmd(argv, input, deadline);
    }

    // A record command on the fleet database.
    CmdResult fleet(std::vector<std::string> args, const std::string& input = "", unsigned deadline = 60)
    {
        args.insert(args.end(), {"--store", "fleet", "--fleet-conf", fleet_conf_, "--conf", conf_});
        return cli(args, input, deadline);
    }

    // A record command on a state directory.
    CmdResult local(const std::string& dir, std::vector<std::string> args)
    {
        args.insert(args.end(), {"--store", "file", "--dir", dir, "--conf", conf_});
        return cli(args);
    }

    // `authctl fleet SUB ARGS...` with this fleet.conf (and --dir/--conf for push and pull).
    CmdResult fleet_cmd(std::vector<std::string> args, const std::string& dir = "", const std::string& conf = "")
    {
        args.insert(args.begin(), "fleet");
        args.insert(args.end(), {"--fleet-conf", conf.empty() ? fleet_conf_ : conf});
        if (!dir.empty()) args.insert(args.end(), {"--dir", dir, "--conf", conf_});
        return cli(args);
    }

    nlohmann::json enroll(const std::string& user, std::vector<std::string> extra = {})
    {
        std::vector<std::string> args{"enroll", "-u", user, "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const CmdResult r = fleet(args);
        EXPECT_EQ(r.code, 0) << r.err;
        return nlohmann::json::parse(r.out);
    }

    nlohmann::json enroll_local(const std::string& dir, const std::string& user)
    {
        const CmdResult r = local(dir, {"enroll", "-u", user, "--json"});
        EXPECT_EQ(r.code, 0) << r.err;
        return nlohmann::json::parse(r.out);
    }

    // One user's status; it exits 1 exactly when the user is locked (or one of its sources).
    nlohmann::json status_json(const std::string& user)
    {
        const CmdResult r = fleet({"status", "-u", user, "--json"});
        const auto j = nlohmann::json::parse(r.out).at(0);
        bool locked = j.at("locked").get<bool>();
        for (const auto& src : j.at("sources")) locked = locked || src.at("locked").get<bool>();
        EXPECT_EQ(r.code, locked ? 1 : 0) << r.err;
        return j;
    }

    std::string psql(const std::string& sql)
    {
        std::string out, err;
        EXPECT_EQ(pg_->psql(sql, &out, &err), 0) << sql << ": " << err;
        return out;
    }

    // A fleet.conf like the server's, naming another key file.
    std::string fleet_conf_with_key(const std::string& key_file)
    {
        std::string conf;
        std::istringstream in(test::read_file(fleet_conf_));
        for (std::string line; std::getline(in, line);)
            if (line.rfind("key_file", 0) != 0) conf += line + "\n";
        conf += "key_file = " + key_file + "\n";
        const std::string path = tmp_ / ("fleet-" + std::to_string(++confs_) + ".conf");
        test::write_file(path, conf, 0600);
        return path;
    }

    static std::unique_ptr<test::PgTestServer> pg_;
    static std::string start_error_;
    test::TempDir tmp_;
    std::string conf_, fleet_conf_;
    int confs_ = 0;
};

std::unique_ptr<test::PgTestServer> CliFleet::pg_;
std::string CliFleet::start_error_;

TEST_F(CliFleet, InitCreatesTheSchemaIsIdempotentAndANewerSchemaIsRefused)
{
    psql("DROP TABLE authctl_users, authctl_meta");
    CmdResult r = fleet({"status"});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "fleet database has no authctl schema: run 'authctl fleet init'")) << r.err;

    r = fleet_cmd({"init"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "schema version none -> 1")) << r.out;
    EXPECT_EQ(r.err, "") << "no NOTICEs from the server on the terminal";
    r = fleet_cmd({"init"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "schema version 1 -> 1 (already current)")) << r.out;
    EXPECT_EQ(r.err, "");
    r = fleet_cmd({"init", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("before"), 1);
    EXPECT_EQ(j.at("after"), 1);
    EXPECT_EQ(psql("SELECT v FROM authctl_meta WHERE k = 'current_key'"), "k1");
    r = fleet({"status"});
    EXPECT_EQ(r.code, 0) << r.err;

    // A schema from a newer authctl: every command and init refuse it, naming both versions.
    psql("UPDATE authctl_meta SET v = '7' WHERE k = 'schema_version'");
    r = fleet({"status"});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "schema version 7 is newer than this build knows (1)")) << r.err;
    r = fleet_cmd({"init"});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "newer")) << r.err;
    EXPECT_EQ(psql("SELECT v FROM authctl_meta WHERE k = 'schema_version'"), "7") << "init changed nothing";
    psql("UPDATE authctl_meta SET v = '1' WHERE k = 'schema_version'");
}

TEST_F(CliFleet, EnrollVerifyReplayStatusAndEveryAdminCommandOnTheFleet)
{
    const std::string png = tmp_ / "alice.png";
    const auto j = enroll("alice", {"--qr", "png:" + png});
    const std::string secret = j.at("secret");
    const std::string uri = j.at("uri");
    EXPECT_EQ(secret.size(), 32U);
    EXPECT_TRUE(contains(uri, "secret=" + secret)) << uri;
    const CmdResult zbar = run_cmd({"zbarimg", "--quiet", "--raw", png});
    EXPECT_EQ(trimmed(zbar.out), uri) << "the QR code is the printed URI";
    EXPECT_EQ(psql("SELECT count(*) FROM authctl_users WHERE name = 'alice'"), "1");

    // A second enrollment is refused without --force; show gives the same secret back.
    CmdResult r = fleet({"enroll", "-u", "alice", "--json"});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "already enrolled")) << r.err;
    r = fleet({"show", "-u", "alice", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).at("secret"), secret);

    // audit: alice is in sudo, enrolled but not confirmed yet.
    r = fleet({"audit", "--group", "sudo", "--no-sudo"});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.out, "alice (group sudo): enrollment not confirmed yet")) << r.out;

    // A code from oathtool logs in once; the same code again is a counted failure.
    const std::string code = next_code(secret);
    r = fleet({"verify", "-u", "alice", code});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "alice: code accepted\n");
    r = fleet({"verify", "-u", "alice", code});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "alice: code already used (1 failure)")) << r.err;

    auto s = status_json("alice");
    EXPECT_EQ(s.at("last_success_from"), "authctl-verify") << "the record's new fields, through the sealed row";
    EXPECT_EQ(s.at("last_success").get<std::string>().size(), 20U);
    EXPECT_EQ(s.at("recovery_left"), 10);
    EXPECT_TRUE(s.at("enrolled").get<bool>());
    EXPECT_TRUE(s.at("confirmed").get<bool>());
    EXPECT_EQ(s.at("failures"), 1);
    EXPECT_EQ(s.at("from"), "authctl-verify");
    EXPECT_FALSE(s.at("locked").get<bool>());
    r = fleet({"status"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
              "USER            ENROLLED    TYPE  FAILURES  LAST FAILURE         FROM              LOCKED  UNLOCKS IN  "
              "          RECOVERY  LAST SUCCESS")
        << "the file store's table";
    EXPECT_TRUE(contains(r.out, "\nalice           yes         totp  1  ")) << r.out;
    r = fleet({"audit", "--group", "sudo", "--no-sudo"});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "fleet database")) << r.out;

    // lock: the next code is not even checked; reset says what it cleared; unlock is reset.
    r = fleet({"lock", "-u", "alice", "--for", "600"});
    EXPECT_EQ(r.code, 0) << r.err;
    s = status_json("alice");
    EXPECT_TRUE(s.at("locked").get<bool>());
    EXPECT_GT(s.at("unlock_in").get<int>(), 590);
    EXPECT_EQ(s.at("lock").at("reason"), "admin");
    EXPECT_FALSE(s.at("lock").at("by").is_null());
    EXPECT_EQ(s.at("lock").at("until"), s.at("locked_until"));
    EXPECT_EQ(fleet({"status"}).code, 1) << "a locked user shown";
    r = fleet({"verify", "-u", "alice", oathtool_totp(secret, std::time(nullptr) + 60)});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "account locked; the code was not checked")) << r.err;
    r = fleet({"reset", "-u", "alice"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "alice: 1 failure cleared, account unlocked\n");
    r = fleet({"unlock", "-u", "alice"});
    EXPECT_EQ(r.out, "alice: no failures recorded, not locked\n");

    // lock and reset --source: one source's entry, kept in the sealed row (an IPv6 address stands for its /64).
    r = fleet({"lock", "-u", "alice", "--source", "2001:db8:7:7::1", "--for", "600"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "alice: logins from 2001:db8:7:7::/64 locked for 10 minutes")) << r.out;
    r = fleet({"status", "-u", "alice", "--json"});
    EXPECT_EQ(r.code, 1) << "locked from one source: " << r.err;
    s = nlohmann::json::parse(r.out).at(0);
    EXPECT_FALSE(s.at("locked").get<bool>());
    ASSERT_EQ(s.at("sources").size(), 1U) << s.dump();
    EXPECT_EQ(s.at("sources").at(0).at("source"), "2001:db8:7:7::/64");
    EXPECT_EQ(s.at("sources").at(0).at("reason"), "admin");
    EXPECT_TRUE(s.at("sources").at(0).at("locked").get<bool>());
    r = fleet({"reset", "-u", "alice", "--source", "2001:db8:7:7::2"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "alice: 0 failures from 2001:db8:7:7::/64 cleared, source unlocked\n");
    EXPECT_TRUE(status_json("alice").at("sources").empty());

    // recovery: new codes, one of them logs in once.
    r = fleet({"recovery", "-u", "alice", "--count", "2", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string rc = nlohmann::json::parse(r.out).at("recovery_codes").at(0);
    r = fleet({"verify", "-u", "alice", rc});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "alice: recovery code accepted (1 left)\n");
    EXPECT_EQ(fleet({"verify", "-u", "alice", rc}).code, 1);

    // import oath into the fleet: bob's HOTP token keeps working.
    const std::string users_oath = tmp_ / "users.oath";
    const std::string key_hex = "3132333435363738393031323334353637383930";  // RFC 4226's key
    test::write_file(users_oath, "HOTP bob - " + key_hex + "\n", 0600);
    r = fleet({"import", "oath", users_oath});
    EXPECT_EQ(r.code, 0) << r.err;
    r = fleet({"verify", "-u", "bob", "755224"});  // RFC 4226, counter 0
    EXPECT_EQ(r.code, 0) << r.err;
    r = fleet({"verify", "-u", "bob", "755224"});
    EXPECT_EQ(r.code, 1) << "a HOTP counter used is used fleet-wide";
    // resync (issue 19, point 10) in one transaction on the fleet row: counters 7 and 8.
    r = fleet({"resync", "-u", "bob", "162583", "399 871"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "bob: resynchronised: the codes are counters 7 and 8; the counter moved from 1 to 9\n");
    r = fleet({"verify", "-u", "bob", "520489"});  // counter 9
    EXPECT_EQ(r.code, 0) << r.err;
    // The same key imported again with --force (point 6): counter 9 stays used.
    r = fleet({"import", "oath", "--force", users_oath});
    EXPECT_EQ(r.code, 0) << r.err;
    r = fleet({"verify", "-u", "bob", "520489"});
    EXPECT_EQ(r.code, 1) << "a re-import brought back a used code";

    // remove: the row is gone.
    r = fleet({"remove", "-u", "alice"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(psql("SELECT count(*) FROM authctl_users WHERE name = 'alice'"), "0");
    EXPECT_FALSE(status_json("alice").at("enrolled").get<bool>());
    r = fleet({"remove", "-u", "alice"});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "has no record")) << r.err;
}

TEST_F(CliFleet, AHostInFleetModeWorksOnTheFleetUnlessToldOtherwise)
{
    enroll("alice");
    const std::string dir = tmp_ / "local";
    enroll_local(dir, "bob");
    const std::string agent_conf = tmp_ / "agent.conf";
    test::write_file(agent_conf, "store = agent\n", 0644);
    // store=agent in authctl.conf: the fleet, without --store.
    CmdResult r = cli({"status", "--conf", agent_conf, "--fleet-conf", fleet_conf_});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "\nalice ")) << r.out;
    EXPECT_FALSE(contains(r.out, "\nbob ")) << r.out;
    // --dir there is a question, not a silent choice: exit 2 until --store says which.
    r = cli({"status", "--conf", agent_conf, "--fleet-conf", fleet_conf_, "--dir", dir});
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(contains(r.err, "add --store file")) << r.err;
    r = cli({"status", "--conf", agent_conf, "--store", "file", "--dir", dir});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "\nbob ")) << r.out;
    EXPECT_FALSE(contains(r.out, "\nalice ")) << r.out;
    r = fleet({"status", "--dir", dir});
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(contains(r.err, "--dir is for --store file")) << r.err;
    // --fleet-conf names the fleet: it is not ignored on a host in file mode.
    r = cli({"status", "--conf", conf_, "--fleet-conf", fleet_conf_});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "\nalice ")) << r.out;
    r = cli({"status", "--conf", conf_, "--store", "file", "--dir", dir, "--fleet-conf", fleet_conf_});
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(contains(r.err, "--fleet-conf is for the fleet database")) << r.err;
    // Group grants are each host's: not recorded in the shared fleet record.
    r = fleet({"enroll", "-u", "carol", "--confirm", "--grant-group", "sudo"}, "000000\n");
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(contains(r.err, "--grant-group is for --store file")) << r.err;
}

TEST_F(CliFleet, ADumpOfTheDatabaseHoldsNoSecret)
{
    std::vector<std::string> secrets;
    for (const char* u : {"alice", "bob", "carol"}) secrets.push_back(enroll(u).at("secret"));
    secrets.push_back(enroll("dave", {"--hotp"}).at("secret"));
    const std::string dump = tmp_ / "fleet.sql";
    ASSERT_TRUE(pg_->dump(dump));
    const std::string text = test::read_file(dump);
    ASSERT_TRUE(contains(text, "alice") && contains(text, "authctl_users")) << "the dump holds the rows";
    for (const auto& s : secrets) {
        EXPECT_FALSE(contains(text, s)) << "base32 secret in the dump";
        std::string lower = s;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        EXPECT_FALSE(contains(text, lower));
        EXPECT_FALSE(contains(text, s.substr(0, 16))) << "not even half of it";
    }
    // hex of "authctl-user " and of "secret ": no record text in a bytea column.
    EXPECT_FALSE(contains(text, "6175746863746c2d7573657220")) << "a record in clear";
    EXPECT_FALSE(contains(text, "73656372657420")) << "a secret line in clear";
}

TEST_F(CliFleet, ASealedValueMovedToAnotherUsersRowFailsClosed)
{
    const std::string alice = enroll("alice").at("secret");
    const std::string bob = enroll("bob").at("secret");
    psql(
        "UPDATE authctl_users SET sealed = (SELECT sealed FROM authctl_users WHERE name = 'alice') WHERE name = 'bob'");
    const std::string before = psql("SELECT md5(sealed) FROM authctl_users WHERE name = 'bob'");
    for (const std::string& code : {next_code(alice), next_code(bob)}) {
        const CmdResult r = fleet({"verify", "-u", "bob", code});
        EXPECT_EQ(r.code, 1) << r.out;
        EXPECT_EQ(r.out, "");
        EXPECT_TRUE(contains(r.err, "bob")) << r.err;
        EXPECT_FALSE(contains(r.err, "wrong code")) << "an error, not a verdict: " << r.err;
        EXPECT_TRUE(contains(r.err, "crypto")) << r.err;
    }
    EXPECT_EQ(psql("SELECT md5(sealed) FROM authctl_users WHERE name = 'bob'"), before) << "nothing written";
    const CmdResult st = fleet({"status"});
    EXPECT_EQ(st.code, 1);
    EXPECT_TRUE(contains(st.out, "\nbob             ERROR: ")) << st.out;
    EXPECT_TRUE(contains(st.out, "\nalice           unconfirmed totp ")) << st.out;
    EXPECT_EQ(fleet({"verify", "-u", "alice", next_code(alice)}).code, 0) << "alice's own row still opens";
}

TEST_F(CliFleet, PushRefusesADifferentEnrollmentUnlessForcedAndPullBringsEveryoneBack)
{
    const std::string dir = tmp_ / "local";
    // This server's state directory: three users; carol is also in the fleet, with another secret.
    const std::string alice = enroll_local(dir, "alice").at("secret");
    const std::string bob = enroll_local(dir, "bob").at("secret");
    const std::string carol_here = enroll_local(dir, "carol").at("secret");
    const std::string carol_fleet = enroll("carol").at("secret");
    ASSERT_NE(carol_here, carol_fleet);
    const std::string alice_code = next_code(alice);
    ASSERT_EQ(local(dir, {"verify", "-u", "alice", alice_code}).code, 0);  // used here before the push
    // A bucket of names that do not exist, counted here under this host's key.
    {
        auto store = UserStore::open(dir);
        ASSERT_TRUE(store) << store.error().message();
        auto held = store->lock(*unknown_user_bucket("ghost", nullptr));
        ASSERT_TRUE(held);
        held->record().emplace();
        held->record()->tally.failures = 2;
        held->record()->tally.first_failure = held->record()->tally.last_failure = 1700000000;
        ASSERT_TRUE(held->commit());
        ASSERT_TRUE(held->finish());
    }

    const auto lock_files = [](const std::string& d) {
        std::size_t n = 0;
        if (DIR* h = ::opendir(d.c_str())) {
            while (const dirent* e = ::readdir(h))
                if (std::string(e->d_name).find(".lock") != std::string::npos) ++n;
            ::closedir(h);
        }
        return n;
    };
    const std::size_t locks_before = lock_files(dir);
    CmdResult r = fleet_cmd({"push", "--dry-run", "-u", "alice", "-u", "carol", "-u", "nobody"}, dir);
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.out, "alice: copied [dry run: not written]")) << r.out;
    EXPECT_TRUE(contains(r.out, "carol: refused: different enrollment")) << r.out;
    EXPECT_EQ(psql("SELECT count(*) FROM authctl_users"), "1") << "a dry run writes nothing";
    EXPECT_EQ(lock_files(dir), locks_before) << "a dry run takes no lock (creates no lock file)";
    // A dry pull into a state directory that does not exist: reported, not created.
    const std::string nowhere = tmp_ / "nowhere";
    r = fleet_cmd({"pull", "--dry-run"}, nowhere);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "carol: copied [dry run: not written]")) << r.out;
    struct stat none {};
    EXPECT_NE(::stat(nowhere.c_str(), &none), 0) << "a dry pull created the state directory";

    r = fleet_cmd({"push"}, dir);
    EXPECT_EQ(r.code, 1) << "a refusal is a failure";
    EXPECT_TRUE(contains(r.out, "alice: copied\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "bob: copied\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "carol: refused: different enrollment")) << r.out;
    EXPECT_TRUE(contains(r.out, "3 users pushed from " + dir + " to the fleet database")) << r.out;
    EXPECT_TRUE(contains(r.out, "1 bucket of names that do not exist left as they are")) << r.out;
    EXPECT_EQ(psql("SELECT count(*) FROM authctl_users WHERE name LIKE ':unknown:%'"), "0")
        << "a host's bucket is not pushed";
    EXPECT_TRUE(contains(r.out, "2 copied, 1 refused: different enrollment")) << r.out;
    EXPECT_TRUE(contains(r.err, "1 refused")) << r.err;
    r = fleet({"show", "-u", "carol", "--json"});
    EXPECT_EQ(nlohmann::json::parse(r.out).at("secret"), carol_fleet) << "the fleet's carol untouched";

    // The replay state came along: the code alice used here is used in the fleet too.
    r = fleet({"verify", "-u", "alice", alice_code});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "code already used")) << r.err;

    // Again: nothing new; with --force carol's enrollment here replaces the fleet's.
    r = fleet_cmd({"push", "--json"}, dir);
    EXPECT_EQ(r.code, 1);
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("summary").at("already_there"), 2);
    EXPECT_EQ(j.at("summary").at("refused"), 1);
    r = fleet_cmd({"push", "--force", "-u", "carol"}, dir);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "carol: replaced\n")) << r.out;
    r = fleet({"show", "-u", "carol", "--json"});
    EXPECT_EQ(nlohmann::json::parse(r.out).at("secret"), carol_here);

    // pull into a state directory that does not exist yet: everyone comes back.
    const std::string pulled = tmp_ / "pulled";
    r = fleet_cmd({"pull"}, pulled);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "3 users pulled into " + pulled + " from the fleet database")) << r.out;
    EXPECT_TRUE(contains(r.out, "3 copied")) << r.out;
    struct stat st {};
    ASSERT_EQ(::stat(pulled.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700U);
    r = fleet_cmd({"pull"}, pulled);
    EXPECT_TRUE(contains(r.out, "3 already there")) << r.out;

    // bob logs in there with the next code (the file store decides now), once;
    // alice's used code stays used.
    const std::string bob_code = next_code(bob);
    r = local(pulled, {"verify", "-u", "bob", bob_code});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(local(pulled, {"verify", "-u", "bob", bob_code}).code, 1);
    EXPECT_EQ(local(pulled, {"verify", "-u", "alice", alice_code}).code, 1);
    r = local(pulled, {"status"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "\ncarol ")) << r.out;

    // pull of a user the fleet does not have; a different enrollment here is refused.
    r = fleet_cmd({"pull", "-u", "dave"}, pulled);
    EXPECT_TRUE(contains(r.out, "dave: skipped (no record in the fleet)")) << r.out;
    ASSERT_EQ(fleet({"enroll", "-u", "bob", "--force", "--json"}).code, 0);
    r = fleet_cmd({"pull", "-u", "bob"}, pulled);
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.out, "bob: refused: different enrollment")) << r.out;
}

TEST_F(CliFleet, KeygenAndRekeyMoveEveryRowToTheNewKeyAndEveryoneStillLogsIn)
{
    // keygen --out: a new file, root 0600, never over an existing one or through a symlink.
    const std::string fresh = tmp_ / "new.key";
    CmdResult r = cli({"fleet", "keygen", "--id", "n1", "--out", fresh});
    ASSERT_EQ(r.code, 0) << r.err;
    struct stat st {};
    ASSERT_EQ(::lstat(fresh.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600U);
    EXPECT_EQ(st.st_uid, 0U);
    EXPECT_TRUE(contains(test::read_file(fresh), "\ncurrent n1\n"));
    EXPECT_EQ(cli({"fleet", "keygen", "--id", "n2", "--out", fresh}).code, 1);
    ASSERT_EQ(::symlink((tmp_ / "elsewhere").c_str(), (tmp_ / "link.key").c_str()), 0);
    EXPECT_EQ(cli({"fleet", "keygen", "--id", "n2", "--out", tmp_ / "link.key"}).code, 1);
    EXPECT_NE(::access((tmp_ / "elsewhere").c_str(), F_OK), 0) << "nothing written through the link";
    EXPECT_EQ(cli({"fleet", "keygen", "--id", "n2"}).code, 2);

    const std::vector<std::string> users{"alice", "bob", "carol", "dave"};
    std::vector<std::string> secrets;
    for (const auto& u : users) secrets.push_back(enroll(u, {"--hotp"}).at("secret"));
    for (std::size_t i = 0; i < users.size(); ++i)
        ASSERT_EQ(fleet({"verify", "-u", users[i], oathtool_hotp(secrets[i], 0)}).code, 0);

    // keygen --add: k2 joins a copy of the fleet's key file; then k2 is made current there.
    const std::string key2 = tmp_ / "fleet2.key";
    test::write_file(key2, test::read_file(pg_->key_file()), 0600);
    r = cli({"fleet", "keygen", "--id", "k2", "--add", key2});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "the current key is still 'k1'")) << r.out;
    ASSERT_EQ(::stat(key2.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600U);
    EXPECT_EQ(cli({"fleet", "keygen", "--id", "k2", "--add", key2}).code, 1) << "k2 is there already";
    std::string text = test::read_file(key2);
    const auto at = text.find("current k1");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, 10, "current k2");
    test::write_file(key2, text, 0600);
    const std::string conf2 = fleet_conf_with_key(key2);

    // Moving the fleet to another key takes --to: not a side effect of a
    // rekey run where the key file happens to name another key.
    r = fleet_cmd({"rekey"}, "", conf2);
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, "Confirm with --to k2")) << r.err;
    EXPECT_EQ(psql("SELECT v FROM authctl_meta WHERE k = 'current_key'"), "k1");
    EXPECT_EQ(psql("SELECT key_id || ':' || count(*) FROM authctl_users GROUP BY key_id"), "k1:4");
    r = fleet_cmd({"rekey", "--to", "k1"}, "", conf2);
    EXPECT_EQ(r.code, 2) << "--to must name this host's current key";
    r = fleet_cmd({"rekey", "--to", "k2"}, "", conf2);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "fleet current key: 'k1' -> 'k2'\ncurrent key 'k2': 4 rows looked at, 4 re-sealed under it\n");
    EXPECT_EQ(psql("SELECT key_id || ':' || count(*) FROM authctl_users GROUP BY key_id"), "k2:4");
    EXPECT_EQ(psql("SELECT v FROM authctl_meta WHERE k = 'current_key'"), "k2");
    r = fleet_cmd({"rekey", "--json"}, "", conf2);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).at("rewritten"), 0) << "nothing left to re-seal";

    r = fleet_cmd({"status", "--json"}, "", conf2);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("current_key"), "k2");
    EXPECT_TRUE(j.at("host_has_current_key").get<bool>());
    EXPECT_EQ(j.at("users"), 4);
    EXPECT_EQ(j.at("rows_per_key"), nlohmann::json({{"k2", 4}}));
    EXPECT_EQ(j.at("schema_version"), 1);
    EXPECT_LE(std::abs(j.at("clock_difference").get<long>()), 5);

    // Every user still logs in (the next HOTP counter), under the new key.
    for (std::size_t i = 0; i < users.size(); ++i) {
        r = cli({"verify", "-u", users[i], oathtool_hotp(secrets[i], 1), "--store", "fleet", "--fleet-conf", conf2,
                 "--conf", conf_});
        EXPECT_EQ(r.code, 0) << users[i] << ": " << r.err;
    }
    // A server whose key file lacks k2 cannot read them, and says so; fleet status names the problem.
    r = fleet({"verify", "-u", "alice", oathtool_hotp(secrets[0], 2)});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.err, "k2")) << r.err;
    r = fleet_cmd({"status"});
    EXPECT_EQ(r.code, 1);
    EXPECT_TRUE(contains(r.out, "lacks the fleet's current key 'k2'")) << r.out;
    EXPECT_TRUE(contains(r.out, "rows under key k2: 4")) << r.out;
}

// Seals `count` enrolled records under the key file's current key and COPYs
// them into authctl_users, as the database would hold them after enrollments.
void bulk_insert(const test::PgTestServer& pg, const Keyring& ring, std::size_t count)
{
    const std::string port = std::to_string(pg.port()), password = pg.password(), ca = pg.ca();
    const char* keys[] = {"host",        "port",     "dbname",  "user",   "password",        "sslmode",
                          "sslrootcert", "passfile", "sslcert", "sslkey", "connect_timeout", nullptr};
    const char* values[] = {"127.0.0.1",
                            port.c_str(),
                            "authctl",
                            "authctl",
                            password.c_str(),
                            "verify-full",
                            ca.c_str(),
                            "/nonexistent/pgpass",
                            "/nonexistent/client.crt",
                            "/nonexistent/client.key",
                            "10",
                            nullptr};
    std::unique_ptr<PGconn, void (*)(PGconn*)> c(PQconnectdbParams(keys, values, 0), &PQfinish);
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    PGresult* res = PQexec(c.get(), "COPY authctl_users (name, sealed, key_id) FROM STDIN");
    ASSERT_EQ(PQresultStatus(res), PGRES_COPY_IN) << PQerrorMessage(c.get());
    PQclear(res);
    const FleetKey& key = ring.current_key();
    static constexpr char hex[] = "0123456789abcdef";
    std::string chunk;
    for (std::size_t i = 0; i < count; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "u%06zu", i);
        UserRecord rec;
        auto e = new_enrollment({}, 1700000000);
        ASSERT_TRUE(e);
        rec.enrollment = std::move(*e);
        const SecretBytes text = serialize_record(rec);
        auto sealed = seal(key, name, text.view());
        ASSERT_TRUE(sealed) << sealed.error().message();
        chunk += name;
        chunk += "\t\\\\x";
        for (const char b : *sealed) {
            chunk += hex[static_cast<unsigned char>(b) >> 4];
            chunk += hex[static_cast<unsigned char>(b) & 0xF];
        }
        chunk += "\t" + key.id + "\n";
        if (chunk.size() > (1 << 20) || i + 1 == count) {
            ASSERT_EQ(PQputCopyData(c.get(), chunk.data(), static_cast<int>(chunk.size())), 1);
            chunk.clear();
        }
    }
    ASSERT_EQ(PQputCopyEnd(c.get(), nullptr), 1);
    res = PQgetResult(c.get());
    EXPECT_EQ(PQresultStatus(res), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
    PQclear(res);
}

TEST_F(CliFleet, StatusListsAHundredThousandFleetUsers)
{
    constexpr std::size_t kUsers = 100000;
    auto ring = load_keyring(pg_->key_file());
    ASSERT_TRUE(ring) << ring.error().message();
    const auto t0 = std::chrono::steady_clock::now();
    bulk_insert(*pg_, *ring, kUsers);
    if (HasFatalFailure()) return;
    const auto t1 = std::chrono::steady_clock::now();
    ASSERT_EQ(psql("SELECT count(*) FROM authctl_users"), std::to_string(kUsers));
    psql("VACUUM ANALYZE authctl_users");

    const auto t2 = std::chrono::steady_clock::now();
    const CmdResult r = fleet({"status"}, "", 120);
    const auto t3 = std::chrono::steady_clock::now();
    ASSERT_EQ(r.code, 0) << r.err;
    std::size_t lines = 0;
    for (const char ch : r.out) lines += ch == '\n' ? 1 : 0;
    EXPECT_EQ(lines, kUsers + 1) << "a header and one row per user";
    EXPECT_TRUE(contains(r.out, "\nu000000         unconfirmed totp  0 "));
    EXPECT_TRUE(contains(r.out, "\nu099999         unconfirmed totp  0 "));

    const CmdResult js = fleet({"status", "--json"}, "", 120);
    const auto t4 = std::chrono::steady_clock::now();
    ASSERT_EQ(js.code, 0) << js.err;
    EXPECT_EQ(nlohmann::json::parse(js.out).size(), kUsers);
    const CmdResult fs = fleet_cmd({"status", "--json"});
    ASSERT_EQ(fs.code, 0) << fs.out << fs.err;
    EXPECT_EQ(nlohmann::json::parse(fs.out).at("users"), kUsers);

    using ms = std::chrono::milliseconds;
    std::printf(
        "[ timing   ] %zu sealed rows generated and COPYed in %lld ms; authctl status --store fleet: %lld ms "
        "(text), %lld ms (--json)\n",
        kUsers, static_cast<long long>(std::chrono::duration_cast<ms>(t1 - t0).count()),
        static_cast<long long>(std::chrono::duration_cast<ms>(t3 - t2).count()),
        static_cast<long long>(std::chrono::duration_cast<ms>(t4 - t3).count()));
}

}  // namespace
}  // namespace authctl
