// SPDX-License-Identifier: Apache-2.0
// Several servers on one fleet database: four real authctld agents (each with
// its own socket, its own fleet.conf and its own copy of the fleet key) on one
// real PostgreSQL (TLS, SCRAM, 127.0.0.1), and forked logins through the real
// libpam and the built pam_authctl.so with store=agent, spread over the
// agents. What the file store guarantees under its flock must hold fleet-wide:
// one code accepted once, deny=3 evaluates exactly three wrong codes, no
// failure lost, a lock seen by every agent (the account phase included), and
// nothing accepted twice or lost when an agent is killed in the middle.
//
// Users come from tests/module/data/passwd through nss_wrapper (nss_main.cpp).
// Every process started here (the server, the agents, the logins) is stopped
// by its pid when a test ends, whether it passed or not.
#include <gtest/gtest.h>

#include <security/pam_appl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <pwd.h>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "authctl/admin.hpp"
#include "authctl/fleet_config.hpp"
#include "authctl/login.hpp"
#include "authctl/sealed.hpp"
#include "agent_proc.hpp"
#include "load_support.hpp"
#include "fleet_support.hpp"
#include "pg_server.hpp"
#include "pg_store.hpp"

namespace authctl {
namespace {

constexpr const char* kModule = AUTHCTL_PAM_MODULE;
constexpr int kAgents = 4;

using test::Children;
using test::code_at;
using test::count_rc;
using test::Seen;
using test::wrong_code;

// One server's agent: authctld on its own fleet.conf and socket (test::AgentProc).
class Agent {
public:
    Agent(const std::string& fleet_conf, const std::string& conf, const std::string& socket, const std::string& log)
        : proc_({"--fleet-conf", fleet_conf, "--conf", conf, "--socket", socket, "--stderr"}, log), socket_(socket)
    {
    }
    bool start() { return proc_.start(); }
    void kill() { proc_.kill(); }
    const std::string& socket() const { return socket_; }
    std::string log() const { return proc_.log(); }

private:
    test::AgentProc proc_;
    std::string socket_;
};

class FleetLoad : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        start_error_ = test::start_fleet(pg_, store_);
        if (!start_error_.empty()) return;
        auto line = new_key_line("k2");
        if (!line) start_error_ = line.error().message();
        else next_key_line_ = *line;
    }
    static void TearDownTestSuite()
    {
        store_.reset();
        pg_.reset();
    }

    void SetUp() override
    {
        ASSERT_EQ(::geteuid(), 0U) << "fleet tests run as root";
        ASSERT_TRUE(start_error_.empty()) << start_error_;
        ASSERT_NE(::getpwnam("alice"), nullptr) << "nss_wrapper is not active";
        confdir_ = tmp_.path() + "/pam.d";
        conf_ = tmp_.path() + "/authctl.conf";
        ASSERT_EQ(::mkdir(confdir_.c_str(), 0755), 0);
        ASSERT_EQ(::chmod(tmp_.path().c_str(), 0755), 0);
        // Each agent as on its own server: its own fleet.conf (naming its own
        // socket) and its own copy of the fleet key.
        const std::string base_conf = test::read_file(pg_->fleet_conf_path());
        // Every server holds k1 (the fleet's current key) and k2, the next one,
        // as in step 1 of a rotation (docs/fleet.md).
        const std::string key = test::read_file(pg_->key_file()) + next_key_line_;
        for (int i = 0; i < kAgents; ++i) {
            const std::string dir = tmp_.path() + "/server" + std::to_string(i);
            ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
            test::write_file(dir + "/fleet.key", key, 0600);
            std::string conf;
            std::istringstream in(base_conf);
            for (std::string line; std::getline(in, line);) {
                if (line.rfind("socket", 0) == 0 || line.rfind("key_file", 0) == 0) continue;
                conf += line + "\n";
            }
            conf += "key_file = " + dir + "/fleet.key\nsocket = " + dir + "/agent.sock\n";
            test::write_file(dir + "/fleet.conf", conf, 0600);
            agents_.push_back(std::make_unique<Agent>(dir + "/fleet.conf", conf_, dir + "/agent.sock",
                                                      dir + "/authctld.log"));
            test::write_file(confdir_ + "/" + service(i),
                             "auth    required " + std::string(kModule) + " store=agent agent_socket=" + dir +
                                 "/agent.sock conf=" + conf_ + " nodelay\n" + "account required " +
                                 std::string(kModule) + " store=agent agent_socket=" + dir + "/agent.sock conf=" +
                                 conf_ + " nodelay\n",
                             0644);
        }
    }

    void TearDown() override
    {
        children_.kill_all();
        for (auto& a : agents_) a->kill();
        if (HasFailure())
            for (int i = 0; i < kAgents; ++i)
                std::printf("--- agent %d log ---\n%s\n", i, agents_[static_cast<std::size_t>(i)]->log().c_str());
        // The next test starts from an empty fleet.
        for (const auto& u : {"alice", "bob", "carol", "dave"}) (void)remove_user(*store_, u);
    }

    // The policy the agents (and the module's own options) read; then the agents start.
    void start_agents(const std::string& policy)
    {
        test::write_file(conf_, "# fleet load test\n" + policy, 0644);
        for (auto& a : agents_) ASSERT_TRUE(a->start()) << a->log();
    }

    static std::string service(int i) { return "fleet" + std::to_string(i); }

    test::PamRun login(int agent, const std::string& user, const std::string& answer,
                       test::Phase phase = test::Phase::authenticate, const char* rhost = "192.0.2.10")
    {
        return test::pam_run(confdir_, service(agent), user, {answer}, phase, 0, false, rhost);
    }

    // A TOTP (or HOTP) enrollment stored in the fleet through core, as
    // `authctl enroll --store fleet` does; returns its secret.
    SecretBytes enroll(const std::string& user, OtpType type = OtpType::totp)
    {
        EnrollParams p;
        p.type = type;
        auto pending = prepare_enrollment(p, 0, std::time(nullptr));
        EXPECT_TRUE(pending) << pending.error().message();
        SecretBytes key = pending->enrollment.secret.clone();
        const auto st = store_enrollment(*store_, user, std::move(*pending), true);
        EXPECT_TRUE(st) << st.error().message();
        return key;
    }

    UserRecord record(const std::string& user)
    {
        auto rec = store_->load(user);
        EXPECT_TRUE(rec) << rec.error().message();
        if (!rec || !*rec) return UserRecord{};
        return std::move(**rec);
    }

    static std::unique_ptr<test::PgTestServer> pg_;
    static std::unique_ptr<fleet::PgStore> store_;
    static std::string start_error_;
    static std::string next_key_line_;
    test::TempDir tmp_;
    std::string confdir_, conf_;
    std::vector<std::unique_ptr<Agent>> agents_;
    Children children_;
};
std::unique_ptr<test::PgTestServer> FleetLoad::pg_;
std::unique_ptr<fleet::PgStore> FleetLoad::store_;
std::string FleetLoad::start_error_;
std::string FleetLoad::next_key_line_;

std::uint64_t step_now()
{
    return totp_step(std::time(nullptr), 30);
}

TEST_F(FleetLoad, OneValidCodeBy32LoginsOverFourAgentsIsAcceptedOnce)
{
    start_agents("deny = 0\n");
    const SecretBytes key = enroll("alice");
    // The next step: valid for the whole window, whenever the children run.
    const std::string code = code_at(key, step_now() + 1);
    const auto seen = test::race(children_, 32, 1, [&](int i, int) { return login(i % kAgents, "alice", code); });
    EXPECT_EQ(count_rc(seen, PAM_SUCCESS), 1U);
    EXPECT_EQ(count_rc(seen, PAM_AUTH_ERR), 31U);
    for (const auto& s : seen) EXPECT_EQ(s.prompts, 1) << "deny=0: nobody is locked, everyone is asked";
    const UserRecord r = record("alice");
    EXPECT_EQ(r.tally.failures, 31U);
    ASSERT_TRUE(r.enrollment);
    EXPECT_TRUE(r.enrollment->confirmed);
    EXPECT_EQ(r.enrollment->last_step, step_now() + 1);
}

TEST_F(FleetLoad, ThirtyTwoWrongCodesOverFourAgentsWithDeny3EvaluateExactlyThreeAndLockEveryAgent)
{
    start_agents("deny = 3\nunlock_time = 600\n");
    const SecretBytes key = enroll("bob");
    const std::uint64_t step = step_now();
    const std::string wrong = wrong_code(key, step - 3, step + 3);
    // Only agents 1..3 take the wrong codes: agent 0 sees no failure at all.
    const auto seen = test::race(children_, 32, 1, [&](int i, int) { return login(1 + i % 3, "bob", wrong); });
    EXPECT_EQ(count_rc(seen, PAM_AUTH_ERR), 2U) << "the two quiet wrong codes";
    EXPECT_EQ(count_rc(seen, PAM_MAXTRIES), 30U) << "the locking one and every refusal under the lock";
    std::size_t quiet = 0, asked_then_refused = 0, refused_unasked = 0;
    for (const auto& s : seen) {
        EXPECT_EQ(s.other_messages, 0);
        EXPECT_EQ(s.rc, s.lock_messages == 0 ? PAM_AUTH_ERR : PAM_MAXTRIES);
        if (s.prompts == 0) {
            ++refused_unasked;
            EXPECT_EQ(s.lock_messages, 1);
        } else if (s.lock_messages == 0) {
            ++quiet;  // evaluated, not locking
        } else {
            ++asked_then_refused;  // the locking evaluation, or refused under the lock after the prompt
        }
    }
    EXPECT_EQ(quiet, 2U) << "exactly deny-1 wrong codes evaluated before the locking one";
    EXPECT_GE(asked_then_refused, 1U);
    std::printf("[ info ] 32 wrong codes over 3 agents, deny=3: %zu evaluated quietly, %zu asked then told "
                "'locked' (one the locking evaluation), %zu refused without a prompt\n",
                quiet, asked_then_refused, refused_unasked);
    const UserRecord r = record("bob");
    EXPECT_EQ(r.tally.failures, 3U) << "exactly three evaluated and counted fleet-wide";
    EXPECT_NE(r.tally.locked_until, 0);
    // Locked on every agent: the right code is refused before any prompt, and
    // the account phase (an ssh key login) is denied, on agent 0 too.
    for (int a = 0; a < kAgents; ++a) {
        const auto after = login(a, "bob", code_at(key, step_now() + 1));
        EXPECT_EQ(after.rc, PAM_MAXTRIES) << "agent " << a;
        EXPECT_TRUE(after.conv.prompts.empty()) << "agent " << a;
        const auto acct = login(a, "bob", "", test::Phase::account);
        EXPECT_EQ(acct.rc, PAM_PERM_DENIED) << "agent " << a;
    }
    EXPECT_EQ(record("bob").tally.failures, 3U);
}

// Issue 19, point 1, through the real module: a name no host knows is asked,
// counted and locked like a real user, fleet-wide (the bucket under the
// fleet's key), and neither the name nor its digest reaches an agent's log or
// the database: the module sends only the digest.
TEST_F(FleetLoad, AMadeUpNameIsLockedFleetWideLikeARealUser)
{
    start_agents("deny = 3\nunlock_time = 600\n");
    const SecretBytes key = enroll("carol");
    const std::string ghost = "fleet-ghost-name";
    ASSERT_EQ(::getpwnam(ghost.c_str()), nullptr);
    const std::uint64_t step = step_now();
    const std::string wrong = wrong_code(key, step - 3, step + 3);
    for (int i = 1; i <= 3; ++i) {
        const auto real = login(1, "carol", wrong);
        const auto fake = login(1, ghost, wrong);
        EXPECT_EQ(real.conv.prompts, fake.conv.prompts) << i;
        EXPECT_EQ(real.conv.errors, fake.conv.errors) << i;
        EXPECT_EQ(real.rc == PAM_MAXTRIES, fake.rc == PAM_MAXTRIES) << i;
        EXPECT_EQ(fake.rc, i == 3 ? PAM_MAXTRIES : PAM_USER_UNKNOWN) << i;
    }
    // Another server: both refused before any prompt, with the same message.
    const auto real = login(2, "carol", code_at(key, step_now() + 1));
    const auto fake = login(2, ghost, "123456");
    EXPECT_EQ(real.rc, PAM_MAXTRIES);
    EXPECT_EQ(fake.rc, PAM_MAXTRIES);
    EXPECT_TRUE(fake.conv.prompts.empty());
    EXPECT_EQ(real.conv.errors, fake.conv.errors);
    auto bucket_key = store_->bucket_key();
    ASSERT_TRUE(bucket_key) << bucket_key.error().message();
    const std::string bucket = *unknown_user_bucket(ghost, &*bucket_key);
    const UserRecord b = record(bucket);
    EXPECT_EQ(b.tally.failures, 3U);
    EXPECT_NE(b.tally.locked_until, 0);
    EXPECT_FALSE(store_->load(ghost)->has_value());
    for (int a = 0; a < kAgents; ++a) {
        const std::string log = agents_[static_cast<std::size_t>(a)]->log();
        EXPECT_EQ(log.find(ghost), std::string::npos) << log;
        EXPECT_EQ(log.find(unknown_name_digest(ghost)), std::string::npos) << log;
    }
    (void)remove_user(*store_, bucket);
}

// per_source and deny_user come from the agents' authctl.conf (the module
// lines carry no policy): a source locked through one agent is locked on
// every other, for that source only; the owner from another address logs in
// through another agent and is told.
TEST_F(FleetLoad, PerSourceLockOnOneServerHoldsOnTheOthersForThatSourceOnly)
{
    start_agents("per_source\ndeny = 3\ndeny_user = 10\nunlock_time = 600\n");
    const SecretBytes key = enroll("bob");
    const std::uint64_t step = step_now();
    const std::string wrong = wrong_code(key, step - 3, step + 3);
    const char* attacker = "192.0.2.1";
    const char* owner = "192.0.2.2";
    EXPECT_EQ(login(0, "bob", wrong, test::Phase::authenticate, attacker).rc, PAM_AUTH_ERR);
    EXPECT_EQ(login(0, "bob", wrong, test::Phase::authenticate, attacker).rc, PAM_AUTH_ERR);
    const auto third = login(0, "bob", wrong, test::Phase::authenticate, attacker);
    EXPECT_EQ(third.rc, PAM_MAXTRIES);
    EXPECT_NE(third.conv.all_messages().find("Logins from this address are locked after 3 failed attempts"),
              std::string::npos)
        << third.conv.all_messages();
    // Server 2 (agent 1): the attacker's address is refused, auth and account ...
    const std::string right = code_at(key, step_now() + 1);
    const auto refused = login(1, "bob", right, test::Phase::authenticate, attacker);
    EXPECT_EQ(refused.rc, PAM_MAXTRIES);
    EXPECT_TRUE(refused.conv.prompts.empty());
    EXPECT_EQ(login(1, "bob", "", test::Phase::account, attacker).rc, PAM_PERM_DENIED);
    // ... the owner's is not: key login (account) and code.
    EXPECT_EQ(login(1, "bob", "", test::Phase::account, owner).rc, PAM_SUCCESS);
    const auto ok = login(1, "bob", right, test::Phase::authenticate, owner);
    EXPECT_EQ(ok.rc, PAM_SUCCESS) << ok.conv.all_messages();
    EXPECT_NE(ok.conv.all_messages().find("There were 3 failed attempts from 1 source since your last successful login."),
              std::string::npos)
        << ok.conv.all_messages();
    // The owner's success leaves the attacker locked, on a third server too.
    EXPECT_EQ(login(2, "bob", "", test::Phase::account, attacker).rc, PAM_PERM_DENIED);
    const UserRecord r = record("bob");
    EXPECT_EQ(r.tally.failures, 0U);
    ASSERT_EQ(r.tally.sources.size(), 1U);
    EXPECT_EQ(r.tally.sources[0].source, attacker);
    EXPECT_GT(r.tally.sources[0].locked_until, std::time(nullptr));
}

// 32 wrong codes from 8 addresses over the 4 agents at once: exactly
// deny_user (10, from the agents' authctl.conf; its default would be 30)
// evaluated fleet-wide, no address more than deny (3).
TEST_F(FleetLoad, PerSourceThirtyTwoWrongCodesFromEightSourcesOverFourAgentsEvaluateExactlyDenyUser)
{
    start_agents("per_source\ndeny = 3\ndeny_user = 10\nunlock_time = 600\n");
    const SecretBytes key = enroll("carol");
    const std::uint64_t step = step_now();
    const std::string wrong = wrong_code(key, step - 3, step + 3);
    const auto seen = test::race(children_, 32, 1, [&](int i, int) {
        const std::string host = "192.0.2." + std::to_string(i % 8 + 1);
        return login(i % kAgents, "carol", wrong, test::Phase::authenticate, host.c_str());
    });
    EXPECT_EQ(count_rc(seen, PAM_AUTH_ERR) + count_rc(seen, PAM_MAXTRIES), 32U);
    for (const auto& s : seen) EXPECT_EQ(s.rc, s.lock_messages == 0 ? PAM_AUTH_ERR : PAM_MAXTRIES);
    const UserRecord r = record("carol");
    EXPECT_EQ(r.tally.failures, 10U) << "exactly deny_user evaluated and counted fleet-wide";
    EXPECT_NE(r.tally.locked_until, 0) << "deny_user reached: locked from everywhere";
    std::uint32_t sum = 0;
    for (const auto& src : r.tally.sources) {
        EXPECT_LE(src.failures, 3U) << src.source;
        sum += src.failures;
    }
    EXPECT_EQ(sum, 10U);
    std::printf("[ info ] 32 wrong codes from 8 sources over 4 agents, deny=3 deny_user=10: %zu quiet, %zu "
                "refused or locking; %u failures in %zu source entries\n",
                count_rc(seen, PAM_AUTH_ERR), count_rc(seen, PAM_MAXTRIES), r.tally.failures, r.tally.sources.size());
}

TEST_F(FleetLoad, EnrolledOnceLogsInThroughEveryAgentAndACodeUsedOnOneIsRefusedOnTheOthers)
{
    start_agents("deny = 0\n");
    const SecretBytes hotp = enroll("carol", OtpType::hotp);
    for (int a = 0; a < kAgents; ++a) {
        EXPECT_EQ(login(a, "carol", code_at(hotp, static_cast<std::uint64_t>(a))).rc, PAM_SUCCESS) << "agent " << a;
        // The code just used, replayed on every other agent.
        for (int b = 0; b < kAgents; ++b) {
            if (b == a) continue;
            EXPECT_EQ(login(b, "carol", code_at(hotp, static_cast<std::uint64_t>(a))).rc, PAM_AUTH_ERR)
                << "code of counter " << a << " replayed on agent " << b;
        }
    }
    const SecretBytes totp = enroll("alice");
    const std::string code = code_at(totp, step_now() + 1);
    EXPECT_EQ(login(0, "alice", code).rc, PAM_SUCCESS);
    for (int b = 1; b < kAgents; ++b) EXPECT_EQ(login(b, "alice", code).rc, PAM_AUTH_ERR) << "agent " << b;
}

TEST_F(FleetLoad, FourAgentsTimes200FailuresWithDeny0AreAllRecorded)
{
    constexpr int kEach = 200;
    start_agents("deny = 0\n");
    const SecretBytes key = enroll("dave");
    const std::uint64_t step = step_now();
    const std::string wrong = wrong_code(key, step - 3, step + 30);
    const auto t0 = std::chrono::steady_clock::now();
    const auto seen = test::race(children_, kAgents, kEach, [&](int i, int) { return login(i, "dave", wrong); });
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(count_rc(seen, PAM_AUTH_ERR), static_cast<std::size_t>(kAgents * kEach));
    EXPECT_EQ(record("dave").tally.failures, static_cast<std::uint32_t>(kAgents * kEach));
    std::printf("[ info ] %d failures through %d agents in %.2f s\n", kAgents * kEach, kAgents, secs);
}

TEST_F(FleetLoad, AgentKilledDuringLoginsAcceptsNothingTwiceAndLosesNothing)
{
    start_agents("deny = 0\n");
    const SecretBytes key = enroll("carol", OtpType::hotp);
    const SecretBytes dave_key = enroll("dave");
    const std::string wrong = wrong_code(dave_key, step_now() - 3, step_now() + 30);
    // 8 children: the even ones walk carol's HOTP counters 0..39 in order
    // (each code may be accepted once at most, fleet-wide), the odd ones send
    // wrong codes for dave, all through agents 0 and 1; agent 0 is killed
    // with SIGKILL while they run.
    constexpr int kChildren = 8, kEach = 100;
    std::thread killer;
    const auto kill_agent0 = [&] {
        // Once the stream is well under way (20 of dave's failures in), at most 10 s.
        for (int i = 0; i < 1000; ++i) {
            auto rec = store_->load("dave");
            if (rec && *rec && (*rec)->tally.failures >= 20) break;
            ::usleep(10000);
        }
        agents_[0]->kill();
    };
    const auto seen = test::race(
        children_, kChildren, kEach,
        [&](int i, int k) {
            if (i % 2 == 0) return login(i % 4 / 2, "carol", code_at(key, static_cast<std::uint64_t>(k)));
            return login(i % 4 / 2, "dave", wrong);
        },
        [&] { killer = std::thread(kill_agent0); });
    if (killer.joinable()) killer.join();
    const std::size_t unavailable = count_rc(seen, PAM_AUTHINFO_UNAVAIL);
    std::printf("[ info ] %zu logins, %zu answered PAM_AUTHINFO_UNAVAIL (agent 0 killed)\n", seen.size(), unavailable);
    EXPECT_GT(unavailable, 0U) << "agent 0 was killed in the middle";
    std::map<int, int> accepted;  // carol's counter -> logins it let in
    std::uint32_t dave_refused = 0, dave_sent = 0;
    int highest = -1;
    for (const auto& s : seen) {
        EXPECT_TRUE(s.rc == PAM_SUCCESS || s.rc == PAM_AUTH_ERR || s.rc == PAM_AUTHINFO_UNAVAIL) << s.rc;
        if (s.child % 2 == 0) {
            if (s.rc == PAM_SUCCESS) {
                ++accepted[s.attempt];
                highest = std::max(highest, s.attempt);
            }
        } else {
            ++dave_sent;
            EXPECT_NE(s.rc, PAM_SUCCESS) << "a wrong code let dave in";
            if (s.rc == PAM_AUTH_ERR) ++dave_refused;
        }
    }
    for (const auto& [counter, n] : accepted) EXPECT_EQ(n, 1) << "carol's code for counter " << counter;
    const UserRecord carol = record("carol");
    ASSERT_TRUE(carol.enrollment);
    EXPECT_GE(carol.enrollment->counter, static_cast<std::uint64_t>(highest + 1)) << "a success was not recorded";
    // Nothing lost: every wrong code a login was told about is counted; an
    // attempt cut off by the kill may or may not have been committed.
    const UserRecord dave = record("dave");
    EXPECT_GE(dave.tally.failures, dave_refused) << "a failure a login was told about is missing";
    EXPECT_LE(dave.tally.failures, dave_sent);
    std::printf("[ info ] carol: %zu codes accepted once each; dave: %u refusals told, %u recorded, %u sent\n",
                accepted.size(), dave_refused, dave.tally.failures, dave_sent);
    // Every row still opens and parses.
    std::size_t rows = 0, bad = 0;
    ASSERT_TRUE(store_->scan([&](const std::string&, Result<std::optional<UserRecord>>&& r) {
        ++rows;
        if (!r) ++bad;
    }));
    EXPECT_EQ(bad, 0U);
    EXPECT_GE(rows, 2U);
    // The killed agent comes back and serves again, without anything else restarted.
    ASSERT_TRUE(agents_[0]->start()) << agents_[0]->log();
    EXPECT_EQ(login(0, "dave", wrong).rc, PAM_AUTH_ERR);
}

TEST_F(FleetLoad, RekeyDuringLoginsKeepsEveryUserLoggingIn)
{
    start_agents("deny = 0\n");
    constexpr int kUsers = 4, kEach = 60;
    const std::vector<std::string> users = {"alice", "bob", "carol", "dave"};
    std::vector<SecretBytes> keys;
    for (const auto& u : users) keys.push_back(enroll(u, OtpType::hotp));
    // The rotation's step 2 runs in the middle of the logins: k2 becomes the
    // fleet's current key and every row is re-sealed under it.
    auto key_text = test::read_file(pg_->key_file()) + next_key_line_;
    const auto cur = key_text.find("current k1");
    ASSERT_NE(cur, std::string::npos);
    key_text.replace(cur, 10, "current k2");
    auto ring = parse_keyring(key_text, "test keyring");
    ASSERT_TRUE(ring) << ring.error().message();
    auto cfg = fleet::load_fleet_config(pg_->fleet_conf_path());
    ASSERT_TRUE(cfg);
    auto rekeyer = fleet::PgStore::open(*cfg, std::move(*ring));
    ASSERT_TRUE(rekeyer);
    Result<fleet::PgStore::RekeyReport> report = make_error(Errc::io, "not run");
    std::thread rotation;
    const auto rotate = [&] {
        // Once the logins are under way (alice's counter past 5), at most 10 s.
        for (int i = 0; i < 1000; ++i) {
            auto rec = store_->load("alice");
            if (rec && *rec && (*rec)->enrollment && (*rec)->enrollment->counter >= 5) break;
            ::usleep(10000);
        }
        report = (*rekeyer)->rekey();
    };
    // Child i logs user i % 4 in through agent i % 4 with each next counter.
    const auto seen = test::race(
        children_, kUsers, kEach,
        [&](int i, int k) {
            return login(i % kAgents, users[static_cast<std::size_t>(i)],
                         code_at(keys[static_cast<std::size_t>(i)], static_cast<std::uint64_t>(k)));
        },
        [&] { rotation = std::thread(rotate); });
    if (rotation.joinable()) rotation.join();
    ASSERT_TRUE(report) << report.error().message();
    EXPECT_EQ(count_rc(seen, PAM_SUCCESS), static_cast<std::size_t>(kUsers * kEach))
        << "a login failed while the fleet was re-keyed";
    std::string rows;
    ASSERT_EQ(pg_->psql("SELECT key_id, count(*) FROM authctl_users GROUP BY key_id", &rows), 0);
    EXPECT_EQ(rows.find("k1"), std::string::npos) << rows;
    std::printf("[ info ] rekey during %d logins: %zu rows looked at, %zu re-sealed\n", kUsers * kEach,
                report->rows, report->rewritten);
    for (int a = 0; a < kAgents; ++a)
        EXPECT_EQ(login(a, users[static_cast<std::size_t>(a)],
                        code_at(keys[static_cast<std::size_t>(a)], static_cast<std::uint64_t>(kEach)))
                      .rc,
                  PAM_SUCCESS);
    // Back to k1, which the suite's own store writes with.
    auto back = parse_keyring(test::read_file(pg_->key_file()) + next_key_line_, "test keyring");
    ASSERT_TRUE(back);
    auto restorer = fleet::PgStore::open(*cfg, std::move(*back));
    ASSERT_TRUE(restorer);
    ASSERT_TRUE((*restorer)->rekey());
}

TEST_F(FleetLoad, ModuleFailsClosedWithAuthinfoUnavailWhenTheFleetCannotDecide)
{
    start_agents("deny = 3\n");
    const SecretBytes key = enroll("alice");
    // The database hung: within agent_timeout (5 s by default; the agents'
    // own bound is fleet.conf's timeout, 5 s), nothing counted, nothing accepted.
    ASSERT_TRUE(pg_->pause());
    const auto t0 = std::chrono::steady_clock::now();
    const auto hung = login(1, "alice", code_at(key, step_now()));
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(pg_->resume());
    EXPECT_EQ(hung.rc, PAM_AUTHINFO_UNAVAIL);
    // The user is told, in one line, why there was no prompt (not a word of the reason).
    const std::vector<std::string> unavailable{"The login service cannot be reached right now; try again later."};
    EXPECT_EQ(hung.conv.errors, unavailable);
    EXPECT_TRUE(hung.conv.prompts.empty()) << "the prompt decision itself could not be made";
    EXPECT_LT(waited, 12.0) << "the prompt decision and the attempt each have a 5 s bound";
    std::printf("[ info ] database paused: PAM_AUTHINFO_UNAVAIL after %.2f s\n", waited);
    // The database back: the agent reconnects by itself; the code is still
    // good (it was never accepted) and no failure was counted.
    const std::string code = code_at(key, step_now() + 1);
    const auto back = login(1, "alice", code);
    EXPECT_EQ(back.rc, PAM_SUCCESS);
    EXPECT_EQ(record("alice").tally.failures, 0U);
    EXPECT_EQ(back.conv.infos.size(), 0U) << "no failures to report: the hung attempt was not counted";
    // The agent down, and its socket gone: at once, PAM_AUTHINFO_UNAVAIL.
    agents_[2]->kill();
    const auto down = login(2, "alice", code_at(key, step_now() + 1));
    EXPECT_EQ(down.rc, PAM_AUTHINFO_UNAVAIL);
    EXPECT_EQ(down.conv.errors, unavailable);
    ::unlink(agents_[2]->socket().c_str());
    EXPECT_EQ(login(2, "alice", "000000").rc, PAM_AUTHINFO_UNAVAIL);
    const auto account = login(2, "alice", "", test::Phase::account);
    EXPECT_EQ(account.rc, PAM_AUTHINFO_UNAVAIL);
    EXPECT_EQ(account.conv.errors, unavailable) << "the account phase (a key login) is told too";
    // A socket that may not be the agent's (a directory others may write
    // to): a refusal, not an unavailable service to fall back from.
    const std::string dir = tmp_.path() + "/server3";
    ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
    const auto unsafe = login(3, "alice", "000000");
    EXPECT_EQ(unsafe.rc, PAM_SERVICE_ERR);
    EXPECT_TRUE(unsafe.conv.errors.empty()) << "a refusal, not an outage: nothing to try again later";
    ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
    EXPECT_EQ(record("alice").tally.failures, 0U) << "store faults are never counted as failures";
    // A policy option as a module argument with store=agent is refused, loudly.
    test::write_file(confdir_ + "/bad", "auth required " + std::string(kModule) + " store=agent agent_socket=" +
                                            agents_[0]->socket() + " conf=" + conf_ + " deny=5 nodelay\n",
                     0644);
    const auto bad = test::pam_run(confdir_, "bad", "alice", {"000000"});
    EXPECT_EQ(bad.rc, PAM_SERVICE_ERR) << "a configuration error";
    EXPECT_TRUE(bad.conv.prompts.empty());
    // Except per_source, which the pam-auth-update profile's lines carry: a
    // fleet server with the profile enabled keeps working (the agent's
    // authctl.conf decides; the argument is only noted in the log).
    test::write_file(confdir_ + "/profile", "auth required " + std::string(kModule) + " store=agent agent_socket=" +
                                                agents_[0]->socket() + " conf=" + conf_ + " nodelay per_source\n",
                     0644);
    const auto profile = test::pam_run(confdir_, "profile", "alice", {"000000"});
    EXPECT_EQ(profile.rc, PAM_AUTH_ERR) << "asked and refused as a wrong code, not a configuration error";
    EXPECT_EQ(profile.conv.prompts.size(), 1U);
}

}  // namespace
}  // namespace authctl
