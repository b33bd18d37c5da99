// SPDX-License-Identifier: Apache-2.0
// The authctl CLI end to end, as an administrator runs it: each command
// against a temporary --dir, codes from oathtool, QR codes read back by
// zbarimg, files written by the real google-authenticator tool, and the
// module through libpam to show both sides see the same state.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <pwd.h>
#include <sstream>

#include "authctl/admin.hpp"
#include "authctl/base32.hpp"
#include "authctl/enrollment.hpp"
#include "authctl/otp.hpp"
#include "authctl/store.hpp"
#include "pam_harness.hpp"

namespace authctl {
namespace {

using test::CmdResult;
using test::run_cmd;

std::string oathtool_totp(const std::string& b32, std::int64_t at, const char* algo = "sha1", int digits = 6,
                          int period = 30)
{
    int status = 0;
    std::string out = test::run({"oathtool", "-b", std::string("--totp=") + algo, "-d", std::to_string(digits), "-s",
                                 std::to_string(period) + "s", "-N", "@" + std::to_string(at), "-"},
                                b32 + "\n", status);
    EXPECT_EQ(status, 0);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::string oathtool_hotp(const std::string& b32, std::uint64_t counter)
{
    int status = 0;
    std::string out = test::run({"oathtool", "-b", "--hotp", "-c", std::to_string(counter), "-"}, b32 + "\n", status);
    EXPECT_EQ(status, 0);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// zbarimg's reading of an image: the decoded text, or "" when it finds no code.
std::string zbar(const std::string& image)
{
    const CmdResult r = run_cmd({"zbarimg", "--quiet", "--raw", image});
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return r.code == 0 ? out : "";
}

class Cli : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(::geteuid(), 0U);
        ASSERT_NE(::getpwnam("alice"), nullptr) << "nss_wrapper is not active";
        for (const char* tool : {"oathtool", "zbarimg", "google-authenticator"})
            ASSERT_TRUE(test::have_program(tool)) << tool << " is not installed (scripts/test installs it)";
        state_ = tmp_ / "state";
        conf_ = tmp_ / "authctl.conf";
        test::write_file(conf_, "# test\n", 0644);
    }

    CmdResult authctl(std::vector<std::string> args, const std::string& input = "")
    {
        args.insert(args.begin(), AUTHCTL_CLI);
        // --dir/--conf belong to the subcommand: after the (last) subcommand word.
        std::size_t at = 2;
        if (args.size() > 2 && args[1] == "import") at = 3;
        if (args.size() >= at) {
            args.insert(args.begin() + static_cast<std::ptrdiff_t>(at), {"--dir", state_, "--conf", conf_});
        }
        return run_cmd(args, input);
    }

    nlohmann::json enroll_json(const std::string& user, std::vector<std::string> extra = {})
    {
        std::vector<std::string> args = {"enroll", "-u", user, "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        const CmdResult r = authctl(args);
        EXPECT_EQ(r.code, 0) << r.err;
        return nlohmann::json::parse(r.out);
    }

    // One user's status; its exit code must say whether the user is locked,
    // from everywhere or from one of its sources (authctl(8)).
    nlohmann::json status_json(const std::string& user)
    {
        const CmdResult r = authctl({"status", "-u", user, "--json"});
        const auto j = nlohmann::json::parse(r.out).at(0);
        bool locked = j.at("locked").get<bool>();
        for (const auto& s : j.at("sources")) locked = locked || s.at("locked").get<bool>();
        EXPECT_EQ(r.code, locked ? 1 : 0) << r.err;
        return j;
    }

    // The per-source entry of a status row, or null.
    static nlohmann::json source_entry(const nlohmann::json& row, const std::string& key)
    {
        for (const auto& s : row.at("sources"))
            if (s.at("source") == key) return s;
        return nullptr;
    }

    // authctl import faillock, with its own --from and --conf (no --dir).
    CmdResult import_faillock(const std::string& from, std::vector<std::string> extra = {})
    {
        std::vector<std::string> args = {AUTHCTL_CLI, "import", "faillock", "--from", from, "--conf", conf_};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_cmd(args);
    }

    std::string stack()
    {
        const std::string confdir = tmp_ / "pam.d";
        ::mkdir(confdir.c_str(), 0755);
        const std::string m = std::string(AUTHCTL_PAM_MODULE) + " dir=" + state_ + " conf=" + conf_ + " nodelay";
        test::write_file(confdir + "/cli-test", "auth required " + m + "\naccount required " + m + "\n", 0644);
        return confdir;
    }

    test::TempDir tmp_;
    std::string state_, conf_;
};

TEST_F(Cli, EnrollThenAnOathtoolCodeVerifiesAndCannotBeReplayed)
{
    const auto j = enroll_json("alice");
    EXPECT_EQ(j.at("user"), "alice");
    EXPECT_EQ(j.at("type"), "totp");
    EXPECT_EQ(j.at("recovery_codes").size(), 10U);
    const std::string secret = j.at("secret");
    EXPECT_EQ(secret.size(), 32U) << "160 bits";
    EXPECT_NE(j.at("uri").get<std::string>().find("secret=" + secret), std::string::npos);
    const std::string code = oathtool_totp(secret, std::time(nullptr) + 30);  // next step: valid for the whole window
    CmdResult v = authctl({"verify", "-u", "alice", code});
    EXPECT_EQ(v.code, 0) << v.err;
    EXPECT_EQ(v.out, "alice: code accepted\n");
    v = authctl({"verify", "-u", "alice", code});
    EXPECT_EQ(v.code, 1);
    EXPECT_NE(v.err.find("alice: code already used (1 failure); wait for the next one"), std::string::npos) << v.err;
    const CmdResult vj = authctl({"verify", "-u", "alice", "--json", code});
    EXPECT_EQ(vj.code, 1);
    const auto replay = nlohmann::json::parse(vj.out);
    EXPECT_TRUE(replay.at("replayed").get<bool>());
    EXPECT_FALSE(replay.at("accepted").get<bool>());
    EXPECT_EQ(replay.at("failures"), 2);
    const CmdResult wrong = authctl({"verify", "-u", "alice", "--json", "00000a"});
    EXPECT_FALSE(nlohmann::json::parse(wrong.out).at("replayed").get<bool>());
    EXPECT_TRUE(status_json("alice").at("confirmed").get<bool>());
}

// What scripts and fingers do: --version, a mistyped command, an option
// error (pointing at the command's own help), common options first.
TEST_F(Cli, VersionTyposOptionErrorsAndCommonOptionsBeforeTheCommand)
{
    const CmdResult version = run_cmd({AUTHCTL_CLI, "--version"});
    EXPECT_EQ(version.code, 0);
    EXPECT_EQ(version.out, "authctl " AUTHCTL_TEST_VERSION "\n");

    const CmdResult typo = run_cmd({AUTHCTL_CLI, "stats"});
    EXPECT_EQ(typo.code, 2);
    EXPECT_EQ(typo.out, "");
    EXPECT_EQ(std::count(typo.err.begin(), typo.err.end(), '\n'), 1) << typo.err;
    EXPECT_EQ(typo.err.rfind("authctl: unknown command 'stats' (did you mean 'status'?); commands: enroll,", 0), 0U)
        << typo.err;
    const CmdResult nothing_close = run_cmd({AUTHCTL_CLI, "frobnicate"});
    EXPECT_EQ(nothing_close.code, 2);
    EXPECT_EQ(nothing_close.err.find("did you mean"), std::string::npos) << nothing_close.err;

    const CmdResult bad_option = run_cmd({AUTHCTL_CLI, "status", "--bogus"});
    EXPECT_EQ(bad_option.code, 2);
    EXPECT_NE(bad_option.err.find("--bogus"), std::string::npos) << bad_option.err;
    EXPECT_NE(bad_option.err.find("(see authctl status --help)"), std::string::npos) << bad_option.err;
    const CmdResult bad_fleet = run_cmd({AUTHCTL_CLI, "fleet", "init", "--bogus"});
    EXPECT_NE(bad_fleet.err.find("(see authctl fleet init --help)"), std::string::npos) << bad_fleet.err;

    enroll_json("alice");
    const CmdResult after = run_cmd({AUTHCTL_CLI, "status", "-u", "alice", "--dir", state_, "--conf", conf_, "--json"});
    ASSERT_EQ(after.code, 0) << after.err;
    for (const std::vector<std::string>& first :
         {std::vector<std::string>{"--dir", state_, "--conf", conf_, "--json"},
          std::vector<std::string>{"--json", "--dir=" + state_, "--conf=" + conf_}}) {
        std::vector<std::string> args{AUTHCTL_CLI};
        args.insert(args.end(), first.begin(), first.end());
        args.insert(args.end(), {"status", "-u", "alice"});
        const CmdResult before = run_cmd(args);
        EXPECT_EQ(before.code, 0) << before.err;
        EXPECT_EQ(before.out, after.out) << "the options before the command mean the same";
    }
    // Moved right after the command, not to the end: a trailing option
    // missing its value must not swallow them (and send a change elsewhere).
    const CmdResult swallowed = run_cmd({AUTHCTL_CLI, "--dir=" + state_, "status", "-u"});
    EXPECT_EQ(swallowed.code, 2) << swallowed.out << swallowed.err;
    EXPECT_NE(swallowed.err.find("--user"), std::string::npos) << swallowed.err;
    // A parse error repeats no control character from the command line.
    const CmdResult escape = run_cmd({AUTHCTL_CLI, "status", "\x1b[31mX"});
    EXPECT_EQ(escape.code, 2);
    EXPECT_EQ(escape.err.find('\x1b'), std::string::npos) << escape.err;
}

// `authctl verify` checks a code as a login would: an empty one is not a
// guess there either (a usage error, nothing counted).
TEST_F(Cli, VerifyWithAnEmptyCodeCountsNothing)
{
    enroll_json("alice");
    for (const std::string& empty : {std::string(" "), std::string("\t")}) {
        const CmdResult r = authctl({"verify", "-u", "alice", empty});
        EXPECT_EQ(r.code, 2) << r.err;
        EXPECT_NE(r.err.find("no code given"), std::string::npos) << r.err;
    }
    const CmdResult from_stdin = authctl({"verify", "-u", "alice"}, "\n");
    EXPECT_EQ(from_stdin.code, 2) << from_stdin.err;
    EXPECT_EQ(status_json("alice").at("failures"), 0);
}

TEST_F(Cli, VerifyReadsTheCodeFromStdin)
{
    const std::string secret = enroll_json("alice").at("secret");
    const CmdResult v = authctl({"verify", "-u", "alice"}, oathtool_totp(secret, std::time(nullptr) + 30) + "\n");
    EXPECT_EQ(v.code, 0) << v.err;
}

TEST_F(Cli, EveryAlgorithmDigitsAndPeriodAgreesWithOathtool)
{
    const char* users[] = {"alice", "bob", "carol"};
    const char* algos[] = {"sha1", "sha256", "sha512"};
    for (int i = 0; i < 3; ++i) {
        const int digits = 6 + i;
        const int period = 30 * (i + 1);
        const CmdResult r = authctl({"enroll", "-u", users[i], "--json", "--algorithm", algos[i], "--digits",
                                     std::to_string(digits), "--period", std::to_string(period)});
        ASSERT_EQ(r.code, 0) << r.err;
        if (i > 0) {
            EXPECT_NE(r.err.find("warning"), std::string::npos) << "non-default parameters warn";
        }
        const auto j = nlohmann::json::parse(r.out);
        const std::string code = oathtool_totp(j.at("secret"), std::time(nullptr) + period, algos[i], digits, period);
        EXPECT_EQ(code.size(), static_cast<std::size_t>(digits));
        const CmdResult v = authctl({"verify", "-u", users[i], code});
        EXPECT_EQ(v.code, 0) << algos[i] << ": " << v.err;
    }
}

TEST_F(Cli, HotpEnrollmentAdvancesItsCounter)
{
    const auto j = enroll_json("bob", {"--hotp"});
    EXPECT_EQ(j.at("type"), "hotp");
    EXPECT_NE(j.at("uri").get<std::string>().find("otpauth://hotp/"), std::string::npos);
    const std::string secret = j.at("secret");
    EXPECT_EQ(authctl({"verify", "-u", "bob", oathtool_hotp(secret, 0)}).code, 0);
    EXPECT_EQ(authctl({"verify", "-u", "bob", oathtool_hotp(secret, 0)}).code, 1);
    EXPECT_EQ(authctl({"verify", "-u", "bob", oathtool_hotp(secret, 2)}).code, 0);
}

// A terminal QR code as a grey-scale image zbarimg can read (1 = light module).
std::string to_pgm(const std::vector<std::vector<int>>& rows, const std::string& path)
{
    const std::size_t w = rows.at(0).size(), scale = 6;
    std::string pgm = "P5\n" + std::to_string(w * scale) + " " + std::to_string(rows.size() * scale) + "\n255\n";
    for (const auto& row : rows)
        for (std::size_t k = 0; k < scale; ++k)
            for (std::size_t x = 0; x < w; ++x)
                pgm.append(scale, static_cast<char>(x < row.size() && row[x] != 0 ? 255 : 0));
    test::write_file(path, pgm);
    return path;
}

// The 4-module light border a scanner needs around the code.
void expect_quiet_zone(const std::vector<std::vector<int>>& rows)
{
    // QR codes have an odd size: an even row count means the last row is the
    // UTF-8 renderer's padding, which must be light as well.
    const std::size_t w = rows.at(0).size(), h = rows.size() % 2 == 0 ? rows.size() - 1 : rows.size();
    for (std::size_t y = 0; y < rows.size(); ++y) {
        ASSERT_EQ(rows[y].size(), w) << "ragged QR row " << y;
        for (std::size_t x = 0; x < w; ++x) {
            const bool border = x < 4 || x >= w - 4 || y < 4 || y + 4 >= h;
            if (border) {
                ASSERT_EQ(rows[y][x], 1) << "dark module in the quiet zone at " << x << "," << y;
            }
        }
    }
}

TEST_F(Cli, PngAndTerminalQrCodesDecodeToThePrintedUri)
{
    const std::string png = tmp_ / "alice.png";
    CmdResult r = authctl({"enroll", "-u", "alice", "--qr", "png:" + png});
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string header, uri;
    std::getline(lines, header);
    std::getline(lines, uri);
    ASSERT_EQ(uri.rfind("otpauth://totp/", 0), 0U) << r.out;
    EXPECT_EQ(zbar(png), uri);
    struct stat st {};
    ASSERT_EQ(::stat(png.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600U) << "the QR holds the secret";

    // The terminal rendering, turned back into pixels: light where a block is drawn.
    r = authctl({"show", "-u", "alice", "--qr", "utf8"});
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream text(r.out);
    std::string line;
    std::getline(text, line);  // "alice (TOTP...):"
    std::getline(text, line);
    EXPECT_EQ(line, uri) << "show prints the same URI again";
    std::vector<std::vector<int>> rows;  // 1 = light
    while (std::getline(text, line)) {
        std::vector<int> top, bottom;
        for (std::size_t i = 0; i < line.size();) {
            if (line[i] == ' ') {
                top.push_back(0), bottom.push_back(0), ++i;
                continue;
            }
            const std::string ch = line.substr(i, 3);
            i += 3;
            top.push_back(ch == "\u2588" || ch == "\u2580" ? 1 : 0);
            bottom.push_back(ch == "\u2588" || ch == "\u2584" ? 1 : 0);
        }
        rows.push_back(top);
        rows.push_back(bottom);
    }
    ASSERT_GT(rows.size(), 20U);
    expect_quiet_zone(rows);
    EXPECT_EQ(zbar(to_pgm(rows, tmp_ / "utf8.pgm")), uri) << "the UTF-8 QR code does not decode";

    // ANSI: two spaces per module, black (40) or white (47) background.
    r = authctl({"show", "-u", "alice", "--qr", "ansi"});
    ASSERT_EQ(r.code, 0) << r.err;
    std::istringstream ansi(r.out);
    std::getline(ansi, line);
    std::getline(ansi, line);
    rows.clear();
    const std::string dark = "\x1b[40m  ", light = "\x1b[47m  ", reset = "\x1b[0m";
    while (std::getline(ansi, line)) {
        std::vector<int> row;
        std::size_t i = 0;
        for (; line.compare(i, dark.size(), dark) == 0 || line.compare(i, light.size(), light) == 0; i += dark.size())
            row.push_back(line.compare(i, light.size(), light) == 0 ? 1 : 0);
        EXPECT_EQ(line.substr(i), reset) << "unexpected bytes in an ANSI QR line";
        rows.push_back(row);
    }
    ASSERT_GT(rows.size(), 20U);
    expect_quiet_zone(rows);
    EXPECT_EQ(zbar(to_pgm(rows, tmp_ / "ansi.pgm")), uri) << "the ANSI QR code does not decode";

    // SVG: a well-formed document with the quiet zone.
    r = authctl({"show", "-u", "alice", "--qr", "svg:" + tmp_ / "a.svg"});
    EXPECT_EQ(r.code, 0) << r.err;
    const std::string svg = test::read_file(tmp_ / "a.svg");
    EXPECT_NE(svg.find("<svg xmlns="), std::string::npos);
    EXPECT_NE(svg.find("</svg>"), std::string::npos);
    // An existing file is never overwritten.
    r = authctl({"show", "-u", "alice", "--qr", "png:" + png});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("cannot create"), std::string::npos);
}

TEST_F(Cli, RecoveryCodesWorkOnceAndCanBeReissued)
{
    const auto j = enroll_json("alice", {"--recovery-codes", "2"});
    ASSERT_EQ(j.at("recovery_codes").size(), 2U);
    const std::string first = j.at("recovery_codes").at(0);
    CmdResult v = authctl({"verify", "-u", "alice", first});
    EXPECT_EQ(v.code, 0) << v.err;
    EXPECT_EQ(v.out, "alice: recovery code accepted (1 left)\n");
    EXPECT_EQ(authctl({"verify", "-u", "alice", first}).code, 1);
    const CmdResult re = authctl({"recovery", "-u", "alice", "--count", "3", "--json"});
    ASSERT_EQ(re.code, 0) << re.err;
    const auto fresh = nlohmann::json::parse(re.out).at("recovery_codes");
    EXPECT_EQ(fresh.size(), 3U);
    EXPECT_EQ(authctl({"verify", "-u", "alice", j.at("recovery_codes").at(1)}).code, 1) << "old codes stop working";
    EXPECT_EQ(authctl({"verify", "-u", "alice", fresh.at(2)}).code, 0);
}

TEST_F(Cli, EnrollRefusesToReplaceWithoutForce)
{
    const std::string s1 = enroll_json("alice").at("secret");
    const CmdResult again = authctl({"enroll", "-u", "alice"});
    EXPECT_EQ(again.code, 1);
    EXPECT_NE(again.err.find("already enrolled"), std::string::npos);
    const std::string s2 = enroll_json("alice", {"--force"}).at("secret");
    EXPECT_NE(s1, s2);
}

TEST_F(Cli, ConfirmStoresNothingUntilACodeMatches)
{
    CmdResult r = authctl({"enroll", "-u", "alice", "--confirm", "--qr", "none"}, "000000\n111111\n222222\n");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("nothing was stored"), std::string::npos) << r.err;
    EXPECT_FALSE(status_json("alice").at("enrolled").get<bool>());
    r = authctl({"enroll", "-u", "bob", "--confirm", "--json"}, "");
    EXPECT_EQ(r.code, 1) << "no code on stdin: nothing stored";
    EXPECT_FALSE(status_json("bob").at("enrolled").get<bool>());
}

// Runs `authctl enroll ... --confirm` like a person would: reads the URI it
// prints, computes the code an app would show, types it.
// The URI is read where the tool shows it: on stdout, or on stderr with
// uri_on_stderr (--json, whose stdout holds only the JSON at the end).
CmdResult confirm_interactively(const std::vector<std::string>& argv, bool first_wrong, std::string* typed = nullptr,
                                bool uri_on_stderr = false, bool grouped = false)
{
    int in[2], out[2];
    EXPECT_EQ(::pipe(in), 0);
    EXPECT_EQ(::pipe(out), 0);
    test::TempDir io;
    const std::string err = io / "err";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in[0], 0);
        const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(uri_on_stderr ? e : out[1], 1);
        ::dup2(uri_on_stderr ? out[1] : e, 2);
        ::close(in[1]);
        ::close(out[0]);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    std::string seen;
    char buf[512];
    std::string secret;
    while (secret.empty()) {
        const ssize_t n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        seen.append(buf, static_cast<std::size_t>(n));
        const auto at = seen.find("secret=");
        const auto end = at == std::string::npos ? at : seen.find('&', at);
        if (end != std::string::npos) secret = seen.substr(at + 7, end - at - 7);
    }
    const std::string code = oathtool_totp(secret, std::time(nullptr));
    if (typed != nullptr) *typed = code;
    std::string answer = first_wrong ? "000000\n" : "";
    answer += (grouped ? code.substr(0, 3) + " " + code.substr(3) : code) + "\n";  // grouped: as the app shows it
    EXPECT_EQ(::write(in[1], answer.data(), answer.size()), static_cast<ssize_t>(answer.size()));
    ::close(in[1]);
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof buf)) > 0) seen.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    int ws = 0;
    ::waitpid(pid, &ws, 0);
    if (uri_on_stderr) return {WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, test::read_file(err), seen};
    return {WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, seen, test::read_file(err)};
}

// --json --confirm: the URI is shown (on stderr) before the code is asked,
// and stdout is the JSON alone; a QR file is named where it went.
TEST_F(Cli, JsonConfirmShowsTheUriBeforeAskingAndQrFilesAreNamed)
{
    const std::string png = tmp_ / "alice.png";
    const CmdResult r = confirm_interactively({AUTHCTL_CLI, "enroll", "--dir", state_, "--conf", conf_, "-u", "alice",
                                               "--confirm", "--json", "--qr", "png:" + png},
                                              false, nullptr, true);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("otpauth://totp/"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("QR code written to " + png), std::string::npos) << r.err;
    const auto j = nlohmann::json::parse(r.out);  // stdout: the JSON alone
    EXPECT_TRUE(j.at("confirmed").get<bool>());
    EXPECT_EQ(zbar(png), j.at("uri").get<std::string>());
    const CmdResult shown = authctl({"show", "-u", "alice", "--qr", "svg:" + tmp_ / "alice.svg"});
    ASSERT_EQ(shown.code, 0) << shown.err;
    EXPECT_NE(shown.out.find("QR code written to " + tmp_ / "alice.svg"), std::string::npos) << shown.out;
    // A terminal QR with --json goes to stderr: stdout stays the JSON alone.
    const CmdResult drawn = authctl({"show", "-u", "alice", "--json", "--qr", "ansi"});
    ASSERT_EQ(drawn.code, 0) << drawn.err;
    EXPECT_EQ(nlohmann::json::parse(drawn.out).at("user"), "alice");
    EXPECT_NE(drawn.err.find("\x1b["), std::string::npos) << "the QR code, drawn on stderr";
}

TEST_F(Cli, ConfirmWithTheAppsCodeStoresAConfirmedEnrollment)
{
    std::string typed;
    const CmdResult r = confirm_interactively(
        {AUTHCTL_CLI, "enroll", "--dir", state_, "--conf", conf_, "-u", "alice", "--confirm", "--qr", "none"}, true,
        &typed);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("that code does not match"), std::string::npos) << "the wrong first try was refused";
    EXPECT_NE(r.out.find("Confirmed and stored. The code just used cannot log in again"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Recovery codes"), std::string::npos);
    const auto s = status_json("alice");
    EXPECT_TRUE(s.at("enrolled").get<bool>());
    EXPECT_TRUE(s.at("confirmed").get<bool>());
    // The code typed to confirm is consumed: it cannot then log in, and says so.
    const CmdResult again = authctl({"verify", "-u", "alice", typed});
    EXPECT_EQ(again.code, 1);
    EXPECT_NE(again.err.find("code already used"), std::string::npos) << again.err;
}

// Issue 19, point 9: "123 456" as the app shows it, everywhere a code is typed.
TEST_F(Cli, VerifyAndConfirmTakeTheCodeAsTheAppShowsIt)
{
    std::string typed;
    const CmdResult r = confirm_interactively(
        {AUTHCTL_CLI, "enroll", "--dir", state_, "--conf", conf_, "-u", "alice", "--confirm", "--qr", "none"}, false,
        &typed, false, true);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(status_json("alice").at("confirmed").get<bool>());
    const std::string secret = nlohmann::json::parse(authctl({"show", "-u", "alice", "--json"}).out).at("secret");
    const std::string c = oathtool_totp(secret, std::time(nullptr) + 30);
    CmdResult v = authctl({"verify", "-u", "alice", c.substr(0, 3) + " " + c.substr(3)});
    EXPECT_EQ(v.code, 0) << v.err;
    const std::string bob = enroll_json("bob").at("secret");
    const std::string c2 = oathtool_totp(bob, std::time(nullptr) + 30);
    v = authctl({"verify", "-u", "bob"}, c2.substr(0, 3) + "--" + c2.substr(3) + "\n");  // from stdin
    EXPECT_EQ(v.code, 1) << "two dashes: not a code";
    EXPECT_NE(v.err.find("wrong code (1 failure)"), std::string::npos) << v.err;
    v = authctl({"verify", "-u", "bob"}, c2.substr(0, 3) + "-" + c2.substr(3) + "\n");
    EXPECT_EQ(v.code, 0) << v.err;
}

// Issue 19, point 6: `import oath --force` with the same key must not make a used code valid again.
TEST_F(Cli, ReimportingTheSameOathKeyKeepsUsedCodesUsed)
{
    const std::string key = "3132333435363738393031323334353637383930";  // RFC 4226 key
    const std::string b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    test::write_file(tmp_ / "users.oath", "HOTP alice - " + key + " 0\nHOTP/T30 bob - " + key + "\n", 0600);
    CmdResult r = authctl({"import", "oath", tmp_ / "users.oath"});
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(authctl({"verify", "-u", "alice", oathtool_hotp(b32, 2)}).code, 0);
    const std::string totp = oathtool_totp(b32, std::time(nullptr) + 30);
    ASSERT_EQ(authctl({"verify", "-u", "bob", totp}).code, 0);
    r = authctl({"import", "oath", "--force", tmp_ / "users.oath"});
    ASSERT_EQ(r.code, 0) << r.err;
    r = authctl({"verify", "-u", "alice", oathtool_hotp(b32, 2)});
    EXPECT_EQ(r.code, 1) << "HOTP counter 2 was used before the re-import";
    r = authctl({"verify", "-u", "bob", totp});
    EXPECT_EQ(r.code, 1) << "the TOTP step was used before the re-import";
    EXPECT_NE(r.err.find("code already used"), std::string::npos) << r.err;
    EXPECT_EQ(authctl({"verify", "-u", "alice", oathtool_hotp(b32, 3)}).code, 0);
}

// Issue 19, point 7: keys under 80 bits are refused where they enter, and a
// record already stored with one is flagged, not locked out.
TEST_F(Cli, ShortKeysAreRefusedOnImportAndFlaggedWhenAlreadyStored)
{
    test::write_file(tmp_ / "users.oath", "HOTP alice - 01\nHOTP bob - 3132333435363738393031323334353637383930\n",
                     0600);
    CmdResult r = authctl({"import", "oath", tmp_ / "users.oath"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("line 1: alice: the secret is 1 bytes, under the 10 (80 bits) authctl requires"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.out.find("bob: imported"), std::string::npos) << r.out;
    EXPECT_FALSE(status_json("alice").at("enrolled").get<bool>());
    EXPECT_FALSE(status_json("bob").at("weak_secret").get<bool>());

    // A record written before the limit: 5 bytes. It still logs in.
    const std::string short_b32 = "AEBAGBAF";  // 01 02 03 04 05
    {
        auto store = UserStore::open(state_);
        ASSERT_TRUE(store) << store.error().message();
        auto held = store->lock("carol");
        ASSERT_TRUE(held);
        UserRecord rec;
        auto e = new_enrollment({}, std::time(nullptr));
        ASSERT_TRUE(e);
        rec.enrollment = std::move(*e);
        auto key = base32_decode(short_b32);
        ASSERT_TRUE(key && key->size() == 5U);
        rec.enrollment->secret = std::move(*key);
        rec.enrollment->confirmed = true;
        held->record() = std::move(rec);
        ASSERT_TRUE(held->commit());
    }
    EXPECT_EQ(authctl({"verify", "-u", "carol", oathtool_totp(short_b32, std::time(nullptr) + 30)}).code, 0);
    EXPECT_TRUE(status_json("carol").at("weak_secret").get<bool>());
    r = authctl({"status", "-u", "carol"});
    EXPECT_NE(r.out.find("carol: weak secret: 5 bytes, under the 10 (80 bits) authctl requires; enroll anew"),
              std::string::npos)
        << r.out;
    r = authctl({"audit", "--group", "sudo", "--no-sudo", "--json"});
    EXPECT_EQ(r.code, 1);
    bool flagged = false;
    const auto audit = nlohmann::json::parse(r.out);
    for (const auto& f : audit.at("findings"))
        flagged = flagged || f == nlohmann::json({{"kind", "weak_secret"},
                                                  {"user", "carol"},
                                                  {"group", nullptr},
                                                  {"via", nullptr},
                                                  {"detail", "5 bytes"},
                                                  {"message", "carol: weak secret: 5 bytes, under the 10 (80 bits) "
                                                              "authctl requires; enroll anew (authctl enroll --force)"}});
    EXPECT_TRUE(flagged) << r.out;
    // The URI of such a key is not handed out again: enroll anew.
    r = authctl({"show", "-u", "carol", "--qr", "none"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "authctl: carol: weak secret: 5 bytes, under the 10 (80 bits) authctl requires; enroll anew "
                     "(authctl enroll --force); its URI is not shown again\n");
}

// Issue 19, point 10: resynchronisation, with oathtool as the token.
TEST_F(Cli, ResyncMovesAnHotpCounterThatRanAhead)
{
    const std::string secret = enroll_json("bob", {"--hotp"}).at("secret");
    ASSERT_EQ(authctl({"verify", "-u", "bob", oathtool_hotp(secret, 0)}).code, 0);
    // The token was pressed 300 times: far past the look-ahead.
    CmdResult r = authctl({"verify", "-u", "bob", oathtool_hotp(secret, 300)});
    ASSERT_EQ(r.code, 1);
    ASSERT_EQ(authctl({"reset", "-u", "bob"}).code, 0);
    // Wrong codes: not found, nothing changed, nothing counted.
    r = authctl({"resync", "-u", "bob", oathtool_hotp(secret, 300), oathtool_hotp(secret, 302)});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("bob: CODE1 then CODE2 not found at counters 1 to 1000; nothing changed (not counted as a "
                         "failure)"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(status_json("bob").at("failures"), 0);
    const std::string c301 = oathtool_hotp(secret, 301);
    r = authctl({"resync", "-u", "bob", oathtool_hotp(secret, 300), c301.substr(0, 3) + " " + c301.substr(3)});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "bob: resynchronised: the codes are counters 300 and 301; the counter moved from 1 to 302\n");
    EXPECT_EQ(authctl({"verify", "-u", "bob", oathtool_hotp(secret, 301)}).code, 1) << "used by the resync";
    EXPECT_EQ(authctl({"verify", "-u", "bob", oathtool_hotp(secret, 302)}).code, 0);
    r = authctl({"resync", "-u", "bob", "--json", oathtool_hotp(secret, 310), oathtool_hotp(secret, 311)});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out),
              nlohmann::json({{"user", "bob"}, {"found", true}, {"counter_before", 303}, {"matched", 310}, {"counter", 312}}));
    // TOTP users and users without an enrollment: refused, one line.
    enroll_json("alice");
    r = authctl({"resync", "-u", "alice", "123456", "234567"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err,
              "authctl: invalid argument: user 'alice' has a TOTP enrollment: its codes follow the clock, there is no "
              "counter to resynchronise (check the phone's clock)\n");
    r = authctl({"resync", "-u", "carol", "123456", "234567"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("user 'carol' is not enrolled"), std::string::npos) << r.err;
    r = authctl({"resync", "-u", "bob", "12345", "234567"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("each code must be 6 digits"), std::string::npos) << r.err;
}

TEST_F(Cli, StatusResetLockAndUnlockMatchTheModule)
{
    const std::string secret = enroll_json("alice").at("secret");
    const std::string confdir = stack();
    for (int i = 0; i < 3; ++i)  // the third locks: PAM_MAXTRIES
        EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {"nope"}).rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES);
    auto s = status_json("alice");
    EXPECT_EQ(s.at("failures"), 3);
    EXPECT_TRUE(s.at("locked").get<bool>());
    EXPECT_GT(s.at("unlock_in").get<int>(), 590);
    EXPECT_EQ(s.at("from"), "192.0.2.10");
    CmdResult table = authctl({"status"});
    EXPECT_EQ(table.code, 1) << "a locked user shown: exit 1";
    EXPECT_NE(table.err.find("authctl: alice is locked"), std::string::npos) << table.err;
    EXPECT_NE(table.out.find("USER            ENROLLED    TYPE  FAILURES  LAST FAILURE"), std::string::npos);
    EXPECT_NE(table.out.find("alice           unconfirmed totp  3"), std::string::npos) << table.out;
    // The module refuses the right code while locked; reset lets it in.
    const std::string code = oathtool_totp(secret, std::time(nullptr) + 30);
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {code}).rc, PAM_MAXTRIES);
    CmdResult reset = authctl({"reset", "-u", "alice"});
    EXPECT_EQ(reset.code, 0) << reset.err;
    EXPECT_EQ(reset.out, "alice: 3 failures cleared, account unlocked\n");
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {code}).rc, PAM_SUCCESS);
    EXPECT_EQ(authctl({"reset", "-u", "alice"}).out, "alice: no failures recorded, not locked\n");
    // A lock by hand is honoured by the account phase (public-key logins) and lifted by unlock.
    CmdResult lock = authctl({"lock", "-u", "alice"});
    EXPECT_EQ(lock.code, 0) << lock.err;
    EXPECT_NE(lock.out.find("locked until an administrator unlocks it"), std::string::npos);
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {}, test::Phase::account).rc, PAM_PERM_DENIED);
    EXPECT_TRUE(status_json("alice").at("unlock_in").is_null());
    EXPECT_EQ(authctl({"unlock", "-u", "alice"}).code, 0);
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {}, test::Phase::account).rc, PAM_SUCCESS);
    lock = authctl({"lock", "-u", "bob", "--for", "120"});
    EXPECT_EQ(lock.code, 0);
    EXPECT_NE(lock.out.find("locked for 2 minutes"), std::string::npos) << lock.out;
    EXPECT_LE(status_json("bob").at("unlock_in").get<int>(), 120);
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "bob", {}, test::Phase::account).rc, PAM_PERM_DENIED);
}

// Issue 19, point 3: failures from ever new sources (per_source, so no
// source reaches deny and deny_user is 30) are capped by deny_consecutive:
// the 5th since the last success locks alice until an administrator resets
// it; status says why, and `authctl reset` lets her in again.
TEST_F(Cli, ResetClearsTheLockOfDenyConsecutive)
{
    const std::string secret = enroll_json("alice").at("secret");
    const std::string confdir = stack();
    const std::string m = std::string(AUTHCTL_PAM_MODULE) + " dir=" + state_ + " conf=" + conf_ +
                          " nodelay per_source deny_consecutive=5";
    test::write_file(confdir + "/cli-cap", "auth required " + m + "\naccount required " + m + "\n", 0644);
    const auto from = [&](const std::string& host, const std::string& answer) {
        return test::pam_run(confdir, "cli-cap", "alice", {answer}, test::Phase::authenticate, 0, false, host.c_str());
    };
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(from("198.51.100." + std::to_string(20 + i), "nope").rc, i < 4 ? PAM_AUTH_ERR : PAM_MAXTRIES) << i;
    const std::string code = oathtool_totp(secret, std::time(nullptr));
    EXPECT_EQ(from("203.0.113.5", code).rc, PAM_MAXTRIES);
    const auto s = status_json("alice");
    EXPECT_TRUE(s.at("locked").get<bool>());
    EXPECT_TRUE(s.at("unlock_in").is_null()) << "until reset: " << s.dump();
    const CmdResult table = authctl({"status", "-u", "alice"});
    EXPECT_NE((table.out + table.err).find("locked after 5 failures since the last success (deny_consecutive)"),
              std::string::npos)
        << table.out << table.err;
    const CmdResult reset = authctl({"reset", "-u", "alice"});
    EXPECT_EQ(reset.code, 0) << reset.err;
    EXPECT_EQ(from("203.0.113.5", code).rc, PAM_SUCCESS);
    EXPECT_FALSE(status_json("alice").at("locked").get<bool>());
}

// status --json tells every lock state apart (not locked, until a time,
// until reset, by an administrator and who), with the last success and the
// recovery codes left; the table shows the same; the exit code says whether a
// user shown is locked.
TEST_F(Cli, StatusTellsEveryLockStateApartWithLastSuccessAndRecoveryLeft)
{
    const std::string secret = enroll_json("alice", {"--recovery-codes", "3"}).at("secret");
    enroll_json("bob");
    const std::string confdir = stack();

    auto s = status_json("alice");
    EXPECT_FALSE(s.at("locked").get<bool>());
    EXPECT_TRUE(s.at("locked_until").is_null());
    EXPECT_TRUE(s.at("lock").is_null());
    EXPECT_TRUE(s.at("last_success").is_null());
    EXPECT_TRUE(s.at("last_success_from").is_null());
    EXPECT_EQ(s.at("recovery_left"), 3);
    EXPECT_FALSE(s.at("confirmed").get<bool>());

    // A login with a code: the last success, and where from.
    const std::int64_t before = std::time(nullptr);
    const std::string code = oathtool_totp(secret, before + 30);
    ASSERT_EQ(test::pam_run(confdir, "cli-test", "alice", {code}).rc, PAM_SUCCESS);
    s = status_json("alice");
    const std::string when = s.at("last_success").get<std::string>();
    ASSERT_EQ(when.size(), 20U) << when;  // 2026-11-30T04:00:00Z
    EXPECT_EQ(when.back(), 'Z');
    EXPECT_EQ(when[10], 'T');
    EXPECT_EQ(s.at("last_success_from"), "192.0.2.10");

    // Locked by failures, until a time.
    for (int i = 0; i < 3; ++i)  // the third locks: PAM_MAXTRIES
        EXPECT_EQ(test::pam_run(confdir, "cli-test", "bob", {"nope"}).rc, i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES);
    s = status_json("bob");
    EXPECT_TRUE(s.at("locked").get<bool>());
    const std::string until = s.at("locked_until").get<std::string>();
    EXPECT_EQ(until.size(), 20U) << until;
    EXPECT_EQ(s.at("lock").at("reason"), "failures");
    EXPECT_TRUE(s.at("lock").at("by").is_null());
    EXPECT_EQ(s.at("lock").at("until"), until);
    EXPECT_FALSE(s.at("lock").at("until_reset").get<bool>());
    EXPECT_GT(s.at("unlock_in").get<int>(), 590);

    // Locked by hand until reset: who did it (the audit login uid's name, else the uid's).
    std::string admin;
    {
        unsigned long long luid = 4294967295ULL;
        std::ifstream in("/proc/self/loginuid");
        if (in) in >> luid;
        const uid_t uid = luid == 4294967295ULL ? ::getuid() : static_cast<uid_t>(luid);
        const passwd* pw = ::getpwuid(uid);
        admin = pw != nullptr ? std::string(pw->pw_name) : "uid:" + std::to_string(uid);
    }
    const CmdResult locked = authctl({"lock", "-u", "alice", "--json"});
    ASSERT_EQ(locked.code, 0) << locked.err;
    EXPECT_EQ(nlohmann::json::parse(locked.out).at("by"), admin);
    s = status_json("alice");
    EXPECT_TRUE(s.at("locked").get<bool>());
    EXPECT_TRUE(s.at("locked_until").is_null());
    EXPECT_TRUE(s.at("unlock_in").is_null());
    EXPECT_EQ(s.at("lock").at("reason"), "admin");
    EXPECT_EQ(s.at("lock").at("by"), admin);
    EXPECT_TRUE(s.at("lock").at("until").is_null());
    EXPECT_TRUE(s.at("lock").at("until_reset").get<bool>());
    EXPECT_EQ(s.at("last_success"), when) << "a lock keeps the last success";

    // The table says the same; both users locked: exit 1.
    CmdResult table = authctl({"status"});
    EXPECT_EQ(table.code, 1);
    EXPECT_NE(table.err.find("authctl: 2 users are locked"), std::string::npos) << table.err;
    EXPECT_NE(table.out.find("RECOVERY  LAST SUCCESS"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("alice: locked by hand (authctl lock) by " + admin +
                             " until an administrator resets it"),
              std::string::npos)
        << table.out;
    EXPECT_NE(table.out.find("bob: locked after 3 failures until "), std::string::npos) << table.out;
    table = authctl({"status", "-u", "alice"});
    EXPECT_EQ(table.code, 1);
    EXPECT_NE(table.out.find("alice: last successful login " + when.substr(0, 10) + " "), std::string::npos)
        << table.out;
    EXPECT_NE(table.out.find(" UTC from 192.0.2.10"), std::string::npos) << table.out;

    // A reset forgets the lock and its reason, not the last success; nobody locked: exit 0.
    ASSERT_EQ(authctl({"reset", "-u", "alice"}).code, 0);
    ASSERT_EQ(authctl({"reset", "-u", "bob"}).code, 0);
    s = status_json("alice");
    EXPECT_TRUE(s.at("lock").is_null());
    EXPECT_EQ(s.at("last_success"), when);
    EXPECT_EQ(authctl({"status"}).code, 0);
    // A recovery code: one fewer left, and it confirms an enrollment.
    const std::string recovery = enroll_json("carol", {"--recovery-codes", "2"}).at("recovery_codes").at(0);
    ASSERT_EQ(authctl({"verify", "-u", "carol", recovery}).code, 0);
    s = status_json("carol");
    EXPECT_EQ(s.at("recovery_left"), 1);
    EXPECT_TRUE(s.at("confirmed").get<bool>());
}

// With per_source, status shows each locked source (text and JSON), the
// failures and sources since the last success, and exits 1 for a user locked
// from one source only; reset and lock --source act on one source's entry.
TEST_F(Cli, StatusResetAndLockPerSource)
{
    test::write_file(conf_, "per_source\n", 0644);
    const std::string secret = enroll_json("alice").at("secret");
    const std::string confdir = stack();
    for (int i = 0; i < 3; ++i)  // the third locks 192.0.2.7, not alice
        EXPECT_EQ(
            test::pam_run(confdir, "cli-test", "alice", {"nope"}, test::Phase::authenticate, 0, false, "192.0.2.7").rc,
            i < 2 ? PAM_AUTH_ERR : PAM_MAXTRIES);
    EXPECT_EQ(
        test::pam_run(confdir, "cli-test", "alice", {"nope"}, test::Phase::authenticate, 0, false, "2001:db8:1:2::5")
            .rc,
        PAM_AUTH_ERR);
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {"nope"}, test::Phase::authenticate, 0, false, nullptr,
                            "/dev/pts/1")
                  .rc,
              PAM_AUTH_ERR);

    auto s = status_json("alice");
    EXPECT_FALSE(s.at("locked").get<bool>()) << "the user is not locked, one source is";
    EXPECT_EQ(s.at("failures"), 5);
    EXPECT_EQ(s.at("failures_since_success"), 5);
    EXPECT_EQ(s.at("sources_since_success"), 3);
    ASSERT_EQ(s.at("sources").size(), 3U) << s.dump();
    const auto a = s.at("sources").at(0);
    EXPECT_EQ(a.at("source"), "192.0.2.7") << "locked sources first";
    EXPECT_EQ(a.at("failures"), 3);
    EXPECT_GT(a.at("last_failure").get<std::int64_t>(), std::time(nullptr) - 60);
    EXPECT_TRUE(a.at("locked").get<bool>());
    EXPECT_EQ(a.at("locked_until").get<std::string>().size(), 20U);
    EXPECT_FALSE(a.at("until_reset").get<bool>());
    EXPECT_EQ(a.at("reason"), "failures");
    EXPECT_TRUE(a.at("by").is_null());
    const auto v6 = source_entry(s, "2001:db8:1:2::/64");
    ASSERT_FALSE(v6.is_null()) << s.dump();
    EXPECT_EQ(v6.at("failures"), 1);
    EXPECT_FALSE(v6.at("locked").get<bool>());
    EXPECT_TRUE(v6.at("locked_until").is_null());
    EXPECT_TRUE(v6.at("reason").is_null());
    EXPECT_FALSE(source_entry(s, "tty:pts/1").is_null()) << s.dump();

    // The listing: the locked source only; exit 1 naming it.
    CmdResult table = authctl({"status"});
    EXPECT_EQ(table.code, 1);
    EXPECT_NE(table.err.find("authctl: alice is locked from 1 source"), std::string::npos) << table.err;
    EXPECT_NE(table.out.find("alice: from 192.0.2.7: locked after 3 failures until "), std::string::npos) << table.out;
    EXPECT_EQ(table.out.find("2001:db8:1:2::/64"), std::string::npos) << "an unlocked source is not listed";
    EXPECT_NE(table.out.find("source  "), std::string::npos) << "LOCKED column: " << table.out;
    // One user: every source, and what the owner will be told.
    table = authctl({"status", "-u", "alice"});
    EXPECT_EQ(table.code, 1);
    EXPECT_NE(table.out.find("alice: from 2001:db8:1:2::/64: 1 failure, the last "), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("alice: from tty:pts/1: 1 failure, the last "), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("alice: 5 failures from 3 sources since the last successful login"), std::string::npos)
        << table.out;

    // The owner from elsewhere logs in; 192.0.2.7 stays locked.
    const std::string code = oathtool_totp(secret, std::time(nullptr) + 30);
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {code}, test::Phase::authenticate, 0, false, "192.0.2.20").rc,
              PAM_SUCCESS);
    s = status_json("alice");
    EXPECT_EQ(s.at("failures_since_success"), 0);
    EXPECT_TRUE(source_entry(s, "192.0.2.7").at("locked").get<bool>());

    // reset --source: the address becomes its key (an IPv6 address its /64).
    CmdResult r = authctl({"reset", "-u", "alice", "--source", "2001:db8:1:2::1"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "alice: 1 failure from 2001:db8:1:2::/64 cleared, was not locked\n");
    r = authctl({"reset", "-u", "alice", "--source", "192.0.2.99"});
    EXPECT_EQ(r.code, 0) << "nothing to reset is not an error";
    EXPECT_EQ(r.out, "alice: no failures recorded from 192.0.2.99\n");
    r = authctl({"reset", "-u", "alice", "--source", "192.0.2.7", "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    const auto rj = nlohmann::json::parse(r.out).at(0);
    EXPECT_EQ(rj.at("source"), "192.0.2.7");
    EXPECT_EQ(rj.at("failures_cleared"), 3);
    EXPECT_TRUE(rj.at("was_locked").get<bool>());
    s = status_json("alice");  // exit 0 now
    EXPECT_TRUE(source_entry(s, "192.0.2.7").is_null());
    EXPECT_FALSE(source_entry(s, "tty:pts/1").is_null()) << "other sources stay";
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {}, test::Phase::account, 0, false, "192.0.2.7").rc,
              PAM_SUCCESS);

    // lock --source: that source only, by whom, until when.
    r = authctl({"lock", "-u", "alice", "--source", "198.51.100.4", "--for", "120"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("alice: logins from 198.51.100.4 locked for 2 minutes (until "), std::string::npos) << r.out;
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {}, test::Phase::account, 0, false, "198.51.100.4").rc,
              PAM_PERM_DENIED);
    EXPECT_EQ(test::pam_run(confdir, "cli-test", "alice", {}, test::Phase::account, 0, false, "192.0.2.20").rc,
              PAM_SUCCESS);
    r = authctl({"lock", "-u", "alice", "--source", "tty:pts/1", "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    const std::string admin = nlohmann::json::parse(r.out).at("by");
    EXPECT_EQ(nlohmann::json::parse(r.out).at("source"), "tty:pts/1");
    r = authctl({"lock", "-u", "alice", "--source", "[2001:db8:9:9::7]", "--json"});
    EXPECT_EQ(nlohmann::json::parse(r.out).at("source"), "2001:db8:9:9::/64") << r.out << r.err;
    s = status_json("alice");
    EXPECT_FALSE(s.at("locked").get<bool>());
    const auto by_hand = source_entry(s, "198.51.100.4");
    EXPECT_EQ(by_hand.at("reason"), "admin");
    EXPECT_EQ(by_hand.at("by"), admin);
    EXPECT_EQ(by_hand.at("failures"), 0);
    EXPECT_FALSE(by_hand.at("until_reset").get<bool>());
    const auto tty = source_entry(s, "tty:pts/1");
    EXPECT_TRUE(tty.at("until_reset").get<bool>());
    EXPECT_TRUE(tty.at("locked_until").is_null());
    table = authctl({"status"});
    EXPECT_NE(table.err.find("authctl: alice is locked from 3 sources"), std::string::npos) << table.err;
    EXPECT_NE(table.out.find("alice: from tty:pts/1: locked by hand (authctl lock --source) by " + admin +
                             " until an administrator resets it"),
              std::string::npos)
        << table.out;
    // A user-wide reset clears every source but the one locked by hand (an
    // administrator's ban of an address is not the owner's to lift), which
    // `reset --source` lifts.
    EXPECT_EQ(authctl({"reset", "-u", "alice"}).code, 0);
    const auto kept = status_json("alice").at("sources");
    ASSERT_EQ(kept.size(), 3U) << "the three sources locked by hand above\n" << kept.dump();
    for (const auto& src : kept) {
        EXPECT_TRUE(src.at("locked").get<bool>()) << src.dump();
        EXPECT_EQ(src.at("reason"), "admin") << src.dump();
        EXPECT_EQ(src.at("failures"), 0) << "their failure counts are cleared: " << src.dump();
        EXPECT_EQ(authctl({"reset", "-u", "alice", "--source", src.at("source").get<std::string>()}).code, 0);
    }
    EXPECT_TRUE(status_json("alice").at("sources").empty());

    // Usage errors: --source with --all, an empty source.
    for (const std::vector<std::string>& bad : {std::vector<std::string>{"reset", "--all", "--source", "192.0.2.7"},
                                                std::vector<std::string>{"lock", "-u", "alice", "--source", ""},
                                                std::vector<std::string>{"reset", "-u", "alice", "--source", ""}}) {
        r = authctl(bad);
        EXPECT_EQ(r.code, 2) << bad[0] << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}

// A faillock.conf with every faillock option (and dir, and a key faillock
// does not know) carried into an authctl.conf whose own lines stay: what
// each setting became, the dry run first, then the file, which passes
// `authctl config check`; a second run finds everything already the same.
TEST_F(Cli, ImportFaillockCarriesEveryOptionAndKeepsTheRest)
{
    const std::string from = tmp_ / "faillock.conf";
    test::write_file(from,
                     "# Configuration for locking the user after multiple failed\n"
                     "dir = /var/run/faillock\n"
                     "audit\n"
                     "silent\n"
                     "no_log_info\n"
                     "local_users_only\n"
                     "nodelay\n"
                     "deny = 5\n"
                     "fail_interval=600\n"
                     "unlock_time never\n"
                     "even_deny_root\n"
                     "   root_unlock_time = 60   # root gets a minute\n"
                     "admin_group = wheel\n"
                     "frobnicate = 1\n",
                     0644);
    const std::string before = "# site settings\nwindow = 2\ndeny = 3   # old\nnodelay\nprompt = Code: \n";
    test::write_file(conf_, before, 0644);

    CmdResult r = import_faillock(from, {"--dry-run"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(test::read_file(conf_), before) << "a dry run writes nothing";
    const std::string expected =
        "# site settings\n"
        "window = 2\n"
        "deny = 5\n"
        "nodelay\n"
        "prompt = Code: \n"
        "\n"
        "# Carried over from " +
        from +
        " by authctl import faillock\n"
        "audit\n"
        "silent\n"
        "no_log_info\n"
        "local_users_only\n"
        "fail_interval = 600\n"
        "unlock_time = never\n"
        "even_deny_root\n"
        "root_unlock_time = 60\n"
        "admin_group = wheel\n";
    const std::string dry_head = "dry run, nothing written; " + conf_ + " would read:\n";
    ASSERT_NE(r.out.find(dry_head), std::string::npos) << r.out;
    EXPECT_EQ(r.out.substr(r.out.find(dry_head) + dry_head.size()), expected);
    const std::vector<std::string> said = {
        from + ":2: dir = /var/run/faillock: not carried (faillock's tally directory, not authctl's state directory",
        from + ":3: audit: would be carried over\n",
        from + ":7: nodelay: already the same (" + conf_ + " line 4)\n",
        from + ":8: deny = 5: would be carried over (replaces " + conf_ + " line 3 'deny = 3   # old')\n",
        from + ":10: unlock_time = never: would be carried over\n",
        from + ":12: root_unlock_time = 60: would be carried over\n",
        from + ":13: admin_group = wheel: would be carried over\n",
        from + ":14: frobnicate = 1: not carried (not a faillock option; faillock ignores it too)\n",
    };
    for (const auto& line : said) EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n---\n" << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 13 + 1 + 16) << "one line per faillock setting";

    r = import_faillock(from);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find(from + ":3: audit: carried over\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(conf_ + ": written (10 settings carried over)"), std::string::npos) << r.out;
    EXPECT_EQ(test::read_file(conf_), expected);
    struct stat st {};
    ASSERT_EQ(::lstat(conf_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0644U);
    EXPECT_EQ(st.st_uid, 0U);
    const CmdResult check = run_cmd({AUTHCTL_CLI, "config", "check", "--conf", conf_});
    EXPECT_EQ(check.code, 0) << check.out << check.err;
    EXPECT_EQ(check.out, conf_ + ": ok (13 settings)\n");

    // Again: nothing left to carry.
    r = import_faillock(from);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.find("carried over ("), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(from + ":10: unlock_time = never: already the same"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(conf_ + ": unchanged\n"), std::string::npos) << r.out;
    EXPECT_EQ(test::read_file(conf_), expected);
}

// What faillock itself reads differently: a key set twice (the last counts),
// a flag with a value (faillock ignores the value), deny over authctl's
// ceiling, fail_interval 0; and a missing authctl.conf is created (0644).
TEST_F(Cli, ImportFaillockFollowsFaillocksReading)
{
    const std::string from = tmp_ / "faillock.conf";
    test::write_file(from, "deny=4\naudit = no\ndeny 500\nfail_interval = 0\n", 0644);
    ::unlink(conf_.c_str());
    CmdResult r = import_faillock(from);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find(from + ":1: deny = 4: not carried (set again on line 3; faillock uses the last)\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find(from + ":2: audit = no: carried over (faillock ignores the value 'no' and turns audit on)\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find(from + ":3: deny = 500: carried over (carried as deny = 100, authctl's ceiling"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find(from + ":4: fail_interval = 0: not carried (with 0 faillock counts no failure"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(test::read_file(conf_),
              "# Carried over from " + from + " by authctl import faillock\naudit\ndeny = 100\n");
    struct stat st {};
    ASSERT_EQ(::lstat(conf_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0644U);
    EXPECT_EQ(run_cmd({AUTHCTL_CLI, "config", "check", "--conf", conf_}).code, 0);
}

// A line faillock would refuse (or authctl cannot hold), an authctl.conf
// that is already wrong, or one that is a symlink: one line naming the file
// and line, nothing written.
TEST_F(Cli, ImportFaillockRefusesBadInputAndWritesNothing)
{
    const std::string from = tmp_ / "faillock.conf";
    const std::string before = "# mine\nwindow = 2\n";
    test::write_file(conf_, before, 0644);
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"audit\ndeny = many\n", ":2: deny: 'many' is not a number of failures"},
        {"unlock_time = 604801\n", ":1: unlock_time: '604801' is not a number of seconds from 0 to 604800"},
        {"deny\n", ":1: deny: '' is not a number"},
        {"# x\n\nadmin_group = wheel admins\n", ":3: admin_group: 'wheel admins' is not a group name"},
        {"silent\nnodelay\x01\n", ":2: control character in line"},
        {"deny = 3\n" + std::string(1100, 'x') + "\n", ":2: line longer than 1023 bytes"},
    };
    for (const auto& [text, why] : bad) {
        test::write_file(from, text, 0644);
        for (const bool dry : {false, true}) {
            const CmdResult r =
                import_faillock(from, dry ? std::vector<std::string>{"--dry-run"} : std::vector<std::string>{});
            EXPECT_EQ(r.code, 1) << why;
            EXPECT_EQ(r.err.rfind("authctl: " + from + why, 0), 0U) << r.err;
            EXPECT_NE(r.err.find("; nothing written\n"), std::string::npos) << r.err;
            EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
            EXPECT_TRUE(r.out.empty()) << r.out;
            EXPECT_EQ(test::read_file(conf_), before);
        }
    }
    // An authctl.conf that is already wrong is named, not made worse.
    test::write_file(from, "deny = 5\n", 0644);
    test::write_file(conf_, "window = 2\nbogus_option\n", 0644);
    CmdResult r = import_faillock(from);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find(conf_ + ":2: unknown option 'bogus_option'"), std::string::npos) << r.err;
    EXPECT_EQ(test::read_file(conf_), "window = 2\nbogus_option\n");
    // A symlink is not written through.
    const std::string target = tmp_ / "elsewhere.conf";
    test::write_file(target, before, 0644);
    ::unlink(conf_.c_str());
    ASSERT_EQ(::symlink(target.c_str(), conf_.c_str()), 0);
    r = import_faillock(from);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("is a symlink"), std::string::npos) << r.err;
    EXPECT_EQ(test::read_file(target), before);
    // A missing faillock.conf, a writable one.
    EXPECT_EQ(import_faillock(tmp_ / "absent.conf").code, 1);
    ::unlink(conf_.c_str());
    test::write_file(conf_, before, 0644);
    test::write_file(from, "deny = 5\n", 0666);
    ::chmod(from.c_str(), 0666);
    r = import_faillock(from);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_EQ(test::read_file(conf_), before);
}

TEST_F(Cli, ResetAllNeedsConfirmation)
{
    enroll_json("alice");
    enroll_json("bob");
    authctl({"lock", "-u", "alice"});
    authctl({"lock", "-u", "bob"});
    CmdResult r = authctl({"reset", "--all"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("--yes"), std::string::npos);
    EXPECT_TRUE(status_json("alice").at("locked").get<bool>());
    r = authctl({"reset", "--all", "--yes"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(status_json("alice").at("locked").get<bool>());
    EXPECT_FALSE(status_json("bob").at("locked").get<bool>());
}

// A code tried for a user without an enrollment is counted like a wrong one
// (issue 19, point 1: so a lock does not say who is enrolled), in a
// tally-only record that remove deletes too.
TEST_F(Cli, RemoveDeletesEverything)
{
    const auto j = enroll_json("alice");
    EXPECT_EQ(authctl({"remove", "-u", "alice"}).code, 0);
    EXPECT_FALSE(status_json("alice").at("enrolled").get<bool>());
    EXPECT_EQ(authctl({"verify", "-u", "alice", j.at("recovery_codes").at(0)}).code, 1);
    const auto counted = status_json("alice");
    EXPECT_FALSE(counted.at("enrolled").get<bool>());
    EXPECT_EQ(counted.at("failures"), 1) << counted.dump();
    EXPECT_EQ(authctl({"remove", "-u", "alice"}).code, 0) << "the tally-only record";
    EXPECT_EQ(status_json("alice").at("failures"), 0);
    const CmdResult again = authctl({"remove", "-u", "alice"});
    EXPECT_EQ(again.code, 1);
    EXPECT_NE(again.err.find("has no record"), std::string::npos);
}

TEST_F(Cli, ImportsRealGoogleAuthenticatorFilesKeepingCodesValid)
{
    // TOTP, reuse disallowed, 5 scratch codes, written by Debian's google-authenticator.
    const std::string totp_file = tmp_ / "ga-totp";
    CmdResult ga = run_cmd({"google-authenticator", "-t", "-d", "-f", "-C", "-q", "-Q", "NONE", "-r", "3", "-R", "30",
                            "-w", "3", "-e", "5", "-s", totp_file});
    ASSERT_EQ(ga.code, 0) << ga.err;
    const std::string text = test::read_file(totp_file);
    const std::string secret = text.substr(0, text.find('\n'));
    std::vector<std::string> scratch;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.size() == 8 && line.find_first_not_of("0123456789") == std::string::npos) scratch.push_back(line);
    ASSERT_EQ(scratch.size(), 5U);
    ASSERT_EQ(::chown(totp_file.c_str(), 1000, 1000), 0);  // alice's own file, as in her home
    CmdResult imp = authctl({"import", "google-authenticator", "-u", "alice", totp_file});
    EXPECT_EQ(imp.code, 0) << imp.err;
    EXPECT_NE(imp.out.find("alice: imported TOTP"), std::string::npos) << imp.out;
    EXPECT_EQ(authctl({"verify", "-u", "alice", oathtool_totp(secret, std::time(nullptr) + 30)}).code, 0);
    EXPECT_EQ(authctl({"verify", "-u", "alice", scratch[0]}).code, 0) << "scratch codes become recovery codes";
    EXPECT_EQ(authctl({"verify", "-u", "alice", scratch[0]}).code, 1) << "once";
    EXPECT_TRUE(status_json("alice").at("confirmed").get<bool>());

    // HOTP.
    const std::string hotp_file = tmp_ / "ga-hotp";
    ga = run_cmd(
        {"google-authenticator", "-c", "-f", "-C", "-q", "-Q", "NONE", "-u", "-w", "3", "-e", "2", "-s", hotp_file});
    ASSERT_EQ(ga.code, 0) << ga.err;
    const std::string htext = test::read_file(hotp_file);
    ASSERT_NE(htext.find("HOTP_COUNTER"), std::string::npos);
    ASSERT_EQ(::chown(hotp_file.c_str(), 1001, 1001), 0);
    imp = authctl({"import", "google-authenticator", "-u", "bob", hotp_file});
    EXPECT_EQ(imp.code, 0) << imp.err;
    const std::string hsecret = htext.substr(0, htext.find('\n'));
    EXPECT_EQ(authctl({"verify", "-u", "bob", oathtool_hotp(hsecret, 1)}).code, 0) << htext;

    // Refusals: a file owned by someone else, a symlink, garbage; and no replacing without --force.
    EXPECT_EQ(authctl({"import", "google-authenticator", "-u", "carol", totp_file}).code, 1);
    ASSERT_EQ(::symlink(totp_file.c_str(), (tmp_ / "link").c_str()), 0);
    EXPECT_EQ(authctl({"import", "google-authenticator", "-u", "alice", "--force", tmp_ / "link"}).code, 1);
    test::write_file(tmp_ / "junk", "not base32!\n");
    ASSERT_EQ(::chown((tmp_ / "junk").c_str(), 1002, 1002), 0);
    CmdResult junk = authctl({"import", "google-authenticator", "-u", "carol", tmp_ / "junk"});
    EXPECT_EQ(junk.code, 1);
    EXPECT_NE(junk.err.find("line 1"), std::string::npos) << junk.err;
    EXPECT_FALSE(status_json("carol").at("enrolled").get<bool>());
}

TEST_F(Cli, ImportsPamOathUsersfiles)
{
    const std::string key = "3132333435363738393031323334353637383930";  // RFC 4226 key
    test::write_file(tmp_ / "users.oath",
                     "# pam_oath usersfile\n"
                     "HOTP alice - " +
                         key +
                         " 5\n"
                         "HOTP/T30/6 bob - " +
                         key +
                         "\n"
                         "HOTP/T30 carol 1234 " +
                         key +
                         "\n"
                         "HOTP/E/8 nosuchuser - " +
                         key + "\n",
                     0600);
    const CmdResult r = authctl({"import", "oath", tmp_ / "users.oath"});
    EXPECT_EQ(r.code, 1) << "two lines could not be imported";
    EXPECT_NE(r.out.find("alice: imported"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bob: imported"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("carol: has a PIN"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nosuchuser: no such user"), std::string::npos) << r.err;
    const std::string b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    EXPECT_EQ(authctl({"verify", "-u", "alice", oathtool_hotp(b32, 4)}).code, 1) << "counter 4 is behind 5";
    EXPECT_EQ(authctl({"verify", "-u", "alice", oathtool_hotp(b32, 5)}).code, 0);
    EXPECT_EQ(authctl({"verify", "-u", "bob", oathtool_totp(b32, std::time(nullptr) + 30)}).code, 0);
}

TEST_F(Cli, AuditFindsUnenrolledAdminsAndUnsafeState)
{
    // tests/module/data/group: sudo has alice. The users here are nss_wrapper's,
    // which sudo (run with a clean environment) cannot see: --no-sudo. sudo's
    // side is tested in cli.audit_sudo_in_private_namespace.
    enroll_json("bob");
    CmdResult r = authctl({"audit", "--group", "sudo", "--no-sudo"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("alice (group sudo): not enrolled"), std::string::npos) << r.out;
    r = authctl({"audit", "--group", "sudo", "--no-sudo", "--json"});
    EXPECT_EQ(r.code, 1);
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.at("findings").size(), 1U) << r.out;
    EXPECT_EQ(j.at("findings").at(0), nlohmann::json({{"kind", "not_enrolled"},
                                                      {"user", "alice"},
                                                      {"group", "sudo"},
                                                      {"via", "group"},
                                                      {"detail", nullptr},
                                                      {"message", "alice (group sudo): not enrolled"}}));
    EXPECT_EQ(j.at("sudo"), nullptr);
    EXPECT_EQ(j.at("notes").at(0).at("kind"), "sudo_not_asked");
    enroll_json("alice");
    r = authctl({"audit", "--group", "sudo", "--no-sudo"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("alice (group sudo): enrollment not confirmed yet"), std::string::npos) << r.out;
    const std::string secret = authctl({"show", "-u", "alice", "--json"}).out;
    const std::string s = nlohmann::json::parse(secret).at("secret");
    ASSERT_EQ(authctl({"verify", "-u", "alice", oathtool_totp(s, std::time(nullptr) + 30)}).code, 0);
    r = authctl({"audit", "--group", "sudo", "--no-sudo", "--json"});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(nlohmann::json::parse(r.out).at("findings").empty());
    r = authctl({"audit", "--group", "nosuchgroup", "--no-sudo", "--json"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(nlohmann::json::parse(r.out).at("findings").at(0).at("kind"), "no_such_group") << r.out;
    ASSERT_EQ(::chmod(state_.c_str(), 0755), 0);
    r = authctl({"audit", "--group", "sudo", "--no-sudo"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.out.find("group or others"), std::string::npos) << r.out;
}

// issue 19, point 5: enroll binds the record to the user's uid; status and
// audit name an orphaned record (no such user, or another uid); rebind fixes it.
TEST_F(Cli, EnrollBindsStatusAndAuditNameOrphansAndRebindFixesThem)
{
    enroll_json("alice");
    const std::string s = nlohmann::json::parse(authctl({"show", "-u", "alice", "--json"}).out).at("secret");
    EXPECT_NE(test::read_file(state_ + "/alice.rec").find("\naccount 1000 alice\n"), std::string::npos);
    nlohmann::json j = status_json("alice");
    EXPECT_EQ(j.at("binding"), "bound");
    EXPECT_EQ(j.at("orphaned"), nullptr);
    // The record of an earlier alice (uid 1500), as after userdel + useradd.
    CmdResult r = authctl({"rebind", "-u", "alice", "--uid", "1500"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "alice: record bound to uid 1500 ('alice') (was uid 1000 ('alice'))\n");
    // A record whose user is gone.
    test::write_file(state_ + "/zed.rec", test::read_file(state_ + "/alice.rec"), 0600);
    r = authctl({"status"});
    EXPECT_NE(r.out.find("alice: ORPHANED record: the record of 'alice' belongs to uid 1500, the account has uid 1000 "
                         "(check, then `authctl rebind -u alice`)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("zed: ORPHANED record: no such user"), std::string::npos) << r.out;
    j = status_json("alice");
    EXPECT_EQ(j.at("binding"), "orphaned");
    EXPECT_NE(j.at("orphaned").get<std::string>().find("belongs to uid 1500"), std::string::npos) << j;
    r = authctl({"audit", "--group", "sudo", "--no-sudo", "--json"});
    EXPECT_EQ(r.code, 1);
    std::vector<std::string> orphans;
    const auto audit = nlohmann::json::parse(r.out);
    for (const auto& f : audit.at("findings"))
        if (f.at("kind") == "orphaned_record")
            orphans.push_back(f.at("user").get<std::string>() + ": " + f.at("detail").get<std::string>());
    ASSERT_EQ(orphans.size(), 2U) << r.out;
    EXPECT_NE(orphans[0].find("alice: the record of 'alice' belongs to uid 1500"), std::string::npos) << orphans[0];
    EXPECT_EQ(orphans[1], "zed: no such user");
    r = authctl({"audit", "--group", "sudo", "--no-sudo"});
    EXPECT_NE(r.out.find("zed: orphaned record: no such user"), std::string::npos) << r.out;
    // The code is refused for the account that now has the name, and nothing is counted.
    r = authctl({"verify", "-u", "alice", oathtool_totp(s, std::time(nullptr))});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("belongs to uid 1500"), std::string::npos) << r.err;
    EXPECT_EQ(status_json("alice").at("failures"), 0);
    // Checked by the administrator: re-bound to the uid the user database gives.
    r = authctl({"rebind", "-u", "alice", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out),
              nlohmann::json({{"user", "alice"},
                              {"account", {{"uid", 1000}, {"name", "alice"}}},
                              {"was", {{"uid", 1500}, {"name", "alice"}}}}));
    EXPECT_EQ(status_json("alice").at("binding"), "bound");
    EXPECT_EQ(authctl({"verify", "-u", "alice", oathtool_totp(s, std::time(nullptr))}).code, 0);
    // Usage: a user the database does not know needs --uid; a user without a record is an error.
    r = authctl({"rebind", "-u", "nosuchuser"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("no such user 'nosuchuser' (give --uid to bind anyway)"), std::string::npos) << r.err;
    r = authctl({"rebind", "-u", "carol"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("has no record"), std::string::npos) << r.err;
}

TEST_F(Cli, ImportSaysWhatIsNotCarriedSkipsWhatIsImportedAndDryRunWritesNothing)
{
    // A file as pam_google_authenticator leaves it after some use: a learnt
    // clock skew, rate limiting with login times, a wide window.
    const std::string secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const std::string file = tmp_ / "ga";
    test::write_file(file,
                     secret +
                         "\n\" RATE_LIMIT 3 30 1700000000 1700000010\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 56666666\n"
                         "\" TIME_SKEW -2\n\" RESETTING_TIME_SKEW 56666666+2 56666667+2\n\" TOTP_AUTH\n12345678\n",
                     0600);
    ASSERT_EQ(::chown(file.c_str(), 1000, 1000), 0);  // alice's own

    // --dry-run: the same report, nothing written (not even the state directory).
    CmdResult r = authctl({"import", "google-authenticator", "-u", "alice", "--dry-run", file});
    EXPECT_EQ(r.code, 0) << "no state directory yet: every file would be imported: " << r.err;
    EXPECT_EQ(r.out.rfind("alice: would import TOTP", 0), 0U) << r.out;
    EXPECT_FALSE(std::filesystem::exists(state_)) << "a dry run created the state directory";
    ASSERT_EQ(::mkdir(state_.c_str(), 0700), 0);
    auto listing = [&] {
        std::string names;
        for (const auto& e : std::filesystem::directory_iterator(state_)) names += e.path().filename().string() + " ";
        return names;
    };
    r = authctl({"import", "google-authenticator", "-u", "alice", "--dry-run", file});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(listing(), "") << "a dry run wrote into the state directory";
    const std::string notes =
        "alice: WINDOW_SIZE 17: not carried over; authctl accepts 3 codes (window=1: steps either side of now) for "
        "every user, set in authctl.conf\n"
        "alice: RATE_LIMIT 3 30: not carried over; authctl counts failures instead of limiting attempts: deny=3 "
        "failures within fail_interval=900 s lock the account (authctl.conf)\n"
        "alice: TIME_SKEW -2: not carried over; authctl keeps no per-user clock offset: this phone's clock was 2 "
        "step(s) off, more than window=1 allows: its codes will be refused until its clock is set right\n";
    EXPECT_EQ(r.out, "alice: would import TOTP from " + file + " with 1 scratch codes as recovery codes\n" + notes);

    r = authctl({"import", "google-authenticator", "-u", "alice", file});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "alice: imported TOTP from " + file + " with 1 scratch codes as recovery codes\n" + notes);
    EXPECT_TRUE(status_json("alice").at("confirmed").get<bool>());

    // Again: skipped, exit 0, the record untouched (a scratch code used since stays used).
    EXPECT_EQ(authctl({"verify", "-u", "alice", "12345678"}).code, 0);
    r = authctl({"import", "google-authenticator", "-u", "alice", "--force", file});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out,
              "alice: skipped: already imported (the same secret is enrolled; --force does not import it "
              "again)\n");
    EXPECT_EQ(authctl({"verify", "-u", "alice", "12345678"}).code, 1) << "the used scratch code came back";

    // Another secret already enrolled: refused without --force, one line.
    enroll_json("bob");
    ASSERT_EQ(::chown(file.c_str(), 1001, 1001), 0);
    r = authctl({"import", "google-authenticator", "-u", "bob", file});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "authctl: bob: already enrolled with another secret; not imported (--force replaces it)\n");
    r = authctl({"import", "google-authenticator", "-u", "bob", "--force", file});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("bob: imported TOTP from " + file +
                         " with 1 scratch codes as recovery codes, replacing its "
                         "enrollment\n"),
              std::string::npos)
        << r.out;

    // A WINDOW_SIZE that accepts what authctl's window accepts is not reported;
    // an unknown option is still an error naming it.
    test::write_file(file, secret + "\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n", 0600);
    ASSERT_EQ(::chown(file.c_str(), 1002, 1002), 0);
    r = authctl({"import", "google-authenticator", "-u", "carol", "--dry-run", file});
    EXPECT_EQ(r.out, "carol: would import TOTP from " + file + " with 0 scratch codes as recovery codes\n");
    test::write_file(file, secret + "\n\" NO_SUCH_OPTION 1\n", 0600);
    ASSERT_EQ(::chown(file.c_str(), 1002, 1002), 0);
    r = authctl({"import", "google-authenticator", "-u", "carol", file});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("unknown option 'NO_SUCH_OPTION'"), std::string::npos) << r.err;
}

TEST_F(Cli, UsageErrorsExitTwoWithOneLine)
{
    const std::vector<std::vector<std::string>> bad = {
        {"enroll"},
        {"enroll", "-u", "alice", "--digits", "9"},
        {"enroll", "-u", "alice", "--period", "0"},
        {"enroll", "-u", "alice", "--algorithm", "md5"},
        {"enroll", "-u", "alice", "--totp", "--hotp"},
        {"enroll", "-u", "alice", "--qr", "jpeg"},
        {"enroll", "-u", "alice", "--grant-group", "sudo"},
        {"enroll", "-u", "alice", "--recovery-codes", "99"},
        {"reset"},
        {"reset", "-u", "alice", "--all"},
        {"lock", "-u", "alice", "--for", "0"},
        {"lock", "-u", "alice", "--for", "10", "--never"},
        {"status", "--bogus"},
        {"recovery", "-u", "alice", "--count", "0"},
        {"import", "google-authenticator"},
        {"verify"},
        {"resync", "-u", "bob", "123456"},
    };
    for (const auto& args : bad) {
        const CmdResult r = authctl(args);
        std::string joined;
        for (const auto& a : args) joined += a + " ";
        EXPECT_EQ(r.code, 2) << joined << "\n" << r.err;
        EXPECT_EQ(r.err.rfind("authctl: ", 0), 0U) << joined << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << joined << ": " << r.err;
        EXPECT_TRUE(r.out.empty()) << joined;
    }
    EXPECT_EQ(run_cmd({AUTHCTL_CLI}).code, 2);
    EXPECT_EQ(run_cmd({AUTHCTL_CLI, "nonsense"}).code, 2);
    const CmdResult help = run_cmd({AUTHCTL_CLI, "enroll", "--help"});
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("--grant-group"), std::string::npos);
}

TEST_F(Cli, UnknownUsersAndNonRootAreRefusedClearly)
{
    CmdResult r = authctl({"enroll", "-u", "mallory"});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.err, "authctl: no such user 'mallory' in the system's user database\n");
    enroll_json("alice");
    r = run_cmd({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", AUTHCTL_CLI, "status", "--dir", state_,
                 "--conf", conf_});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("needs root"), std::string::npos) << r.err;
}

TEST_F(Cli, AFailedCommandLeavesTheStoreAsItWas)
{
    const auto j = enroll_json("alice");
    const std::string before = test::read_file(state_ + "/alice.rec");
    EXPECT_EQ(authctl({"enroll", "-u", "alice"}).code, 1);
    EXPECT_EQ(authctl({"enroll", "-u", "alice", "--force", "--confirm", "--qr", "none"}, "000000\n").code, 1);
    EXPECT_EQ(authctl({"show", "-u", "alice", "--qr", "png:/nonexistent-dir/x.png"}).code, 1);
    EXPECT_EQ(test::read_file(state_ + "/alice.rec"), before);
}

TEST_F(Cli, ConcurrentCliAndModuleLoseNothing)
{
    test::write_file(conf_, "deny = 0\n", 0644);
    enroll_json("alice");
    const std::string confdir = stack();
    std::vector<pid_t> pids;
    for (int p = 0; p < 6; ++p) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            int bad = 0;
            for (int k = 0; k < 10; ++k) {
                if (p % 2 == 0) {
                    if (test::pam_run(confdir, "cli-test", "alice", {"nope"}).rc != PAM_AUTH_ERR) ++bad;
                } else {
                    if (authctl({"verify", "-u", "alice", "nope"}).code != 1) ++bad;
                    if (authctl({"status", "-u", "alice", "--json"}).code != 0) ++bad;
                }
            }
            ::_exit(bad == 0 ? 0 : 1);
        }
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int ws = 0;
        ::waitpid(pid, &ws, 0);
        EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    EXPECT_EQ(status_json("alice").at("failures"), 60);
}


// ---- Issue 17: authctl invite / uninvite, and what status and remove say of an invitation.

namespace invite_test {

// An enrollment confirmed, as `authctl enroll --confirm` leaves it.
void enroll_confirmed(const std::string& state, const std::string& user)
{
    auto store = UserStore::open_or_create(state);
    ASSERT_TRUE(store) << store.error().message();
    auto pending = prepare_enrollment({}, 0, 1700000000);
    ASSERT_TRUE(pending);
    pending->enrollment.confirmed = true;
    ASSERT_TRUE(store_enrollment(*store, user, std::move(*pending), true));
}

// One line on stderr, "authctl: " and the reason.
void expect_one_line(const CmdResult& r, const std::string& needle)
{
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("authctl: ", 0), 0U) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

// YYYY-MM-DD of local time `days` days from now, and the end of that day as ISO 8601 UTC.
std::pair<std::string, std::string> local_day(int days)
{
    std::time_t t = std::time(nullptr) + static_cast<std::time_t>(days) * 86400;
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char day[16];
    std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
    tm.tm_hour = 23;
    tm.tm_min = 59;
    tm.tm_sec = 59;
    tm.tm_isdst = -1;
    const std::time_t end = std::mktime(&tm);
    std::tm utc{};
    ::gmtime_r(&end, &utc);
    char iso[32];
    std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return {day, iso};
}

}  // namespace invite_test

TEST_F(Cli, InviteStoresAnInvitationThatStatusShowsAndUninviteAndRemoveTakeAway)
{
    CmdResult r = authctl({"invite", "-u", "bob", "--for", "2d", "--grant-group", "sudo"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.rfind("bob: invited until ", 0), 0U) << r.out;
    EXPECT_NE(r.out.find("(TOTP, SHA1, 6 digits, 30 s)"), std::string::npos) << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
    const std::string rec = test::read_file(state_ + "/bob.rec");
    EXPECT_NE(rec.find("\ninvitation "), std::string::npos) << rec;
    EXPECT_NE(rec.find("\ninvite_group sudo\n"), std::string::npos) << rec;
    EXPECT_EQ(rec.find("secret "), std::string::npos) << "no secret before the user confirms: " << rec;

    const auto j = status_json("bob");
    ASSERT_TRUE(j.at("invitation").is_object()) << j.dump();
    const auto& inv = j.at("invitation");
    EXPECT_EQ(inv.at("type"), "totp");
    EXPECT_EQ(inv.at("replace"), false);
    EXPECT_EQ(inv.at("expired"), false);
    EXPECT_EQ(inv.at("groups"), nlohmann::json::array({"sudo"}));
    EXPECT_TRUE(inv.at("invited_by").is_string()) << inv.dump();
    // Two days from now, give or take the seconds the test took.
    std::tm tm{};
    const std::string expires = inv.at("expires").get<std::string>();
    ASSERT_NE(::strptime(expires.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << expires;
    const std::int64_t at = ::timegm(&tm);
    EXPECT_NEAR(static_cast<double>(at - std::time(nullptr)), 2 * 86400.0, 30.0) << expires;
    EXPECT_EQ(j.at("enrolled"), false);
    EXPECT_TRUE(status_json("alice").at("invitation").is_null());

    r = authctl({"status"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("\nbob: invited until "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(totp; groups: sudo)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n1 user invited to enroll at login\n"), std::string::npos) << r.out;

    // Again: a new invitation replaces it.
    r = authctl({"invite", "-u", "bob", "--hotp"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("(HOTP, SHA1, 6 digits), replacing the earlier invitation"), std::string::npos) << r.out;

    r = authctl({"uninvite", "-u", "bob"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "bob: invitation withdrawn\n");
    EXPECT_FALSE(std::filesystem::exists(state_ + "/bob.rec")) << "a record made only for the invitation stays";
    r = authctl({"uninvite", "-u", "bob"});
    EXPECT_EQ(r.code, 1);
    invite_test::expect_one_line(r, "user 'bob' has no invitation");
    r = authctl({"uninvite", "-u", "nosuchuser"});
    EXPECT_EQ(r.code, 1);
    invite_test::expect_one_line(r, "no such user 'nosuchuser'");

    // remove takes the invitation with the record, and says so.
    ASSERT_EQ(authctl({"invite", "-u", "carol"}).code, 0);
    r = authctl({"remove", "-u", "carol"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("carol: enrollment, recovery codes, invitation and failure record removed"),
              std::string::npos)
        << r.out;
    EXPECT_TRUE(status_json("carol").at("invitation").is_null());
    ASSERT_EQ(authctl({"invite", "-u", "carol"}).code, 0);
    r = authctl({"remove", "-u", "carol", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).at("invitation_removed"), true) << r.out;

    // --json of invite.
    r = authctl({"invite", "-u", "dave", "--json", "--digits", "8"});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto out = nlohmann::json::parse(r.out);
    ASSERT_EQ(out.size(), 1U) << r.out;
    EXPECT_EQ(out.at(0).at("user"), "dave");
    EXPECT_EQ(out.at(0).at("invited"), true);
    EXPECT_NE(r.err.find("warning"), std::string::npos) << "8 digits: the apps warning";
}

TEST_F(Cli, InviteUntilADayMeansTheEndOfThatDayLocalTime)
{
    const auto [day, iso] = invite_test::local_day(10);
    CmdResult r = authctl({"invite", "-u", "alice", "--until", day});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(status_json("alice").at("invitation").at("expires"), iso);
    r = authctl({"invite", "-u", "alice", "--until", day + "T08:30"});
    ASSERT_EQ(r.code, 0) << r.err;
    std::tm tm{};
    ASSERT_NE(::strptime((day + "T08:30").c_str(), "%Y-%m-%dT%H:%M", &tm), nullptr);
    tm.tm_isdst = -1;
    const std::time_t t = std::mktime(&tm);
    std::tm utc{};
    ::gmtime_r(&t, &utc);
    char want[32];
    std::strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &utc);
    EXPECT_EQ(status_json("alice").at("invitation").at("expires"), want);
}

TEST_F(Cli, InviteRefusesBadInputWithOneLineAndChangesNothing)
{
    const auto [yesterday, unused1] = invite_test::local_day(-1);
    const auto [too_far, unused2] = invite_test::local_day(400);
    struct Case {
        std::vector<std::string> args;
        int code;
        std::string needle;
    };
    const std::vector<Case> cases = {
        {{"invite"}, 2, "give either -u USER or --group GROUP"},
        {{"invite", "-u", "alice", "--until", "2026-13-01"}, 2, "--until: give a date as YYYY-MM-DD"},
        {{"invite", "-u", "alice", "--until", "2027-02-30"}, 2, "--until: give a date"},
        {{"invite", "-u", "alice", "--until", "tomorrow"}, 2, "--until: give a date"},
        {{"invite", "-u", "alice", "--until", "2027-01-01T25:00"}, 2, "--until: give a date"},
        {{"invite", "-u", "alice", "--until", yesterday}, 2, "would end in the past"},
        {{"invite", "-u", "alice", "--until", "2001-01-01"}, 2, "would end in the past"},
        {{"invite", "-u", "alice", "--until", too_far}, 2, "at most 366 days"},
        {{"invite", "-u", "alice", "--for", "367d"}, 2, "at most 366 days"},
        {{"invite", "-u", "alice", "--for", "0d"}, 2, "--for: give a duration"},
        {{"invite", "-u", "alice", "--for", "5w"}, 2, "--for: give a duration"},
        {{"invite", "-u", "alice", "--for", "-1d"}, 2, "--for"},
        {{"invite", "-u", "alice", "--for", "1d", "--until", "2027-01-01"}, 2, "excludes"},
        {{"invite", "-u", "alice", "--algorithm", "md5"}, 2, "--algorithm"},
        {{"invite", "-u", "alice", "--digits", "9"}, 2, "--digits"},
        {{"invite", "-u", "alice", "--grant-group", "-x"}, 2, "not a group name"},
        {{"invite", "-u", "alice", "--grant-group", "nosuchgroup"}, 1, "no such group 'nosuchgroup'"},
        {{"invite", "-u", "alice", "--revoke-now"}, 2, "--revoke-now"},
        {{"invite", "--group", "sudo", "--replace"}, 2, "--replace is for one user"},
        {{"invite", "--group", "nosuchgroup"}, 1, "no such group 'nosuchgroup'"},
        {{"invite", "-u", "nosuchuser"}, 1, "no such user 'nosuchuser'"},
    };
    for (const auto& c : cases) {
        const CmdResult r = authctl(c.args);
        std::string line;
        for (const auto& a : c.args) line += a + " ";
        EXPECT_EQ(r.code, c.code) << line << "\n" << r.out << r.err;
        SCOPED_TRACE(line);
        invite_test::expect_one_line(r, c.needle);
        EXPECT_TRUE(r.out.empty()) << line << r.out;
    }
    // Nothing was written by any of them.
    EXPECT_FALSE(std::filesystem::exists(state_ + "/alice.rec"));
}

TEST_F(Cli, InviteAnEnrolledUserNeedsReplaceAndRevokeNowDeletesTheOldOne)
{
    invite_test::enroll_confirmed(state_, "alice");
    const std::string before = test::read_file(state_ + "/alice.rec");
    CmdResult r = authctl({"invite", "-u", "alice"});
    EXPECT_EQ(r.code, 1);
    invite_test::expect_one_line(r, "user 'alice' is already enrolled (add --replace");
    EXPECT_EQ(test::read_file(state_ + "/alice.rec"), before);

    r = authctl({"invite", "-u", "alice", "--replace"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("alice: the old enrollment works until the new one is confirmed"), std::string::npos) << r.out;
    auto j = status_json("alice");
    EXPECT_EQ(j.at("enrolled"), true);
    EXPECT_EQ(j.at("invitation").at("replace"), true);
    r = authctl({"status", "-u", "alice"});
    EXPECT_NE(r.out.find("replaces the enrollment"), std::string::npos) << r.out;

    r = authctl({"invite", "-u", "alice", "--replace", "--revoke-now"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("alice: the old enrollment was deleted (--revoke-now)"), std::string::npos) << r.out;
    j = status_json("alice");
    EXPECT_EQ(j.at("enrolled"), false);
    EXPECT_TRUE(j.at("invitation").is_object());
    EXPECT_EQ(test::read_file(state_ + "/alice.rec").find("secret "), std::string::npos);
}

TEST_F(Cli, InviteGroupInvitesTheMembersNotEnrolledAndListsTheRest)
{
    // tests/module/data/group: sudo lists alice; each user's primary group is their own.
    CmdResult r = authctl({"invite", "--group", "sudo"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("alice: invited until "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("group sudo: 1 invited (alice)\n"), std::string::npos) << r.out;
    ASSERT_EQ(authctl({"uninvite", "-u", "alice"}).code, 0);
    // A member by primary group only.
    r = authctl({"invite", "--group", "bob", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 1U) << r.out;
    EXPECT_EQ(j.at(0).at("user"), "bob");
    EXPECT_EQ(j.at(0).at("invited"), true);
    // An enrolled member is skipped and listed.
    invite_test::enroll_confirmed(state_, "alice");
    const std::string before = test::read_file(state_ + "/alice.rec");
    r = authctl({"invite", "--group", "sudo"});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("group sudo: 0 invited\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("skipped, already enrolled: alice (invite each with -u USER --replace)"), std::string::npos)
        << r.out;
    EXPECT_EQ(test::read_file(state_ + "/alice.rec"), before);
    r = authctl({"invite", "--group", "sudo", "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j, nlohmann::json::parse(R"([{"user": "alice", "invited": false, "reason": "enrolled"}])")) << r.out;
}

TEST_F(Cli, InviteIsRefusedUnderTheFleetStore)
{
    // --store fleet (or store=agent in authctl.conf): refused before the database is opened.
    for (const std::string& conf_line : {std::string("# file\n"), std::string("store = agent\n")}) {
        test::write_file(conf_, conf_line, 0644);
        std::vector<std::string> args = {AUTHCTL_CLI, "invite", "-u", "alice", "--conf", conf_,
                                         "--fleet-conf", tmp_ / "no-fleet.conf"};
        if (conf_line[0] == '#') args.insert(args.end(), {"--store", "fleet"});
        CmdResult r = run_cmd(args);
        EXPECT_EQ(r.code, 1) << conf_line << r.out << r.err;
        invite_test::expect_one_line(r, "enrollment at login is not available with store=agent yet");
        args[1] = "uninvite";
        r = run_cmd(args);
        EXPECT_EQ(r.code, 1) << r.err;
        invite_test::expect_one_line(r, "not available with store=agent yet");
    }
}

}  // namespace
}  // namespace authctl
