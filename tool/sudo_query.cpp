// SPDX-License-Identifier: Apache-2.0
#include "sudo_query.hpp"

namespace authctl::cli {

SudoVerdict parse_sudo_list(const std::string& user, const ProgramRun& run)
{
    if (run.timed_out) return {SudoAnswer::unknown, "sudo -l did not answer within 10 s"};
    const std::string may = "User " + user + " may run the following commands on ";
    const std::string not_allowed = "User " + user + " is not allowed to run sudo on ";
    if (run.exit_status == 0) {
        std::size_t pos = 0;
        while (pos < run.out.size()) {
            const auto nl = run.out.find('\n', pos);
            const std::string line = run.out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
            pos = nl == std::string::npos ? run.out.size() : nl + 1;
            if (line.rfind(may, 0) == 0) return {SudoAnswer::may_run, {}};
            if (line.rfind(not_allowed, 0) == 0) return {SudoAnswer::not_allowed, {}};
        }
    }
    std::string why = one_line(run.err);
    if (why.empty()) why = "unexpected answer from sudo -l: " + (run.out.empty() ? "(nothing)" : one_line(run.out));
    if (run.exit_status != 0)
        why += run.exit_status < 0 ? " (killed)" : " (exit " + std::to_string(run.exit_status) + ")";
    return {SudoAnswer::unknown, why};
}

SudoVerdict ask_sudo(const std::string& user)
{
    auto run = run_program(kSudoPath, {"sudo", "-n", "-l", "-U", user}, kSudoTimeoutMs, 64 * 1024);
    if (!run) return {SudoAnswer::unknown, run.error().detail};
    return parse_sudo_list(user, *run);
}

}  // namespace authctl::cli
