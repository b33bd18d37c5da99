// SPDX-License-Identifier: Apache-2.0
// authctl doctor --login: see doctor_login.hpp. The CLI links libpam for
// this (an application of PAM, as sudo or login are); the module is not
// involved beyond being stacked.
#include "doctor_login.hpp"

#include <security/pam_appl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <termios.h>
#include <vector>

#include "authctl/secret.hpp"

namespace authctl::cli {
namespace {

constexpr std::size_t kMaxAnswer = 512;

// Shows `prompt` and reads one line from stdin; without echo when `hidden`
// and stdin is a terminal (echo goes off before the prompt shows, so nothing
// typed after it is echoed). False at end of input.
bool read_answer(const char* prompt, bool hidden, std::string& out)
{
    termios old{};
    const bool quiet = hidden && ::isatty(STDIN_FILENO) == 1 && ::tcgetattr(STDIN_FILENO, &old) == 0;
    if (quiet) {
        termios off = old;
        off.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSADRAIN, &off);
    }
    std::cerr << prompt << std::flush;
    out.clear();
    bool got = false;
    char c = 0;
    while (::read(STDIN_FILENO, &c, 1) == 1) {
        got = true;
        if (c == '\n' || c == '\r') break;
        if (out.size() < kMaxAnswer) out += c;
    }
    c = 0;
    if (quiet) {
        ::tcsetattr(STDIN_FILENO, TCSADRAIN, &old);
        std::cerr << "\n";
    }
    return got;
}

struct Transcript {
    std::vector<std::string> prompts;  // what the stack asked, in order
};

int converse(int n, const pam_message** msg, pam_response** resp, void* data)
{
    if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
    auto* t = static_cast<Transcript*>(data);
    auto* replies = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(n), sizeof(pam_response)));
    if (replies == nullptr) return PAM_BUF_ERR;
    const auto give_up = [&](int rc) {
        for (int j = 0; j < n; ++j)
            if (replies[j].resp != nullptr) {
                explicit_bzero(replies[j].resp, std::strlen(replies[j].resp));
                std::free(replies[j].resp);
            }
        std::free(replies);
        return rc;
    };
    for (int i = 0; i < n; ++i) {
        const char* text = msg[i]->msg != nullptr ? msg[i]->msg : "";
        switch (msg[i]->msg_style) {
            case PAM_PROMPT_ECHO_OFF:
            case PAM_PROMPT_ECHO_ON: {
                const bool hidden = msg[i]->msg_style == PAM_PROMPT_ECHO_OFF;
                t->prompts.push_back("\"" + std::string(text) + "\"" + (hidden ? " (hidden)" : ""));
                std::string answer;
                const bool got = read_answer(text, hidden, answer);
                if (!got) {
                    wipe_string(answer);
                    return give_up(PAM_CONV_ERR);
                }
                replies[i].resp = ::strdup(answer.c_str());
                wipe_string(answer);
                if (replies[i].resp == nullptr) return give_up(PAM_BUF_ERR);
                break;
            }
            case PAM_ERROR_MSG: std::cerr << text << "\n"; break;
            case PAM_TEXT_INFO: std::cerr << text << "\n"; break;
            default: return give_up(PAM_CONV_ERR);
        }
    }
    *resp = replies;
    return PAM_SUCCESS;
}

}  // namespace

int doctor_login(const std::string& user, const std::string& service, const std::string& confdir)
{
    std::cout << "doctor --login: one real login as " << user << " through the PAM service " << service
              << (confdir.empty() ? "" : " (" + confdir + ")")
              << ". It changes what a real login changes: a code it accepts is used up, a wrong one is counted "
                 "toward the lock."
              << std::endl;
    Transcript t;
    const pam_conv conv{converse, &t};
    pam_handle_t* pamh = nullptr;
    int rc = confdir.empty() ? pam_start(service.c_str(), user.c_str(), &conv, &pamh)
                             : pam_start_confdir(service.c_str(), user.c_str(), &conv, confdir.c_str(), &pamh);
    if (rc != PAM_SUCCESS) {
        std::cout << "pam_start: " << pam_strerror(pamh, rc) << "\n";
        return 2;
    }
    const char* tty = ::isatty(STDIN_FILENO) == 1 ? ::ttyname(STDIN_FILENO) : nullptr;
    pam_set_item(pamh, PAM_TTY, tty != nullptr ? tty : "authctl-doctor");
    rc = pam_authenticate(pamh, 0);
    std::cout << "auth: " << pam_strerror(pamh, rc) << "\n";
    int acct = -1;
    if (rc == PAM_SUCCESS) {
        acct = pam_acct_mgmt(pamh, 0);
        std::cout << "account: " << pam_strerror(pamh, acct) << "\n";
    }
    std::cout << "asked: " << (t.prompts.empty() ? std::string("nothing") : "");
    for (std::size_t i = 0; i < t.prompts.size(); ++i) std::cout << (i ? ", " : "") << t.prompts[i];
    std::cout << "\n";
    const bool ok = rc == PAM_SUCCESS && (acct == PAM_SUCCESS || acct == PAM_NEW_AUTHTOK_REQD);
    pam_end(pamh, rc == PAM_SUCCESS ? acct : rc);
    if (ok)
        std::cout << "the login would succeed" << (acct == PAM_NEW_AUTHTOK_REQD ? " (after a password change)" : "")
                  << "\n";
    else
        std::cout << "the login would fail (" << (rc != PAM_SUCCESS ? "auth" : "account")
                  << "); keep the root shell open and read the log: journalctl -t authctl | grep pam_\n";
    return ok ? 0 : 1;
}

}  // namespace authctl::cli
