// SPDX-License-Identifier: Apache-2.0
#include "authctl/group_edit.hpp"

#include <algorithm>
#include <cerrno>
#include <grp.h>
#include <pwd.h>
#include <vector>

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
                          what + ": gpasswd did not finish within " + std::to_string((timeout_ms + 999) / 1000) + " s");
    if (run->exit_status == 0) return Ok{};
    std::string why = one_line(run->err);
    if (why.empty()) why = one_line(run->out);
    if (why.empty())
        why = run->exit_status < 0 ? "gpasswd was killed" : "gpasswd exited with " + std::to_string(run->exit_status);
    else if (why.rfind("gpasswd", 0) != 0)
        why = "gpasswd: " + why;
    return make_error(Errc::io, what + ": " + why);
}

// The reentrant lookups (this runs inside the module's host process, whose
// other threads or callers may use getgrnam/getpwnam's static buffers): the
// buffer grows on ERANGE up to kMaxNssBuffer, a group with more members than
// that reads as not found.
constexpr std::size_t kFirstNssBuffer = 4096;
constexpr std::size_t kMaxNssBuffer = 1U << 20;

template <typename Entry, typename Lookup>
bool nss_lookup(Lookup lookup, Entry& entry, std::vector<char>& buf)
{
    buf.assign(kFirstNssBuffer, '\0');
    for (;;) {
        Entry* found = nullptr;
        const int rc = lookup(&entry, buf.data(), buf.size(), &found);
        if (rc == 0) return found != nullptr;
        if (rc != ERANGE || buf.size() >= kMaxNssBuffer) return false;
        buf.assign(buf.size() * 2, '\0');
    }
}

bool find_group(const std::string& name, struct group& g, std::vector<char>& buf)
{
    return nss_lookup(
        [&](struct group* e, char* b, std::size_t n, struct group** out) {
            return ::getgrnam_r(name.c_str(), e, b, n, out);
        },
        g, buf);
}

}  // namespace

bool group_exists(const std::string& group)
{
    struct group g {};
    std::vector<char> buf;
    return find_group(group, g, buf);
}

bool is_member(const std::string& user, const std::string& group_name)
{
    struct group g {};
    std::vector<char> gbuf;
    if (!find_group(group_name, g, gbuf)) return false;
    for (char** m = g.gr_mem; m != nullptr && *m != nullptr; ++m)
        if (user == *m) return true;
    struct passwd pw {};
    std::vector<char> pbuf;
    const bool found = nss_lookup(
        [&](struct passwd* e, char* b, std::size_t n, struct passwd** out) {
            return ::getpwnam_r(user.c_str(), e, b, n, out);
        },
        pw, pbuf);
    return found && pw.pw_gid == g.gr_gid;
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
