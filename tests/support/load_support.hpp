// SPDX-License-Identifier: Apache-2.0
// Processes racing through the real libpam, for the load tests of the file
// store (tests/load) and of the fleet (tests/fleet): children that die with
// the test, pipes, and a race of forked logins released at one instant.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "authctl/base32.hpp"
#include "authctl/otp.hpp"
#include "pam_harness.hpp"

namespace authctl::test {

inline constexpr int kChildBug = 99;  // a child's body returned or threw: a bug in the test

// ---------------------------------------------------------------------------
// Processes

// Every process a test forks. The destructor (and kill_all) SIGKILLs and reaps
// each one not reaped yet, so a failed ASSERT never leaves a child behind.
class Children {
public:
    Children() = default;
    Children(const Children&) = delete;
    Children& operator=(const Children&) = delete;
    ~Children() { kill_all(); }

    // Forks a child that runs `body`, which must end the process (_exit, exec).
    // The child dies with the test process (PR_SET_PDEATHSIG).
    pid_t spawn(const std::function<void()>& body)
    {
        std::fflush(nullptr);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(kChildBug);
            try {
                body();
            } catch (...) {
            }
            ::_exit(kChildBug);
        }
        live_.push_back(pid);
        return pid;
    }

    // Waits for `pid`; returns its wait status.
    int reap(pid_t pid)
    {
        int ws = 0;
        while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
        }
        live_.erase(std::remove(live_.begin(), live_.end(), pid), live_.end());
        return ws;
    }

    void kill_all()
    {
        for (pid_t pid : live_) ::kill(pid, SIGKILL);
        for (pid_t pid : live_) {
            int ws = 0;
            while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
            }
        }
        live_.clear();
    }

    std::size_t live() const { return live_.size(); }

private:
    std::vector<pid_t> live_;
};

struct Pipe {
    int r = -1, w = -1;
    Pipe()
    {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
        r = fds[0];
        w = fds[1];
    }
    ~Pipe()
    {
        close_r();
        close_w();
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    void close_r()
    {
        if (r >= 0) ::close(r);
        r = -1;
    }
    void close_w()
    {
        if (w >= 0) ::close(w);
        w = -1;
    }
    // Everything until every writer has closed its end.
    std::string read_all()
    {
        close_w();
        std::string out;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::read(r, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }
};

inline void write_all(int fd, const void* data, std::size_t n)
{
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        const ssize_t k = ::write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) ::_exit(kChildBug);
        p += k;
        n -= static_cast<std::size_t>(k);
    }
}

inline std::string describe(int ws)
{
    if (WIFEXITED(ws)) return "exit " + std::to_string(WEXITSTATUS(ws));
    if (WIFSIGNALED(ws)) return std::string("signal ") + ::strsignal(WTERMSIG(ws));
    return "status " + std::to_string(ws);
}

// ---------------------------------------------------------------------------
// Codes

inline std::string code_at(const SecretBytes& key, std::uint64_t counter)
{
    auto v = hotp_value(key, counter, HashAlgo::sha1, 6);
    return v ? format_code(*v, 6) : std::string("otp-error");
}

// A 6-digit code that matches no counter in [first, last].
inline std::string wrong_code(const SecretBytes& key, std::uint64_t first, std::uint64_t last)
{
    std::set<std::string> right;
    for (std::uint64_t c = first; c <= last; ++c) right.insert(code_at(key, c));
    for (std::uint32_t v = 123456;; v = (v + 111111) % 1000000)
        if (right.count(format_code(v, 6)) == 0) return format_code(v, 6);
}

inline SecretBytes decode(const std::string& b32)
{
    auto k = base32_decode(b32);
    if (!k) throw std::runtime_error("bad base32 from authctl: " + b32);
    return std::move(*k);
}


// What one login saw.
struct Seen {
    int rc = -1;
    int prompts = 0;
    int lock_messages = 0;   // "Account locked after ...", "Logins from this address are locked ..." (PAM_ERROR_MSG)
    int other_messages = 0;  // anything else the module said
    int child = -1;          // which child (i) ...
    int attempt = -1;        // ... and which of its attempts (k)
};

inline Seen seen_of(const PamRun& r)
{
    Seen s;
    s.rc = r.rc;
    s.prompts = static_cast<int>(r.conv.prompts.size());
    for (const auto& m : r.conv.errors)
        (m.rfind("Account locked after ", 0) == 0 || m.rfind("Logins from ", 0) == 0 ? s.lock_messages
                                                                                    : s.other_messages)++;
    s.other_messages += static_cast<int>(r.conv.infos.size());
    return s;
}

// Forks n children, waits until all are ready, releases them at once
// (closing a pipe), and child i runs `attempts` logins login(i, k), each a
// complete pam_start / pam_authenticate / pam_end transaction. Returns what
// every login saw. `started`, if given, runs once every child is forked and
// released: the place to start a thread that acts during the race (a thread
// started before the forks could hold a lock -- malloc's, libpq's -- that a
// child would then inherit locked forever).
inline std::vector<Seen> race(Children& children, int n, int attempts, const std::function<PamRun(int, int)>& login,
                              const std::function<void()>& started = {})
{
    Pipe ready, gate, results;
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
        pids.push_back(children.spawn([&, i] {
            gate.close_w();
            write_all(ready.w, "r", 1);
            ready.close_w();  // so that the parent sees EOF, not a hang, if a sibling died early
            char c;
            while (::read(gate.r, &c, 1) < 0 && errno == EINTR) {
            }
            for (int k = 0; k < attempts; ++k) {
                Seen s = seen_of(login(i, k));
                s.child = i;
                s.attempt = k;
                write_all(results.w, &s, sizeof s);  // < PIPE_BUF: atomic
            }
            ::_exit(0);
        }));
    }
    ready.close_w();
    for (int i = 0; i < n; ++i) {
        char c;
        ssize_t k;
        while ((k = ::read(ready.r, &c, 1)) < 0 && errno == EINTR) {
        }
        EXPECT_EQ(k, 1) << "a child died before the start";
    }
    gate.close_w();  // all start now
    if (started) started();
    const std::string raw = results.read_all();
    for (pid_t pid : pids) {
        const int ws = children.reap(pid);
        EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << describe(ws);
    }
    std::vector<Seen> seen(raw.size() / sizeof(Seen));
    std::memcpy(seen.data(), raw.data(), seen.size() * sizeof(Seen));
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(n * attempts));
    return seen;
}

inline std::size_t count_rc(const std::vector<Seen>& seen, int rc)
{
    return static_cast<std::size_t>(std::count_if(seen.begin(), seen.end(), [&](const auto& s) { return s.rc == rc; }));
}

inline std::size_t count_occurrences(const std::string& text, const std::string& needle)
{
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

}  // namespace authctl::test
