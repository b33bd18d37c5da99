// SPDX-License-Identifier: Apache-2.0
#include "authctl/fleet_config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <vector>

#include "authctl/file_util.hpp"
#include "authctl/text.hpp"

namespace authctl::fleet {
namespace {

constexpr std::size_t kMaxFleetConfigBytes = std::size_t{64} * 1024;
constexpr std::size_t kMaxPathBytes = 4096;
constexpr std::size_t kMaxSocketPathBytes = 107;  // sun_path, less its NUL
constexpr std::size_t kMaxListBytes = 1024;       // host and port lists
constexpr std::size_t kMaxNameBytes = 63;         // PostgreSQL identifiers (NAMEDATALEN - 1)
constexpr unsigned kMaxSeconds = 60;
constexpr unsigned kMaxPool = 64;

enum Key : std::size_t {
    kHost,
    kPort,
    kDbname,
    kUser,
    kPasswordFile,
    kSslmode,
    kSslrootcert,
    kSslcert,
    kSslkey,
    kTargetSessionAttrs,
    kKeyFile,
    kSocket,
    kTimeout,
    kConnectTimeout,
    kPool,
    kKeyCount,
};

constexpr std::array<std::string_view, kKeyCount> kKeyNames = {
    "host",          "port",
    "dbname",        "user",
    "password_file", "sslmode",
    "sslrootcert",   "sslcert",
    "sslkey",        "target_session_attrs",
    "key_file",      "socket",
    "timeout",       "connect_timeout",
    "pool",
};

Error bad_value(Key key, const std::string& why)
{
    return make_error(Errc::invalid_argument, "'" + std::string(kKeyNames[key]) + "' " + why);
}

std::string quoted(std::string_view value)
{
    return "'" + std::string(value) + "'";
}

// The comma-separated entries of a libpq list ("a,b" gives "a" and "b").
std::vector<std::string_view> split_list(std::string_view s)
{
    std::vector<std::string_view> out;
    for (;;) {
        const auto comma = s.find(',');
        out.push_back(s.substr(0, comma));
        if (comma == std::string_view::npos) return out;
        s = s.substr(comma + 1);
    }
}

Status set_path(std::string& target, Key key, std::string_view value, std::size_t max)
{
    if (value.empty() || value.front() != '/' || value.size() > max || has_control(value))
        return bad_value(key,
                         "must be an absolute path of at most " + std::to_string(max) + " bytes, not " + quoted(value));
    target = std::string(value);
    return Ok{};
}

Status set_number(unsigned& target, Key key, std::string_view value, unsigned min, unsigned max)
{
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || v < min || v > max)
        return bad_value(key, "must be a number from " + std::to_string(min) + " to " + std::to_string(max) + ", not " +
                                  quoted(value));
    target = v;
    return Ok{};
}

Status set_name(std::string& target, Key key, std::string_view value)
{
    // No '=': libpq would read a dbname holding one as a whole connection string.
    if (value.empty() || value.size() > kMaxNameBytes || has_control(value) ||
        value.find_first_of(" =") != std::string_view::npos || value.find("://") != std::string_view::npos)
        return bad_value(key, "must be 1 to " + std::to_string(kMaxNameBytes) +
                                  " bytes without spaces, '=' or '://', not " + quoted(value));
    target = std::string(value);
    return Ok{};
}

Status set_hosts(std::string& target, std::string_view value)
{
    if (value.empty() || value.size() > kMaxListBytes)
        return bad_value(kHost, "must be a list of 1 to " + std::to_string(kMaxListBytes) + " bytes");
    for (const auto host : split_list(value)) {
        if (host.empty() || has_control(host) || host.find(' ') != std::string_view::npos)
            return bad_value(kHost, "must be host names separated by commas, not " + quoted(value));
        // libpq never uses TLS on a Unix socket: sslmode would not apply.
        if (host.front() == '/' || host.front() == '@')
            return bad_value(kHost, "names a Unix socket (" + quoted(host) + "): the store is reached over TLS only");
    }
    target = std::string(value);
    return Ok{};
}

Status set_ports(std::string& target, std::string_view value)
{
    if (value.size() > kMaxListBytes)
        return bad_value(kPort, "must be a list of at most " + std::to_string(kMaxListBytes) + " bytes");
    for (const auto port : split_list(value)) {
        unsigned v = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
        if (port.empty() || ec != std::errc() || end != port.data() + port.size() || v < 1 || v > 65535)
            return bad_value(
                kPort, "must be a port from 1 to 65535, or one per host separated by commas, not " + quoted(value));
    }
    target = std::string(value);
    return Ok{};
}

Status apply_key(FleetConfig& cfg, Key key, std::string_view value)
{
    switch (key) {
        case kHost: return set_hosts(cfg.host, value);
        case kPort: return set_ports(cfg.port, value);
        case kDbname: return set_name(cfg.dbname, key, value);
        case kUser: return set_name(cfg.user, key, value);
        case kPasswordFile: return set_path(cfg.password_file, key, value, kMaxPathBytes);
        case kSslrootcert: return set_path(cfg.sslrootcert, key, value, kMaxPathBytes);
        case kSslcert: return set_path(cfg.sslcert, key, value, kMaxPathBytes);
        case kSslkey: return set_path(cfg.sslkey, key, value, kMaxPathBytes);
        case kKeyFile: return set_path(cfg.key_file, key, value, kMaxPathBytes);
        case kSocket: return set_path(cfg.socket, key, value, kMaxSocketPathBytes);
        case kSslmode:
            // verify-ca would let any host with a certificate from the same CA
            // pose as the database (and collect the password): the name must match.
            if (value != "verify-full")
                return bad_value(key, "must be verify-full (the server's name checked; nothing weaker), not " +
                                          quoted(value));
            cfg.sslmode = std::string(value);
            return Ok{};
        case kTargetSessionAttrs:
            // Reads decide too (the lock check of a key login): a standby that
            // lags would answer "not locked", so only the writable primary will do.
            if (value == "any" || value == "primary" || value == "standby" || value == "prefer-standby" ||
                value == "read-only")
                return bad_value(key, "cannot be " + quoted(value) +
                                          ": every decision, reads included, needs the writable primary (read-write)");
            if (value != "read-write") return bad_value(key, "must be read-write, not " + quoted(value));
            cfg.target_session_attrs = std::string(value);
            return Ok{};
        case kTimeout: return set_number(cfg.timeout, key, value, 1, kMaxSeconds);
        case kConnectTimeout: return set_number(cfg.connect_timeout, key, value, 1, kMaxSeconds);
        case kPool: return set_number(cfg.pool, key, value, 1, kMaxPool);
        case kKeyCount: break;
    }
    return make_error(Errc::invalid_argument, "unknown key");
}

std::string at_line(std::string_view origin, std::size_t line_no)
{
    return std::string(origin) + (line_no != 0 ? ":" + std::to_string(line_no) : std::string()) + ": ";
}

// The rules between keys, once every line is read. `lines[k]` is the line
// that set key k (0: not set), for the error.
Status check_whole(const FleetConfig& cfg, const std::array<std::size_t, kKeyCount>& lines, std::string_view origin)
{
    const auto fail = [&](std::size_t line_no, const std::string& why) -> Status {
        return make_error(Errc::invalid_argument, at_line(origin, line_no) + why);
    };
    if (lines[kHost] == 0) return fail(0, "'host' is required");
    if (lines[kSslrootcert] == 0) return fail(0, "'sslrootcert' is required (the CA of the database's certificate)");
    const std::size_t hosts = split_list(cfg.host).size();
    const std::size_t ports = split_list(cfg.port).size();
    if (ports != 1 && ports != hosts)
        return fail(lines[kPort], "'port' lists " + std::to_string(ports) + " ports for " + std::to_string(hosts) +
                                      " hosts: give one port, or one per host");
    if (cfg.connect_timeout > cfg.timeout)
        return fail(std::max(lines[kTimeout], lines[kConnectTimeout]),
                    "'connect_timeout' (" + std::to_string(cfg.connect_timeout) + ") must not exceed 'timeout' (" +
                        std::to_string(cfg.timeout) + ")");
    if (cfg.sslcert.empty() != cfg.sslkey.empty())
        return cfg.sslcert.empty() ? fail(lines[kSslkey], "'sslkey' needs 'sslcert' too")
                                   : fail(lines[kSslcert], "'sslcert' needs 'sslkey' too");
    if (cfg.password_file.empty() && cfg.sslcert.empty())
        return fail(0, "no credentials: set 'password_file', or 'sslcert' and 'sslkey'");
    return Ok{};
}

}  // namespace

Result<FleetConfig> parse_fleet_config(std::string_view text, std::string_view origin)
{
    FleetConfig cfg;
    std::array<std::size_t, kKeyCount> lines{};
    ConfigLines config_lines(text, origin);
    while (config_lines.next()) {
        const std::string_view line = config_lines.line();
        const std::size_t line_no = config_lines.number();
        const auto where = config_lines.where();
        const auto eq = line.find('=');
        const std::string_view name = trim(line.substr(0, eq));
        const std::string_view value = eq == std::string_view::npos ? std::string_view{} : trim(line.substr(eq + 1));
        // Spaces and tabs around '=' are layout; a control byte anywhere else is refused.
        if (has_control(name) || has_control(value))
            return make_error(Errc::invalid_argument, where + "control character in line");
        if (eq == std::string_view::npos || name.empty())
            return make_error(Errc::invalid_argument, where + "expected 'key = value', not " + quoted(line));
        std::size_t k = 0;
        while (k < kKeyCount && kKeyNames[k] != name) ++k;
        if (k == kKeyCount) return make_error(Errc::invalid_argument, where + "unknown key " + quoted(name));
        const Key key = static_cast<Key>(k);
        if (lines[key] != 0)
            return make_error(Errc::invalid_argument, where + quoted(name) + " is set twice (first on line " +
                                                          std::to_string(lines[key]) + ")");
        if (auto st = apply_key(cfg, key, value); !st) return make_error(st.error().code, where + st.error().detail);
        lines[key] = line_no;
    }
    if (auto st = check_whole(cfg, lines, origin); !st) return st.error();
    return cfg;
}

Result<FleetConfig> load_fleet_config(const std::string& path)
{
    // It names the database and the files holding its credentials: root_private.
    auto text = read_trusted_file(AT_FDCWD, path, kMaxFleetConfigBytes, FileTrust::root_private);
    if (!text) return text.error();
    return parse_fleet_config(text->view(), path);
}

void scrub_pg_environment() noexcept
{
    // Names first, then unsetenv: unsetenv rearranges environ under our feet.
    // Out of memory here ends the process (noexcept), rather than leave a
    // PG* variable in place for libpq to read. Like any environment change,
    // it must run before the process starts threads.
    std::vector<std::string> names;
    for (char** env = environ; env != nullptr && *env != nullptr; ++env) {
        const std::string_view entry(*env);
        if (entry.substr(0, 2) == "PG") names.emplace_back(entry.substr(0, entry.find('=')));
    }
    for (const auto& name : names) ::unsetenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): see above
}

}  // namespace authctl::fleet
