// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the tests: a private temporary directory, file access,
// and running a helper program with input on stdin (never a secret in argv).
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace authctl::test {

// A fresh directory under $TMPDIR (default /tmp), mode 0700, removed with its
// contents at destruction.
class TempDir {
public:
    TempDir()
    {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/authctl-test-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
    }
    ~TempDir()
    {
        ::nftw(
            path_.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
            FTW_DEPTH | FTW_PHYS);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

inline std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void write_file(const std::string& path, const std::string& text, mode_t mode = 0600)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) throw std::runtime_error("cannot create " + path);
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        ::close(fd);
        throw std::runtime_error("cannot write " + path);
    }
    ::fchmod(fd, mode);
    ::close(fd);
}

// Runs argv with `input` on stdin; returns stdout. Sets `status` to the exit code.
inline std::string run(const std::vector<std::string>& argv, const std::string& input, int& status)
{
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    (void)!::write(in[1], input.data(), input.size());
    ::close(in[1]);
    std::string result;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0) result.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int ws = 0;
    ::waitpid(pid, &ws, 0);
    status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return result;
}

struct CmdResult {
    int code = -1;
    std::string out;
    std::string err;
};

// Runs argv with `input` on stdin, capturing stdout and stderr. A command that
// has not finished after `deadline` seconds is killed by SIGALRM (the alarm
// survives exec), so a hang shows up as exit code 128 + SIGALRM, not as a
// stuck test.
inline CmdResult run_cmd(const std::vector<std::string>& argv, const std::string& input = "", unsigned deadline = 30)
{
    TempDir io;
    const std::string in = io / "in", out = io / "out", err = io / "err";
    write_file(in, input);
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int i = ::open(in.c_str(), O_RDONLY);
        const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(i, 0);
        ::dup2(o, 1);
        ::dup2(e, 2);
        ::signal(SIGALRM, SIG_DFL);
        ::alarm(deadline);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int ws = 0;
    ::waitpid(pid, &ws, 0);
    return CmdResult{WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws), read_file(out), read_file(err)};
}

inline bool have_program(const std::string& name)
{
    int status = 0;
    run({"sh", "-c", "command -v " + name}, "", status);
    return status == 0;
}

}  // namespace authctl::test
