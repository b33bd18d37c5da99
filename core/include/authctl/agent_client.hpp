// SPDX-License-Identifier: Apache-2.0
// The module's side of fleet mode: the four login decisions sent to the local
// agent (authctld) over its Unix socket, one connection per call, the whole
// exchange within one deadline. No secret, no database, no TLS in the caller.
#pragma once

#include <chrono>
#include <string>

#include "authctl/agent_protocol.hpp"
#include "authctl/login.hpp"

namespace authctl {

// Sends `req` to the agent at `socket_path` and returns its reply, all within
// `timeout` (connect, write, read). Before connecting, the socket and its
// directory must be owned by root and not writable by group or others
// (Errc::insecure); after connecting, the peer must be root (SO_PEERCRED).
// Errc::io for an agent that is down, a missing socket or a timeout, naming
// which. Never retries: a request that may have reached the agent is not sent twice.
Result<agent::Reply> call_agent(const std::string& socket_path, const agent::Request& req,
                                std::chrono::milliseconds timeout);

// LoginService through the agent. An agent error comes back as the Error it
// reported (its errc, and "agent: " + its detail); a transport failure as
// Errc::io. A user name the protocol cannot carry is Errc::invalid_user
// without connecting; a code it cannot carry (over kMaxCodeBytes, or not
// printable ASCII) is sent empty, so the agent counts it as a wrong code, as
// the file store would; source and service are sent sanitised (FILEFORMAT.md).
class AgentLogins final : public LoginService {
public:
    AgentLogins(std::string socket_path, std::chrono::milliseconds timeout)
        : path_(std::move(socket_path)), timeout_(timeout)
    {
    }
    Result<LockInfo> lock_info(const LoginContext& ctx) override;
    Result<AttemptResult> attempt_code(const LoginContext& ctx, std::string_view code) override;
    Result<AttemptResult> external_failure(const LoginContext& ctx) override;
    Result<AttemptResult> external_success(const LoginContext& ctx) override;
    // Errc::unsupported: enrollment at login is not available with store=agent yet.
    Result<std::optional<InviteOffer>> offer_invite(const LoginContext& ctx) override;
    Result<InviteConfirmResult> confirm_invite(const LoginContext& ctx, InviteOffer& offer,
                                               std::string_view code) override;

private:
    Result<agent::Reply> call(agent::Op op, const LoginContext& ctx, std::string_view code);
    std::string path_;
    std::chrono::milliseconds timeout_;
};

}  // namespace authctl
