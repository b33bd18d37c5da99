// SPDX-License-Identifier: Apache-2.0
// Runs a system tool (gpasswd, sudo, sshd -T) the way a root tool -- and
// the PAM module inside sshd -- should: directly (no shell), with a fixed
// environment (PATH and LC_ALL=C only, nothing inherited, so its messages
// are the C locale's and nothing of the caller's environment steers it),
// stdin on /dev/null, no file descriptor of the caller's but the two pipes,
// an empty signal mask, in a new session (no controlling terminal: it
// cannot prompt), its output captured up to a bound and its run time
// bounded: after the limit its whole session is killed (SIGKILL) and it is
// reaped, so a hung tool never holds the caller (sshd) past the limit.
// SIGCHLD is set to its default for the run (and put back after), as
// pam_unix does around unix_chkpwd: a caller that ignores it (children
// reaped by the kernel) or reaps in a handler would take the exit status.
#pragma once

#include <string>
#include <vector>

#include "authctl/result.hpp"

namespace authctl {

struct ProgramRun {
    int exit_status = -1;    // the exit status, or -1 when killed by a signal
    bool timed_out = false;  // killed after the time limit
    std::string out;         // stdout, at most max_bytes (the rest read and dropped)
    std::string err;         // stderr, likewise
};

// `path` is absolute; argv[0] is the program's name. Fails (Errc::io) only
// when the program cannot be started or waited for; a program that runs and
// fails is a ProgramRun with a non-zero exit_status.
Result<ProgramRun> run_program(const std::string& path, const std::vector<std::string>& argv, int timeout_ms,
                               std::size_t max_bytes = 16 * 1024);

// The lines of a program's output, without their '\n' (a last line without
// one included; no empty line after a final '\n').
std::vector<std::string> output_lines(const std::string& text);

// A program's output as one line for an error message: its non-empty lines
// trimmed and joined with "; ", control bytes escaped, cut to 300 bytes.
std::string one_line(const std::string& text);

}  // namespace authctl
