// SPDX-License-Identifier: Apache-2.0
// core's model of libpam's dispatch (pam_stack::run_once, the engine of
// `authctl doctor`'s path analysis) held against libpam itself: random auth
// stacks of pam_debug.so lines (each returning a chosen value), with keyword
// and [value=action] controls, jumps, reset and substacks, run through
// pam_start_confdir + pam_authenticate; the model must give libpam's answer
// for every one.
#include <gtest/gtest.h>

#include <security/pam_appl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <vector>

#include "authctl/pam_stack.hpp"

namespace {

using namespace authctl::pam_stack;

int no_conversation(int, const struct pam_message**, struct pam_response**, void*)
{
    return PAM_CONV_ERR;
}

struct Gen {
    std::mt19937 rng{18};
    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }

    std::string value()
    {
        static const char* v[] = {"success", "auth_err", "ignore", "user_unknown", "new_authtok_reqd", "maxtries"};
        return v[pick(6)];
    }
    std::string control()
    {
        static const char* keywords[] = {"required", "requisite", "sufficient", "optional"};
        if (pick(2) == 0) return keywords[pick(4)];
        static const char* actions[] = {"ok", "done", "bad", "die", "ignore", "reset", "1", "2", "3"};
        std::string c = "[";
        const int n = 1 + pick(3);
        for (int i = 0; i < n; ++i)
            c += (i ? " " : "") + (pick(4) == 0 ? std::string("default") : value()) + "=" + actions[pick(9)];
        return c + "]";
    }
    // libpam 1.5 looks for a substack named without a path in /etc/pam.d,
    // even under pam_start_confdir: `sub` is named by its full path.
    std::string stack(int lines, const std::string& sub)
    {
        std::string s;
        for (int i = 0; i < lines; ++i) {
            if (!sub.empty() && pick(5) == 0)
                s += "auth substack " + sub + "\n";
            else
                s += "auth " + control() + " pam_debug.so auth=" + value() + "\n";
        }
        return s;
    }
};

TEST(PamStackAgainstLibpam, RandomStacksGiveLibpamsAnswer)
{
    if (!std::filesystem::exists("/usr/lib/x86_64-linux-gnu/security/pam_debug.so") &&
        !std::filesystem::exists("/lib/x86_64-linux-gnu/security/pam_debug.so") &&
        !std::filesystem::exists("/usr/lib64/security/pam_debug.so"))
        GTEST_SKIP() << "pam_debug.so not installed";
    char tmpl[] = "/tmp/pam_stack_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    Gen gen;
    Sources src;
    src.dir_label = dir;
    src.read = [&](const std::string& name) -> std::optional<std::string> {
        std::ifstream in(name[0] == '/' ? name : dir + "/" + name);
        if (!in) return std::nullopt;
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    };
    src.module_exists = [](const std::string&) { return true; };
    int successes = 0, disagreements = 0;
    constexpr int kRuns = 600;
    for (int run = 0; run < kRuns && disagreements < 5; ++run) {
        const std::string svc = gen.stack(1 + gen.pick(7), dir + "/sub");
        const std::string sub = gen.stack(1 + gen.pick(3), "");
        std::ofstream(dir + "/svc") << svc;
        std::ofstream(dir + "/sub") << sub;

        pam_conv conv{no_conversation, nullptr};
        pam_handle_t* pamh = nullptr;
        ASSERT_EQ(pam_start_confdir("svc", "nobody", &conv, dir.c_str(), &pamh), PAM_SUCCESS);
        const int rc = pam_authenticate(pamh, PAM_SILENT);
        pam_end(pamh, rc);

        const Service service = load_service("svc", src);
        const bool model = run_once(service.stacks[0], Facility::auth, [](const ModuleLine& m) {
            for (const auto& a : m.args)
                if (a.rfind("auth=", 0) == 0) return return_value(a.substr(5)).value_or(kPamAuthErr);
            return kPamAuthErr;
        });
        successes += rc == PAM_SUCCESS ? 1 : 0;
        if (model != (rc == PAM_SUCCESS)) {
            ++disagreements;
            ADD_FAILURE() << "libpam says " << pam_strerror(nullptr, rc) << ", the model "
                          << (model ? "success" : "failure") << "\nsvc:\n"
                          << svc << "sub:\n"
                          << sub;
        }
    }
    std::filesystem::remove_all(dir);
    // Both answers must occur, or the stacks test nothing.
    EXPECT_GT(successes, kRuns / 20);
    EXPECT_LT(successes, kRuns - kRuns / 20);
}

}  // namespace
