// SPDX-License-Identifier: Apache-2.0
// The module's side of fleet mode against a stand-in agent on a real Unix
// socket: the exchange and the wire bytes, AgentLogins' mapping of each op,
// the socket's and its directory's ownership and modes, the peer's uid, a
// missing or stale socket, an agent that never answers (bounded by the one
// deadline), closes early or answers garbage.
#include "authctl/agent_client.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <poll.h>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace authctl {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uid_t kNobody = 65534;

sockaddr_un address_of(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

// A listening socket bound at `path` (root-owned, mode 0600), closed and
// unlinked at the end.
int bind_socket(const std::string& path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un addr = address_of(path);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::chmod(path.c_str(), 0600) != 0)
        throw std::runtime_error("cannot bind " + path + ": " + std::strerror(errno));
    return fd;
}

// A stand-in for authctld: serves each connection with a handler on a thread
// of its own until it is destroyed.
class FakeAgent {
public:
    using Handler = std::function<void(FakeAgent&, int conn)>;

    explicit FakeAgent(std::string path) : path_(std::move(path)), listen_(bind_socket(path_))
    {
        if (::listen(listen_, 8) != 0 || ::pipe2(stop_, O_CLOEXEC) != 0) throw std::runtime_error("listen/pipe");
    }
    ~FakeAgent()
    {
        ::close(stop_[1]);  // wakes the thread wherever it waits
        if (thread_.joinable()) thread_.join();
        ::close(stop_[0]);
        ::close(listen_);
        ::unlink(path_.c_str());
    }
    FakeAgent(const FakeAgent&) = delete;
    FakeAgent& operator=(const FakeAgent&) = delete;

    void serve(Handler handler)
    {
        thread_ = std::thread([this, h = std::move(handler)] {
            for (;;) {
                if (!wait_readable(listen_)) return;
                const int conn = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
                if (conn < 0) continue;
                h(*this, conn);
                ::close(conn);
            }
        });
    }

    // The request's payload, recorded; empty when the client sent none.
    std::string read_request(int conn)
    {
        unsigned char prefix[4];
        if (!read_all(conn, reinterpret_cast<char*>(prefix), 4)) return {};
        const std::size_t n =
            (std::size_t{prefix[0]} << 24) | (std::size_t{prefix[1]} << 16) | (std::size_t{prefix[2]} << 8) | prefix[3];
        if (n > agent::kMaxFrame) return {};
        std::string payload(n, '\0');
        if (!read_all(conn, payload.data(), n)) return {};
        const std::lock_guard<std::mutex> hold(mu_);
        received_.push_back(payload);
        return payload;
    }
    static void send_bytes(int conn, std::string_view bytes)
    {
        (void)!::send(conn, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    }
    static void send_reply(int conn, const agent::Reply& rep)
    {
        auto frame = agent::encode_reply(rep);
        if (frame) send_bytes(conn, *frame);
    }
    // Holds the connection open until the client hangs up or the test ends.
    void wait_hangup(int conn)
    {
        char c;
        while (wait_readable(conn) && ::recv(conn, &c, 1, 0) > 0) {
        }
    }

    std::vector<std::string> received()
    {
        const std::lock_guard<std::mutex> hold(mu_);
        return received_;
    }

private:
    // False once the test ends.
    bool wait_readable(int fd)
    {
        pollfd p[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
        while (::poll(p, 2, -1) < 0) {
            if (errno != EINTR) return false;
        }
        return p[1].revents == 0;
    }
    bool read_all(int conn, char* out, std::size_t n)
    {
        std::size_t have = 0;
        while (have < n) {
            if (!wait_readable(conn)) return false;
            const ssize_t r = ::recv(conn, out + have, n - have, 0);
            if (r <= 0) return false;
            have += static_cast<std::size_t>(r);
        }
        return true;
    }

    std::string path_;
    int listen_;
    int stop_[2] = {-1, -1};
    std::thread thread_;
    std::mutex mu_;
    std::vector<std::string> received_;
};

agent::Request make_request(agent::Op op, std::string code = {})
{
    agent::Request r;
    r.op = op;
    r.user = "alice";
    r.service = "sshd";
    r.source = "192.0.2.7";
    r.code = std::move(code);
    return r;
}

agent::Reply ok_reply()
{
    agent::Reply r;
    r.ok = true;
    r.attempt.outcome = Outcome::success;
    r.attempt.failures = 1;
    r.attempt.recovery_left = 3;
    r.attempt.now = 1700000010;
    r.info.failures = 2;
    r.info.enrolled = true;
    r.info.now = 1700000011;
    return r;
}

class AgentClientTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (::geteuid() != 0) GTEST_SKIP() << "the socket checks need root-owned files; run as root";
        dir_ = tmp_ / "run";
        ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
        ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
        path_ = dir_ + "/agent.sock";
    }

    Result<agent::Reply> call(const agent::Request& req, std::chrono::milliseconds timeout = 2000ms)
    {
        return call_agent(path_, req, timeout);
    }

    // The error of a call that must fail with `code`, its detail containing `text`.
    void expect_error(const Result<agent::Reply>& r, Errc code, const std::string& text)
    {
        ASSERT_FALSE(r) << "the call succeeded";
        EXPECT_EQ(r.error().code, code) << r.error().message();
        EXPECT_NE(r.error().detail.find(text), std::string::npos) << r.error().detail;
    }

    test::TempDir tmp_;
    std::string dir_;
    std::string path_;
};

TEST_F(AgentClientTest, ExchangesOneRequestAndItsReply)
{
    FakeAgent agent(path_);
    agent.serve([](FakeAgent& a, int conn) {
        if (!a.read_request(conn).empty()) FakeAgent::send_reply(conn, ok_reply());
    });
    agent::Request req = make_request(agent::Op::attempt, "123456");
    req.is_root = true;
    auto reply = call(req);
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_TRUE(reply->ok);
    EXPECT_EQ(reply->attempt.outcome, Outcome::success);
    EXPECT_EQ(reply->attempt.recovery_left, 3U);
    EXPECT_EQ(reply->info.now, 1700000011);

    // What the agent received is the request's frame and decodes to it.
    const auto received = agent.received();
    ASSERT_EQ(received.size(), 1U);
    auto frame = agent::encode_request(req);
    ASSERT_TRUE(frame);
    EXPECT_EQ(received[0], frame->substr(4));
    auto back = agent::decode_request(received[0]);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->op, agent::Op::attempt);
    EXPECT_TRUE(back->is_root);
    EXPECT_EQ(back->user, "alice");
    EXPECT_EQ(back->service, "sshd");
    EXPECT_EQ(back->source, "192.0.2.7");
    EXPECT_EQ(back->code, "123456");
}

TEST_F(AgentClientTest, AgentLoginsSendsEachOpAndMapsItsReply)
{
    FakeAgent agent(path_);
    agent.serve([](FakeAgent& a, int conn) {
        auto req = agent::decode_request(a.read_request(conn));
        if (!req) return;
        agent::Reply rep;
        rep.ok = true;
        switch (req->op) {
            case agent::Op::lock_info: rep.info = {LockState{true, 1700000600}, 3, true, 1700000001}; break;
            case agent::Op::attempt:
                rep.attempt.outcome = Outcome::success;
                rep.attempt.used_recovery = true;
                rep.attempt.recovery_left = 4;
                break;
            case agent::Op::external_failure:
                rep.attempt.outcome = Outcome::wrong_code;
                rep.attempt.failures = 5;
                rep.attempt.locked_now = true;
                rep.attempt.lock = {true, 1700000900};
                break;
            case agent::Op::external_success: rep.attempt.failures = 6; break;
        }
        FakeAgent::send_reply(conn, rep);
    });
    AgentLogins logins(path_, 2000ms);
    const LoginContext ctx{"alice", true, "host name\n", 1, "sudo"};

    auto info = logins.lock_info(ctx);
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_TRUE(info->lock.locked);
    EXPECT_EQ(info->lock.until, 1700000600);
    EXPECT_EQ(info->failures, 3U);
    EXPECT_TRUE(info->enrolled);
    EXPECT_EQ(info->now, 1700000001);

    auto attempt = logins.attempt_code(ctx, "k7m2-q4xp-w3zr-tb5n");
    ASSERT_TRUE(attempt) << attempt.error().message();
    EXPECT_EQ(attempt->outcome, Outcome::success);
    EXPECT_TRUE(attempt->used_recovery);
    EXPECT_EQ(attempt->recovery_left, 4U);

    auto failure = logins.external_failure(ctx);
    ASSERT_TRUE(failure) << failure.error().message();
    EXPECT_EQ(failure->outcome, Outcome::wrong_code);
    EXPECT_EQ(failure->failures, 5U);
    EXPECT_TRUE(failure->locked_now);
    EXPECT_EQ(failure->lock.until, 1700000900);

    auto success = logins.external_success(ctx);
    ASSERT_TRUE(success) << success.error().message();
    EXPECT_EQ(success->failures, 6U);

    const auto received = agent.received();
    ASSERT_EQ(received.size(), 4U);
    const agent::Op ops[] = {agent::Op::lock_info, agent::Op::attempt, agent::Op::external_failure,
                             agent::Op::external_success};
    for (std::size_t i = 0; i < 4; ++i) {
        auto req = agent::decode_request(received[i]);
        ASSERT_TRUE(req) << req.error().message();
        EXPECT_EQ(req->op, ops[i]);
        EXPECT_TRUE(req->is_root);
        EXPECT_EQ(req->user, "alice");
        EXPECT_EQ(req->service, "sudo");
        EXPECT_EQ(req->source, "host?name?");  // sanitised as the store records it
        EXPECT_EQ(req->code, ops[i] == agent::Op::attempt ? "k7m2-q4xp-w3zr-tb5n" : "");
    }
}

TEST_F(AgentClientTest, AgentLoginsSendsACodeTheWireCannotCarryEmpty)
{
    FakeAgent agent(path_);
    agent.serve([](FakeAgent& a, int conn) {
        if (a.read_request(conn).empty()) return;
        agent::Reply rep;
        rep.ok = true;
        rep.attempt.outcome = Outcome::wrong_code;
        FakeAgent::send_reply(conn, rep);
    });
    AgentLogins logins(path_, 2000ms);
    const LoginContext ctx{"alice", false, "", 1, "sshd"};
    for (const std::string& code : {std::string(agent::kMaxCodeBytes + 1, '1'), std::string("12345\xC3\xA9")}) {
        auto r = logins.attempt_code(ctx, code);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(r->outcome, Outcome::wrong_code);
    }
    const auto received = agent.received();
    ASSERT_EQ(received.size(), 2U);
    for (const auto& p : received) {
        auto req = agent::decode_request(p);
        ASSERT_TRUE(req);
        EXPECT_EQ(req->op, agent::Op::attempt);
        EXPECT_EQ(req->code, "");
    }
}

TEST_F(AgentClientTest, AgentLoginsRefusesAnUnsendableUserWithoutConnecting)
{
    FakeAgent agent(path_);
    agent.serve([](FakeAgent& a, int conn) { (void)a.read_request(conn); });
    AgentLogins logins(path_, 2000ms);
    const std::string long_name(agent::kMaxUserBytes + 1, 'a');
    for (const std::string_view user :
         {std::string_view(""), std::string_view("a\nb"), std::string_view("\xFF"), std::string_view(long_name)}) {
        const LoginContext ctx{user, false, "", 1, "sshd"};
        auto r = logins.lock_info(ctx);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, Errc::invalid_user) << r.error().message();
    }
    EXPECT_TRUE(agent.received().empty());
}

TEST_F(AgentClientTest, AgentLoginsReturnsTheAgentsError)
{
    FakeAgent agent(path_);
    agent.serve([](FakeAgent& a, int conn) {
        if (a.read_request(conn).empty()) return;
        agent::Reply rep;
        rep.ok = false;
        rep.errc = Errc::corrupt;
        rep.detail = "record of 'alice' is corrupt";
        FakeAgent::send_reply(conn, rep);
    });
    AgentLogins logins(path_, 2000ms);
    auto r = logins.attempt_code(LoginContext{"alice", false, "", 1, "sshd"}, "123456");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::corrupt);
    EXPECT_EQ(r.error().detail, "agent: record of 'alice' is corrupt");
}

TEST_F(AgentClientTest, InsecureSocketDirectoryIsRefused)
{
    FakeAgent agent(path_);  // a good socket: only its directory is wrong
    ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
    expect_error(call(make_request(agent::Op::lock_info)), Errc::insecure,
                 "agent socket directory '" + dir_ + "' is writable by group or others");
    ASSERT_EQ(::chmod(dir_.c_str(), 0775), 0);
    expect_error(call(make_request(agent::Op::lock_info)), Errc::insecure, "writable by group or others");
    ASSERT_EQ(::chmod(dir_.c_str(), 01777), 0);  // sticky like /tmp: still refused
    expect_error(call(make_request(agent::Op::lock_info)), Errc::insecure, "writable by group or others");
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    ASSERT_EQ(::chown(dir_.c_str(), kNobody, kNobody), 0);
    expect_error(call(make_request(agent::Op::lock_info)), Errc::insecure, "is not owned by root");
    ASSERT_EQ(::chown(dir_.c_str(), 0, 0), 0);
    EXPECT_TRUE(call(make_request(agent::Op::lock_info), 200ms).error().code != Errc::insecure);
}

TEST_F(AgentClientTest, InsecureSocketIsRefused)
{
    FakeAgent agent(path_);
    for (const mode_t mode : {0666, 0620, 0602}) {
        ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
        expect_error(call(make_request(agent::Op::lock_info)), Errc::insecure,
                     "agent socket '" + path_ + "' is writable by group or others");
    }
    ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
    ASSERT_EQ(::chown(path_.c_str(), kNobody, 0), 0);
    expect_error(call(make_request(agent::Op::lock_info)), Errc::insecure, "is not owned by root");
}

TEST_F(AgentClientTest, SomethingElseAtThePathIsRefused)
{
    test::write_file(path_, "", 0600);
    expect_error(call(make_request(agent::Op::lock_info)), Errc::insecure, "is not a socket");
    ASSERT_EQ(::unlink(path_.c_str()), 0);

    // A symlink to a good socket elsewhere is not followed.
    const std::string other = dir_ + "/real.sock";
    FakeAgent agent(other);
    ASSERT_EQ(::symlink(other.c_str(), path_.c_str()), 0);
    expect_error(call(make_request(agent::Op::lock_info)), Errc::insecure, "is not a socket");
}

TEST_F(AgentClientTest, MissingSocketIsAnIoErrorAtOnce)
{
    const auto start = Clock::now();
    auto r = call(make_request(agent::Op::lock_info), 5000ms);
    EXPECT_LT(Clock::now() - start, 1s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::io);
    EXPECT_EQ(r.error().detail, "agent socket " + path_ + " missing (is authctld running?)");

    path_ = dir_ + "/absent/agent.sock";  // the directory missing too
    expect_error(call(make_request(agent::Op::lock_info)), Errc::io, "missing (is authctld running?)");
}

TEST_F(AgentClientTest, StaleSocketMeansTheAgentIsNotRunning)
{
    const int fd = bind_socket(path_);  // bound, never listening: as a dead agent leaves it
    auto r = call(make_request(agent::Op::lock_info));
    ::close(fd);
    expect_error(r, Errc::io, "agent not running");
}

TEST_F(AgentClientTest, SilentAgentTimesOutWithinTheDeadline)
{
    FakeAgent agent(path_);
    agent.serve([](FakeAgent& a, int conn) {
        (void)a.read_request(conn);
        a.wait_hangup(conn);  // accepts, reads, never answers
    });
    const auto start = Clock::now();
    auto r = call(make_request(agent::Op::attempt, "123456"), 300ms);
    const auto elapsed = Clock::now() - start;
    expect_error(r, Errc::io, "agent did not answer within 300 ms");
    EXPECT_GE(elapsed, 290ms);
    EXPECT_LT(elapsed, 2s);
    EXPECT_EQ(agent.received().size(), 1U);  // sent once, never again
}

TEST_F(AgentClientTest, AgentThatNeverAcceptsTimesOut)
{
    FakeAgent agent(path_);  // listening, no thread: the connection waits in the backlog
    const auto start = Clock::now();
    auto r = call(make_request(agent::Op::lock_info), 200ms);
    expect_error(r, Errc::io, "agent did not answer within 200 ms");
    EXPECT_LT(Clock::now() - start, 2s);
}

TEST_F(AgentClientTest, AgentClosingEarlyIsAnIoError)
{
    const std::vector<std::pair<const char*, FakeAgent::Handler>> cases = {
        {"at once", [](FakeAgent&, int) {}},
        {"after the request", [](FakeAgent& a, int conn) { (void)a.read_request(conn); }},
        {"within the length",
         [](FakeAgent& a, int conn) {
             (void)a.read_request(conn);
             FakeAgent::send_bytes(conn, std::string("\0\0", 2));
         }},
        {"within the payload",
         [](FakeAgent& a, int conn) {
             (void)a.read_request(conn);
             auto frame = agent::encode_reply(ok_reply());
             if (frame) FakeAgent::send_bytes(conn, frame->substr(0, 20));
         }},
    };
    for (const auto& [name, handler] : cases) {
        SCOPED_TRACE(name);
        FakeAgent agent(path_);
        agent.serve(handler);
        auto r = call(make_request(agent::Op::attempt, "123456"));  // SIGPIPE here would kill the test
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, Errc::io) << r.error().message();
        EXPECT_NE(r.error().detail.find("agent closed the connection"), std::string::npos) << r.error().detail;
    }
}

TEST_F(AgentClientTest, GarbageReplyIsInvalidArgument)
{
    auto wrong_version = agent::encode_reply(ok_reply());
    ASSERT_TRUE(wrong_version);
    (*wrong_version)[8] = 2;  // a version-2 agent's reply
    const std::vector<std::pair<std::string, std::string>> cases = {
        {std::string("\0\0\0\x08garbage!", 12), "magic"},
        {std::string("\0\0\0\0", 4), "length 0"},
        {std::string("\0\x01\0\0", 4), "length 65536"},
        {*wrong_version, "version 2 (this reads 4)"},
        {std::string("\0\0\0\x06"
                     "ACTL\x04\x01",
                     10),
         "truncated in outcome"},
    };
    for (const auto& [bytes, defect] : cases) {
        SCOPED_TRACE(defect);
        FakeAgent agent(path_);
        agent.serve([&bytes = bytes](FakeAgent& a, int conn) {
            if (!a.read_request(conn).empty()) FakeAgent::send_bytes(conn, bytes);
        });
        expect_error(call(make_request(agent::Op::lock_info)), Errc::invalid_argument, defect);
    }
}

TEST_F(AgentClientTest, AgentNotRunningAsRootIsRefused)
{
    int ready[2], hold[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(hold, O_CLOEXEC), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::close(ready[0]);
        ::close(hold[1]);  // so that the parent closing its end is seen here
        // The socket file is root's (bound as root); the listener is not:
        // SO_PEERCRED reports the credentials of listen().
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const sockaddr_un addr = address_of(path_);
        if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
            ::chmod(path_.c_str(), 0600) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
            ::setresuid(kNobody, kNobody, kNobody) != 0 || ::listen(fd, 4) != 0)
            ::_exit(1);
        (void)!::write(ready[1], "x", 1);
        char c;
        (void)!::read(hold[0], &c, 1);  // until the parent closes its end
        ::_exit(0);
    }
    ::close(ready[1]);
    ::close(hold[0]);
    char c = 0;
    const bool up = ::read(ready[0], &c, 1) == 1;
    auto r = up ? call(make_request(agent::Op::lock_info)) : Result<agent::Reply>(make_error(Errc::io, "no child"));
    ::close(hold[1]);
    ::close(ready[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(up) << "the child could not listen as uid " << kNobody;
    expect_error(r, Errc::insecure, "runs as uid 65534, not root");
}

TEST_F(AgentClientTest, RequestsThatCannotBeSentAreRefusedBeforeConnecting)
{
    agent::Request bad = make_request(agent::Op::lock_info, "123456");  // a code on lock_info
    expect_error(call(bad), Errc::invalid_argument, "code");
    path_ = dir_ + "/" + std::string(120, 's');
    expect_error(call(make_request(agent::Op::lock_info)), Errc::invalid_argument, "agent socket path");
}

}  // namespace
}  // namespace authctl
