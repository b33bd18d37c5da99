// SPDX-License-Identifier: Apache-2.0
// /etc/pam.d as libpam reads it, and what its stacks let through.
//
// load_service() reads one service's file the way libpam 1.5 does: '#'
// comments, '\' continuations, `@include FILE` (every facility of FILE),
// `include` and `substack` (one facility), `[value=action ...]` controls with
// the keywords' meanings (required, requisite, sufficient, optional), a
// leading '-' (which only hides a load error from the log: the line still
// returns PAM_MODULE_UNKNOWN), a missing module file (PAM_MODULE_UNKNOWN) and
// a line libpam cannot read (it fails every time). The result is each
// facility's lines flattened as libpam stacks them, substacks one level down.
//
// analyze() then runs each stack as pam_dispatch.c does -- impression and
// status, ok/done/bad/die/ignore/reset and jumps over N lines, done/die ending
// only the substack they are in -- over every outcome of every module
// (success, failure, ignore, as far as that module can return them), and
// reports every success of the auth stack that did not pass pam_authctl's code
// (a sufficient or [success=done] module before it, a jump over it, its
// failure tolerated, nullok with no other credential), preauth that does not
// end the stack, authsucc before the code, the account line missing or
// bypassed, and console or cron logins that a configuration error of the
// module would break. Pure: files come through Sources.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "authctl/doctor.hpp"

namespace authctl::pam_stack {

enum class Facility { auth, account, password, session };
inline constexpr std::size_t kFacilities = 4;
const char* facility_text(Facility f) noexcept;

// PAM's return values, in pam.conf(5)'s order (PAM_SUCCESS = 0 ... PAM_INCOMPLETE = 31).
inline constexpr std::size_t kReturnValues = 32;
inline constexpr int kPamSuccess = 0;
inline constexpr int kPamPermDenied = 6;  // libpam's PAM_MUST_FAIL_CODE
inline constexpr int kPamAuthErr = 7;
inline constexpr int kPamIgnore = 25;
inline constexpr int kPamModuleUnknown = 28;

// An action of a control: a jump over N lines (N > 0) or one of these.
inline constexpr int kActionIgnore = 0;
inline constexpr int kActionOk = -1;
inline constexpr int kActionDone = -2;
inline constexpr int kActionBad = -3;
inline constexpr int kActionDie = -4;
inline constexpr int kActionReset = -5;

// Parses a control as libpam does: a keyword (required, requisite, sufficient,
// optional) or "[value=action ...]" with default=. nullopt when libpam would
// reject it (`why` says what is wrong).
std::optional<std::array<int, kReturnValues>> parse_control(const std::string& control, std::string& why);

struct ModuleLine {
    std::string file;  // as reported: "/etc/pam.d/sshd"
    unsigned line = 0;
    Facility facility = Facility::auth;
    std::string control;  // as written
    std::array<int, kReturnValues> actions{};
    std::string module;  // as written ("pam_unix.so", "/lib/security/x.so")
    std::vector<std::string> args;
    bool silent = false;    // the type had a leading '-'
    bool missing = false;   // the module file is not where libpam looks
    bool faulty = false;    // libpam cannot use the line: it fails every time
    std::string fault;      // why, for a faulty line
    unsigned level = 0;     // substack depth
    bool substack = false;  // opens a substack: its lines follow one level down
};

struct Service {
    std::string name;
    std::string file;  // the service's own file, as reported
    std::array<std::vector<ModuleLine>, kFacilities> stacks;
    std::vector<std::string> included;  // files it includes (names as written), for "is this a service"
};

struct Sources {
    std::string dir_label = "/etc/pam.d";  // how files are named in findings
    // The text of a file of the PAM directory (a name as written after
    // @include / include / substack, or a service name; absolute names are
    // taken as they are); nullopt when it cannot be read.
    std::function<std::optional<std::string>(const std::string& name)> read;
    // Whether libpam finds the module: a name as written (relative: in the module directory).
    std::function<bool(const std::string& module)> module_exists;
};

// One service as libpam loads it. `name` is a file of the PAM directory.
Service load_service(const std::string& name, const Sources& src);

struct Context {
    bool conf_nullok = false;  // authctl.conf sets nullok (for the file store: the module honours it)
};

// The module's name on a line: "pam_authctl.so" for "/lib/x/security/pam_authctl.so" too.
std::string module_base(const std::string& module);

// Whether the service's auth stack has pam_authctl asking for a code (no
// preauth/authfail/authsucc argument), anywhere.
bool asks_code(const Service& svc);

// Whether the auth stack has a module other than pam_authctl that takes a
// secret (pam_unix, pam_sss, ...): the stack asks for more than the code.
bool has_other_credential(const Service& svc);

// The return value a pam.conf(5) value name stands for ("auth_err" -> 7).
std::optional<int> return_value(const std::string& name);

// Runs `stack` once, as pam_dispatch.c does, each line's module returning
// `result(line)`: whether libpam's answer would be PAM_SUCCESS. (What
// analyze() does for every outcome; the tests hold it against libpam itself.)
bool run_once(const std::vector<ModuleLine>& stack, Facility f, const std::function<int(const ModuleLine&)>& result);

// Every finding for one service (see the file comment); ids in docs/authctl.md.
std::vector<doctor::Finding> analyze(const Service& svc, const Context& ctx);

}  // namespace authctl::pam_stack
