// SPDX-License-Identifier: Apache-2.0
#include "authctl/group_edit.hpp"

#include <algorithm>
#include <grp.h>
#include <pwd.h>

#include "authctl/run_program.hpp"

namespace authctl {
namespace {

Status run_gpasswd(const char* flag, const std::string& user, const std::string& group, const std::string& what,
                   int timeout_ms)
{
    auto run = run_program("/usr/bin/gpasswd", {"gpasswd", flag, user, group}, timeout_ms, 4096);
    if (!run) return make_error(Errc::io, what + ": " + run.error().message());
    if (run->timed_out)
        return make_error(Errc::io,
                          what + ": gpasswd did not finish within " + std::to_string(timeout_ms / 1000) + " s");
    if (run->exit_status == 0) return Ok{};
    std::string why = one_line(run->err);
    if (why.empty()) why = one_line(run->out);
    if (why.empty())
        why = run->exit_status < 0 ? "gpasswd was killed" : "gpasswd exited with " + std::to_string(run->exit_status);
    else if (why.rfind("gpasswd", 0) != 0)
        why = "gpasswd: " + why;
    return make_error(Errc::io, what + ": " + why);
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

Status add_to_group(const std::string& user, const std::string& group, int timeout_ms)
{
    return run_gpasswd("-a", user, group, "could not add " + user + " to group " + group, timeout_ms);
}

Status remove_from_group(const std::string& user, const std::string& group, int timeout_ms)
{
    return run_gpasswd("-d", user, group, "could not remove " + user + " from group " + group, timeout_ms);
}

GroupUndo undo_granted_groups(const std::string& user, const std::vector<std::string>& granted)
{
    GroupUndo u;
    for (const auto& g : granted) {
        if (!is_member(user, g)) continue;
        if (auto st = remove_from_group(user, g); !st) {
            u.failed.push_back(g);
            u.errors.push_back(st.error().detail);
        } else {
            u.removed.push_back(g);
        }
    }
    for (const auto& g : kAdminGroups)
        if (std::find(u.failed.begin(), u.failed.end(), g) == u.failed.end() && is_member(user, g)) u.kept.push_back(g);
    return u;
}

}  // namespace authctl
