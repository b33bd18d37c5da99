// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the configuration parser, both front ends. The input is
// the text of an authctl.conf; each of its lines is also given as a PAM module
// argument. Whatever is accepted must leave the options inside their
// documented ranges.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "authctl/options.hpp"
#include "authctl/otp.hpp"
#include "authctl/text.hpp"

namespace {

void require(bool ok, const char* what)
{
    if (ok) return;
    std::fprintf(stderr, "fuzz_config: property failed: %s\n", what);
    __builtin_trap();
}

void check_ranges(const authctl::Options& o)
{
    using namespace authctl;
    require(!o.dir.empty() && o.dir.front() == '/' && o.dir.size() <= 4096 && !has_control(o.dir),
            "dir is an absolute path without control characters");
    require(!o.prompt.empty() && o.prompt.size() <= 256 && !has_control(o.prompt) && valid_utf8(o.prompt),
            "prompt is 1..256 printable UTF-8 bytes");
    require(o.lockout.deny <= kMaxDeny, "deny <= kMaxDeny");
    require(o.lockout.fail_interval >= 1 && o.lockout.fail_interval <= kMaxInterval, "fail_interval in range");
    require(o.lockout.unlock_time <= kMaxInterval, "unlock_time in range");
    require(o.lockout.root_unlock_time <= kMaxInterval, "root_unlock_time in range");
    require(!o.lockout.root_unlock_time_set || o.lockout.even_deny_root, "root_unlock_time implies even_deny_root");
    require(o.window <= kMaxWindow, "window <= kMaxWindow");
    require(o.hotp_window <= 2 * kMaxWindow, "hotp_window <= 2 * kMaxWindow");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    authctl::Options file_opts;
    if (authctl::apply_config_text(file_opts, text, "fuzz.conf")) check_ranges(file_opts);

    authctl::Options arg_opts;
    std::string_view rest = text;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        (void)authctl::apply_argument(arg_opts, line);  // a bad argument leaves the others applied
    }
    check_ranges(arg_opts);
    return 0;
}
