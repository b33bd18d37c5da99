// SPDX-License-Identifier: Apache-2.0
#include "sudo_query.hpp"

namespace authctl::cli {

SudoVerdict parse_sudo_list(const std::string& user, const ProgramRun& run)
{
    if (run.timed_out) return {SudoAnswer::unknown, "sudo -l did not answer within 10 s"};
    const std::string may = "User " + user + " may run the following commands on ";
    const std::string not_allowed = "User " + user + " is not allowed to run sudo on ";
    if (run.exit_status == 0) {
        // The sections sudo prints: "Matching Defaults entries for USER on
        // HOST:" (indented defaults), ..., then "User USER may run the
        // following commands on HOST:" (indented rules).
        bool in_rules = false, in_defaults = false;
        SudoVerdict may_run{SudoAnswer::may_run, {}};
        for (const std::string& line : output_lines(run.out)) {
            const bool indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
            if (!indented) {
                in_defaults = line.rfind("Matching Defaults entries for ", 0) == 0;
                if (line.rfind(not_allowed, 0) == 0) return {SudoAnswer::not_allowed, {}};
                if (line.rfind(may, 0) == 0) in_rules = true;
                continue;
            }
            const bool no_auth = (in_rules && line.find("NOPASSWD:") != std::string::npos) ||
                                 (in_defaults && line.find("!authenticate") != std::string::npos);
            if (no_auth && !may_run.no_authentication) {
                may_run.no_authentication = true;
                may_run.detail = one_line(line);
            }
        }
        if (in_rules) return may_run;
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
