// SPDX-License-Identifier: Apache-2.0
// main() for tests whose users come from tests/module/data through
// nss_wrapper, which must be preloaded before the process starts: re-exec
// with it when it is not. Children (authctl, google-authenticator) inherit it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv)
{
    if (std::getenv("NSS_WRAPPER_PASSWD") == nullptr) {
        ::setenv("NSS_WRAPPER_PASSWD", AUTHCTL_TEST_PASSWD, 1);
        ::setenv("NSS_WRAPPER_GROUP", AUTHCTL_TEST_GROUP, 1);
        // RTLD_DEEPBIND (nss_wrapper's default for loading libc) is refused by AddressSanitizer.
        ::setenv("NSS_WRAPPER_DISABLE_DEEPBIND", "1", 1);
        std::string preload = AUTHCTL_NSS_WRAPPER;
        if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0')
            preload += std::string(":") + old;
        ::setenv("LD_PRELOAD", preload.c_str(), 1);
        // Under AddressSanitizer the wrapper is loaded ahead of the runtime; that is intended.
        std::string asan = "verify_asan_link_order=0";
        if (const char* old = std::getenv("ASAN_OPTIONS"); old != nullptr && *old != '\0')
            asan += std::string(":") + old;
        ::setenv("ASAN_OPTIONS", asan.c_str(), 1);
        ::execv("/proc/self/exe", argv);
        std::perror("re-exec with nss_wrapper");
        return 1;
    }
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
