#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fleet mode end to end: three real OpenSSH sshd servers (fleet1..fleet3), each
# in its own network, UTS and mount namespaces with its own authctld, all on
# one PostgreSQL database (tests/fleet/pg_test_server.sh) reached over TLS on a
# bridge, logged into with the real ssh client; oathtool plays the phone.
# Everything runs inside e2e_lib.sh's sandbox (tests/e2e/fleet_lib.sh has the
# layout); nothing of the machine's /etc, /run or network is touched.
#
#   fleet_sshd_test.sh AUTHCTL MODULE AUTHCTLD
set -uo pipefail
authctl=$(realpath "$1") module=$(realpath "$2") authctld=$(realpath "$3")
here=$(cd "$(dirname "$0")" && pwd)
pg_test_server=$(realpath "$here/../fleet/pg_test_server.sh")
. "$here/e2e_lib.sh"
e2e_sandbox "$@"
. "$here/fleet_lib.sh"
t_start=$SECONDS

# Refused: ssh gave up (255) without running the command.
refused() { ! logged_in "$1" "${2:-last}" && [ "$(cat "$work/rc.${2:-last}")" = 255 ]; }
logged_in_on() { logged_in "$1" "$3" && grep -qx "on $2" "$work/out.$3"; }
# One field of `authctl status -u USER --json` as server N's CLI sees the fleet.
fleet_field() { on "$1" "$authctl" status -u "$2" --json | jq -r ".[0].$3"; }
# The same on every server: prints the three values, "a/b/c".
fleet_fields() { echo "$(fleet_field 1 "$1" "$2")/$(fleet_field 2 "$1" "$2")/$(fleet_field 3 "$1" "$2")"; }
ms() { echo $(($(date +%s%N) / 1000000)); }
# A line of server N's authctld at facility authpriv containing the text.
agent_logged() { syslog_lines | grep -E '^<8[0-7]>' | grep -F "authctld[$(agent_pid "$1")]: " | grep -F "$2" >/dev/null; }
agent_pid() { local v=agent_$1; echo "${!v}"; }
# Server N's sshd log: sshd_mark N (its lines so far); sshd_logged_since N MARK TEXT.
sshd_mark() { wc -l < "$work/fleet$1/sshd.log"; }
sshd_logged_since() { tail -n +"$(($2 + 1))" "$work/fleet$1/sshd.log" | grep -F "$3" >/dev/null; }

# The policy, the agent's (every server the same, docs/fleet.md section 2).
printf 'store = agent\ndeny = 3\nunlock_time = 600\n' > /etc/security/authctl.conf
timeout=3  # the module's agent_timeout
# docs/fleet.md section 2: the PAM lines as for one server, the store from authctl.conf.
plain_stack="auth     required   $module agent_timeout=$timeout
account  required   $module agent_timeout=$timeout
account  required   pam_unix.so
session  required   pam_permit.so"
# docs/fleet.md section 4: the break-glass stack, auth and account.
breakglass_stack="auth     [success=done authinfo_unavail=ignore default=die]  $module store=agent agent_timeout=$timeout
auth     [success=done default=die]                          $module store=file dir=$breakglass
account  [success=1 ignore=ignore authinfo_unavail=ignore default=die]  $module store=agent agent_timeout=$timeout
account  required                                            $module store=file dir=$breakglass
account  required   pam_unix.so
session  required   pam_permit.so"
# The break-glass auth lines with section 2's account line, which does not fall back.
breakglass_auth_only="auth     [success=done authinfo_unavail=ignore default=die]  $module store=agent agent_timeout=$timeout
auth     [success=done default=die]                          $module store=file dir=$breakglass
account  required   $module agent_timeout=$timeout
account  required   pam_unix.so
session  required   pam_permit.so"
echo "$plain_stack" > /etc/pam.d/sshd

echo "# one database, three servers"
fleet_db || { cat "$pgdir/log/harness.log" 2>/dev/null; e2e_finish; exit 1; }
check "authctl fleet init creates the schema (from the sandbox, over TLS to $fleet_net.1)" \
  bash -c "'$authctl' fleet init >/dev/null"
# bob and admin log in as docs/fleet.md's break-glass stack expects: key and code.
for n in 1 2 3; do
  fleet_server "$n" "Match User bob,admin
  AuthenticationMethods publickey,keyboard-interactive" || { fleet_diagnostics always; e2e_finish; exit 1; }
done
echo "  database $(. "$pgdir/env"; echo "$PGT_HOST:$PGT_PORT") and $fleet_net.1; servers $fleet_net.11-13 port 22 ($(setup_t=$((SECONDS - t_start)); echo "${setup_t} s to set up"))"
check "each server has its own host name" test "$(on 1 hostname)/$(on 2 hostname)/$(on 3 hostname)" = fleet1/fleet2/fleet3
check "each server has its own agent socket (/run/authctl/agent.sock in its own /run)" \
  test "$(on 1 stat -c %d:%i /run/authctl/agent.sock)" != "$(on 2 stat -c %d:%i /run/authctl/agent.sock)"
for n in 1 2 3; do
  on "$n" "$authctld" --check > "$work/check.$n" 2>&1
  echo $? > "$work/check.rc.$n"
  check "authctld --check on fleet$n: exit 0, the database usable, the clocks agree" \
    bash -c "test \"\$(cat '$work/check.rc.$n')\" = 0 && grep -q '^authctld: ok: fleet database authctl on $fleet_net.1: schema usable; clocks agree' '$work/check.$n'"
done
sed 's/^/  /' "$work/check.1"

for u in alice carol bob admin; do add_user "$u"; add_ssh_key "$u"; done

echo "# one enrollment, on fleet2"
on 2 "$authctl" enroll -u alice --qr none --json > "$work/enroll.alice"
secret_alice=$(jq -r .secret "$work/enroll.alice")
check "authctl enroll on fleet2 prints a secret" test -n "$secret_alice"
check "...and the QR code's issuer is fleet2's host name" bash -c "jq -r .uri '$work/enroll.alice' | grep -q 'issuer=fleet2'"
check "fleet1 and fleet3 see alice enrolled" test "$(fleet_field 1 alice enrolled)/$(fleet_field 3 alice enrolled)" = true/true
for u in carol bob admin; do declare "secret_$u=$(on 1 "$authctl" enroll -u "$u" --qr none --json | jq -r .secret)"; done

echo "# alice logs in on all three; a code used on fleet1 is refused on fleet2 and fleet3"
next_code alice "$secret_alice"; c=$otp
login_on 1 alice kbd "$c" "" a1
check "alice logs in on fleet1 with a code" logged_in_on alice fleet1 a1
login_on 2 alice kbd "$c" "" a1.on2
check "the same code is refused on fleet2" refused alice a1.on2
login_on 3 alice kbd "$c" "" a1.on3
check "...and on fleet3" refused alice a1.on3
check "both refusals are counted fleet-wide (fleet1, fleet2, fleet3 see 2 failures)" test "$(fleet_fields alice failures)" = 2/2/2
next_code alice "$secret_alice"
login_on 2 alice kbd "$otp" "" a2
check "alice logs in on fleet2 with the next code" logged_in_on alice fleet2 a2
check "...and is told of the two failures fleet2 and fleet3 recorded" told 'There were 2 failed attempts since your last successful login' a2
next_code alice "$secret_alice"
login_on 3 alice kbd "$otp" "" a3
check "alice logs in on fleet3 with the one after" logged_in_on alice fleet3 a3
check "the success cleared the failures fleet-wide" test "$(fleet_fields alice failures)" = 0/0/0
check "fleet2's agent logged the replayed code as one already used, with the remote host" \
  agent_logged 2 "user alice: code already used (1 failure) (service=sshd source=$fleet_net.1 op=attempt)"

echo "# three wrong codes, one per server, lock alice on all three"
login_on 1 alice kbd 000001 "" w1
login_on 2 alice kbd 000002 "" w2
login_on 3 alice kbd 000003 "" w3
check "the three wrong codes are refused" bash -c "! grep -q 'logged in' '$work/out.w1' '$work/out.w2' '$work/out.w3'"
check "the third (on fleet3) tells her the account is locked" told 'Account locked after 3 failed attempts' w3
check "every server's CLI sees her locked with 3 failures" test "$(fleet_fields alice locked)" = true/true/true
check "...from the ssh client's address" test "$(fleet_field 2 alice from)" = "$fleet_net.1"
for n in 1 2; do
  login_on "$n" alice kbd "$(code "$secret_alice" 1)" "" lk$n
  check "fleet$n refuses even a right code" refused alice lk$n
  check "...without asking for it, with the lock message" \
    bash -c "! grep -q . '$work/prompts.lk$n' && grep -q 'Account locked after 3 failed attempts' '$work/err.lk$n'"
done
for n in 1 2 3; do
  login_on "$n" alice key "" "" key$n
  check "fleet$n refuses her public-key login (account phase)" refused alice key$n
done
check "the module logged the account phase's refusal" \
  logged 'pam_authctl(sshd:account): user alice: account denied: account locked (3 failures)'
check "the failures are still 3 (refusals of a locked user are not counted)" test "$(fleet_field 3 alice failures)" = 3
on 2 "$authctl" reset -u alice > "$work/reset.out"
check "authctl reset on fleet2 says what it did" grep -q 'alice: 3 failures cleared, account unlocked' "$work/reset.out"
for n in 1 2 3; do
  login_on "$n" alice key "" "" unlocked$n
  check "after the reset, her key logs in on fleet$n again" logged_in_on alice "fleet$n" unlocked$n
done

echo "# a lock reaches a server where the user never failed"
login_on 1 carol kbd 111111 "" c1
login_on 1 carol kbd 222222 "" c2
login_on 2 carol kbd 333333 "" c3
check "carol: two wrong codes on fleet1 and one on fleet2 lock her" told 'Account locked after 3 failed attempts' c3
login_on 3 carol key "" "" c.key3
check "fleet3, where carol never failed, refuses her public-key login" refused carol c.key3
check "fleet3's sshd says the account phase refused it" grep -q 'Access denied for user carol by PAM account configuration' "$work/fleet3/sshd.log"
on 3 "$authctl" reset -u carol >/dev/null
login_on 1 carol key "" "" c.key1
check "authctl reset on fleet3 unlocks her on fleet1" logged_in_on carol fleet1 c.key1

echo "# the break-glass stack (docs/fleet.md section 4), while the database is up"
for n in 1 2 3; do on "$n" "$authctl" fleet pull -u admin --dir "$breakglass" > "$work/pull.$n" 2>&1; done
check "authctl fleet pull copies admin into each server's break-glass directory" \
  bash -c "for n in 1 2 3; do test -n \"\$(ls '$work/fleet'\$n/breakglass)\" || exit 1; done"
check "each server's break-glass store is its own (fleet1's is not fleet2's)" \
  test "$(on 1 stat -c %i "$breakglass")" != "$(on 2 stat -c %i "$breakglass")"
echo "$breakglass_stack" > /etc/pam.d/sshd
next_code alice "$secret_alice"
login_on 1 alice kbd "$otp" "" bg.ok
check "with the database up, the break-glass stack logs alice in through the fleet" logged_in_on alice fleet1 bg.ok
login_on 2 alice kbd 000004 "" bg.wrong
check "a wrong code is refused" refused alice bg.wrong
check "...and asked once: the fleet's refusal does not fall through to the break-glass line" \
  test "$(grep -ci 'verification code' "$work/prompts.bg.wrong")" = 1
check "...and counted in the fleet" test "$(fleet_field 3 alice failures)" = 1
next_code bob "$secret_bob"
login_on 3 bob key+kbd "$otp" "" bg.bob
check "bob, not in the break-glass store, logs in through the fleet too" logged_in_on bob fleet3 bg.bob

echo "# the database hung (pg_test_server.sh pause): bounded by agent_timeout=$timeout"
# A refused login takes the module's wait, PAM's 2 s failure delay, and then
# sshd pads every failed attempt further (up to as long again: its per-user
# delay doubles until it exceeds the time taken): at most twice the sum.
refused_bound_ms=$((2 * (timeout + 2) * 1000 + 2000))
pgt pause "$pgdir"
echo "$plain_stack" > /etc/pam.d/sshd
t0=$(ms) mark=$(syslog_mark)
login_on 2 alice kbd "$(code "$secret_alice" 1)" "" hung.plain
hung_plain_ms=$(($(ms) - t0))
echo "  with the plain stack, alice's login failed after $hung_plain_ms ms (agent_timeout, PAM's 2 s failure delay, sshd's padding)"
check "alice is refused on fleet2 (plain stack)" refused alice hung.plain
check "...without a prompt" bash -c "! grep -q . '$work/prompts.hung.plain'"
check "...and the ssh client is told why, in one line" told 'The login service cannot be reached right now; try again later.' hung.plain
check "...after the module waited agent_timeout for the agent" test "$hung_plain_ms" -ge $((timeout * 1000))
check "...and ended within twice (agent_timeout + 2 s) + 2 s" test "$hung_plain_ms" -lt "$refused_bound_ms"
check "the log says why" logged_since "$mark" "pam_authctl(sshd:auth): user alice: refused: I/O error: agent did not answer within ${timeout}000 ms"
syslog_lines | grep -F 'user alice: refused: ' | tail -1 | sed -E 's/^<[0-9]+>/  log: /'
echo "$breakglass_stack" > /etc/pam.d/sshd
t0=$(ms) mark=$(syslog_mark)
login_on 1 alice kbd "$(code "$secret_alice" 1)" "" hung.alice
hung_alice_ms=$(($(ms) - t0))
echo "  with the break-glass stack, alice's login failed after $hung_alice_ms ms (agent_timeout, the break-glass line's prompt, the failure delay)"
check "with the break-glass stack, alice is refused on fleet1" refused alice hung.alice
check "...within twice (agent_timeout + 2 s) + 2 s" test "$hung_alice_ms" -lt "$refused_bound_ms"
check "...by the break-glass line: she is not in its store" logged_since "$mark" 'pam_authctl(sshd:auth): user alice: refused: no enrollment'
t0=$(ms)
next_code admin "$secret_admin"
login_on 3 admin key+kbd "$otp" "" hung.admin
hung_admin_ms=$(($(ms) - t0))
echo "  admin's break-glass login took $hung_admin_ms ms (auth and account each wait agent_timeout)"
check "admin, enrolled in fleet3's break-glass store, logs in on fleet3" logged_in_on admin fleet3 hung.admin
# (8 s for the handshakes, the shell and a loaded CI machine: a wait much
# longer than agent_timeout, a third one or one without a bound, still fails it)
check "...within twice agent_timeout plus 8 s" test "$hung_admin_ms" -lt $(((2 * timeout + 8) * 1000))
mark=$(syslog_mark)
login_on 3 bob key+kbd "$(code "$secret_bob" 1)" "" hung.bob
check "bob, not in the break-glass store, is refused on fleet3" refused bob hung.bob
check "...by the break-glass line, which does not know him" logged_since "$mark" 'pam_authctl(sshd:auth): user bob: refused: no enrollment'
pgt resume "$pgdir"
# Without the break-glass lines, so that only the fleet can let her in.
echo "$plain_stack" > /etc/pam.d/sshd
login_on 2 alice key "" "" resumed
check "the database resumed: alice's key login passes fleet2's account phase again (plain stack)" logged_in_on alice fleet2 resumed

echo "# the database stopped (pg_test_server.sh stop)"
echo "$breakglass_stack" > /etc/pam.d/sshd
pgt stop "$pgdir"
t0=$(ms) mark=$(syslog_mark)
login_on 2 alice kbd "$(code "$secret_alice" 1)" "" down.alice
down_alice_ms=$(($(ms) - t0))
echo "  alice's login failed after $down_alice_ms ms"
check "alice is refused on fleet2" refused alice down.alice
# (the break-glass line's prompt follows: ssh shows the message with that
# prompt, which the askpass receives, not on stderr)
check "...told that the login service cannot be reached, before the break-glass prompt" \
  prompted down.alice 'The login service cannot be reached right now'
check "...which then asked for the break-glass code" prompted down.alice 'verification code'
check "...sooner than with the hung database: nothing to wait for (${down_alice_ms} < ${hung_alice_ms} ms)" test "$down_alice_ms" -lt "$hung_alice_ms"
# Nothing to wait for: PAM's 2 s failure delay, padded by sshd up to as long
# again, 2 s, and 4 s for a loaded CI machine; a login that waited agent_timeout
# or longer before failing shows above (hung_alice_ms), one that waited far
# longer (a connect timeout, no bound) here.
down_bound_ms=$((2 * 2 * 1000 + 2000 + 4000))
check "...within twice the 2 s failure delay, 2 s, and 4 s of slack ($down_bound_ms ms)" test "$down_alice_ms" -lt "$down_bound_ms"
# (the first request may still find a pooled connection the server dropped: "connection lost")
check "the log says the agent lost or could not reach the database" bash -c "syslog_lines() { sed -E 's/<([0-9]+)>/\n<\1>/g' '$work/syslog' | sed '/^\$/d'; }
  syslog_lines | tail -n +$((mark + 1)) |
  grep -E 'pam_authctl\(sshd:auth\): user alice: refused: I/O error: agent: (fleet database connection lost|cannot connect to the fleet database)' >/dev/null"
syslog_lines | grep -F 'user alice: refused: ' | tail -2 | sed -E 's/^<[0-9]+>/  log: /'
mark=$(syslog_mark)
login_on 3 bob key+kbd "$(code "$secret_bob" 1)" "" down.bob
check "bob is refused on fleet3" refused bob down.bob
check "...by the break-glass line, which does not know him" logged_since "$mark" 'pam_authctl(sshd:auth): user bob: refused: no enrollment'
login_on 1 alice key "" "" down.key
check "alice's key-only login (this sshd asks her no code) is admitted by the account fallback: docs/fleet.md says so" \
  logged_in_on alice fleet1 down.key
echo "$breakglass_auth_only" > /etc/pam.d/sshd
next_code admin "$secret_admin"
mark=$(syslog_mark) smark=$(sshd_mark 3)
login_on 3 admin key+kbd "$otp" "" down.admin.authonly
check "with only the auth lines falling back, the account phase refuses even admin" refused admin down.admin.authonly
check "...after the break-glass line accepted his code (in this login)" \
  logged_since "$mark" 'pam_authctl(sshd:auth): user admin: accepted a one-time code'
check "...and the fleet's account line refused him (in this login)" \
  logged_since "$mark" 'pam_authctl(sshd:account): user admin: refused: I/O error: agent: '
# (sshd 9.2 runs the account phase of keyboard-interactive/pam in its PAM
# process: a refusal there fails the method, no "Access denied ... by PAM
# account configuration")
check "...which failed fleet3's keyboard-interactive/pam for him (in this login)" \
  sshd_logged_since 3 "$smark" 'Failed keyboard-interactive/pam for admin from'
echo "$breakglass_stack" > /etc/pam.d/sshd
next_code admin "$secret_admin"
login_on 3 admin key+kbd "$otp" "" down.admin
check "with the account lines falling back too, admin logs in on fleet3" logged_in_on admin fleet3 down.admin
login_on 3 admin key+kbd "$otp" "" down.admin.replay
check "the break-glass store refuses its own used code" refused admin down.admin.replay
check "fleet3's agent names the unreachable database (after a first request that may find its pooled connection lost)" \
  agent_logged 3 "error, nothing decided: I/O error: cannot connect to the fleet database: connection to server at \"$fleet_net.1\", port $(. "$pgdir/env"; echo "$PGT_PORT") failed: Connection refused"

echo "# the database back (pg_test_server.sh restart, same port): no restart of sshd or the agents"
# The plain stack again: a login now passes only if the fleet decides it.
echo "$plain_stack" > /etc/pam.d/sshd
pgt restart "$pgdir"
# Before any login (a success clears the failures): the one failure recorded
# while the database was up (bg.wrong), none from the hung or stopped database.
check "the outage counted nothing: still 1 failure" test "$(fleet_field 2 alice failures)" = 1
next_code alice "$secret_alice"
login_on 1 alice kbd "$otp" "" back
check "alice logs in on fleet1 with a code" logged_in_on alice fleet1 back
check "...told of the failure recorded while the database was up" told 'There was 1 failed attempt since your last successful login' back
login_on 3 alice key "" "" back.key
check "...and with her key on fleet3" logged_in_on alice fleet3 back.key
check "...and her failures are cleared" test "$(fleet_field 2 alice failures)" = 0
for n in 1 2 3; do
  a=agent_$n s=sshd_$n
  check "fleet$n's authctld and sshd are the ones started at the beginning" kill -0 "${!a}" "${!s}"
done

echo "# the database restarted while the agents are idle: the next login on each server works"
# (each agent holds a pooled connection from before; authctld once handed it
# out and the login was refused: "connection lost: SSL SYSCALL error")
for n in 1 2 3; do login_on "$n" alice key "" "" warm$n; done
check "alice's key logs in on every server (each agent keeps a connection)" \
  bash -c "grep -qx 'logged in as alice' '$work/out.warm1' && grep -qx 'logged in as alice' '$work/out.warm2' && grep -qx 'logged in as alice' '$work/out.warm3'"
pgt restart "$pgdir"
for n in 1 2 3; do
  login_on "$n" alice key "" "" restarted$n
  check "alice's first key login on fleet$n after the restart" logged_in_on alice "fleet$n" restarted$n
done

echo "# the database stopped at once (immediate shutdown, as in a crash) and started again while the agents are idle"
for n in 1 2 3; do login_on "$n" alice key "" "" warmc$n; done
pgt stop "$pgdir"
pgt restart "$pgdir"
for n in 1 2 3; do
  login_on "$n" alice key "" "" crashed$n
  check "alice's first key login on fleet$n after the database came back" logged_in_on alice "fleet$n" crashed$n
done

echo "# the log"
all_codes=$(cat "$work"/code.* | sort -u | grep -v '^$')
check "no code that was typed ever reaches the syslog" bash -c "! grep -qFf <(printf '%s\n' \"\$1\") '$work/syslog'" _ "$all_codes"
check "...nor an agent's stderr" bash -c "! cat '$work'/fleet*/authctld.log | grep -qFf <(printf '%s\n' \"\$1\")" _ "$all_codes"
echo "  $(syslog_lines | grep -c pam_authctl) lines from pam_authctl, $(syslog_lines | grep -c authctld) from authctld, e.g.:"
syslog_lines | grep -E 'authctld|pam_authctl' | grep -E 'alice' | sed -n '1,6s/^/    /p'
echo "  $((SECONDS - t_start)) s in all"

fleet_diagnostics
e2e_finish
