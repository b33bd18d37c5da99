# SPDX-License-Identifier: Apache-2.0
# Fleet mode end to end (sourced after e2e_lib.sh, inside e2e_sandbox): one
# PostgreSQL database and several servers, each a real sshd with its own
# authctld, in namespaces of their own inside the sandbox:
#
#   sandbox network namespace: br0 10.77.0.1/24 -- the database (also on
#   127.0.0.1) and the ssh client
#   server N (1..9): network, UTS and mount namespaces held by a `sleep`;
#   hostname fleetN, eth0 10.77.0.1N/24 (a veth whose other end is on br0), a
#   private /run (so /run/authctl/agent.sock, the default, is its own agent's),
#   and its own break-glass directory mounted on $breakglass
#
# Every server shares the sandbox's /etc: the same /etc/pam.d/sshd,
# /etc/security/authctl.conf, /etc/authctl/fleet.conf and fleet.key, as a fleet
# configured alike would have. Nothing outside the sandbox is touched; every
# process is stopped by its pid at exit.
#
# fleet_db           starts the database (tests/fleet/pg_test_server.sh with
#                    PGT_LISTEN_EXTRA=10.77.0.1), writes /etc/authctl/fleet.conf
#                    (host 10.77.0.1, verify-full) and friends
# fleet_server N [CONFIG]   makes server N and starts its authctld and its sshd
#                    (CONFIG appended to sshd_config, e.g. Match blocks); sets
#                    holder_N, agent_N, sshd_N (pids)
# on N CMD...        runs CMD in server N's namespaces
# login_on N USER METHOD CODE [PASSWORD] [TAG]   `login` (e2e_lib.sh) to server N
# next_code USER SECRET   sets otp to a TOTP code for the earliest step after the
#                    last one given for USER that is good now (waits for the clock
#                    when needed); not in a $(...) subshell, which would forget the step
# pgt ARGS...        pg_test_server.sh ARGS... (e.g. pgt stop "$pgdir")
# fleet_diagnostics  after a failure: the ends of the database's and agents' logs
#
# Callers set: authctl, module, authctld (paths), pg_test_server (the script).

fleet_net=10.77.0
breakglass=$work/breakglass
pgdir=$work/pg
# The ssh client's remote command: who and where.
remote_command='echo "logged in as $(id -un)"; echo "on $(hostname)"'

pgt() { "$pg_test_server" "$@"; }

fleet_db() {
  # A fixed address: a bridge otherwise takes the lowest of its ports', and
  # changes it as servers are added.
  ip link add br0 address 02:77:00:00:00:01 type bridge || return 1
  ip addr add "$fleet_net.1/24" dev br0
  ip link set br0 up
  mkdir -m 0700 "$breakglass"
  PGT_WATCH_PID=$$ PGT_LISTEN_EXTRA=$fleet_net.1 pgt start "$pgdir" >/dev/null || return 1
  e2e_cleanup_hooks+=("pgt stop '$pgdir'")
  # /etc/authctl as docs/fleet.md section 2 lays it out, for the database on the
  # bridge. connect_timeout: a TLS + SCRAM connection to a fresh backend can take
  # more than 3 s on a loaded machine; logins are bounded by agent_timeout anyway.
  install -d -m 0700 /etc/authctl
  install -m 0600 "$pgdir/authctl.password" /etc/authctl/fleet.password
  install -m 0600 "$pgdir/fleet.key" /etc/authctl/fleet.key
  install -m 0644 "$pgdir/tls/ca.pem" /etc/authctl/fleet-ca.pem
  install -m 0600 /dev/null /etc/authctl/fleet.conf
  cat > /etc/authctl/fleet.conf <<EOF
host = $fleet_net.1
port = $(. "$pgdir/env"; echo "$PGT_PORT")
dbname = authctl
user = authctl
password_file = /etc/authctl/fleet.password
sslmode = verify-full
sslrootcert = /etc/authctl/fleet-ca.pem
key_file = /etc/authctl/fleet.key
timeout = 8
connect_timeout = 8
pool = 2
EOF
}

# The pid of the namespace holder of server N.
holder() { local v=holder_$1; echo "${!v}"; }
on() {
  local n=$1; shift
  nsenter -t "$(holder "$n")" -n -u -m -- "$@"
}

fleet_server() {
  local n=$1 d=$work/fleet$1 pid
  mkdir -p "$d"
  mkdir -m 0700 "$d/breakglass"
  # The holder: new network, UTS and mount namespaces; it names the host, mounts
  # a private /run and the server's break-glass directory, then sleeps.
  setpriv --pdeathsig KILL unshare --net --uts --mount --propagation private \
    bash -c 'hostname "$1" && mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd &&
             mount --bind "$2" "$3" && ip link set lo up && : > "$4" && exec sleep infinity' \
    holder "fleet$n" "$d/breakglass" "$breakglass" "$d/ready" &
  pid=$!
  e2e_cleanup_hooks+=("kill $pid; wait $pid 2>/dev/null")
  declare -g "holder_$n=$pid"
  for _ in $(seq 100); do [ -e "$d/ready" ] && break; sleep 0.05; done
  [ -e "$d/ready" ] || { echo "FAIL - server $n: no namespaces"; return 1; }
  ip link add "vh$n" type veth peer name "vs$n" || return 1
  ip link set "vs$n" netns "$pid"
  ip link set "vh$n" master br0 up
  on "$n" ip link set "vs$n" name eth0
  on "$n" ip addr add "$fleet_net.1$n/24" dev eth0
  on "$n" ip link set eth0 up

  # Its agent, with the defaults: /etc/authctl/fleet.conf, /etc/security/authctl.conf,
  # /run/authctl/agent.sock (in the server's /run).
  nsenter -t "$pid" -n -u -m -- setpriv --pdeathsig KILL "$authctld" --stderr 2> "$d/authctld.log" &
  declare -g "agent_$n=$!"
  e2e_cleanup_hooks+=("kill $!; wait $! 2>/dev/null")
  for _ in $(seq 100); do on "$n" test -S /run/authctl/agent.sock && break; sleep 0.05; done
  on "$n" test -S /run/authctl/agent.sock || { cat "$d/authctld.log"; echo "FAIL - server $n: authctld did not start"; return 1; }

  # Its sshd, on port 22 of its own address.
  ssh-keygen -q -t ed25519 -N '' -f "$d/hostkey"
  mkdir -p "$work/keys"
  cat > "$d/sshd_config" <<SSHD_CONFIG
ListenAddress $fleet_net.1$n
Port 22
HostKey $d/hostkey
PidFile none
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile $work/keys/%u
StrictModes no
PermitRootLogin no
MaxStartups 100
MaxAuthTries 10
LogLevel VERBOSE
${2:-}
SSHD_CONFIG
  on "$n" /usr/sbin/sshd -t -f "$d/sshd_config" || { echo "FAIL - sshd rejects the test config"; return 1; }
  nsenter -t "$pid" -n -u -m -- setpriv --pdeathsig KILL /usr/sbin/sshd -D -e -f "$d/sshd_config" 2> "$d/sshd.log" &
  declare -g "sshd_$n=$!"
  e2e_cleanup_hooks+=("kill $!; wait $! 2>/dev/null")
  for _ in $(seq 100); do grep -qs 'Server listening' "$d/sshd.log" && break; sleep 0.1; done
  grep -q 'Server listening' "$d/sshd.log" || { cat "$d/sshd.log"; echo "FAIL - server $n: sshd did not start"; return 1; }
  [ -x "$work/askpass" ] || e2e_askpass
}

# fleet_diagnostics [always]: after a failure (or always), the ends of the database's and the
# agents' logs (E2E_KEEP=1 keeps them all).
fleet_diagnostics() {
  [ "${1:-}" = always ] || [ "$e2e_failures" -gt 0 ] || return 0
  echo "--- the last lines of $pgdir/log/postgresql.log"
  tail -n 30 "$pgdir/log/postgresql.log" 2>/dev/null
  local f
  for f in "$work"/fleet*/authctld.log; do
    echo "--- the last lines of $f"
    tail -n 15 "$f"
  done
}

login_on() {
  local host=$fleet_net.1$1 port=22
  shift
  login "$@"
}

# Tracks the last TOTP step each user was given a code for: the store accepts
# a step once, and only above the last one used (fleet-wide).
declare -A last_step=()
next_code() {
  local user=$1 secret=$2 now cur left step
  while :; do
    now=$(date +%s) cur=$((now / 30)) left=$((30 - now % 30))
    step=$((cur - 1))
    # the previous step leaves the window (1) when this one ends: not if that is soon
    [ "$left" -le 5 ] && step=$cur
    if [ -n "${last_step[$user]:-}" ] && [ "$step" -le "${last_step[$user]}" ]; then
      step=$((last_step[$user] + 1))
    fi
    [ "$step" -le $((cur + 1)) ] && break
    sleep "$left.2"
  done
  last_step[$user]=$step
  otp=$(oathtool --totp -b -N "@$((step * 30))" "$secret")
}
