// SPDX-License-Identifier: Apache-2.0
// run_program (core/src/run_program.cpp), which runs gpasswd and sudo for the
// CLI and gpasswd for the module: both streams captured and bounded without deadlock, a clean
// environment, and the time bound held against a child that hangs with its
// output closed and against a grandchild that keeps the pipes open.
#include "authctl/run_program.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace authctl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

ProgramRun sh(const std::string& script, int timeout_ms = 10000, std::size_t max = 16 * 1024)
{
    auto r = run_program("/bin/sh", {"sh", "-c", script}, timeout_ms, max);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : ProgramRun{};
}

TEST(RunProgram, CapturesBothStreamsAndTheExitStatus)
{
    const ProgramRun r = sh("echo out; echo err >&2; exit 3");
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_FALSE(r.timed_out);
}

TEST(RunProgram, ALargeOutputOnBothStreamsIsBoundedWithoutDeadlock)
{
    const auto t = Clock::now();
    const ProgramRun r = sh("head -c 2000000 /dev/zero; head -c 2000000 /dev/zero >&2; echo done >&2", 20000, 1000);
    EXPECT_EQ(r.exit_status, 0);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.out.size(), 1000U);
    EXPECT_EQ(r.err.size(), 1000U);
    EXPECT_LT(seconds_since(t), 15.0);
}

TEST(RunProgram, TheEnvironmentIsPathAndLocaleOnlyAndStdinIsEmpty)
{
    ::setenv("AUTHCTL_RUN_PROGRAM_PROBE", "leak", 1);
    auto r = run_program("/usr/bin/env", {"env"}, 10000);
    ::unsetenv("AUTHCTL_RUN_PROGRAM_PROBE");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLC_ALL=C\n");
    EXPECT_EQ(sh("cat; echo end").out, "end\n") << "stdin is /dev/null";
}

TEST(RunProgram, AChildThatClosedItsOutputAndHangsIsKilledAtTheDeadline)
{
    const auto t = Clock::now();
    const ProgramRun r = sh("exec >&- 2>&-; sleep 30", 300);
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(r.exit_status, -1);
    EXPECT_LT(seconds_since(t), 5.0) << "held past its 0.3 s bound";
}

TEST(RunProgram, AGrandchildHoldingThePipesDoesNotHoldTheCallerAndIsKilled)
{
    const auto t = Clock::now();
    // The child exits 0 at once; its background sleep keeps both pipes open.
    const ProgramRun r = sh("sleep 29.7171 & echo started; exit 0", 20000);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_status, 0);
    EXPECT_EQ(r.out, "started\n");
    EXPECT_LT(seconds_since(t), 5.0) << "waited for the grandchild";
    bool gone = false;
    for (int i = 0; i < 50 && !gone; ++i) {
        gone = std::system("pgrep -f 'sleep 29[.]7171' >/dev/null") != 0;  // [.]: not this shell's own line
        if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(gone) << "the grandchild was left running";
}

// The module runs gpasswd inside sshd, sudo or any PAM application: their
// SIGCHLD handling and blocked signals must neither take the exit status nor
// reach the tool, and the caller's disposition is put back.
TEST(RunProgram, ACallerIgnoringSigchldStillGetsTheExitStatusAndKeepsItsDisposition)
{
    struct sigaction ign {}, old {}, after {};
    ign.sa_handler = SIG_IGN;
    ::sigemptyset(&ign.sa_mask);
    ASSERT_EQ(::sigaction(SIGCHLD, &ign, &old), 0);
    const ProgramRun r = sh("exit 5");
    ::sigaction(SIGCHLD, &old, &after);
    EXPECT_EQ(r.exit_status, 5) << "with SIGCHLD ignored the kernel reaps the child: the status is lost";
    EXPECT_EQ(after.sa_handler, SIG_IGN) << "the caller's disposition was not put back";
}

TEST(RunProgram, TheCallersBlockedSignalsAreNotTheTools)
{
    sigset_t block, old;
    ::sigemptyset(&block);
    ::sigaddset(&block, SIGTERM);
    ::sigaddset(&block, SIGINT);
    ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old), 0);
    // grep itself, not through sh (which may reset its mask).
    auto r = run_program("/usr/bin/grep", {"grep", "^SigBlk:", "/proc/self/status"}, 10000);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->out, "SigBlk:\t0000000000000000\n");
}

// Descriptors of the caller (sshd's client and monitor sockets, the state
// directory) never reach the tool: with close_range, and on a kernel without
// it (made here with a seccomp filter answering ENOSYS) by closing each.
TEST(RunProgram, TheCallersDescriptorsAreClosedWithOrWithoutCloseRange)
{
    for (const bool without : {false, true}) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            if (without) {
                sock_filter filter[] = {
                    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
                    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, 0, 1),
                    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
                    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                };
                sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
                if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                    ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
                    ::_exit(10);
                if (::syscall(SYS_close_range, 1000, 1000, 0) == 0 || errno != ENOSYS) ::_exit(11);
            }
            const int fd = ::open("/dev/null", O_RDONLY);  // not O_CLOEXEC
            if (fd < 0 || ::dup2(fd, 777) != 777) ::_exit(12);
            auto r = run_program("/bin/sh", {"sh", "-c", "ls /proc/$$/fd"}, 10000);
            if (!r || r->exit_status != 0) ::_exit(13);
            // 0, 1, 2 and at most the one ls reads the directory with (of ls, not of sh)
            const bool clean = r->out.find("777") == std::string::npos &&
                               r->out.find(std::to_string(fd) + "\n") == std::string::npos;
            ::_exit(clean ? 0 : 14);
        }
        int ws = 0;
        ASSERT_EQ(::waitpid(pid, &ws, 0), pid);
        ASSERT_TRUE(WIFEXITED(ws));
        EXPECT_EQ(WEXITSTATUS(ws), 0) << (without ? "without close_range" : "with close_range")
                                      << " (10-12: setup, 13: the run, 14: a descriptor leaked)";
    }
}

TEST(RunProgram, AProgramThatCannotStartIs127)
{
    auto r = run_program("/nonexistent/authctl-probe", {"probe"}, 5000);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_status, 127);
}

TEST(RunProgram, OneLineJoinsTrimsAndEscapes)
{
    EXPECT_EQ(one_line("  a  \n\n b\t\r\nc"), "a; b; c");
    EXPECT_EQ(one_line("x\x1b[31my"), "x\\x1b[31my");
    EXPECT_EQ(one_line(std::string(400, 'z')).size(), 300U);
}

}  // namespace
}  // namespace authctl
