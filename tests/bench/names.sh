# SPDX-License-Identifier: Apache-2.0
# scripts/bench, section 7 (and `scripts/bench --names`, this section alone):
# the module's wall time for one wrong answer by kind of name, with `nodelay`
# (libpam's failure delay otherwise hides any difference), issue 19: a lock,
# its messages and its timing must not tell whether a name exists or is
# enrolled. Each figure is the median (and 90th percentile) over n_names
# logins in one process (pam_bench -l), state on a tmpfs, unlocked (deny=0: every answer is
# evaluated and counted) and locked (deny=3, after 3 failures: refused
# without a prompt). Two answers: a wrong 6-digit code, and a wrong answer
# shaped like a recovery code (8-32 letters and digits: PBKDF2 for a user who
# has recovery codes).
#
# Sourced by scripts/bench inside its sandbox once its helpers are defined.
# Uses from scripts/bench: authctl module bench work state svc add_user
# run_bench die tiny. Sets names_rows (markdown rows) and prints each figure.

names_timing() {
  local n=$n_names kind ans user svc_name sorted med p90 lockout
  # Its own state directory on a tmpfs (in the sandbox's mount namespace):
  # fsync costs nothing there, so the figures are the module's own work and
  # not the disk's latency, which varies far more than the work does (a
  # guesser averages it away over many tries).
  local state=$work/names-state
  mkdir -m 0700 "$state"
  mount -t tmpfs -o mode=0700,size=64m tmpfs "$state" || { die "names: cannot mount a tmpfs"; return; }
  svc bnames "auth required $module dir=$state deny=0 deny_consecutive=0 nodelay"
  svc bnames_locked "auth required $module dir=$state deny=3 unlock_time=3600 nodelay"
  add_user bn_plain
  add_user bn_rc
  add_user bn_none
  "$authctl" enroll -u bn_plain --dir "$state" --qr none --recovery-codes 0 --json >/dev/null \
    || die "names: cannot enroll bn_plain"
  "$authctl" enroll -u bn_rc --dir "$state" --qr none --recovery-codes 10 --json >/dev/null \
    || die "names: cannot enroll bn_rc"
  for _ in $(seq "$n"); do echo 000000; done > "$work/names.code"
  for _ in $(seq "$n"); do echo abcd-efgh-ijkl-mnop; done > "$work/names.recovery"
  names_rows=''
  # user:label -- bn_ghost is in no user database.
  local who="bn_plain:enrolled bn_rc:enrolled_with_recovery_codes bn_none:known_not_enrolled bn_ghost:unknown_name"
  for lockout in unlocked locked; do
    for entry in $who; do
      user=${entry%%:*}
      for kind in code recovery; do
        "$authctl" reset -u "$user" --dir "$state" >/dev/null 2>&1 || true
        svc_name=bnames
        if [ "$lockout" = locked ]; then
          svc_name=bnames_locked
          run_bench bnames_locked "$user" "$work/names.code" 3 >/dev/null
        fi
        rm -f "$work/names.us"
        run_bench -l "$work/names.us" "$svc_name" "$user" "$work/names.$kind" "$n" > "$work/names.out"
        [ -s "$work/names.us" ] || { die "names: no timings for $user ($lockout, $kind): $(cat "$work/names.out")"; continue; }
        sorted=$(sort -n "$work/names.us")
        med=$(awk -v n="$n" 'NR == int((n + 1) / 2) {print; exit}' <<<"$sorted")
        p90=$(awk -v n="$n" 'NR == int(n * 0.9 + 0.5) {print; exit}' <<<"$sorted")
        echo "  $lockout ${entry#*:} $kind: median $med µs, p90 $p90 µs"
        names_rows+="| $lockout | ${entry#*:} | $kind | $med | $p90 |"$'\n'
      done
    done
  done
  umount "$state" 2>/dev/null || true
}
