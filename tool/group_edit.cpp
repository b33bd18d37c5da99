// SPDX-License-Identifier: Apache-2.0
#include "group_edit.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <grp.h>
#include <pwd.h>

namespace authctl::cli {
namespace {

Status run_gpasswd(const char* flag, const std::string& user, const std::string& group)
{
    const pid_t pid = ::fork();
    if (pid < 0) return make_error(Errc::io, std::string("cannot run gpasswd: ") + std::strerror(errno));
    if (pid == 0) {
        const char* argv[] = {"gpasswd", flag, user.c_str(), group.c_str(), nullptr};
        ::execv("/usr/bin/gpasswd", const_cast<char* const*>(argv));
        ::_exit(127);
    }
    int ws = 0;
    while (::waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) return make_error(Errc::io, "cannot wait for gpasswd");
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        return make_error(Errc::io, std::string("gpasswd ") + flag + " " + user + " " + group + " failed");
    return Ok{};
}

}  // namespace

bool group_exists(const std::string& group)
{
    return ::getgrnam(group.c_str()) != nullptr;
}

bool is_member(const std::string& user, const std::string& group_name)
{
    const struct group* g = ::getgrnam(group_name.c_str());
    if (g == nullptr) return false;
    const gid_t gid = g->gr_gid;
    for (char** m = g->gr_mem; m != nullptr && *m != nullptr; ++m)
        if (user == *m) return true;
    const passwd* pw = ::getpwnam(user.c_str());
    return pw != nullptr && pw->pw_gid == gid;
}

Status add_to_group(const std::string& user, const std::string& group)
{
    return run_gpasswd("-a", user, group);
}

Status remove_from_group(const std::string& user, const std::string& group)
{
    return run_gpasswd("-d", user, group);
}

}  // namespace authctl::cli
