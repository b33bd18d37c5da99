// SPDX-License-Identifier: Apache-2.0
// authctld end to end: the real agent binary in the foreground (--stderr),
// on a real PostgreSQL (tests/fleet/pg_test_server.sh: TLS, SCRAM), talked
// to with the module's own client (authctl::call_agent). The decisions through
// the agent; who may talk to it and where its socket may be; every fault the
// fleet can have (database stopped or hung, wrong CA, wrong password, schema
// missing or newer, an unsafe fleet.conf), each an error within the time bound
// with nothing counted; SIGKILL in the middle of a stream of failures (nothing
// lost, nothing half-written); SIGHUP picking up a new fleet key with no
// request failing; SIGTERM; the connection cap.
//
// Every agent started here is stopped (SIGKILL) and reaped by its pid when its
// object goes, whether the test passed or not; the server by its fixture.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "authctl/admin.hpp"
#include "authctl/agent_client.hpp"
#include "authctl/agent_protocol.hpp"
#include "authctl/fleet_config.hpp"
#include "authctl/otp.hpp"
#include "authctl/sealed.hpp"
#include "agent_proc.hpp"
#include "load_support.hpp"
#include "fleet_support.hpp"
#include "pg_server.hpp"
#include "pg_store.hpp"
#include "test_support.hpp"

namespace authctl {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kAgentTimeout{2000};  // the module's agent_timeout in these tests
constexpr uid_t kNobody = 65534;

std::uint64_t step_now()
{
    return totp_step(std::time(nullptr), 30);
}

// A code that is wrong for any step around now (window 1, and then some).
std::string wrong_code(const SecretBytes& key)
{
    const std::uint64_t s = step_now();
    return test::wrong_code(key, s - 3, s + 3);
}

using test::AgentProc;
using test::code_at;
using test::contains;

class AgentTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        if (::geteuid() != 0) return;
        start_error_ = test::start_fleet(pg_, store_);
    }

    // A fresh PgStore for the test's own reads (after a server restart).
    static void reopen_store()
    {
        auto cfg = fleet::load_fleet_config(pg_->fleet_conf_path());
        ASSERT_TRUE(cfg) << cfg.error().message();
        auto ring = load_keyring(cfg->key_file);
        ASSERT_TRUE(ring) << ring.error().message();
        auto store = fleet::PgStore::open(*cfg, std::move(*ring));
        ASSERT_TRUE(store) << store.error().message();
        store_ = std::move(*store);
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
        // Traversable by the unprivileged client of the refusal tests.
        ASSERT_EQ(::chmod(tmp_.path().c_str(), 0755), 0);
        sock_ = tmp_ / "agent.sock";
        policy_ = tmp_ / "authctl.conf";
        fleet_conf_ = tmp_ / "fleet.conf";
        key_file_ = tmp_ / "fleet.key";
        test::write_file(key_file_, test::read_file(pg_->key_file()), 0600);
        write_policy("deny = 3\n");
        write_fleet_conf({});
    }

    void TearDown() override
    {
        const bool failed = HasFailure();
        for (auto& a : agents_) {
            a->kill();
            if (failed) std::printf("--- authctld log ---\n%s\n", a->log().c_str());
        }
        agents_.clear();
        // The next test starts from a usable, empty fleet database.
        if (store_) {
            (void)pg_->psql("UPDATE authctl_meta SET v = '1' WHERE k = 'schema_version'");
            (void)store_->init_schema();
            for (const auto& u : created_) (void)remove_user(*store_, u);
        }
    }

    void write_policy(const std::string& text) { test::write_file(policy_, "# agent test\n" + text, 0644); }

    // The test server's fleet.conf with this test's socket, key copy and
    // short timeouts (a database operation 1 s, a connection 1 s -- libpq
    // makes that 2 s), and `over` replacing or adding keys.
    void write_fleet_conf(const std::map<std::string, std::string>& over, mode_t mode = 0600)
    {
        std::map<std::string, std::string> kv = {
            {"socket", sock_}, {"key_file", key_file_}, {"timeout", "1"}, {"connect_timeout", "1"}};
        for (const auto& [k, v] : over) kv[k] = v;
        std::string out;
        std::istringstream in(test::read_file(pg_->fleet_conf_path()));
        for (std::string line; std::getline(in, line);) {
            const std::string key = line.substr(0, line.find_first_of(" =\t"));
            if (line.empty() || line[0] == '#' || kv.count(key) == 0) out += line + "\n";
        }
        for (const auto& [k, v] : kv) out += k + " = " + v + "\n";
        test::write_file(fleet_conf_, out, mode);
        ASSERT_EQ(::chmod(fleet_conf_.c_str(), mode), 0);
    }

    AgentProc& agent(const std::vector<std::string>& extra = {})
    {
        std::vector<std::string> args{"--fleet-conf", fleet_conf_, "--conf", policy_, "--stderr"};
        args.insert(args.end(), extra.begin(), extra.end());
        agents_.push_back(
            std::make_unique<AgentProc>(args, tmp_ / ("authctld" + std::to_string(agents_.size()) + ".log")));
        return *agents_.back();
    }

    AgentProc& start_agent()
    {
        AgentProc& a = agent();
        EXPECT_TRUE(a.start()) << a.log();
        return a;
    }

    test::CmdResult run_agent(const std::vector<std::string>& args)
    {
        std::vector<std::string> argv{AUTHCTL_AGENT};
        argv.insert(argv.end(), args.begin(), args.end());
        return test::run_cmd(argv, "", 30);
    }

    static agent::Request request(agent::Op op, const std::string& user, const std::string& code = "")
    {
        agent::Request r;
        r.op = op;
        r.user = user;
        r.service = "sshd";
        r.source = "192.0.2.7";
        r.code = code;
        return r;
    }

    Result<agent::Reply> call(agent::Op op, const std::string& user, const std::string& code = "")
    {
        return call_agent(sock_, request(op, user, code), kAgentTimeout);
    }

    // A TOTP enrollment stored in the fleet through core (as `authctl enroll
    // --store fleet` does); returns its secret.
    SecretBytes enroll(const std::string& user)
    {
        created_.push_back(user);
        EnrollParams p;
        p.type = OtpType::totp;
        auto pending = prepare_enrollment(p, 0, std::time(nullptr));
        EXPECT_TRUE(pending) << pending.error().message();
        if (!pending) return SecretBytes{};
        SecretBytes key = pending->enrollment.secret.clone();
        const auto st = store_enrollment(*store_, user, std::move(*pending), true);
        EXPECT_TRUE(st) << st.error().message();
        return key;
    }

    // The failures the fleet database holds for `user` (0 without a record).
    std::uint32_t failures(const std::string& user)
    {
        auto rec = store_->load(user);
        EXPECT_TRUE(rec) << rec.error().message();
        if (!rec || !*rec) return 0;
        return (*rec)->tally.failures;
    }

    // The reply must be an error: from the agent (ok == false) or the transport.
    static std::string error_text(const Result<agent::Reply>& r)
    {
        if (!r) return "transport: " + r.error().message();
        if (!r->ok) return std::string("agent: ") + errc_text(r->errc) + ": " + r->detail;
        return "";
    }

    static std::unique_ptr<test::PgTestServer> pg_;
    static std::unique_ptr<fleet::PgStore> store_;
    static std::string start_error_;
    test::TempDir tmp_;
    std::string sock_, policy_, fleet_conf_, key_file_;
    std::vector<std::unique_ptr<AgentProc>> agents_;
    std::vector<std::string> created_;
};
std::unique_ptr<test::PgTestServer> AgentTest::pg_;
std::unique_ptr<fleet::PgStore> AgentTest::store_;
std::string AgentTest::start_error_;

TEST_F(AgentTest, EveryOpWorksEndToEnd)
{
    const SecretBytes key = enroll("alice");
    start_agent();

    auto info = call(agent::Op::lock_info, "alice");
    ASSERT_TRUE(info) << info.error().message();
    ASSERT_TRUE(info->ok) << info->detail;
    EXPECT_TRUE(info->info.enrolled);
    EXPECT_FALSE(info->info.lock.locked);
    EXPECT_EQ(info->info.failures, 0U);
    EXPECT_GT(info->info.now, 0);

    auto wrong = call(agent::Op::attempt, "alice", wrong_code(key));
    ASSERT_TRUE(wrong && wrong->ok) << error_text(wrong);
    EXPECT_EQ(wrong->attempt.outcome, Outcome::wrong_code);
    EXPECT_EQ(wrong->attempt.failures, 1U);
    EXPECT_EQ(failures("alice"), 1U);

    const std::string right = code_at(key, step_now());
    auto ok = call(agent::Op::attempt, "alice", right);
    ASSERT_TRUE(ok && ok->ok) << error_text(ok);
    EXPECT_EQ(ok->attempt.outcome, Outcome::success);
    EXPECT_EQ(ok->attempt.failures, 1U) << "the failure it cleared";
    EXPECT_EQ(failures("alice"), 0U);

    auto replay = call(agent::Op::attempt, "alice", right);
    ASSERT_TRUE(replay && replay->ok) << error_text(replay);
    EXPECT_EQ(replay->attempt.outcome, Outcome::wrong_code) << "a code is accepted once";
    EXPECT_TRUE(replay->attempt.replayed) << "and told apart from a wrong code, through the protocol";
    EXPECT_FALSE(wrong->attempt.replayed);

    auto ext = call(agent::Op::external_failure, "alice");
    ASSERT_TRUE(ext && ext->ok) << error_text(ext);
    EXPECT_EQ(ext->attempt.failures, 2U);
    auto succ = call(agent::Op::external_success, "alice");
    ASSERT_TRUE(succ && succ->ok) << error_text(succ);
    EXPECT_EQ(succ->attempt.failures, 2U);
    EXPECT_EQ(failures("alice"), 0U);

    // deny = 3 is the agent's policy (its authctl.conf).
    for (int i = 1; i <= 3; ++i) {
        auto w = call(agent::Op::attempt, "alice", wrong_code(key));
        ASSERT_TRUE(w && w->ok) << error_text(w);
        EXPECT_EQ(w->attempt.locked_now, i == 3);
    }
    auto locked = call(agent::Op::attempt, "alice", code_at(key, step_now() + 1));
    ASSERT_TRUE(locked && locked->ok) << error_text(locked);
    EXPECT_EQ(locked->attempt.outcome, Outcome::locked);
    info = call(agent::Op::lock_info, "alice");
    ASSERT_TRUE(info && info->ok) << error_text(info);
    EXPECT_TRUE(info->info.lock.locked);
    EXPECT_EQ(info->info.failures, 3U);

    // Nobody's record: a tally only after an external failure.
    auto none = call(agent::Op::attempt, "nobody-here", "123456");
    ASSERT_TRUE(none && none->ok) << error_text(none);
    EXPECT_EQ(none->attempt.outcome, Outcome::not_enrolled);

    const std::string log = agents_.back()->log();
    EXPECT_TRUE(contains(log, "user alice: wrong code (1 failure) (service=sshd source=192.0.2.7 op=attempt)")) << log;
    EXPECT_TRUE(contains(log, "user alice: code already used (1 failure) (service=sshd source=192.0.2.7 op=attempt)"))
        << log;
    EXPECT_TRUE(contains(log, "account locked until")) << log;
    EXPECT_FALSE(contains(log, right)) << "a code in the log";
}

// Issue 19, point 1: a name no host knows is sent as its digest and counted
// in its bucket under the fleet's key (authctl_meta 'bucket_key'), so two
// agents map it to the same bucket: a made-up name locked on one host is
// locked on every host, as a real user is. A database made before the key
// gets one from the first agent that needs it (two racing agents agree).
TEST_F(AgentTest, TwoAgentsMapAnUnknownNameToTheSameBucket)
{
    ASSERT_EQ(pg_->psql("DELETE FROM authctl_meta WHERE k = 'bucket_key'"), 0);
    AgentProc& a = start_agent();
    const std::string sock_a = sock_;
    sock_ = tmp_ / "agent2.sock";
    write_fleet_conf({});
    AgentProc& b = start_agent();
    const std::string sock_b = sock_;

    const auto unknown = [](agent::Op op, const std::string& name, const std::string& code = "") {
        agent::Request r = request(op, unknown_name_digest(name), code);
        r.unknown_name = true;
        return r;
    };
    // Both agents at once, on a database without a key.
    std::vector<std::thread> racers;
    std::atomic<int> ok_count{0};
    for (const std::string& s : {sock_a, sock_b, sock_a, sock_b})
        racers.emplace_back([&, s] {
            auto r = call_agent(s, unknown(agent::Op::lock_info, "race-name"), kAgentTimeout);
            if (r && r->ok) ++ok_count;
        });
    for (auto& t : racers) t.join();
    EXPECT_EQ(ok_count.load(), 4);
    std::string hex;
    ASSERT_EQ(pg_->psql("SELECT v FROM authctl_meta WHERE k = 'bucket_key'", &hex), 0);
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
    ASSERT_EQ(hex.size(), 64U) << hex;

    reopen_store();  // the test's own store, not one that cached a key before
    auto key = store_->bucket_key();
    ASSERT_TRUE(key) << key.error().message();
    const std::string name = "fleet-made-up-name";
    const std::string bucket = *unknown_user_bucket(name, &*key);
    created_.push_back(bucket);
    for (int i = 1; i <= 3; ++i) {
        auto w = call_agent(sock_a, unknown(agent::Op::attempt, name, "123456"), kAgentTimeout);
        ASSERT_TRUE(w && w->ok) << error_text(w);
        EXPECT_EQ(w->attempt.outcome, Outcome::not_enrolled);
        EXPECT_EQ(w->attempt.locked_now, i == 3);
    }
    EXPECT_EQ(failures(bucket), 3U) << "counted in its keyed bucket";
    auto other_host = call_agent(sock_b, unknown(agent::Op::attempt, name, "123456"), kAgentTimeout);
    ASSERT_TRUE(other_host && other_host->ok) << error_text(other_host);
    EXPECT_EQ(other_host->attempt.outcome, Outcome::locked) << "locked fleet-wide, as a real user is";
    auto info = call_agent(sock_b, unknown(agent::Op::lock_info, name), kAgentTimeout);
    ASSERT_TRUE(info && info->ok) << error_text(info);
    EXPECT_TRUE(info->info.lock.locked);

    // Neither the name nor its digest reaches the database or the log.
    std::string rows;
    ASSERT_EQ(pg_->psql("SELECT name FROM authctl_users", &rows), 0);
    EXPECT_FALSE(contains(rows, name)) << rows;
    EXPECT_FALSE(contains(rows, unknown_name_digest(name))) << rows;
    for (AgentProc* p : {&a, &b}) {
        EXPECT_FALSE(contains(p->log(), unknown_name_digest(name))) << p->log();
        EXPECT_TRUE(contains(p->log(), "user (unknown name): ")) << p->log();
    }

    // `fleet init` makes the key for a database without one, and keeps one that is there.
    ASSERT_EQ(pg_->psql("DELETE FROM authctl_meta WHERE k = 'bucket_key'"), 0);
    reopen_store();
    ASSERT_TRUE(store_->init_schema());
    std::string made;
    ASSERT_EQ(pg_->psql("SELECT v FROM authctl_meta WHERE k = 'bucket_key'", &made), 0);
    EXPECT_GE(made.size(), 64U);
    EXPECT_NE(made.substr(0, 64), hex) << "a new random key";
    ASSERT_TRUE(store_->init_schema());
    std::string kept;
    ASSERT_EQ(pg_->psql("SELECT v FROM authctl_meta WHERE k = 'bucket_key'", &kept), 0);
    EXPECT_EQ(kept, made);
    // A value that is not 64 hex digits is refused (and the name still counted, publicly).
    ASSERT_EQ(pg_->psql("UPDATE authctl_meta SET v = 'xyz' WHERE k = 'bucket_key'"), 0);
    reopen_store();
    auto bad = store_->bucket_key();
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, Errc::corrupt);
    ASSERT_EQ(pg_->psql("DELETE FROM authctl_meta WHERE k = 'bucket_key'"), 0);
    ASSERT_TRUE(store_->init_schema());
    reopen_store();
}

TEST_F(AgentTest, NonRootClientsAreRefusedAndNothingIsCounted)
{
    const SecretBytes key = enroll("bob");
    AgentProc& a = start_agent();
    const std::string code = wrong_code(key);

    // Through the module's client: the 0600 socket does not even connect.
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::setresgid(kNobody, kNobody, kNobody) != 0 || ::setresuid(kNobody, kNobody, kNobody) != 0) ::_exit(3);
        auto r = call_agent(sock_, request(agent::Op::attempt, "bob", code), kAgentTimeout);
        ::_exit(r ? 1 : 0);
    }
    int ws = 0;
    ASSERT_EQ(::waitpid(pid, &ws, 0), pid);
    EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << "call_agent as uid 65534 did not fail (" << ws << ")";

    // A socket left open to everyone: the agent itself refuses the peer
    // (SO_PEERCRED) with an error reply, without reading the request.
    ASSERT_EQ(::chmod(sock_.c_str(), 0666), 0);
    auto frame = agent::encode_request(request(agent::Op::attempt, "bob", code));
    ASSERT_TRUE(frame);
    const std::size_t logged = a.log().size();
    pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (::setresgid(kNobody, kNobody, kNobody) != 0 || ::setresuid(kNobody, kNobody, kNobody) != 0) ::_exit(3);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
        timeval tv{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(4);
        (void)!::send(fd, frame->data(), frame->size(), MSG_NOSIGNAL);
        std::string in;
        char buf[512];
        for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) in.append(buf, static_cast<std::size_t>(n));
        if (in.size() < 4) ::_exit(5);
        auto rep = agent::decode_reply(std::string_view(in).substr(4));
        if (!rep) ::_exit(6);
        ::_exit(!rep->ok && rep->errc == Errc::insecure ? 0 : 7);
    }
    ASSERT_EQ(::waitpid(pid, &ws, 0), pid);
    EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << "raw client as uid 65534: exit " << WEXITSTATUS(ws);
    EXPECT_TRUE(a.wait_for_log("refused connection from uid 65534", logged)) << a.log();
    ASSERT_EQ(::chmod(sock_.c_str(), 0600), 0);

    EXPECT_EQ(failures("bob"), 0U) << "a refused request was counted";
    auto info = call(agent::Op::lock_info, "bob");
    ASSERT_TRUE(info && info->ok) << error_text(info);
    EXPECT_EQ(info->info.failures, 0U);
}

TEST_F(AgentTest, TheClientRefusesAnOpenSocketDirectoryOrASocketNotOwnedByRoot)
{
    start_agent();
    ASSERT_EQ(::chmod(tmp_.path().c_str(), 0777), 0);
    auto r = call(agent::Op::lock_info, "carol");
    ASSERT_EQ(::chmod(tmp_.path().c_str(), 0755), 0);
    ASSERT_FALSE(r) << "a group/other-writable socket directory was used";
    EXPECT_EQ(r.error().code, Errc::insecure) << r.error().message();

    ASSERT_EQ(::lchown(sock_.c_str(), kNobody, kNobody), 0);
    r = call(agent::Op::lock_info, "carol");
    ASSERT_EQ(::lchown(sock_.c_str(), 0, 0), 0);
    ASSERT_FALSE(r) << "a socket owned by uid 65534 was used";
    EXPECT_EQ(r.error().code, Errc::insecure) << r.error().message();

    r = call(agent::Op::lock_info, "carol");
    EXPECT_TRUE(r && r->ok) << error_text(r);
}

TEST_F(AgentTest, TheAgentRefusesUnsafeSocketPlaces)
{
    // A socket directory writable by others.
    const std::string open_dir = tmp_ / "open";
    ASSERT_EQ(::mkdir(open_dir.c_str(), 0777), 0);
    ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
    auto r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_, "--socket", open_dir + "/agent.sock"});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "writable by group or others")) << r.err;

    // A directory owned by someone else.
    const std::string their_dir = tmp_ / "theirs";
    ASSERT_EQ(::mkdir(their_dir.c_str(), 0755), 0);
    ASSERT_EQ(::chown(their_dir.c_str(), kNobody, kNobody), 0);
    r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_, "--socket", their_dir + "/agent.sock"});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "not owned by root")) << r.err;

    // Something that is not a socket, in the socket's place: left alone.
    test::write_file(sock_, "not a socket\n", 0600);
    r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "not a socket owned by root")) << r.err;
    EXPECT_EQ(test::read_file(sock_), "not a socket\n");
    ASSERT_EQ(::unlink(sock_.c_str()), 0);

    // A stale socket of root's with nobody listening is replaced; one owned by
    // another user is not.
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        ::close(fd);
    }
    ASSERT_EQ(::lchown(sock_.c_str(), kNobody, kNobody), 0);
    r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "not a socket owned by root")) << r.err;
    ASSERT_EQ(::lchown(sock_.c_str(), 0, 0), 0);
    AgentProc& a = start_agent();
    struct stat st {};
    ASSERT_EQ(::lstat(sock_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600U);
    EXPECT_EQ(st.st_uid, 0U);
    auto info = call(agent::Op::lock_info, "carol");
    EXPECT_TRUE(info && info->ok) << error_text(info);

    // A second agent on a live socket does not take it over.
    r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "already listening")) << r.err;
    info = call(agent::Op::lock_info, "carol");
    EXPECT_TRUE(info && info->ok) << error_text(info);

    // SIGTERM: a clean exit, and the socket is gone.
    EXPECT_EQ(a.stop(SIGTERM), 0) << a.log();
    EXPECT_NE(::lstat(sock_.c_str(), &st), 0);
    EXPECT_TRUE(contains(a.log(), "stopped")) << a.log();
}

TEST_F(AgentTest, AConfigurationErrorAtStartIsOneClearLineAndExit1)
{
    write_fleet_conf({}, 0644);
    auto r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, fleet_conf_)) << r.err;
    EXPECT_TRUE(contains(r.err, "group or others")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

    write_fleet_conf({{"key_file", tmp_ / "missing.key"}});
    r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "missing.key")) << r.err;

    write_fleet_conf({});
    r = run_agent({"--fleet-conf", fleet_conf_, "--conf", tmp_ / "no-such.conf"});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "no-such.conf")) << r.err;

    write_policy("deny = lots\n");
    r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_});
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "deny")) << r.err;

    write_policy("deny = 3\n");
    r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_, "--bogus"});
    EXPECT_EQ(r.code, 2) << r.err;

    r = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_, "--check"});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "ok")) << r.out;
}

TEST_F(AgentTest, DatabaseHungOrStoppedGivesErrorsWithinTheBoundAndCountsNothing)
{
    const SecretBytes key = enroll("dave");
    start_agent();
    auto warm = call(agent::Op::lock_info, "dave");
    ASSERT_TRUE(warm && warm->ok) << error_text(warm);

    ASSERT_TRUE(pg_->pause());
    for (agent::Op op : {agent::Op::attempt, agent::Op::external_failure, agent::Op::lock_info}) {
        const auto t0 = Clock::now();
        auto r = call(op, "dave", op == agent::Op::attempt ? wrong_code(key) : "");
        const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
        EXPECT_FALSE(error_text(r).empty()) << "a paused database gave an answer";
        EXPECT_LT(took.count(), kAgentTimeout.count() + 500) << error_text(r);
    }
    ASSERT_TRUE(pg_->resume());

    ASSERT_TRUE(pg_->stop());
    for (agent::Op op : {agent::Op::attempt, agent::Op::external_failure}) {
        const auto t0 = Clock::now();
        auto r = call(op, "dave", op == agent::Op::attempt ? wrong_code(key) : "");
        const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
        EXPECT_FALSE(error_text(r).empty()) << "a stopped database gave an answer";
        EXPECT_LT(took.count(), kAgentTimeout.count() + 500) << error_text(r);
    }
    ASSERT_TRUE(pg_->restart());
    reopen_store();  // its pooled connections died with the server

    // Back within the agent's retry (at most once a second), and nothing of
    // the above was counted.
    Result<agent::Reply> r = make_error(Errc::io, "not tried");
    for (int i = 0; i < 100; ++i) {
        r = call(agent::Op::lock_info, "dave");
        if (r && r->ok) break;
        ::usleep(100000);
    }
    ASSERT_TRUE(r && r->ok) << error_text(r);
    EXPECT_EQ(r->info.failures, 0U);
    EXPECT_EQ(failures("dave"), 0U);
    // Each refused request says why in its log line.
    const std::string log = agents_.back()->log();
    EXPECT_TRUE(contains(log, "did not answer in time") || contains(log, "timeout expired")) << log;
    EXPECT_TRUE(contains(log, "Connection refused")) << log;
}

// The database restarted between two logins (fast, its backends saying
// goodbye first; or stopped at once, as in a crash, and started again): the
// agent's idle pooled connection is dead, and the next request must not be
// the one that finds out. (e2e.fleet_sshd: the first ssh login on a server
// after each database restart was refused, "connection lost: SSL SYSCALL
// error: EOF detected".)
TEST_F(AgentTest, TheFirstRequestAfterADatabaseRestartIsServed)
{
    const SecretBytes key = enroll("carol");
    start_agent();
    for (const bool crash : {false, true}) {
        for (const agent::Op op : {agent::Op::lock_info, agent::Op::attempt}) {
            SCOPED_TRACE(std::string(crash ? "stop (immediate), then start" : "restart (fast)") +
                         (op == agent::Op::attempt ? ", attempt" : ", lock_info"));
            // One request after the other: the pool keeps a connection and reuses it.
            for (int i = 0; i < 3; ++i) {
                auto r = call(agent::Op::lock_info, "carol");
                ASSERT_TRUE(r && r->ok) << error_text(r);
            }
            if (crash) {
                ASSERT_TRUE(pg_->stop());
            }
            ASSERT_TRUE(pg_->restart());
            auto r = call(op, "carol", op == agent::Op::attempt ? wrong_code(key) : "");
            EXPECT_TRUE(r && r->ok) << error_text(r);
        }
    }
    reopen_store();  // the test's own store's pooled connections died with the server
    EXPECT_EQ(failures("carol"), 2U);  // each wrong code counted once
}

TEST_F(AgentTest, WrongCaOrWrongPasswordGiveErrorRepliesAndCountNothing)
{
    const SecretBytes key = enroll("erin");
    const std::string wrong_pw = tmp_ / "wrong.password";
    test::write_file(wrong_pw, "not-the-password\n", 0600);
    const std::vector<std::map<std::string, std::string>> broken = {{{"sslrootcert", pg_->wrong_ca()}},
                                                                    {{"password_file", wrong_pw}}};
    for (const auto& over : broken) {
        SCOPED_TRACE(over.begin()->first);
        write_fleet_conf(over);
        AgentProc& a = start_agent();
        for (agent::Op op : {agent::Op::attempt, agent::Op::external_failure, agent::Op::lock_info}) {
            const auto t0 = Clock::now();
            auto r = call(op, "erin", op == agent::Op::attempt ? wrong_code(key) : "");
            ASSERT_TRUE(r) << "the agent gave no reply: " << r.error().message();
            EXPECT_FALSE(r->ok) << "a broken database connection gave an answer";
            EXPECT_LT(std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count(), kAgentTimeout.count());
        }
        a.kill();
        auto check = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_, "--check"});
        EXPECT_EQ(check.code, 1) << check.out << check.err;
    }
    EXPECT_EQ(failures("erin"), 0U);
}

TEST_F(AgentTest, AMissingSchemaIsAnErrorNamingFleetInit)
{
    ASSERT_EQ(pg_->psql("DROP TABLE authctl_users, authctl_meta"), 0);
    start_agent();
    auto r = call(agent::Op::lock_info, "frank");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(r->ok);
    EXPECT_TRUE(contains(r->detail, "authctl fleet init")) << r->detail;
    r = call(agent::Op::external_failure, "frank");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(r->ok);

    // `authctl fleet init` then makes it serve, without a restart.
    ASSERT_TRUE(store_->init_schema());
    for (int i = 0; i < 30 && !(r && r->ok); ++i) {
        ::usleep(100000);
        r = call(agent::Op::lock_info, "frank");
    }
    EXPECT_TRUE(r && r->ok) << error_text(r);
    EXPECT_EQ(failures("frank"), 0U);
}

TEST_F(AgentTest, ASchemaNewerThanTheAgentIsRefused)
{
    const SecretBytes key = enroll("grace");
    ASSERT_EQ(pg_->psql("UPDATE authctl_meta SET v = '99' WHERE k = 'schema_version'"), 0);
    start_agent();
    auto r = call(agent::Op::attempt, "grace", wrong_code(key));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(r->ok);
    EXPECT_TRUE(contains(r->detail, "99")) << r->detail;
    EXPECT_TRUE(contains(agents_.back()->log(), "99")) << agents_.back()->log();
    auto check = run_agent({"--fleet-conf", fleet_conf_, "--conf", policy_, "--check"});
    EXPECT_EQ(check.code, 1);
    ASSERT_EQ(pg_->psql("UPDATE authctl_meta SET v = '1' WHERE k = 'schema_version'"), 0);
    EXPECT_EQ(failures("grace"), 0U);
}

TEST_F(AgentTest, KilledDuringAStreamOfFailuresLosesNothingAndLeavesNoHalfRow)
{
    write_policy("deny = 0\n");
    const SecretBytes key = enroll("heidi");
    const std::string code = wrong_code(key);
    constexpr std::uint32_t kThreads = 4;
    for (unsigned round = 0; round < 3; ++round) {
        const std::uint32_t before = failures("heidi");
        AgentProc& a = start_agent();
        std::atomic<std::uint32_t> ok_replies{0};
        std::vector<std::thread> threads;
        for (std::uint32_t t = 0; t < kThreads; ++t) {
            threads.emplace_back([&] {
                for (;;) {
                    auto r = call(agent::Op::attempt, "heidi", code);
                    if (!r || !r->ok) return;  // the agent is gone
                    if (r->attempt.outcome == Outcome::wrong_code) ++ok_replies;
                }
            });
        }
        // Killed at a different moment each round, in the middle of the stream.
        while (ok_replies < 10U + 15U * round) ::usleep(1000);
        a.kill();
        for (auto& th : threads) th.join();
        const std::uint32_t stored = failures("heidi");
        // Every failure reported to a client is in the database; at most one
        // per client was committed whose reply the kill cut off.
        EXPECT_GE(stored, before + ok_replies) << "round " << round;
        EXPECT_LE(stored, before + ok_replies + kThreads) << "round " << round;
    }

    // Every row opens and parses.
    std::size_t rows = 0;
    auto st = store_->scan([&](const std::string& user, Result<std::optional<UserRecord>>&& rec) {
        ++rows;
        EXPECT_TRUE(rec) << user << ": " << rec.error().message();
    });
    ASSERT_TRUE(st) << st.error().message();
    auto listing = store_->list();
    ASSERT_TRUE(listing) << listing.error().message();
    EXPECT_EQ(listing->users.size(), rows);
    for (const auto& u : listing->users) {
        auto rec = store_->load(u);
        EXPECT_TRUE(rec) << u << ": " << rec.error().message();
    }
}

TEST_F(AgentTest, SighupPicksUpANewFleetKeyWithoutARequestFailing)
{
    const SecretBytes key = enroll("ivan");
    AgentProc& a = start_agent();

    // A stream of requests for the whole change; every one must be answered.
    std::atomic<bool> stop{false};
    std::atomic<unsigned> answered{0};
    std::vector<std::string> failed;
    std::mutex failed_mu;
    std::thread stream([&] {
        while (!stop) {
            auto r = call(agent::Op::lock_info, "ivan");
            if (r && r->ok) {
                ++answered;
            } else {
                const std::lock_guard<std::mutex> lk(failed_mu);
                failed.push_back(error_text(r));
            }
        }
    });

    // The new key goes into this server's key file (current: k2), the agent
    // reloads, then the fleet is re-keyed (authctl fleet rekey).
    auto line = new_key_line("k2");
    ASSERT_TRUE(line) << line.error().message();
    std::string ring_text = test::read_file(key_file_);
    std::string kept;
    std::istringstream in(ring_text);
    for (std::string l; std::getline(in, l);)
        if (l.rfind("current", 0) != 0) kept += l + "\n";
    kept += *line + "\ncurrent k2\n";
    test::write_file(key_file_, kept, 0600);
    std::size_t logged = a.log().size();
    a.signal(SIGHUP);
    ASSERT_TRUE(a.wait_for_log("reloaded", logged)) << a.log();

    auto new_ring = parse_keyring(kept, "test");
    ASSERT_TRUE(new_ring) << new_ring.error().message();
    auto cfg = fleet::load_fleet_config(fleet_conf_);
    ASSERT_TRUE(cfg) << cfg.error().message();
    auto rekeyer = fleet::PgStore::open(*cfg, std::move(*new_ring));
    ASSERT_TRUE(rekeyer) << rekeyer.error().message();
    auto report = (*rekeyer)->rekey();
    ASSERT_TRUE(report) << report.error().message();
    EXPECT_GE(report->rewritten, 1U);

    // The agent writes under k2 now.
    auto r = call(agent::Op::attempt, "ivan", wrong_code(key));
    ASSERT_TRUE(r && r->ok) << error_text(r);
    std::string key_id;
    ASSERT_EQ(pg_->psql("SELECT key_id FROM authctl_users WHERE name = 'ivan'", &key_id), 0);
    EXPECT_EQ(key_id, "k2");
    ::usleep(200000);
    stop = true;
    stream.join();
    EXPECT_TRUE(failed.empty()) << failed.size() << " requests failed, the first: " << failed.front();
    EXPECT_GT(answered.load(), 0U);

    // A reload that cannot be used keeps the running configuration.
    write_fleet_conf({}, 0644);
    logged = a.log().size();
    a.signal(SIGHUP);
    EXPECT_TRUE(a.wait_for_log("reload failed", logged)) << a.log();
    r = call(agent::Op::attempt, "ivan", code_at(key, step_now()));
    ASSERT_TRUE(r && r->ok) << error_text(r);
    EXPECT_EQ(r->attempt.outcome, Outcome::success);

    // Back to k1 as the fleet's current key, for the next tests.
    std::string back_text = kept.substr(0, kept.rfind("current")) + "current k1\n";
    auto back_ring = parse_keyring(back_text, "test");
    ASSERT_TRUE(back_ring) << back_ring.error().message();
    auto back = fleet::PgStore::open(*cfg, std::move(*back_ring));
    ASSERT_TRUE(back) << back.error().message();
    auto undone = (*back)->rekey();
    ASSERT_TRUE(undone) << undone.error().message();
}

TEST_F(AgentTest, ConnectionsOverTheCapAreClosedAtOnce)
{
    AgentProc& a = start_agent();
    const std::size_t logged = a.log().size();
    // 64 connections that send nothing hold every worker and queue place.
    std::vector<int> idle;
    auto connect_one = [&]() {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    };
    for (int i = 0; i < 64; ++i) {
        const int fd = connect_one();
        ASSERT_GE(fd, 0);
        idle.push_back(fd);
    }
    ::usleep(200000);  // all 64 accepted
    const int extra = connect_one();
    ASSERT_GE(extra, 0);
    timeval tv{1, 0};
    ::setsockopt(extra, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c = 0;
    const auto t0 = Clock::now();
    EXPECT_EQ(::recv(extra, &c, 1, 0), 0) << "the 65th connection was not closed";
    EXPECT_LT(std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count(), 900);
    ::close(extra);
    EXPECT_TRUE(a.wait_for_log("busy", logged)) << a.log();
    for (int fd : idle) ::close(fd);

    // The silent clients gone, it serves again at once.
    Result<agent::Reply> r = make_error(Errc::io, "not tried");
    for (int i = 0; i < 50 && !(r && r->ok); ++i) {
        r = call(agent::Op::lock_info, "judy");
        if (!(r && r->ok)) ::usleep(50000);
    }
    EXPECT_TRUE(r && r->ok) << error_text(r);
}

TEST_F(AgentTest, SystemdSocketActivation)
{
    // As authctld.socket makes it: root's, 0600, listening before the agent runs.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, sock_.c_str(), sizeof addr.sun_path - 1);
    const mode_t old_mask = ::umask(0177);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::umask(old_mask);
    ASSERT_EQ(::listen(fd, 16), 0);

    // Two sockets where one is expected: refused.
    AgentProc& two = agent();
    two.activate(fd, "2");
    EXPECT_FALSE(two.start());
    EXPECT_TRUE(WIFEXITED(two.status()) && WEXITSTATUS(two.status()) == 1) << two.log();
    EXPECT_TRUE(contains(two.log(), "exactly one socket")) << two.log();

    // --socket names another path, but the socket from systemd wins.
    AgentProc& a = agent({"--socket", tmp_ / "unused.sock"});
    a.activate(fd);
    ASSERT_TRUE(a.start()) << a.log();
    EXPECT_TRUE(contains(a.log(), "(from systemd)")) << a.log();
    auto r = call(agent::Op::lock_info, "kate");
    EXPECT_TRUE(r && r->ok) << error_text(r);
    struct stat st {};
    EXPECT_NE(::lstat((tmp_ / "unused.sock").c_str(), &st), 0);

    // Stopped, it leaves systemd's socket in place: the next start takes it
    // over, and connections made meanwhile wait in its queue.
    EXPECT_EQ(a.stop(SIGTERM), 0) << a.log();
    EXPECT_EQ(::lstat(sock_.c_str(), &st), 0);
    AgentProc& b = agent();
    b.activate(fd);
    ASSERT_TRUE(b.start()) << b.log();
    r = call(agent::Op::lock_info, "kate");
    EXPECT_TRUE(r && r->ok) << error_text(r);
    ::close(fd);
}

// Sends raw bytes to the agent as a root client and returns whatever comes
// back before it closes (at most 2 s).
std::string raw_exchange(const std::string& path, const std::string& bytes)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "socket failed";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return "connect failed";
    }
    (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

TEST_F(AgentTest, HostileNamesSourcesAndFramesChangeNothingAndTheAgentKeepsServing)
{
    const SecretBytes key = enroll("alice");
    AgentProc& a = start_agent();
    // Names that are SQL, paths, very long, or not ASCII: each is just a name
    // (bound as a query parameter), unknown to the fleet, and creates nothing
    // through the code path.
    const std::vector<std::string> names = {"'; DROP TABLE authctl_users; --", "../../etc/passwd", "alice' OR '1'='1",
                                            std::string(200, 'x'), "z\xc3\xb6" "e", "%2e%2e", "alice\\"};
    // A name the store can hold gets a tally-only row for its counted failure
    // (issue 19: a lock must not tell who is enrolled); nothing else changes.
    int counted = 0;
    for (const auto& name : names) {
        auto r = call(agent::Op::attempt, name, "123456");
        ASSERT_TRUE(r) << r.error().message();
        if (r->ok) {
            EXPECT_EQ(r->attempt.outcome, Outcome::not_enrolled) << name;
            EXPECT_EQ(r->attempt.failures, 1U) << name;
            ++counted;
        } else {
            EXPECT_EQ(r->errc, Errc::invalid_user) << name << ": " << r->detail;
        }
        auto info = call(agent::Op::lock_info, name);
        ASSERT_TRUE(info) << info.error().message();
        if (info->ok) {
            EXPECT_FALSE(info->info.enrolled) << name;
        }
    }
    std::string rows;
    ASSERT_EQ(pg_->psql("SELECT count(*) FROM authctl_users", &rows), 0) << "the table is still there";
    EXPECT_EQ(rows, std::to_string(1 + counted)) << "alice's row and one tally-only row per name counted";

    // A hostile remote host is recorded in its sanitised form, and is data only.
    agent::Request req = request(agent::Op::attempt, "alice", wrong_code(key));
    req.source = "x'); DELETE FROM authctl_users; --";
    auto r = call_agent(sock_, req, kAgentTimeout);
    ASSERT_TRUE(r && r->ok) << error_text(r);
    auto rec = store_->load("alice");
    ASSERT_TRUE(rec && *rec);
    EXPECT_EQ((*rec)->tally.last_source, "x');?DELETE?FROM?authctl_users;?--");
    ASSERT_EQ(pg_->psql("SELECT count(*) FROM authctl_users", &rows), 0);
    EXPECT_EQ(rows, std::to_string(1 + counted));

    // Frames the client would never send: a control byte in the source, a
    // code on a lock_info, garbage, a huge length, a truncated payload. Each
    // is refused (an error reply or a closed connection); nothing is counted.
    auto frame = agent::encode_request(request(agent::Op::lock_info, "alice"));
    ASSERT_TRUE(frame);
    std::string with_escape = *frame;
    const auto at = with_escape.find("192.0.2.7");
    ASSERT_NE(at, std::string::npos);
    with_escape[at] = '\x1b';
    const std::vector<std::string> frames = {
        with_escape,
        std::string("\x00\x00\x00\x05hello", 9),
        std::string("\x7f\xff\xff\xff", 4) + std::string(64, 'A'),
        std::string("\x00\x00\x00\x00", 4),
        frame->substr(0, frame->size() - 3),
        std::string(4096, '\xff'),
    };
    for (const auto& f : frames) {
        const std::string back = raw_exchange(sock_, f);
        if (back.size() > 4) {
            auto reply = agent::decode_reply(std::string_view(back).substr(4));
            ASSERT_TRUE(reply) << reply.error().message();
            EXPECT_FALSE(reply->ok) << "a malformed request got a decision";
        }
    }
    EXPECT_EQ(failures("alice"), 1U) << "only the one well-formed wrong code counted";
    // Still serving, and still right.
    auto after = call(agent::Op::attempt, "alice", code_at(key, step_now()));
    ASSERT_TRUE(after && after->ok) << error_text(after) << a.log();
    EXPECT_EQ(after->attempt.outcome, Outcome::success);
}

TEST_F(AgentTest, AClientThatGaveUpGetsNothingDecidedTheAgentRollsBack)
{
    // The agent may wait longer than its client: here the database is slow
    // for this user (another session holds the user's lock for 2 s), the
    // agent's own bound is 5 s, the client's 500 ms. The client gives up and
    // its login is told PAM_AUTHINFO_UNAVAIL: the agent must then not count
    // the wrong code (nor consume a right one) when the lock comes free.
    write_fleet_conf({{"timeout", "5"}});
    const SecretBytes key = enroll("alice");
    AgentProc& a = start_agent();
    auto lock_key = fleet::advisory_lock_key("alice");
    ASSERT_TRUE(lock_key);
    std::thread holder([&] {
        (void)pg_->psql("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(*lock_key) +
                        "); SELECT pg_sleep(2); COMMIT;");
    });
    ::usleep(300000);  // the holder has the lock
    const std::size_t logged = a.log().size();
    auto wrong = call_agent(sock_, request(agent::Op::attempt, "alice", wrong_code(key)), milliseconds(500));
    EXPECT_FALSE(wrong && wrong->ok) << "the client got a decision it should have given up on";
    auto right = call_agent(sock_, request(agent::Op::attempt, "alice", code_at(key, step_now())), milliseconds(500));
    EXPECT_FALSE(right && right->ok);
    holder.join();
    EXPECT_TRUE(a.wait_for_log("the client gave up before the commit", logged)) << a.log();
    EXPECT_EQ(failures("alice"), 0U) << "a failure was counted for a login told the store was unavailable";
    // The right code was not consumed either: it logs in now.
    auto again = call(agent::Op::attempt, "alice", code_at(key, step_now()));
    ASSERT_TRUE(again && again->ok) << error_text(again);
    EXPECT_EQ(again->attempt.outcome, Outcome::success);
}

TEST_F(AgentTest, AnUndeliveredReplyForAMadeUpNameLogsNeitherItNorItsDigest)
{
    // As above, for a name that does not exist: its bucket's lock is held, the
    // client gives up, the agent's reply cannot be delivered. The line saying
    // so must not carry the digest (a password typed as the name would sit in
    // the journal as an unsalted SHA-256).
    write_fleet_conf({{"timeout", "5"}});
    AgentProc& a = start_agent();
    const std::string name = "hunter2-typed-as-a-name";
    agent::Request probe = request(agent::Op::lock_info, unknown_name_digest(name));
    probe.unknown_name = true;
    auto first = call_agent(sock_, probe, kAgentTimeout);  // the agent makes the fleet's bucket key
    ASSERT_TRUE(first && first->ok) << error_text(first);
    reopen_store();
    auto key = store_->bucket_key();
    ASSERT_TRUE(key) << key.error().message();
    const std::string bucket = *unknown_user_bucket(name, &*key);
    created_.push_back(bucket);
    auto lock_key = fleet::advisory_lock_key(bucket);
    ASSERT_TRUE(lock_key);
    std::thread holder([&] {
        (void)pg_->psql("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(*lock_key) +
                        "); SELECT pg_sleep(2); COMMIT;");
    });
    ::usleep(300000);
    const std::size_t logged = a.log().size();
    agent::Request attempt = request(agent::Op::attempt, unknown_name_digest(name), "123456");
    attempt.unknown_name = true;
    auto gave_up = call_agent(sock_, attempt, milliseconds(500));
    EXPECT_FALSE(gave_up && gave_up->ok);
    holder.join();
    EXPECT_TRUE(a.wait_for_log("not delivered", logged)) << a.log();
    EXPECT_TRUE(contains(a.log(), "reply for user (unknown name) not delivered")) << a.log();
    EXPECT_FALSE(contains(a.log(), unknown_name_digest(name))) << a.log();
    EXPECT_FALSE(contains(a.log(), name)) << a.log();
}

TEST_F(AgentTest, ARoleThatCannotInsertStillGetsTheFleetsBucketKey)
{
    // The key is read before anything is written: an agent whose role may
    // not insert into authctl_meta still counts a made-up name in the
    // fleet's keyed bucket, where another agent locked it.
    AgentProc& a = start_agent();
    const std::string name = "read-only-made-up-name";
    const auto unknown = [&](agent::Op op, const std::string& code = "") {
        agent::Request r = request(op, unknown_name_digest(name), code);
        r.unknown_name = true;
        return r;
    };
    for (int i = 0; i < 3; ++i) {
        auto w = call_agent(sock_, unknown(agent::Op::attempt, "123456"), kAgentTimeout);
        ASSERT_TRUE(w && w->ok) << error_text(w);
    }
    reopen_store();
    auto key = store_->bucket_key();
    ASSERT_TRUE(key) << key.error().message();
    created_.push_back(*unknown_user_bucket(name, &*key));
    a.stop(SIGTERM);
    ASSERT_EQ(pg_->psql("REVOKE INSERT ON authctl_meta FROM authctl"), 0);
    sock_ = tmp_ / "agent-ro.sock";
    write_fleet_conf({});
    start_agent();
    auto info = call_agent(sock_, unknown(agent::Op::lock_info), kAgentTimeout);
    ASSERT_EQ(pg_->psql("GRANT INSERT ON authctl_meta TO authctl"), 0);
    ASSERT_TRUE(info && info->ok) << error_text(info);
    EXPECT_TRUE(info->info.lock.locked) << "the name was looked up in another bucket than the fleet's";
}

}  // namespace
}  // namespace authctl
