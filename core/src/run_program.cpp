// SPDX-License-Identifier: Apache-2.0
#include "authctl/run_program.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <poll.h>

#include "authctl/file_util.hpp"
#include "authctl/text.hpp"

namespace authctl {
namespace {

// The caller's SIGCHLD disposition, set to SIG_DFL for the run and put back.
class DefaultSigchld {
public:
    DefaultSigchld()
    {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        ::sigemptyset(&dfl.sa_mask);
        saved_ok_ = ::sigaction(SIGCHLD, &dfl, &saved_) == 0;
    }
    ~DefaultSigchld()
    {
        if (saved_ok_) ::sigaction(SIGCHLD, &saved_, nullptr);
    }
    DefaultSigchld(const DefaultSigchld&) = delete;
    DefaultSigchld& operator=(const DefaultSigchld&) = delete;

private:
    struct sigaction saved_ {};
    bool saved_ok_ = false;
};

}  // namespace


Result<ProgramRun> run_program(const std::string& path, const std::vector<std::string>& argv, int timeout_ms,
                               std::size_t max_bytes)
{
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return sys_error("cannot run", path, errno);
    UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) return sys_error("cannot run", path, errno);
    UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);
    // Everything the child needs is built before fork: after it, only
    // async-signal-safe calls.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    char env_lc[] = "LC_ALL=C";
    char* envp[] = {env_path, env_lc, nullptr};
    sigset_t none;
    ::sigemptyset(&none);
    const DefaultSigchld sigchld;

    // For a kernel without close_range (before 5.9): the descriptors to close
    // one by one, counted here (sysconf is not async-signal-safe).
    const long open_max = ::sysconf(_SC_OPEN_MAX);
    const int last_fd = open_max > 3 && open_max < (1L << 24) ? static_cast<int>(open_max) : (1 << 16);
    const pid_t pid = ::fork();
    if (pid < 0) return sys_error("cannot run", path, errno);
    if (pid == 0) {
        ::setsid();
        ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the caller's blocked signals are not the tool's
        const int null = ::open("/dev/null", O_RDONLY);
        if (null < 0 || ::dup2(null, STDIN_FILENO) < 0 || ::dup2(out_w.get(), STDOUT_FILENO) < 0 ||
            ::dup2(err_w.get(), STDERR_FILENO) < 0)
            ::_exit(127);
        // Nothing of ours (the state directory, a database socket, sshd's
        // client and monitor sockets) reaches it.
        if (::close_range(3, ~0U, 0) != 0)
            for (int fd = 3; fd < last_fd; ++fd) ::close(fd);
        ::execve(path.c_str(), args.data(), envp);
        ::_exit(127);
    }
    out_w.reset();
    err_w.reset();

    // The child's exit is watched with a pidfd beside the two pipes, so that
    // neither a child that closed its output and hangs, nor a grandchild that
    // keeps the pipes open after the child exited, holds this process past
    // the deadline. (Without pidfd_open, old kernels: the exit is polled for
    // every 10 ms.)
    const int pidfd_raw = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    UniqueFd pidfd(pidfd_raw >= 0 ? pidfd_raw : -1);
    ProgramRun run;
    const auto now = [] { return std::chrono::steady_clock::now(); };
    const auto deadline = now() + std::chrono::milliseconds(timeout_ms);
    std::chrono::steady_clock::time_point drain_until{};
    struct pollfd fds[3] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
    std::string* sinks[2] = {&run.out, &run.err};
    int open_fds = 2;
    bool exited = false;
    int ws = 0;
    for (;;) {
        if (!exited) {
            const pid_t w = ::waitpid(pid, &ws, WNOHANG);
            if (w == pid) {
                exited = true;
                drain_until = now() + std::chrono::milliseconds(200);  // what it wrote last, still in the pipes
                fds[2].fd = -1;
            } else if (w < 0 && errno != EINTR) {
                break;
            }
        }
        if (exited && (open_fds == 0 || now() >= drain_until)) break;
        if (!exited && now() >= deadline) {
            run.timed_out = true;
            break;
        }
        const auto until = exited ? drain_until : deadline;
        auto slice = std::chrono::duration_cast<std::chrono::milliseconds>(until - now()).count() + 1;
        if (!exited && pidfd.get() < 0) slice = std::min<long long>(slice, 10);
        const int n = ::poll(fds, 3, static_cast<int>(slice));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            char buf[4096];
            const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                fds[i].fd = -1;
                --open_fds;
                continue;
            }
            std::string& sink = *sinks[i];
            if (sink.size() < max_bytes)
                sink.append(buf, std::min(static_cast<std::size_t>(got), max_bytes - sink.size()));
        }
    }
    // Whatever is left of its session (it called setsid: the group is its
    // pid) goes: the child itself when it is still running, and anything it
    // started that still holds the pipes. The group cannot be another's: the
    // child is not reaped until below, or its group still has members.
    if (!exited || open_fds > 0) ::kill(-pid, SIGKILL);
    if (!exited) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &ws, 0) < 0) {
            if (errno != EINTR) return sys_error("cannot wait for", path, errno);
        }
    }
    if (WIFEXITED(ws)) run.exit_status = WEXITSTATUS(ws);
    return run;
}

std::vector<std::string> output_lines(const std::string& text)
{
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        lines.push_back(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
        pos = nl == std::string::npos ? text.size() : nl + 1;
    }
    return lines;
}

std::string one_line(const std::string& text)
{
    std::string joined;
    for (std::string line : output_lines(text)) {
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.pop_back();
        const auto start = line.find_first_not_of(" \t");
        if (start == std::string::npos) continue;
        joined += (joined.empty() ? "" : "; ") + line.substr(start);
    }
    if (joined.size() > 300) joined = joined.substr(0, 297) + "...";
    return escape_controls(joined);
}

}  // namespace authctl
