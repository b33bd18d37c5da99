// SPDX-License-Identifier: Apache-2.0
// An authctld started by a test: the real agent binary (AUTHCTL_AGENT) in
// the foreground, its output in a log file, stopped with SIGKILL and reaped
// by its pid when the object goes, whether the test passed or not.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "test_support.hpp"

#ifndef AUTHCTL_AGENT
#error "AUTHCTL_AGENT (the built authctld) must be defined"
#endif

namespace authctl::test {

inline bool contains(const std::string& hay, const std::string& needle)
{
    return hay.find(needle) != std::string::npos;
}

// One authctld in the foreground, its stdout and stderr in a log file.
// Stopped with SIGKILL and reaped by its pid when the object goes.
class AgentProc {
public:
    AgentProc(std::vector<std::string> args, std::string log) : args_(std::move(args)), log_(std::move(log)) {}
    ~AgentProc() { kill(); }
    AgentProc(const AgentProc&) = delete;
    AgentProc& operator=(const AgentProc&) = delete;

    // Starts it and waits (at most 10 s) for its "listening on" line; false
    // when it exited or never got there.
    bool start()
    {
        const std::size_t logged = log().size();
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) return false;
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            if (activation_fd_ >= 0) {
                // systemd's side of socket activation: the socket on fd 3.
                if (::dup2(activation_fd_, 3) != 3) ::_exit(126);
                ::setenv("LISTEN_FDS", listen_fds_.c_str(), 1);
                ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
            }
            std::vector<char*> argv{const_cast<char*>(AUTHCTL_AGENT)};
            for (auto& a : args_) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(AUTHCTL_AGENT, argv.data());
            ::_exit(127);
        }
        for (int i = 0; i < 1000; ++i) {
            if (contains(log().substr(logged), "listening on")) return true;
            int ws = 0;
            if (::waitpid(pid_, &ws, WNOHANG) == pid_) {
                pid_ = -1;
                status_ = ws;
                return false;
            }
            ::usleep(10000);
        }
        return false;
    }

    // Sends `sig` and waits (at most `bound`) for the exit; its wait status, or -1.
    int stop(int sig, std::chrono::milliseconds bound = std::chrono::milliseconds(10000))
    {
        if (pid_ <= 0) return status_;
        ::kill(pid_, sig);
        const auto end = std::chrono::steady_clock::now() + bound;
        while (std::chrono::steady_clock::now() < end) {
            int ws = 0;
            if (::waitpid(pid_, &ws, WNOHANG) == pid_) {
                pid_ = -1;
                status_ = ws;
                return ws;
            }
            ::usleep(5000);
        }
        return -1;
    }

    void signal(int sig) const
    {
        if (pid_ > 0) ::kill(pid_, sig);
    }

    void kill()
    {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int ws = 0;
        while (::waitpid(pid_, &ws, 0) < 0 && errno == EINTR) {
        }
        status_ = ws;
        pid_ = -1;
    }

    // Waits (at most `bound`) for `text` to appear in the log after `from` bytes.
    bool wait_for_log(const std::string& text, std::size_t from, std::chrono::milliseconds bound = std::chrono::milliseconds(10000)) const
    {
        const auto end = std::chrono::steady_clock::now() + bound;
        while (std::chrono::steady_clock::now() < end) {
            const std::string l = log();
            if (l.size() > from && contains(l.substr(from), text)) return true;
            ::usleep(10000);
        }
        return false;
    }

    // Whether it still runs. Not kill(pid, 0), which a zombie passes: waitpid
    // WNOHANG, and once it has exited it is reaped here (its wait status kept,
    // its pid forgotten: never waited for or signalled again).
    bool alive()
    {
        if (pid_ <= 0) return false;
        int ws = 0;
        const pid_t r = ::waitpid(pid_, &ws, WNOHANG);
        if (r == 0) return true;
        if (r == pid_) {
            status_ = ws;
            pid_ = -1;
        }
        return false;
    }

    pid_t pid() const { return pid_; }
    std::string log() const { return test::read_file(log_); }
    // Hands `fd` over as systemd would (fd 3, LISTEN_FDS, LISTEN_PID).
    void activate(int fd, std::string listen_fds = "1")
    {
        activation_fd_ = fd;
        listen_fds_ = std::move(listen_fds);
    }
    int status() const { return status_; }

private:
    int activation_fd_ = -1;
    std::string listen_fds_;
    std::vector<std::string> args_;
    std::string log_;
    pid_t pid_ = -1;
    int status_ = -1;
};

}  // namespace authctl::test
