#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A throwaway PostgreSQL 15 server for the fleet tests: TLS only (a test CA and
# a server certificate for localhost / 127.0.0.1), SCRAM passwords, its own
# port, socket directory and logs, all under one directory. Never touches
# /etc/postgresql or /var/run/postgresql. Run as root.
#
#   pg_test_server.sh start DIR         create DIR (absent or empty; its parent must exist),
#                                       set up and start the server; prints DIR/env's path
#   pg_test_server.sh stop DIR          stop it (immediate; SIGKILL after a bounded wait);
#                                       safe twice, and after a start that failed halfway
#   pg_test_server.sh restart DIR       stop (fast) and start again on the same port
#   pg_test_server.sh pause DIR         SIGSTOP the postmaster and all its children
#   pg_test_server.sh resume DIR        SIGCONT them
#   pg_test_server.sh psql DIR ARGS...  psql as the superuser over TLS (verify-full) to
#                                       database authctl (-X, ON_ERROR_STOP=1; ARGS may override)
#   pg_test_server.sh dump DIR OUT      pg_dump of database authctl, plain SQL, to OUT
#
# Replication (a primary and a hot standby, both under this script):
#   pg_test_server.sh standby PRIMARY_DIR DIR sync|async
#                                       make DIR a hot standby of the server in PRIMARY_DIR:
#                                       pg_basebackup (role replicator, TLS verify-full, SCRAM
#                                       with channel binding), the primary's CA, certificate,
#                                       passwords and fleet.key copied, standby.signal and
#                                       primary_conninfo (application_name pgt_PORT). sync: the
#                                       primary's synchronous_standby_names becomes pgt_PORT
#                                       (reloaded; synchronous_commit = on everywhere); async:
#                                       cleared. Returns once the standby streams (and, sync, is
#                                       the primary's synchronous standby). If DIR held a server
#                                       (the old primary after a failover) it is stopped, its
#                                       data wiped and rebuilt on the SAME port, so a fleet.conf
#                                       naming both ports stays valid round after round.
#                                       Holds DIR's lock, not PRIMARY_DIR's: one standby command
#                                       per primary at a time (it rewrites the primary's settings).
#   pg_test_server.sh promote DIR       pg_ctl promote; returns once it accepts writes; it then
#                                       has no synchronous standby until one is attached
#   pg_test_server.sh crash DIR         SIGKILL the postmaster and all its children at once (no
#                                       shutdown, no checkpoint); returns once they are gone
#   pg_test_server.sh fleet-conf DIR OUT DIR2...
#                                       write OUT (root 0600): a fleet.conf naming DIR's server
#                                       then each DIR2's (host = 127.0.0.1,127.0.0.1, port =
#                                       P1,P2, target_session_attrs = read-write), with DIR's
#                                       password, CA and key (which standby made identical)
#
# start, standby: with PGT_WATCH_PID=PID in the environment, the server is
# stopped once process PID is gone (a test that crashed leaves nothing running). With
# PGT_LISTEN_EXTRA=IP[,IP...] it also listens on those addresses (which must
# exist already, e.g. a bridge in a test's network namespace), its certificate
# names them too, and pg_hba lets clients in from their subnets ("samenet").
#
# The postmaster is started (pg_ctl start) under a small keeper process
# (python3, detached with setsid) that is a child subreaper: when pg_ctl exits
# the postmaster becomes the keeper's child and is reaped the moment it exits,
# whatever the system's init does, so once `stop` returns kill(PID, 0) fails.
# The keeper also watches PGT_WATCH_PID; it exits when the postmaster is gone.
#
# DIR after start:
#   env               shell-sourceable: PGT_PORT PGT_HOST PGT_DB PGT_USER PGT_PASSWORD_FILE
#                     PGT_SUPER_USER PGT_SUPER_PASSWORD_FILE PGT_CA PGT_WRONG_CA PGT_PID
#                     PGT_DATA PGT_BIN PGT_DIR PGT_LOG PGT_FLEET_CONF PGT_KEY_FILE
#   fleet.conf        a ready authctl fleet.conf (root 0600) for this server
#   replication.password, repl.pgpass   the replicator role's password (repl.pgpass: the
#                     standby's copy for primary_conninfo, postgres 0600)
#   data/pgt-repl.conf   replication settings (synchronous_standby_names or primary_conninfo)
#   fleet.key         a fleet keyring (root 0600): "key k1 BASE64" and "current k1"
#   authctl.password  the authctl role's password (root 0600); super.password: the superuser's
#   tls/              ca.pem ca.key, server.pem server.key (postgres 0600), wrong-ca.pem
#                     wrong-ca.key (an unrelated CA, for negative tests)
#   data/ sock/ log/  the cluster, its Unix socket, postgresql.log and harness.log
#
# Errors: one line on stderr, "pg_test_server: ...", exit status 1.
set -euo pipefail
# A clean environment: nothing from the caller (the tests' LD_PRELOADed
# nss_wrapper, PG* variables, sanitizer options) reaches a client or the server.
if [ -z "${PGT_CLEAN_ENV:-}" ]; then
  exec env -i PGT_CLEAN_ENV=1 PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="${HOME:-/}" LC_ALL=C TZ=UTC \
    ${TMPDIR:+"TMPDIR=$TMPDIR"} ${PGT_WATCH_PID:+"PGT_WATCH_PID=$PGT_WATCH_PID"} \
    ${PGT_LISTEN_EXTRA:+"PGT_LISTEN_EXTRA=$PGT_LISTEN_EXTRA"} \
    bash "${BASH_SOURCE[0]}" "$@"
fi
umask 077

PROG=pg_test_server
SCRIPT=$(realpath -- "${BASH_SOURCE[0]}")
PGT_BIN=/usr/lib/postgresql/15/bin
SUPER=postgres
FALLBACK_USER=authctl-pgtest
PY=$(command -v /usr/bin/python3 || command -v python3 || true)

DIED=
die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  DIED=1
  exit 1
}

usage() {
  echo "usage: $PROG {start|stop|restart|pause|resume|promote|crash} DIR | standby PRIMARY_DIR DIR sync|async" \
    "| fleet-conf DIR OUT DIR2... | psql DIR [ARGS...] | dump DIR OUT" >&2
  exit 2
}

# Closes every descriptor above 2 in this (sub)shell: nothing the caller left
# open (pipes, our lock) may be inherited by the postmaster or the watchdog.
close_fds() {
  local f n
  for f in "/proc/$BASHPID/fd/"*; do
    n=${f##*/}
    if [ "$n" -gt 2 ]; then eval "exec $n>&-" 2>/dev/null || true; fi
  done
}

# Runs a command as the unprivileged server user, in DIR, with a clean environment.
as_pg() {
  (
    cd "$DIR"
    close_fds
    exec setpriv --reuid="$PGU" --regid="$PGG" --init-groups -- \
      env -i PATH=/usr/bin:/bin LC_ALL=C TZ=UTC HOME="$DIR" "$@"
  )
}

# /proc/PID/stat fields after "PID (comm) ": $1 state, $3 pgrp, $20 starttime.
proc_field() {  # PID N -> the Nth field after the command name, or nothing
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat "$2"
  local n=${!#}
  [ "$n" -ge 1 ] && [ "$n" -lt $# ] || return 1
  printf '%s\n' "${!n}"
}

# The recorded postmaster (DIR/postmaster.id: "PID STARTTIME") still exists,
# possibly as a zombie not yet reaped.
pm_exists() {
  [ -n "${PM_PID:-}" ] || return 1
  [ "$(proc_field "$PM_PID" 20 || true)" = "$PM_START" ]
}
# ... and is not a zombie.
pm_running() {
  pm_exists && [ "$(proc_field "$PM_PID" 1 || true)" != Z ]
}

load_pm_id() {
  PM_PID="" PM_START=""
  if [ -r "$DIR/postmaster.id" ]; then read -r PM_PID PM_START <"$DIR/postmaster.id" || true; fi
  if [ -z "$PM_PID" ] && [ -r "$DIR/data/postmaster.pid" ]; then
    # start failed before it recorded the postmaster: believe postmaster.pid only
    # when that process runs in our data directory.
    local p
    p=$(head -n1 "$DIR/data/postmaster.pid" 2>/dev/null || true)
    if [[ $p =~ ^[0-9]+$ ]] && [ "/proc/$p/cwd" -ef "$DIR/data" ]; then
      PM_PID=$p
      PM_START=$(proc_field "$p" 20 || true)
    fi
  fi
}

record_pm_id() {
  local p
  p=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)
  [[ $p =~ ^[0-9]+$ ]] || return 1
  PM_PID=$p
  PM_START=$(proc_field "$p" 20) || return 1
  printf '%s %s\n' "$PM_PID" "$PM_START" >"$DIR/postmaster.id.tmp"
  mv -f "$DIR/postmaster.id.tmp" "$DIR/postmaster.id"
}

# The postmaster's children (each runs setsid() itself, so there is no process
# group to signal: they are found by parent pid).
pm_children() {
  local f
  for f in /proc/[0-9]*; do
    [ "$(proc_field "${f#/proc/}" 2 2>/dev/null || true)" = "$PM_PID" ] && printf '%s\n' "${f#/proc/}"
  done
  return 0
}

# Every initdb, pg_ctl or postgres process working in DIR or DIR/data: the
# postmaster and every process it started, what a SIGKILL may leave behind, and
# what a start killed halfway (a test's deadline) left running.
data_dir_procs() {
  local f
  for f in /proc/[0-9]*; do
    if [ "$f/cwd" -ef "$DIR/data" ] || [ "$f/cwd" -ef "$DIR" ]; then
      if [ "$f/exe" -ef "$PGT_BIN/postgres" ] || [ "$f/exe" -ef "$PGT_BIN/initdb" ] ||
        [ "$f/exe" -ef "$PGT_BIN/pg_ctl" ]; then
        printf '%s\n' "${f#/proc/}"
      fi
    fi
  done
  return 0
}

# Signals the postmaster and all its children. STOP: the postmaster first (it
# forks no more), then the children; CONT the other way round; KILL: the
# children are listed before the postmaster dies (then they are reparented).
signal_server() {
  local sig=$1 kids p
  pm_exists || return 0
  kids=$(pm_children)
  [ "$sig" = CONT ] || kill "-$sig" "$PM_PID" 2>/dev/null || true
  [ "$sig" = STOP ] && kids=$(pm_children)
  for p in $kids; do kill "-$sig" "$p" 2>/dev/null || true; done
  [ "$sig" != CONT ] || kill "-$sig" "$PM_PID" 2>/dev/null || true
}

wait_until() {  # TENTHS CMD... : polls CMD every 0.05 s for at most TENTHS/10 s
  local n=$(($1 * 2))
  shift
  while [ "$n" -gt 0 ]; do
    "$@" && return 0
    sleep 0.05
    n=$((n - 1))
  done
  "$@"
}
pm_gone() { ! pm_exists; }
pm_not_running() { ! pm_running; }

take_lock() {
  exec 9>>"$DIR/.lock"
  flock -w 120 9 || die "$1 $DIR: another pg_test_server command holds $DIR/.lock"
}

load_user() {
  [ -r "$DIR/pguser" ] || return 1
  read -r PGU PGG <"$DIR/pguser"
  [ -n "$PGU" ] && [ -n "$PGG" ]
}

# Stops the server: SIGCONT (it may be paused), pg_ctl stop -m MODE (bounded),
# then SIGKILL to the postmaster and its children if it still runs 3 s later,
# then waits (bounded) until the postmaster has left the process table, so
# that kill(pid, 0) fails once this returns.
stop_server() {
  local mode=$1 quiet=${2:-}
  load_pm_id
  if pm_exists; then
    signal_server CONT  # a paused server cannot shut down
    if load_user && [ -x "$PGT_BIN/pg_ctl" ] && [ -e "$DIR/data/postmaster.pid" ]; then
      as_pg "$PGT_BIN/pg_ctl" -D "$DIR/data" -m "$mode" -w -t 20 stop >>"$HLOG" 2>&1 || true
    fi
    wait_until 30 pm_not_running || true
    if pm_running; then
      echo "$PROG: postmaster $PM_PID still running after pg_ctl stop: SIGKILL" >>"$HLOG"
      signal_server KILL
    fi
    # reaped by the keeper at once; by init if the keeper is gone (some
    # container inits reap only every few seconds)
    wait_until 100 pm_gone || true
    if pm_exists && [ "$(proc_field "$PM_PID" 1 || true)" != Z ]; then
      [ -n "$quiet" ] || die "stop $DIR: postmaster $PM_PID is still running"
      return 1
    fi
  fi
  # stragglers (children orphaned by a SIGKILL, a postmaster never recorded)
  local p
  for p in $(data_dir_procs); do
    echo "$PROG: killing leftover server process $p" >>"$HLOG"
    kill -CONT "$p" 2>/dev/null || true
    kill -KILL "$p" 2>/dev/null || true
  done
  return 0
}

free_port() {
  "$PY" -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

write_server_conf() {  # PORT
  cat >"$DATA/pgt.conf" <<EOF
# pg_test_server.sh: the test server's settings (included last by postgresql.conf)
listen_addresses = '127.0.0.1${EXTRA:+,$EXTRA}'
port = $1
unix_socket_directories = '$DIR/sock'
unix_socket_permissions = 0700
max_connections = 100
shared_buffers = 16MB
ssl = on
ssl_cert_file = '$DIR/tls/server.pem'
ssl_key_file = '$DIR/tls/server.key'
ssl_ca_file = ''
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
fsync = on
synchronous_commit = on
full_page_writes = on
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = on
logging_collector = off
# replication (standby, promote): a standby streams over TLS as role replicator
wal_level = replica
max_wal_senders = 10
wal_keep_size = 256MB
hot_standby = on
# per server, rewritten by standby/promote: synchronous_standby_names on a
# primary, primary_conninfo on a standby
include_if_exists 'pgt-repl.conf'
EOF
  chown "$PGU:$PGG" "$DATA/pgt.conf"
  chmod 0600 "$DATA/pgt.conf"
}

# The keeper (see the header). argv: OWNER-PID SCRIPT DIR COMMAND...; runs
# COMMAND in DIR, writes its exit status on fd 3 and closes it, then reaps
# children until it has none left; runs "SCRIPT stop DIR" once OWNER-PID is gone.
KEEPER_PY='# pg_test_server.sh keeper: see pg_test_server.sh
import ctypes, os, signal, sys
owner, script, d, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
try:
    os.setsid()
except OSError:
    pass
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    print("pg_test_server keeper: PR_SET_CHILD_SUBREAPER failed", file=sys.stderr, flush=True)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
os.chdir("/")

def spawn(argv):
    pid = os.fork()
    if pid == 0:
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.chdir(d)
            fd = os.open("/dev/null", os.O_RDONLY)
            os.dup2(fd, 0)
            os.closerange(3, 65536)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    return pid

def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True

child, reported, stopping = spawn(cmd), False, False
def report(code):
    global reported
    if not reported:
        os.write(3, b"%d\n" % code)
        os.close(3)
        reported = True

while True:
    try:
        while True:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            if pid == child:
                report(os.waitstatus_to_exitcode(status) % 256)
    except ChildProcessError:
        report(1)
        break
    if reported and owner > 0 and not stopping and not alive(owner):
        stopping = True
        spawn(["bash", script, "stop", d])
    signal.sigtimedwait([signal.SIGCHLD], 0.5)
'

# pg_ctl start as the server user, under a new keeper (DIR/keeper.py).
pg_ctl_start() {
  local owner=0 rc
  [ -r "$DIR/owner.pid" ] && owner=$(cat "$DIR/owner.pid")
  printf '%s' "$KEEPER_PY" >"$DIR/keeper.py"
  rc=$(
    close_fds
    "$PY" "$DIR/keeper.py" "$owner" "$SCRIPT" "$DIR" \
      setpriv --reuid="$PGU" --regid="$PGG" --init-groups -- \
      env -i PATH=/usr/bin:/bin LC_ALL=C TZ=UTC HOME="$DIR" \
      "$PGT_BIN/pg_ctl" -D "$DATA" -l "$LOG/postgresql.log" -w -t 30 -s start \
      3>&1 </dev/null >>"$HLOG" 2>&1 &
  )
  [ "$rc" = 0 ]
}

# ---------------------------------------------------------------------------

STEP=
fail_start() {
  local rc=$?
  trap - EXIT
  [ "$rc" -ne 0 ] || exit 0
  set +e
  local why=""
  [ -s "$HLOG" ] && why=$(grep -v '^[[:space:]]*$' "$HLOG" | tail -n1 | tr -d '\r' | cut -c1-200)
  stop_server immediate quiet >/dev/null 2>&1
  [ -z "$DIED" ] || exit 1
  printf '%s: start %s failed while %s%s (logs: %s)\n' "$PROG" "$DIR" "$STEP" "${why:+: $why}" "$LOG" >&2
  exit 1
}

cmd_start() {
  [ "$(id -u)" -eq 0 ] || die "start: must run as root"
  [ -x "$PGT_BIN/initdb" ] || die "start: $PGT_BIN/initdb not found (install postgresql-15)"
  command -v openssl >/dev/null || die "start: openssl not found (install openssl)"
  [ -n "$PY" ] || die "start: python3 not found (install python3)"
  # the Unix socket path (DIR/sock/.s.PGSQL.NNNNN) must fit in sockaddr_un
  [ ${#DIR} -le 80 ] || die "start: $DIR is too long for a Unix socket path (80 characters at most)"
  if [ -e "$DIR" ]; then
    if [ ! -d "$DIR" ] || [ -L "$DIR" ]; then die "start: $DIR exists and is not a directory"; fi
    [ -z "$(ls -A "$DIR")" ] || die "start: $DIR is not empty"
  else
    [ -d "$(dirname "$DIR")" ] || die "start: the parent of $DIR does not exist"
    mkdir -m 0711 "$DIR"
  fi
  chown root:root "$DIR"
  chmod 0711 "$DIR"
  mkdir -m 0700 "$DIR/log"
  LOG=$DIR/log
  HLOG=$LOG/harness.log
  : >"$HLOG"
  trap fail_start EXIT
  take_lock start

  STEP="choosing the server user"
  if id -u postgres >/dev/null 2>&1; then
    PGU=postgres
  else
    id -u "$FALLBACK_USER" >/dev/null 2>&1 ||
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$FALLBACK_USER" >>"$HLOG" 2>&1
    PGU=$FALLBACK_USER
  fi
  PGG=$(id -gn "$PGU")
  echo "$PGU $PGG" >"$DIR/pguser"
  if [[ ${PGT_WATCH_PID:-} =~ ^[0-9]+$ ]]; then echo "$PGT_WATCH_PID" >"$DIR/owner.pid"; fi
  chown "$PGU:$PGG" "$LOG"

  EXTRA=${PGT_LISTEN_EXTRA:-} SAN_EXTRA=""
  if [ -n "$EXTRA" ]; then
    local ip
    for ip in ${EXTRA//,/ }; do
      [[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "start: PGT_LISTEN_EXTRA: not an IPv4 address: $ip"
      SAN_EXTRA="$SAN_EXTRA, IP:$ip"
    done
  fi

  STEP="checking that $PGU can reach $DIR"
  if ! as_pg test -x "$DIR" 2>>"$HLOG"; then
    # the caller's temp directories: grant search (x only) on those under $TMPDIR or /tmp
    local tmp a
    tmp=$(realpath -m -- "${TMPDIR:-/tmp}")
    a=$(dirname "$DIR")
    while [ "$a" != / ]; do
      case $a in "$tmp"/* | /tmp/*) chmod o+x "$a" ;; esac
      a=$(dirname "$a")
    done
    as_pg test -x "$DIR" 2>>"$HLOG" ||
      { echo "$PGU cannot search every directory above $DIR (chmod o+x them)" >>"$HLOG"; false; }
  fi

  STEP="generating the test CA and certificates"
  local tls=$DIR/tls
  mkdir -m 0755 "$tls"
  cat >"$tls/openssl.cnf" <<EOF
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1$SAN_EXTRA
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  {
    openssl req -x509 "${ec[@]}" -config "$tls/openssl.cnf" -extensions ca_ext -days 30 \
      -subj "/CN=authctl test CA" -keyout "$tls/ca.key" -out "$tls/ca.pem"
    openssl req -x509 "${ec[@]}" -config "$tls/openssl.cnf" -extensions ca_ext -days 30 \
      -subj "/CN=authctl wrong test CA" -keyout "$tls/wrong-ca.key" -out "$tls/wrong-ca.pem"
    openssl req -new "${ec[@]}" -config "$tls/openssl.cnf" -subj "/CN=localhost" \
      -keyout "$tls/server.key" -out "$tls/server.csr"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 30 \
      -extfile "$tls/openssl.cnf" -extensions server_ext -out "$tls/server.pem"
    openssl verify -CAfile "$tls/ca.pem" -verify_hostname localhost -verify_ip 127.0.0.1 \
      -purpose sslserver "$tls/server.pem"
  } >>"$HLOG" 2>&1
  rm -f "$tls/server.csr"
  chmod 0644 "$tls/ca.pem" "$tls/wrong-ca.pem" "$tls/server.pem" "$tls/openssl.cnf"
  chmod 0600 "$tls/ca.key" "$tls/wrong-ca.key" "$tls/server.key"
  chown "$PGU:$PGG" "$tls/server.key"

  STEP="writing the passwords"
  openssl rand -hex 24 >"$DIR/super.password"
  openssl rand -hex 24 >"$DIR/authctl.password"
  openssl rand -hex 24 >"$DIR/replication.password"
  chmod 0600 "$DIR/super.password" "$DIR/authctl.password" "$DIR/replication.password"
  local super_pw user_pw repl_pw
  super_pw=$(cat "$DIR/super.password")
  user_pw=$(cat "$DIR/authctl.password")
  repl_pw=$(cat "$DIR/replication.password")
  [ -z "$EXTRA" ] || echo "$EXTRA" >"$DIR/listen_extra"

  STEP="running initdb"
  DATA=$DIR/data
  mkdir -m 0700 "$DATA" "$DIR/sock"
  chown "$PGU:$PGG" "$DATA" "$DIR/sock"
  install -m 0600 -o "$PGU" -g "$PGG" "$DIR/super.password" "$DIR/initdb.pw"
  # --no-sync: only initdb's own final fsync of the fresh cluster is skipped
  # (the OS has the files; the server itself runs with fsync = on).
  as_pg "$PGT_BIN/initdb" -D "$DATA" -U "$SUPER" --pwfile="$DIR/initdb.pw" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C --data-checksums --no-sync --no-instructions >>"$HLOG" 2>&1
  rm -f "$DIR/initdb.pw"

  STEP="configuring the server"
  printf "\n# pg_test_server.sh\ninclude 'pgt.conf'\n" >>"$DATA/postgresql.conf"
  cat >"$DATA/pg_hba.conf" <<EOF
# pg_test_server.sh: TLS with SCRAM over loopback, and the superuser on the local socket
hostssl all all 127.0.0.1/32 scram-sha-256
hostssl replication replicator 127.0.0.1/32 scram-sha-256
${EXTRA:+hostssl all all samenet scram-sha-256}
local   all $SUPER scram-sha-256
EOF

  STEP="starting the server"
  local port="" attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port) || { echo "no free TCP port found" >>"$HLOG"; false; }
    write_server_conf "$port"
    if pg_ctl_start; then break; fi
    if [ "$attempt" -lt 5 ] && grep -qE 'could not bind|Address already in use|could not create any TCP/IP sockets' \
      "$LOG/postgresql.log" 2>/dev/null; then
      echo "$PROG: port $port taken, retrying" >>"$HLOG"
      stop_server immediate quiet || true
      mv -f "$LOG/postgresql.log" "$LOG/postgresql.log.port-clash-$attempt"
      continue
    fi
    echo "pg_ctl start failed: $(tail -n1 "$LOG/postgresql.log" 2>/dev/null || true)" >>"$HLOG"
    false
  done
  record_pm_id || { echo "no postmaster.pid after start" >>"$HLOG"; false; }

  STEP="creating the authctl role and database"
  PGPASSWORD=$super_pw "$PGT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/sock" -p "$port" -U "$SUPER" \
    -d postgres -f - >>"$HLOG" 2>&1 <<EOF
CREATE ROLE authctl LOGIN PASSWORD '$user_pw';
CREATE ROLE replicator REPLICATION LOGIN PASSWORD '$repl_pw';
CREATE DATABASE authctl OWNER authctl;
EOF

  STEP="writing fleet.key, fleet.conf and env"
  {
    echo "# test fleet keyring (pg_test_server.sh)"
    echo "key k1 $(openssl rand -base64 32)"
    echo "current k1"
  } >"$DIR/fleet.key"
  write_fleet_conf "$DIR/fleet.conf" "$port"
  chmod 0600 "$DIR/fleet.key"
  write_env "$port"

  trap - EXIT
  echo "$DIR/env"
}

# An authctl fleet.conf for the servers on PORTS (one, or a comma-separated
# list: libpq tries them in turn and keeps the read-write one), with DIR's
# password, CA and key; root 0600.
write_fleet_conf() {  # OUT PORTS
  local hosts ports
  IFS=, read -ra ports <<<"$2"
  hosts=$(printf '127.0.0.1,%.0s' "${ports[@]}")
  hosts=${hosts%,}
  cat >"$1.tmp" <<EOF
# authctl fleet.conf for the test server(s) in $DIR (pg_test_server.sh)
host = $hosts
port = $2
dbname = authctl
user = authctl
password_file = $DIR/authctl.password
sslmode = verify-full
sslrootcert = $DIR/tls/ca.pem
target_session_attrs = read-write
key_file = $DIR/fleet.key
socket = $DIR/agent.sock
timeout = 5
connect_timeout = 3
pool = 4
EOF
  chmod 0600 "$1.tmp"
  mv -f "$1.tmp" "$1"
}

write_env() {  # PORT
  {
    printf '# pg_test_server.sh: the test server in %s\n' "$DIR"
    printf 'PGT_%s=%q\n' \
      PORT "$1" HOST 127.0.0.1 DB authctl USER authctl \
      PASSWORD_FILE "$DIR/authctl.password" \
      SUPER_USER "$SUPER" SUPER_PASSWORD_FILE "$DIR/super.password" \
      CA "$DIR/tls/ca.pem" WRONG_CA "$DIR/tls/wrong-ca.pem" \
      PID "$PM_PID" DATA "$DIR/data" BIN "$PGT_BIN" DIR "$DIR" LOG "$DIR/log/postgresql.log" \
      FLEET_CONF "$DIR/fleet.conf" KEY_FILE "$DIR/fleet.key"
  } >"$DIR/env.tmp"
  chmod 0600 "$DIR/env.tmp"
  mv -f "$DIR/env.tmp" "$DIR/env"
}

cmd_stop() {
  # nothing to do where start never ran (or DIR is gone)
  [ -e "$DIR/log/harness.log" ] || return 0
  [ "$(id -u)" -eq 0 ] || die "stop: must run as root"
  LOG=$DIR/log
  HLOG=$LOG/harness.log
  take_lock stop
  stop_server immediate
}

need_server() {  # what
  [ -r "$DIR/env" ] || die "$1: no test server in $DIR (no env file)"
  LOG=$DIR/log
  HLOG=$LOG/harness.log
  DATA=$DIR/data
  load_user || die "$1: $DIR/pguser missing"
}

cmd_signal() {  # pause|resume
  need_server "$1"
  take_lock "$1"
  load_pm_id
  pm_running || die "$1: the server in $DIR is not running"
  if [ "$1" = pause ]; then
    signal_server STOP
    pm_stopped() { [ "$(proc_field "$PM_PID" 1 || true)" = T ]; }
    wait_until 20 pm_stopped || die "pause: postmaster $PM_PID did not stop"
  else
    signal_server CONT
  fi
}

cmd_restart() {
  need_server restart
  take_lock restart
  local port
  port=$(sed -n 's/^PGT_PORT=//p' "$DIR/env")
  [[ $port =~ ^[0-9]+$ ]] || die "restart: no port in $DIR/env"
  stop_server fast || die "restart: could not stop the server in $DIR"
  pg_ctl_start || die "restart: pg_ctl start failed on port $port: $(tail -n1 "$LOG/postgresql.log" 2>/dev/null || true)"
  record_pm_id || die "restart: no postmaster.pid after start"
  write_env "$port"
}

client_env() {
  [ -r "$DIR/env" ] || die "$1: no test server in $DIR (no env file)"
  local port
  port=$(sed -n 's/^PGT_PORT=//p' "$DIR/env")
  [[ $port =~ ^[0-9]+$ ]] || die "$1: no port in $DIR/env"
  export PGHOST=127.0.0.1 PGPORT=$port PGDATABASE=authctl PGUSER=$SUPER \
    PGSSLMODE=verify-full PGSSLROOTCERT=$DIR/tls/ca.pem PGCONNECT_TIMEOUT=10 \
    PGAPPNAME=pg_test_server
  PGPASSWORD=$(cat "$DIR/super.password")
  export PGPASSWORD
}

# ---------------------------------------------------------------------------
# Replication: standby, promote, crash, fleet-conf

# psql as the superuser over TLS to database SDB (default postgres) of the
# server in SDIR, one query, unaligned tuples only; bounded by `timeout`.
psql_in() {  # SDIR SQL [DB]
  local port
  port=$(sed -n 's/^PGT_PORT=//p' "$1/env")
  (
    close_fds
    PGPASSWORD=$(cat "$1/super.password") PGCONNECT_TIMEOUT=5 PGAPPNAME=pg_test_server \
      timeout -k 2 20 "$PGT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -tA \
      -d "host=127.0.0.1 port=$port dbname=${3:-postgres} user=$SUPER sslmode=verify-full sslrootcert=$1/tls/ca.pem" \
      -c "$2" 2>>"$HLOG"
  )
}

# Writes SDIR/data/pgt-repl.conf (the server's replication settings) and reloads
# the server if it runs; waits (bounded) until a new session sees SETTING = VALUE.
write_repl_conf() {  # SDIR TEXT [SETTING VALUE]
  local f=$1/data/pgt-repl.conf
  printf '# pg_test_server.sh: replication settings of this server\n%s\n' "$2" >"$f.tmp"
  chown "$PGU:$PGG" "$f.tmp"
  chmod 0600 "$f.tmp"
  mv -f "$f.tmp" "$f"
  [ $# -ge 4 ] || return 0
  psql_in "$1" "SELECT pg_reload_conf()" >/dev/null || return 1
  shows() { [ "$(psql_in "$1" "SHOW $2" || true)" = "$3" ]; }
  wait_until 100 shows "$1" "$3" "$4"
}

cmd_standby() {  # PRIMARY_DIR in PDIR, DIR, MODE
  local mode=$1 pport port="" name
  [ "$(id -u)" -eq 0 ] || die "standby: must run as root"
  [ "$mode" = sync ] || [ "$mode" = async ] || die "standby: mode must be sync or async, not '$mode'"
  [ "$PDIR" != "$DIR" ] || die "standby: $DIR cannot be a standby of itself"
  [ -r "$PDIR/env" ] || die "standby: no test server in $PDIR (no env file)"
  pport=$(sed -n 's/^PGT_PORT=//p' "$PDIR/env")
  [[ $pport =~ ^[0-9]+$ ]] || die "standby: no port in $PDIR/env"
  [ ${#DIR} -le 80 ] || die "standby: $DIR is too long for a Unix socket path (80 characters at most)"
  if [ -e "$DIR/env" ]; then
    # DIR held a server (the old primary after a failover): same port, new data.
    port=$(sed -n 's/^PGT_PORT=//p' "$DIR/env")
    [[ $port =~ ^[0-9]+$ ]] || die "standby: no port in $DIR/env"
  elif [ -e "$DIR" ]; then
    if [ ! -d "$DIR" ] || [ -L "$DIR" ]; then die "standby: $DIR exists and is not a directory"; fi
    [ -z "$(ls -A "$DIR")" ] || die "standby: $DIR is not empty and holds no server"
  else
    [ -d "$(dirname "$DIR")" ] || die "standby: the parent of $DIR does not exist"
    mkdir -m 0711 "$DIR"
  fi
  chown root:root "$DIR"
  chmod 0711 "$DIR"
  mkdir -p -m 0700 "$DIR/log"
  LOG=$DIR/log
  HLOG=$LOG/harness.log
  touch "$HLOG"
  take_lock standby
  read -r PGU PGG <"$PDIR/pguser" || die "standby: $PDIR/pguser missing"
  chown "$PGU:$PGG" "$LOG"
  if [[ ${PGT_WATCH_PID:-} =~ ^[0-9]+$ ]]; then echo "$PGT_WATCH_PID" >"$DIR/owner.pid"; fi
  DATA=$DIR/data
  if [ -n "$port" ]; then
    echo "$PROG: standby: rebuilding $DIR (port $port) from $PDIR" >>"$HLOG"
    stop_server immediate || die "standby: could not stop the server in $DIR"
    rm -rf "$DATA" "$DIR/postmaster.id" "$DIR/env"
  fi
  EXTRA=""
  [ ! -r "$PDIR/listen_extra" ] || EXTRA=$(cat "$PDIR/listen_extra")

  # The primary's identity: CA, server certificate, passwords, fleet key.
  rm -rf "$DIR/tls"
  cp -a "$PDIR/tls" "$DIR/tls"
  chown -R root:root "$DIR/tls"
  chown "$PGU:$PGG" "$DIR/tls/server.key"
  local f
  for f in super.password authctl.password replication.password fleet.key pguser listen_extra; do
    [ ! -e "$PDIR/$f" ] || install -m 0600 -o root -g root "$PDIR/$f" "$DIR/$f"
  done
  mkdir -p -m 0700 "$DIR/sock"
  chown "$PGU:$PGG" "$DIR/sock"
  [ -n "$port" ] || port=$(free_port) || die "standby: no free TCP port found"
  name=pgt_$port
  printf '*:*:*:replicator:%s\n' "$(cat "$DIR/replication.password")" >"$DIR/repl.pgpass"
  chown "$PGU:$PGG" "$DIR/repl.pgpass"
  chmod 0600 "$DIR/repl.pgpass"
  local conninfo="host=127.0.0.1 port=$pport user=replicator passfile=$DIR/repl.pgpass sslmode=verify-full sslrootcert=$DIR/tls/ca.pem channel_binding=require"

  # The primary: this standby synchronous or not, before the standby exists (a
  # synchronous name nobody has yet holds no commit: the old one left with the
  # old primary, or this standby's previous life).
  if [ "$mode" = sync ]; then
    write_repl_conf "$PDIR" "synchronous_standby_names = '$name'" synchronous_standby_names "$name" ||
      die "standby: could not make $PDIR's server wait for $name (synchronous_standby_names)"
  else
    write_repl_conf "$PDIR" "synchronous_standby_names = ''" synchronous_standby_names "" ||
      die "standby: could not clear $PDIR's synchronous_standby_names"
  fi

  # --no-sync: the copy is not fsynced (a test server's host does not crash;
  # the standby itself runs with fsync = on).
  mkdir -m 0700 "$DATA"
  chown "$PGU:$PGG" "$DATA"
  as_pg timeout -k 5 120 "$PGT_BIN/pg_basebackup" -d "$conninfo application_name=pgt_basebackup" \
    -D "$DATA" -X stream -c fast --no-sync -w >>"$HLOG" 2>&1 ||
    die "standby: pg_basebackup from $PDIR failed: $(tail -n1 "$HLOG")"
  rm -f "$DATA/pgt-repl.conf"
  write_server_conf "$port"
  write_repl_conf "$DIR" "primary_conninfo = '$conninfo application_name=$name'"
  as_pg touch "$DATA/standby.signal"
  pg_ctl_start || die "standby: pg_ctl start failed on port $port: $(tail -n1 "$LOG/postgresql.log" 2>/dev/null || true)"
  record_pm_id || die "standby: no postmaster.pid after start"
  write_fleet_conf "$DIR/fleet.conf" "$port"
  write_env "$port"
  # Streaming, and (sync) the primary's synchronous standby.
  local want=async
  [ "$mode" = async ] || want=sync
  streaming() { [ "$(psql_in "$PDIR" "SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '$name'" || true)" = "streaming $want" ]; }
  wait_until 600 streaming || die "standby: $name is not streaming ($want) from $PDIR after 60 s"
  echo "$DIR/env"
}

cmd_promote() {
  need_server promote
  take_lock promote
  load_pm_id
  pm_running || die "promote: the server in $DIR is not running"
  as_pg "$PGT_BIN/pg_ctl" -D "$DATA" -w -t 60 promote >>"$HLOG" 2>&1 ||
    die "promote: pg_ctl promote failed: $(tail -n1 "$HLOG")"
  writable() { [ "$(psql_in "$DIR" "SELECT pg_is_in_recovery()::text || current_setting('transaction_read_only')" || true)" = falseoff ]; }
  wait_until 300 writable || die "promote: the server in $DIR does not accept writes 30 s after promotion"
  # A primary now, and alone: no primary_conninfo, no synchronous standby until
  # one is attached (standby DIR OTHER sync).
  write_repl_conf "$DIR" "synchronous_standby_names = ''" synchronous_standby_names "" ||
    die "promote: could not reload the server in $DIR"
}

cmd_crash() {
  need_server crash
  take_lock crash
  load_pm_id
  pm_running || die "crash: the server in $DIR is not running"
  echo "$PROG: crash: SIGKILL to postmaster $PM_PID and its children" >>"$HLOG"
  # Stopped first, it forks no more; then all of them killed, no shutdown.
  kill -STOP "$PM_PID" 2>/dev/null || true
  local p kids
  kids=$(pm_children)
  kill -KILL "$PM_PID" $kids 2>/dev/null || true
  for p in $(data_dir_procs); do kill -KILL "$p" 2>/dev/null || true; done
  wait_until 100 pm_gone || die "crash: postmaster $PM_PID still exists 10 s after SIGKILL"
  alive_kids() { local k; for k in $kids; do [ ! -d "/proc/$k" ] || [ "$(proc_field "$k" 1 || true)" = Z ] || return 0; done; return 1; }
  no_kids() { ! alive_kids; }
  wait_until 100 no_kids || die "crash: children of postmaster $PM_PID still run 10 s after SIGKILL"
}

cmd_fleet_conf() {  # OUT DIR2... (DIR: the first server)
  local out=$1 ports="" d p
  shift
  for d in "$DIR" "$@"; do
    d=$(realpath -m -- "$d")
    [ -r "$d/env" ] || die "fleet-conf: no test server in $d (no env file)"
    p=$(sed -n 's/^PGT_PORT=//p' "$d/env")
    [[ $p =~ ^[0-9]+$ ]] || die "fleet-conf: no port in $d/env"
    ports=${ports:+$ports,}$p
  done
  write_fleet_conf "$out" "$ports"
}

[ $# -ge 2 ] || usage
cmd=$1
[ -n "$2" ] || usage
DIR=$(realpath -m -- "$2")
shift 2
case $cmd in
  start) [ $# -eq 0 ] || usage; cmd_start ;;
  stop) [ $# -eq 0 ] || usage; cmd_stop ;;
  restart) [ $# -eq 0 ] || usage; cmd_restart ;;
  pause | resume) [ $# -eq 0 ] || usage; cmd_signal "$cmd" ;;
  standby)
    [ $# -eq 2 ] || usage
    PDIR=$DIR
    DIR=$(realpath -m -- "$1")
    cmd_standby "$2"
    ;;
  promote) [ $# -eq 0 ] || usage; cmd_promote ;;
  crash) [ $# -eq 0 ] || usage; cmd_crash ;;
  fleet-conf) [ $# -ge 2 ] || usage; cmd_fleet_conf "$@" ;;
  psql)
    client_env psql
    exec "$PGT_BIN/psql" -X -v ON_ERROR_STOP=1 "$@"
    ;;
  dump)
    [ $# -eq 1 ] || usage
    client_env dump
    exec "$PGT_BIN/pg_dump" --format=plain --no-password --file="$1" authctl
    ;;
  *) usage ;;
esac
