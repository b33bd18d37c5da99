# SPDX-License-Identifier: Apache-2.0
# Shared by the end-to-end tests: a sandbox in private mount and network
# namespaces, so the machine's /etc, /run and network are never touched.
#
# e2e_enter "$@"     re-executes the calling script inside `unshare -m -n`
#                    (returns only inside the namespace)
#                    ($work is made before and removed after, outside)
# e2e_setup          copies /etc and bind-mounts the copy over /etc, mounts a
#                    fresh tmpfs on /run, brings up a private loopback
# e2e_syslog         a private /dev built from scratch (mknod, new devpts)
#                    whose /dev/log is read by socat into $work/syslog
# e2e_sandbox "$@"   all three of the above, in that order
# syslog_lines       the messages received, one per line
# e2e_sshd, add_ssh_key, login, logged_in, prompted, told, logged: a real
#                    sshd and ssh logins to it (see each function)
# add_user NAME [GROUPS] [PASSWORD]   a test user in the copied passwd/shadow/group
# enroll NAME        enrolls NAME with the authctl under test; prints the secret
# enroll_confirmed NAME GROUP   `enroll --confirm --grant-group GROUP`, answering
#                    with the code for the URI it prints; prints its output
#                    and a last line "secret SECRET"; exit status of enroll
# code SECRET [STEPS]   the TOTP code now (or STEPS periods later), from oathtool
# pty_login USER TAG [TYPE]  USER's key login on a pseudo-terminal (ssh -tt, a
#                    UTF-8 locale) through pty_login.py: the QR code of an
#                    enrollment by invitation decoded and answered
#                    (see the function)
# check DESCRIPTION COMMAND...   runs COMMAND; counts a failure (status 1), never exits
# e2e_finish         prints the summary; exit status 1 if any check failed
# doctor_tree SERVICE...  the sandbox's configuration as a tree for
#                    `authctl doctor --root` (see the function)
# doctor_run TAG [ARGS...]  `authctl doctor --json` on that tree
# doctor_has TAG ID FILE LINE / doctor_only TAG ID...  what it found
#
# Callers set: authctl (path of the CLI), module (path of pam_authctl.so).

e2e_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

e2e_enter() {
  if [ -z "${AUTHCTL_E2E_INNER:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "$(basename "$0"): needs root (private namespaces, sshd, sudo)" >&2
      exit 1
    fi
    # $work is created and removed out here, in the machine's own mount
    # namespace, where nothing is mounted inside it: the removal can never
    # reach through a mount into the machine's /dev, /etc or /run.
    work=$(mktemp -d /tmp/authctl-e2e-XXXXXX)
    chmod 0755 "$work"
    if [ -n "${E2E_KEEP:-}" ]; then
      trap 'echo "kept $work"' EXIT
    else
      trap 'rm -rf --one-file-system "$work"' EXIT
    fi
    trap 'exit 143' TERM INT HUP
    local rc=0
    unshare --mount --net --propagation private \
      env AUTHCTL_E2E_INNER=1 AUTHCTL_E2E_WORK="$work" bash "$0" "$@" || rc=$?
    exit "$rc"
  fi
}

# e2e_sandbox "$@": the usual start, e2e_enter + e2e_setup + e2e_syslog.
e2e_sandbox() {
  e2e_enter "$@"
  e2e_setup
  e2e_syslog || exit 1
}

e2e_failures=0
e2e_checks=0
check() {
  local what=$1; shift
  e2e_checks=$((e2e_checks + 1))
  if "$@"; then
    echo "ok   - $what"
  else
    echo "FAIL - $what"
    e2e_failures=$((e2e_failures + 1))
    return 1
  fi
}

e2e_finish() {
  echo "$((e2e_checks - e2e_failures))/$e2e_checks checks passed"
  [ "$e2e_failures" -eq 0 ]
}

# Inside the namespace: stops what the test started (its mounts go with the
# namespace; the outer process removes $work).
e2e_cleanup_hooks=()
e2e_cleanup() {
  local hook
  for hook in "${e2e_cleanup_hooks[@]}"; do eval "$hook" || true; done
}

e2e_setup() {
  work=$AUTHCTL_E2E_WORK
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM HUP
  cp -a /etc "$work/etc"
  mount --bind "$work/etc" /etc
  mount -t tmpfs -o mode=0755 tmpfs /run
  ip link set lo up
  state=$work/state
  mkdir -m 0700 "$state"
  mkdir "$work/home"
  uid_next=4801
}

e2e_syslog() {
  # A /dev of our own, made from scratch (no bind of the machine's /dev, whose
  # nodes a stray removal could delete): the usual nodes, a new devpts
  # instance, a fresh /dev/shm, and later the /dev/log socket.
  mount -t tmpfs -o mode=0755 tmpfs /dev
  mknod -m 0666 /dev/null c 1 3
  mknod -m 0666 /dev/zero c 1 5
  mknod -m 0666 /dev/full c 1 7
  mknod -m 0666 /dev/random c 1 8
  mknod -m 0666 /dev/urandom c 1 9
  mknod -m 0666 /dev/tty c 5 0
  mkdir /dev/pts /dev/shm
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
  ln -s pts/ptmx /dev/ptmx
  mount -t tmpfs -o mode=1777 tmpfs /dev/shm
  ln -s /proc/self/fd /dev/fd
  ln -s /proc/self/fd/0 /dev/stdin
  ln -s /proc/self/fd/1 /dev/stdout
  ln -s /proc/self/fd/2 /dev/stderr
  : > "$work/syslog"
  setpriv --pdeathsig KILL socat -u UNIX-RECV:/dev/log,mode=0666 "OPEN:$work/syslog,append" &
  local pid=$!
  e2e_cleanup_hooks+=("kill $pid; wait $pid 2>/dev/null")
  for _ in $(seq 50); do [ -S /dev/log ] && return 0; sleep 0.1; done
  echo "FAIL - no syslog socket" >&2
  return 1
}

# e2e_sshd [CONFIG]: a real sshd on the private 127.0.0.1:$port (2222), PAM
# service "sshd" (write /etc/pam.d/sshd first), keys from $work/keys/USER,
# CONFIG appended to its config (e.g. Match blocks); stopped by its pid at
# exit. Sets sshd_pid. Also writes the askpass that `login` answers with.
port=2222
e2e_sshd() {
  ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey"
  mkdir -p "$work/keys"
  cat > "$work/sshd_config" <<SSHD_CONFIG
ListenAddress 127.0.0.1
Port $port
HostKey $work/hostkey
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
${1:-}
SSHD_CONFIG
  mkdir -p -m 0755 /run/sshd
  /usr/sbin/sshd -t -f "$work/sshd_config" || { echo "FAIL - sshd rejects the test config"; return 1; }
  setpriv --pdeathsig KILL /usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
  sshd_pid=$!
  e2e_cleanup_hooks+=("kill $sshd_pid; wait $sshd_pid 2>/dev/null")
  for _ in $(seq 100); do
    grep -q 'Server listening on 127.0.0.1' "$work/sshd.log" && break
    sleep 0.1
  done
  grep -q 'Server listening' "$work/sshd.log" || { cat "$work/sshd.log"; echo "FAIL - sshd did not start"; return 1; }

  e2e_askpass
}

# e2e_askpass: writes $work/askpass, through which the ssh client of `login`
# answers prompts: the code or the password from the files named in the
# environment; it logs each prompt.
e2e_askpass() {
  cat > "$work/askpass" <<'ASKPASS'
#!/bin/sh
echo "$1" >> "$E2E_PROMPTS"
case $1 in
  *assword*) cat "$E2E_PASSWORD" ;;
  *erification\ code*) cat "$E2E_CODE" ;;
  *) exit 1 ;;
esac
ASKPASS
  chmod 0755 "$work/askpass"
}

# add_ssh_key USER: a key pair $work/id_USER, authorized for USER.
add_ssh_key() {
  ssh-keygen -q -t ed25519 -N '' -f "$work/id_$1"
  cp "$work/id_$1.pub" "$work/keys/$1"
}

# login USER METHOD CODE [PASSWORD] [TAG]: one ssh login to e2e_sshd (or to
# $host:$port when the caller sets host; the remote command is
# $remote_command if set, which must also print "logged in as USER"); its
# stdout, stderr and the prompts shown go to $work/out.TAG, err.TAG,
# prompts.TAG, its exit status to rc.TAG. METHOD: kbd (keyboard-interactive
# only), key+kbd, key. The client tries keyboard-interactive once, or
# $password_prompts times (ssh's default is 3). With $bind set, the client
# connects from that local address (ssh -b; e.g. 127.0.0.2 on the loopback).
login() {
  local user=$1 method=$2 answer=${3:-} password=${4:-} tag=${5:-last} auth from=()
  [ -n "${bind:-}" ] && from=(-b "$bind")
  case $method in
    kbd) auth=(-o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no) ;;
    key+kbd) auth=(-o PreferredAuthentications=publickey,keyboard-interactive -i "$work/id_$user") ;;
    key) auth=(-o PreferredAuthentications=publickey -i "$work/id_$user") ;;
  esac
  printf '%s\n' "$answer" > "$work/code.$tag"
  printf '%s\n' "$password" > "$work/password.$tag"
  : > "$work/prompts.$tag"
  E2E_CODE=$work/code.$tag E2E_PASSWORD=$work/password.$tag E2E_PROMPTS=$work/prompts.$tag \
  SSH_ASKPASS=$work/askpass SSH_ASKPASS_REQUIRE=force \
    setsid -w ssh -n -F /dev/null -p "$port" -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null \
      -o StrictHostKeyChecking=no -o NumberOfPasswordPrompts="${password_prompts:-1}" -o IdentitiesOnly=yes \
      -o ConnectTimeout=20 "${from[@]}" "${auth[@]}" "$user@${host:-127.0.0.1}" "${remote_command:-echo \"logged in as \$(id -un)\"}" \
      > "$work/out.$tag" 2> "$work/err.$tag"
  echo $? > "$work/rc.$tag"
}
logged_in() { grep -qx "logged in as $1" "$work/out.${2:-last}"; }
prompted() { grep -qi "${2:-verification code}" "$work/prompts.${1:-last}"; }
# told TEXT [TAG]: what the program under test printed on stderr.
told() { grep -q "$1" "$work/err.${2:-last}"; }
# A line at facility authpriv (priorities 80-87) containing the text. (Not
# grep -q: under pipefail, the writers' SIGPIPE after an early match would
# fail the pipeline.)
logged() { syslog_lines | grep -E '^<8[0-7]>' | grep -F "$1" >/dev/null; }
# syslog_mark: how many messages have arrived so far. logged_since MARK TEXT:
# as logged, among the messages after the first MARK only (what one step
# logged, not what an earlier step already did).
syslog_mark() { syslog_lines | wc -l; }
logged_since() { syslog_lines | tail -n +"$(($1 + 1))" | grep -E '^<8[0-7]>' | grep -F "$2" >/dev/null; }

# Datagrams arrive without newlines; each starts with "<PRI>".
syslog_lines() {
  sed -E 's/<([0-9]+)>/\n<\1>/g' "$work/syslog" | sed '/^$/d'
}

add_user() {
  local name=$1 groups=${2:-} password=${3:-} hash='!' uid=$uid_next
  uid_next=$((uid_next + 1))
  [ -n "$password" ] && hash=$(openssl passwd -6 "$password")
  mkdir -p "$work/home/$name"
  echo "$name:x:$uid:$uid::$work/home/$name:/bin/sh" >> /etc/passwd
  echo "$name:$hash:19000:0:99999:7:::" >> /etc/shadow
  echo "$name:x:$uid:" >> /etc/group
  echo "$name:!::" >> /etc/gshadow
  chown "$uid:$uid" "$work/home/$name"
  local g
  for g in ${groups//,/ }; do
    gpasswd -a "$name" "$g" >/dev/null
  done
}

enroll() {
  "$authctl" enroll -u "$1" --dir "$state" --qr none --json | jq -r .secret
}

enroll_confirmed() {
  local secret='' line from to pid rc=0
  coproc ENROLL { "$authctl" enroll -u "$1" --dir "$state" --confirm --qr none --grant-group "$2" 2>&1; }
  # bash forgets a coproc's pid and fds once it exits: keep them.
  pid=$ENROLL_PID
  exec {from}<&"${ENROLL[0]}" {to}>&"${ENROLL[1]}"
  while IFS= read -r line <&"$from"; do
    echo "$line"
    case $line in otpauth://*) secret=${line#*secret=}; secret=${secret%%&*}; break ;; esac
  done
  [ -n "$secret" ] && code "$secret" >&"$to"
  exec {to}>&-
  cat <&"$from"
  exec {from}<&-
  wait "$pid" || rc=$?
  echo "secret $secret"
  return "$rc"
}

# pty_login USER TAG: the real ssh client with USER's key ($work/id_USER,
# publickey then keyboard-interactive) on a pseudo-terminal in a UTF-8
# locale, as a user at a terminal (tests/e2e/pty_login.py): an invitation's
# "Code shown by your app" is answered with oathtool's code for the QR code
# it printed (decoded with zbarimg; the URI in $work/uri.TAG), a
# "Verification code" with $work/code.TAG (write it first). What the
# terminal showed is in $work/out.TAG, the exit status in $work/rc.TAG.
pty_login() {
  local user=$1 tag=$2
  [ -e "$work/code.$tag" ] || : > "$work/code.$tag"
  LANG=C.UTF-8 LC_ALL=C.UTF-8 setsid -w python3 "$e2e_lib_dir/pty_login.py" "$work/out.$tag" "$work/uri.$tag" \
    "$work/code.$tag" ssh -tt -F /dev/null -p "$port" -o UserKnownHostsFile=/dev/null \
    -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o IdentitiesOnly=yes -o ConnectTimeout=20 \
    -o LogLevel=ERROR -o PreferredAuthentications=publickey,keyboard-interactive -o NumberOfPasswordPrompts=1 \
    -i "$work/id_$user" "$user@${host:-127.0.0.1}" 'echo "logged in as $(id -un)"'
  echo $? > "$work/rc.$tag"
}

code() {
  local at=$(( $(date +%s) + 30 * ${2:-0} ))
  oathtool --totp -b -N "@$at" "$1"
}

# One field of `authctl status -u USER --json` (which exits 1 when the user
# is locked: that is an answer too, so a caller under `set -e -o pipefail`
# is not stopped by it).
status_field() {
  { "$authctl" status -u "$1" --dir "$state" --json || [ $? -eq 1 ]; } | jq -r ".[0].$2"
}

# doctor_tree SERVICE...: $work/doctor, a tree holding the sandbox's
# configuration as the e2e test wrote it, for `authctl doctor --root`: the
# named files of /etc/pam.d, $work/sshd_config (if e2e_sshd wrote one) as
# etc/ssh/sshd_config, an authctl.conf naming the test's state directory
# (bind-mounted at the same path in the tree), and the built module at its
# absolute path (as the stacks name it). $work/doctor-modules is libpam's
# module directory with the built module added (--module-dir). Edit the
# tree's files to introduce a bypass; call again for a fresh copy.
doctor_tree() {
  local r=$work/doctor sys
  sys=$(dirname "$(ls /usr/lib/*/security/pam_unix.so /lib/*/security/pam_unix.so 2>/dev/null | head -1)")
  [ -d "$work/doctor-modules" ] || {
    mkdir "$work/doctor-modules"
    ln -s "$sys"/*.so "$work/doctor-modules/"
    ln -sf "$module" "$work/doctor-modules/pam_authctl.so"
  }
  # The state is bind-mounted from the same file system: unmount it first,
  # or the removal below (--one-file-system cannot tell) would reach into it.
  if mountpoint -q "$r$state" 2>/dev/null; then
    umount "$r$state" || { echo "FAIL - cannot unmount $r$state"; return 1; }
  fi
  rm -rf --one-file-system "$r"
  mkdir -p "$r/etc/pam.d" "$r/etc/ssh" "$r/etc/security" "$r$state" "$r$(dirname "$module")"
  local s
  for s in "$@"; do cp "/etc/pam.d/$s" "$r/etc/pam.d/$s"; done
  [ -f "$work/sshd_config" ] && cp "$work/sshd_config" "$r/etc/ssh/sshd_config"
  echo "dir = $state" > "$r/etc/security/authctl.conf"
  mount --bind "$state" "$r$state"
  ln -s "$module" "$r$module"
}

# doctor_run TAG [ARGS...]: `authctl doctor --json` on $work/doctor; the JSON
# in $work/doctor.TAG, the exit status in $work/doctor_rc.TAG, the time it
# took added to $doctor_ms.
doctor_ms=0
doctor_run() {
  local tag=$1 t0; shift
  t0=$(date +%s%N)
  "$authctl" doctor --root "$work/doctor" --module-dir "$work/doctor-modules" --json "$@" \
    > "$work/doctor.$tag" 2> "$work/doctor_err.$tag"
  echo $? > "$work/doctor_rc.$tag"
  doctor_ms=$((doctor_ms + ($(date +%s%N) - t0) / 1000000))
}
# doctor_exit TAG CODE: doctor exited with CODE (prints its output if not).
doctor_exit() {
  [ "$(cat "$work/doctor_rc.$1")" = "$2" ] && return 0
  echo "  doctor exited $(cat "$work/doctor_rc.$1"), expected $2:"
  sed 's/^/    /' "$work/doctor.$1" "$work/doctor_err.$1"
  return 1
}
# doctor_has TAG ID FILE LINE: a finding ID (error or warning) at FILE:LINE
# (LINE null: a finding about the whole file).
doctor_has() {
  jq -e --arg id "$2" --arg file "$3" --argjson line "$4" \
    '[.findings[] | select(.id == $id and .file == $file and .line == $line and .severity != "note")] | length == 1' \
    "$work/doctor.$1" >/dev/null && return 0
  echo "  no $2 at $3:$4 in:"; sed 's/^/    /' "$work/doctor.$1"
  return 1
}
# doctor_only TAG ID...: the errors and warnings are exactly these IDs (notes
# are allowed), and nothing went unchecked.
doctor_only() {
  local tag=$1; shift
  local want got
  want=$(printf '%s\n' "$@" | sort | paste -sd' ')
  got=$(jq -r '.findings[] | select(.severity != "note") | .id' "$work/doctor.$tag" | sort | paste -sd' ')
  [ "$got" = "$want" ] && jq -e '.unchecked == []' "$work/doctor.$tag" >/dev/null && return 0
  echo "  expected only [$want], got [$got]:"; sed 's/^/    /' "$work/doctor.$tag"
  return 1
}
