// SPDX-License-Identifier: Apache-2.0
// sshd's configuration judged from its effective settings: the text `sshd -T`
// prints (and `sshd -T -C user=...,host=...,addr=...` for a Match block), and
// the config files only to say where a setting is. Pure functions of text;
// running sshd is the CLI's job.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "authctl/doctor.hpp"

namespace authctl::sshd_check {

// "keyword value..." lines of `sshd -T`, keywords lower case; the first line
// of each keyword.
using Effective = std::map<std::string, std::string>;
Effective parse_effective(const std::string& text);

// A config file as sshd reads it (path as reported, and its text).
struct ConfigFile {
    std::string path;
    std::string text;
    unsigned included_at = 0;  // the Include line of files[parent] that reads it (0: the main file, files[0])
    std::size_t parent = 0;    // the file holding that Include line (files[0] for the main file's drop-ins)
};

// sshd's own bound on nested Include (servconf.c SERVCONF_MAX_DEPTH).
inline constexpr unsigned kMaxIncludeDepth = 16;

// The patterns of the text's Include lines, in order, each made absolute the
// way sshd does (relative to /etc/ssh), with their line; in_match for one
// inside a Match block (its settings apply only there).
struct Include {
    unsigned line;
    std::string pattern;
    bool in_match = false;
};
std::vector<Include> include_patterns(const std::string& text);

// The text with every Include pattern moved under `root` (for `doctor
// --root`: sshd then reads the root's drop-ins, not this host's). Line
// numbers are kept.
std::string rewrite_includes(const std::string& text, const std::string& root);

struct MatchBlock {
    std::string file;
    unsigned line = 0;
    std::string criteria;  // as written after "Match"
    std::string probe;     // the -C argument that makes sshd apply the block ("" when none could be made)
    std::string why_not;   // why no probe could be made
};

// The Match blocks of the files (in sshd's reading order) and, for each, a
// connection that matches it: a user (for Group, a member `member_of` names;
// nullopt when the group has none), a host and an address. Negated patterns
// are left to the default values.
std::vector<MatchBlock> match_blocks(const std::vector<ConfigFile>& files,
                                     const std::function<std::optional<std::string>(const std::string&)>& member_of);

struct Location {
    std::string file;
    unsigned line = 0;  // 0: not set anywhere (a default)
};
// Where `keyword` is set: inside `block` if it is set there, else the first
// line outside any Match block in sshd's reading order (the main file, each
// Include's files where the Include is): sshd keeps the first value it reads.
Location locate(const std::vector<ConfigFile>& files, const std::string& keyword, const MatchBlock* block);

// "FILE line N: message" from `sshd -t`'s errors, as a location (line 0 when none).
Location error_location(const std::string& sshd_errors);

struct Context {
    bool module_for_sshd = false;   // sshd's PAM auth stack asks pam_authctl.so for a code
    bool other_credential = false;  // ... and also takes a secret of its own (pam_unix's password)
    bool root_never_locked = true;  // authctl.conf sets neither even_deny_root nor root_unlock_time
};

// The findings for one effective configuration: the global one (block ==
// nullptr) or a Match block's. ids: sshd.usepam_disabled,
// sshd.kbd_interactive_disabled, sshd.single_factor, sshd.password_login_code_only,
// sshd.code_alone, sshd.permit_empty_passwords, sshd.root_login_unlocked.
std::vector<doctor::Finding> check(const Effective& eff, const std::vector<ConfigFile>& files, const MatchBlock* block,
                                   const Context& ctx);

}  // namespace authctl::sshd_check
