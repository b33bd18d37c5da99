// SPDX-License-Identifier: Apache-2.0
// The agent's pure half (core/agent_serve): a request becomes the right
// LoginService call with the right context, every result and error becomes a
// reply the protocol can carry, the log lines never hold the code, the
// readiness gate re-checks on schedule, and the clock comparison.
#include "authctl/agent_serve.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "authctl/agent_protocol.hpp"
#include "authctl/invitation.hpp"

namespace authctl::agent {
namespace {

// Records what it was asked and answers what the test set.
class FakeLogins final : public LoginService {
public:
    Result<LockInfo> lock_info(const LoginContext& ctx) override
    {
        seen("lock_info", ctx, {});
        if (fail) return *fail;
        return info;
    }
    Result<AttemptResult> attempt_code(const LoginContext& ctx, std::string_view typed) override
    {
        seen("attempt", ctx, typed);
        if (fail) return *fail;
        if (throw_it) throw std::runtime_error("boom");
        return attempt;
    }
    Result<AttemptResult> external_failure(const LoginContext& ctx) override
    {
        seen("external_failure", ctx, {});
        if (fail) return *fail;
        return attempt;
    }
    Result<AttemptResult> external_success(const LoginContext& ctx) override
    {
        seen("external_success", ctx, {});
        if (fail) return *fail;
        AttemptResult r;
        r.outcome = Outcome::success;
        r.failures = cleared;
        return r;
    }
    // No request of the protocol asks for these (the agent serves no invitations yet).
    Result<std::optional<InviteOffer>> offer_invite(const LoginContext& ctx) override
    {
        seen("offer_invite", ctx, {});
        return make_error(Errc::unsupported, "fake");
    }
    Result<InviteConfirmResult> confirm_invite(const LoginContext& ctx, InviteOffer& /*offer*/,
                                               std::string_view typed) override
    {
        seen("confirm_invite", ctx, typed);
        return make_error(Errc::unsupported, "fake");
    }

    std::string call, user, source, service, code;
    bool is_root = false;
    std::int64_t now = 0;
    std::optional<Error> fail;
    bool throw_it = false;
    LockInfo info;
    AttemptResult attempt;
    std::uint32_t cleared = 0;

private:
    void seen(const char* what, const LoginContext& ctx, std::string_view c)
    {
        call = what;
        user = ctx.user;
        source = ctx.source;
        service = ctx.service;
        is_root = ctx.is_root;
        now = ctx.now;
        code = c;
    }
};

Request request(Op op, std::string user = "alice", std::string code = "")
{
    Request r;
    r.op = op;
    r.user = std::move(user);
    r.service = "sshd";
    r.source = "10.0.0.7";
    r.code = std::move(code);
    return r;
}

TEST(AgentServe, EachOpCallsItsDecisionWithTheRequestsContext)
{
    FakeLogins f;
    f.info.failures = 2;
    f.info.enrolled = true;
    Request req = request(Op::lock_info);
    req.is_root = true;
    Reply rep = serve_request(f, req, 1700000000);
    ASSERT_TRUE(rep.ok);
    EXPECT_EQ(f.call, "lock_info");
    EXPECT_EQ(f.user, "alice");
    EXPECT_EQ(f.source, "10.0.0.7");
    EXPECT_EQ(f.service, "sshd");
    EXPECT_TRUE(f.is_root);
    EXPECT_EQ(f.now, 1700000000);
    EXPECT_EQ(rep.info.failures, 2U);
    EXPECT_TRUE(rep.info.enrolled);

    f.attempt.outcome = Outcome::wrong_code;
    f.attempt.failures = 3;
    f.attempt.locked_now = true;
    rep = serve_request(f, request(Op::attempt, "alice", "123456"), 1700000000);
    ASSERT_TRUE(rep.ok);
    EXPECT_EQ(f.call, "attempt");
    EXPECT_EQ(f.code, "123456");
    EXPECT_EQ(rep.attempt.outcome, Outcome::wrong_code);
    EXPECT_EQ(rep.attempt.failures, 3U);
    EXPECT_TRUE(rep.attempt.locked_now);

    rep = serve_request(f, request(Op::external_failure), 1700000000);
    ASSERT_TRUE(rep.ok);
    EXPECT_EQ(f.call, "external_failure");
    EXPECT_EQ(f.code, "");

    f.cleared = 4;
    rep = serve_request(f, request(Op::external_success), 1700000000);
    ASSERT_TRUE(rep.ok);
    EXPECT_EQ(f.call, "external_success");
    EXPECT_EQ(rep.attempt.failures, 4U);
    EXPECT_EQ(rep.attempt.outcome, Outcome::success);
}

TEST(AgentServe, WithoutAClockGivenItUsesNow)
{
    FakeLogins f;
    const auto before = static_cast<std::int64_t>(::time(nullptr));
    ASSERT_TRUE(serve_request(f, request(Op::lock_info)).ok);
    EXPECT_GE(f.now, before);
    EXPECT_LE(f.now, before + 5);
}

TEST(AgentServe, ErrorsBecomeRepliesThatEncode)
{
    FakeLogins f;
    f.fail = make_error(Errc::io, "fleet database did not answer in time");
    for (Op op : {Op::lock_info, Op::attempt, Op::external_failure, Op::external_success}) {
        const Reply rep = serve_request(f, request(op, "alice", op == Op::attempt ? "123456" : ""), 1);
        EXPECT_FALSE(rep.ok);
        EXPECT_EQ(rep.errc, Errc::io);
        EXPECT_EQ(rep.detail, "fleet database did not answer in time");
        EXPECT_TRUE(encode_reply(rep));
    }
    f.fail.reset();
    f.throw_it = true;
    const Reply rep = serve_request(f, request(Op::attempt, "alice", "123456"), 1);
    EXPECT_FALSE(rep.ok);
    EXPECT_NE(rep.detail.find("boom"), std::string::npos);
}

TEST(AgentServe, ErrorReplyMakesAnyDetailFitTheProtocol)
{
    std::string hostile = "line one\nline two\x1b[31m \xff\xfe bad utf-8";
    Reply rep = error_reply(make_error(Errc::corrupt, hostile));
    EXPECT_FALSE(rep.ok);
    EXPECT_EQ(rep.errc, Errc::corrupt);
    EXPECT_EQ(rep.detail.find('\n'), std::string::npos);
    EXPECT_EQ(rep.detail.find('\x1b'), std::string::npos);
    EXPECT_TRUE(encode_reply(rep)) << rep.detail;

    // Overlong, cut between two-byte characters.
    std::string long_detail = "x";
    for (int i = 0; i < 400; ++i) long_detail += "\xc3\xa9";
    rep = error_reply(make_error(Errc::io, long_detail));
    EXPECT_LE(rep.detail.size(), kMaxDetailBytes);
    EXPECT_EQ(rep.detail.substr(rep.detail.size() - 3), "...");
    auto frame = encode_reply(rep);
    ASSERT_TRUE(frame) << frame.error().message();
    auto back = decode_reply(std::string_view(*frame).substr(4));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->detail, rep.detail);

    // A detail that fits is kept as it is, UTF-8 included.
    rep = error_reply(make_error(Errc::invalid_user, "user 'jos\xc3\xa9' is fine"));
    EXPECT_EQ(rep.detail, "user 'jos\xc3\xa9' is fine");
}

TEST(AgentServe, DecisionLogSaysWhenTheClockWasAhead)
{
    // Issue 19, point 4: stored times ahead of the clock are brought back by
    // the decision that finds them, and the agent's log says so (once: the
    // record is written with the times brought back).
    Reply rep;
    rep.ok = true;
    rep.attempt.outcome = Outcome::success;
    rep.attempt.failures = 1;
    const Request req = request(Op::attempt, "bob", "111111");
    LogLine line = decision_log(req, rep);
    EXPECT_EQ(line.level, LogLevel::info);
    EXPECT_EQ(line.text.find("ahead of the clock"), std::string::npos) << line.text;
    rep.attempt.clock_ahead = true;
    line = decision_log(req, rep);
    EXPECT_EQ(line.level, LogLevel::warning) << "a clock jump is worth a warning";
    EXPECT_NE(line.text.find("stored times were ahead of the clock"), std::string::npos) << line.text;
    EXPECT_EQ(line.text.find("111111"), std::string::npos);
    rep.attempt.outcome = Outcome::locked;
    rep.attempt.lock = {true, kLockedForever};
    line = decision_log(req, rep);
    EXPECT_NE(line.text.find("ahead of the clock"), std::string::npos) << "also when refused: " << line.text;
}

TEST(AgentServe, DecisionLogNamesUserOutcomeAndContextButNeverTheCode)
{
    AttemptResult wrong;
    wrong.outcome = Outcome::wrong_code;
    wrong.failures = 3;
    wrong.locked_now = true;
    wrong.lock = {true, 1700000600};
    Reply rep;
    rep.ok = true;
    rep.attempt = wrong;
    Request req = request(Op::attempt, "al\nice\x1b", "987654");
    LogLine line = decision_log(req, rep);
    EXPECT_EQ(line.level, LogLevel::warning);
    EXPECT_EQ(line.text,
              "user al?ice?: wrong code (3 failures): account locked until 2023-11-14T22:23:20Z "
              "(service=sshd source=10.0.0.7 op=attempt)");
    EXPECT_EQ(line.text.find("987654"), std::string::npos);

    rep.attempt = AttemptResult{};
    rep.attempt.outcome = Outcome::success;
    rep.attempt.failures = 2;
    req = request(Op::attempt, "bob", "111111");
    line = decision_log(req, rep);
    EXPECT_EQ(line.level, LogLevel::info);
    EXPECT_NE(line.text.find("accepted the code, 2 failures cleared"), std::string::npos) << line.text;
    EXPECT_EQ(line.text.find("111111"), std::string::npos);

    // A replayed code: counted like a wrong one, logged as what it is.
    rep.attempt = AttemptResult{};
    rep.attempt.outcome = Outcome::wrong_code;
    rep.attempt.failures = 1;
    rep.attempt.replayed = true;
    line = decision_log(req, rep);
    EXPECT_EQ(line.level, LogLevel::notice);
    EXPECT_EQ(line.text, "user bob: code already used (1 failure) (service=sshd source=10.0.0.7 op=attempt)");

    rep.attempt.outcome = Outcome::locked;
    rep.attempt.lock = {true, kLockedForever};
    line = decision_log(req, rep);
    EXPECT_NE(line.text.find("account locked until reset"), std::string::npos) << line.text;
    // A source's lock (per_source) is named as such, never as the account's.
    rep.attempt.lock = {true, kLockedForever, LockScope::source, 3};
    line = decision_log(req, rep);
    EXPECT_NE(line.text.find("refused without evaluating: source locked until reset"), std::string::npos) << line.text;
    rep.info.lock = {true, kLockedForever, LockScope::source, 3};
    line = decision_log(request(Op::lock_info, "bob"), rep);
    EXPECT_NE(line.text.find("lock state: source locked until reset"), std::string::npos) << line.text;
    rep.attempt = AttemptResult{};
    rep.attempt.outcome = Outcome::success;
    rep.attempt.failures = 5;
    rep.attempt.sources = 2;
    line = decision_log(req, rep);
    EXPECT_NE(line.text.find("accepted the code, 5 failures cleared (from 2 sources)"), std::string::npos) << line.text;

    Reply err = error_reply(make_error(Errc::io, "fleet database did not answer in time"));
    line = decision_log(request(Op::lock_info, "carol"), err);
    EXPECT_EQ(line.level, LogLevel::error);
    EXPECT_EQ(line.text,
              "user carol: error, nothing decided: I/O error: fleet database did not answer in time "
              "(service=sshd source=10.0.0.7 op=lock_info)")
        << "errc_text(io) changed? " << errc_text(Errc::io);

    Request empty = request(Op::external_success, "dave");
    empty.service.clear();
    empty.source.clear();
    Reply ok;
    ok.ok = true;
    ok.attempt.failures = 1;
    line = decision_log(empty, ok);
    EXPECT_EQ(
        line.text,
        "user dave: success of another module recorded (1 failure cleared) (service=- source=- op=external_success)");
}

TEST(AgentServe, LogTextIsPrintableAndBounded)
{
    EXPECT_EQ(log_text(""), "-");
    EXPECT_EQ(log_text("plain"), "plain");
    EXPECT_EQ(log_text("a\tb\x7f\xc3\xa9"), "a?b???");
    EXPECT_EQ(log_text(std::string(300, 'x'), 10), "xxxxxxxxxx...");
}

TEST(AgentServe, ClockSkewOverThirtySecondsEitherWay)
{
    EXPECT_FALSE(clock_skew_warning(1000, 1000));
    EXPECT_FALSE(clock_skew_warning(1030, 1000));
    EXPECT_FALSE(clock_skew_warning(970, 1000));
    auto ahead = clock_skew_warning(1031, 1000);
    ASSERT_TRUE(ahead);
    EXPECT_NE(ahead->find("31 s ahead of"), std::string::npos) << *ahead;
    auto behind = clock_skew_warning(900, 1000);
    ASSERT_TRUE(behind);
    EXPECT_NE(behind->find("100 s behind"), std::string::npos) << *behind;
}

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(ServeGate, AFailedCheckIsRetriedAtMostOncePerRetryInterval)
{
    const auto t0 = ServeGate::Clock::now();
    ServeGate gate(make_error(Errc::io, "down"), t0, seconds(1), seconds(60));
    int checks = 0;
    Status next = make_error(Errc::io, "still down");
    auto check = [&] {
        ++checks;
        return next;
    };
    auto a = gate.admit(check, t0 + milliseconds(500));
    EXPECT_FALSE(a.status);
    EXPECT_EQ(a.status.error().detail, "down");
    EXPECT_EQ(checks, 0);
    EXPECT_FALSE(a.transition);

    a = gate.admit(check, t0 + milliseconds(1000));
    EXPECT_EQ(checks, 1);
    EXPECT_FALSE(a.status);
    ASSERT_TRUE(a.transition) << "a different error is logged";
    a = gate.admit(check, t0 + milliseconds(1500));
    EXPECT_EQ(checks, 1);

    next = Ok{};
    a = gate.admit(check, t0 + milliseconds(2000));
    EXPECT_EQ(checks, 2);
    EXPECT_TRUE(a.status);
    ASSERT_TRUE(a.transition);
    EXPECT_EQ(a.transition->level, LogLevel::info);

    // Once usable, checked again only after `recheck`.
    a = gate.admit(check, t0 + seconds(30));
    EXPECT_EQ(checks, 2);
    EXPECT_TRUE(a.status);
    next = make_error(Errc::invalid_argument, "schema version 99 is newer than 1");
    a = gate.admit(check, t0 + seconds(62));
    EXPECT_EQ(checks, 3);
    EXPECT_FALSE(a.status);
    ASSERT_TRUE(a.transition);
    EXPECT_EQ(a.transition->level, LogLevel::error);
    EXPECT_NE(a.transition->text.find("schema version 99"), std::string::npos);
}

TEST(ServeGate, AThrowingCheckIsAnError)
{
    const auto t0 = ServeGate::Clock::now();
    ServeGate gate(Ok{}, t0, seconds(1), seconds(1));
    auto a = gate.admit([]() -> Status { throw std::runtime_error("bad"); }, t0 + seconds(2));
    EXPECT_FALSE(a.status);
}

TEST(ServeGate, WhileOneCallerChecksTheOthersGetTheLastResultAtOnce)
{
    const auto t0 = ServeGate::Clock::now();
    ServeGate gate(make_error(Errc::io, "down"), t0, milliseconds(0), seconds(60));
    std::atomic<bool> in_check{false};
    std::atomic<bool> release{false};
    std::thread slow([&] {
        auto a = gate.admit(
            [&]() -> Status {
                in_check = true;
                while (!release) std::this_thread::sleep_for(milliseconds(1));
                return Ok{};
            },
            ServeGate::Clock::now());
        EXPECT_TRUE(a.status);
    });
    while (!in_check) std::this_thread::sleep_for(milliseconds(1));
    int others = 0;
    auto a = gate.admit(
        [&] {
            ++others;
            return Status(Ok{});
        },
        ServeGate::Clock::now());
    EXPECT_FALSE(a.status) << "the last result, while the check runs";
    EXPECT_EQ(others, 0);
    release = true;
    slow.join();
    EXPECT_TRUE(gate.admit([] { return Status(Ok{}); }, ServeGate::Clock::now()).status);
}

}  // namespace
}  // namespace authctl::agent
