// SPDX-License-Identifier: Apache-2.0
// Drives the built pam_authctl.so through the real libpam: a private service
// directory (pam_start_confdir), a scripted conversation that records every
// prompt and message, and a fail-delay hook that records the delay asked for.
#pragma once

#include <security/pam_appl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace authctl::test {

struct Conversation {
    std::deque<std::string> answers;   // given in order to PAM_PROMPT_ECHO_OFF/ON prompts
    std::vector<std::string> prompts;  // every prompt shown
    std::vector<std::string> infos;    // PAM_TEXT_INFO
    std::vector<std::string> errors;   // PAM_ERROR_MSG
    bool fail = false;                 // answer with PAM_CONV_ERR
    bool raw_nul = false;              // answers may hold embedded NULs (copied whole)

    std::string all_messages() const
    {
        std::string out;
        for (const auto& m : infos) out += m + "\n";
        for (const auto& m : errors) out += m + "\n";
        return out;
    }
};

inline int converse(int n, const struct pam_message** msg, struct pam_response** resp, void* data)
{
    auto* c = static_cast<Conversation*>(data);
    if (c->fail) return PAM_CONV_ERR;
    auto* out = static_cast<pam_response*>(calloc(static_cast<std::size_t>(n), sizeof(pam_response)));
    if (out == nullptr) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) {
        const std::string text = msg[i]->msg != nullptr ? msg[i]->msg : "";
        switch (msg[i]->msg_style) {
            case PAM_PROMPT_ECHO_OFF:
            case PAM_PROMPT_ECHO_ON: {
                c->prompts.push_back(text);
                std::string a;
                if (!c->answers.empty()) {
                    a = c->answers.front();
                    c->answers.pop_front();
                }
                auto* buf = static_cast<char*>(malloc(a.size() + 1));
                memcpy(buf, a.data(), a.size());
                buf[a.size()] = '\0';
                out[i].resp = buf;
                break;
            }
            case PAM_TEXT_INFO: c->infos.push_back(text); break;
            case PAM_ERROR_MSG: c->errors.push_back(text); break;
            default: break;
        }
    }
    *resp = out;
    return PAM_SUCCESS;
}

// The delay the stack asked for, through PAM_FAIL_DELAY (no sleeping in tests).
inline unsigned g_requested_delay = 0;
inline bool g_delay_called = false;
inline void record_delay(int, unsigned usec, void*)
{
    g_delay_called = true;
    g_requested_delay = usec;
}

struct PamRun {
    int rc = PAM_SYSTEM_ERR;
    Conversation conv;
};

enum class Phase { authenticate, account };

// Runs one transaction of `service` (a file in `confdir`) for `user`.
inline PamRun pam_run(const std::string& confdir, const std::string& service, const std::string& user,
                      std::deque<std::string> answers, Phase phase = Phase::authenticate, int flags = 0,
                      bool conv_fails = false, const char* rhost = "192.0.2.10", const char* tty = nullptr)
{
    PamRun r;
    r.conv.answers = std::move(answers);
    r.conv.fail = conv_fails;
    const pam_conv conv{converse, &r.conv};
    pam_handle_t* pamh = nullptr;
    int rc = pam_start_confdir(service.c_str(), user.c_str(), &conv, confdir.c_str(), &pamh);
    if (rc != PAM_SUCCESS) {
        r.rc = rc;
        return r;
    }
    g_delay_called = false;
    g_requested_delay = 0;
    pam_set_item(pamh, PAM_FAIL_DELAY, reinterpret_cast<const void*>(&record_delay));
    if (rhost != nullptr) pam_set_item(pamh, PAM_RHOST, rhost);
    if (tty != nullptr) pam_set_item(pamh, PAM_TTY, tty);
    r.rc = phase == Phase::authenticate ? pam_authenticate(pamh, flags) : pam_acct_mgmt(pamh, flags);
    pam_end(pamh, r.rc);
    return r;
}

// Receives what the module sends to syslog, by serving /dev/log for the test
// when no syslog daemon does (CI machines have none). A reader thread drains
// the socket continuously: a unix datagram queue holds only ~10 messages, and
// syslog(3) blocks when it is full. A stale socket left by a killed run (no
// listener) is taken over. available() is false when a live syslog owns /dev/log.
class SyslogCapture {
public:
    SyslogCapture()
    {
        struct stat st {};
        if (::lstat(kPath, &st) == 0) {
            if (!S_ISSOCK(st.st_mode) || someone_listens()) return;
            ::unlink(kPath);
        }
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const sockaddr_un addr = address();
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            if (fd_ >= 0) ::close(fd_);
            fd_ = -1;
            return;
        }
        owned_ = true;
        reader_ = std::thread([this] {
            char buf[8192];
            for (;;) {
                const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) return;
                std::lock_guard<std::mutex> g(mu_);
                if (std::string_view(buf, static_cast<std::size_t>(n)) == kStop) return;
                lines_.append(buf, static_cast<std::size_t>(n));
                lines_.push_back('\n');
            }
        });
    }
    ~SyslogCapture()
    {
        if (owned_) {
            // Wake the reader with a message of our own, then clean up.
            const int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            const sockaddr_un addr = address();
            ::sendto(s, kStop, std::strlen(kStop), 0, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
            ::close(s);
            reader_.join();
            ::unlink(kPath);
        }
        if (fd_ >= 0) ::close(fd_);
    }
    SyslogCapture(const SyslogCapture&) = delete;
    SyslogCapture& operator=(const SyslogCapture&) = delete;

    bool available() const { return owned_; }

    // Everything received since the last drain, one message per line.
    std::string drain()
    {
        ::usleep(50000);  // let datagrams already sent reach the reader
        std::lock_guard<std::mutex> g(mu_);
        std::string out;
        out.swap(lines_);
        return out;
    }

private:
    static constexpr const char* kPath = "/dev/log";
    static constexpr const char* kStop = "authctl-test-capture-stop";
    static sockaddr_un address()
    {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, kPath);
        return addr;
    }
    static bool someone_listens()
    {
        const int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const sockaddr_un addr = address();
        const bool live = ::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
        ::close(s);
        return live;
    }

    int fd_ = -1;
    bool owned_ = false;
    std::thread reader_;
    std::mutex mu_;
    std::string lines_;
};

}  // namespace authctl::test
