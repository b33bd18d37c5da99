#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped sshd drop-in (packaging/examples/sshd_config.d-authctl.conf) does
# what the docs say, with the real sshd: included first, as Debian's stock
# sshd_config includes sshd_config.d/*.conf, it wins over a later
# "KbdInteractiveAuthentication no" (sshd keeps the first value), `sshd -t`
# accepts it, and `sshd -T` shows its settings in effect; appended at the end
# instead, it would not win. Only files in a temporary directory are used,
# and sshd runs in a private mount namespace (its own /run). Needs root.
#
#   sshd_dropin_test.sh SOURCE_DIR
set -uo pipefail
src=$(realpath "${1:?usage: sshd_dropin_test.sh SOURCE_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../e2e/e2e_lib.sh"
[ -x /usr/sbin/sshd ] || { echo "FAIL - /usr/sbin/sshd missing (openssh-server)"; exit 1; }
work=$(mktemp -d /tmp/authctl-sshd-dropin-XXXXXX)
trap '[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf --one-file-system "$work"' EXIT
dropin=$src/packaging/examples/sshd_config.d-authctl.conf
ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey"
mkdir -p "$work/sshd_config.d"
cp "$dropin" "$work/sshd_config.d/authctl.conf"
# Debian 12's stock layout: Include first, then its own settings.
cat > "$work/sshd_config" <<CONF
Include $work/sshd_config.d/*.conf
HostKey $work/hostkey
KbdInteractiveAuthentication no
UsePAM no
CONF
# sshd wants /run/sshd: a private mount namespace with its own /run, so the
# machine's /run is not touched.
sshd() {
  unshare --mount --propagation private \
    sh -c 'mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd && exec /usr/sbin/sshd "$@"' sshd "$@"
}
effective() { sshd -T -f "$1" -C user=alice,host=h,addr=127.0.0.1 2>"$work/err" | grep -i "^$2 "; }
check "sshd -t accepts the stock layout with the drop-in" sshd -t -f "$work/sshd_config"
check "kbdinteractiveauthentication yes wins over the stock 'no'" test "$(effective "$work/sshd_config" kbdinteractiveauthentication)" = "kbdinteractiveauthentication yes"
check "usepam yes" test "$(effective "$work/sshd_config" usepam)" = "usepam yes"
check "authenticationmethods publickey,keyboard-interactive" \
  test "$(effective "$work/sshd_config" authenticationmethods)" = "authenticationmethods publickey,keyboard-interactive"
# What the old recipe did: the same lines appended after the stock ones.
{ grep -v '^Include' "$work/sshd_config"; grep -v '^#' "$dropin"; } > "$work/appended"
appended_loses() {
  ! sshd -t -f "$work/appended" 2>"$work/appended.err" &&
    grep -q 'Disabled method "keyboard-interactive"' "$work/appended.err"
}
check "appended at the end instead, the stock 'no' wins and sshd refuses the config (why the docs say drop-in)" \
  appended_loses
# The docs show the same settings, each on a line of its own that can be pasted.
man_text=$(MANWIDTH=100 man -l "$src/docs/man/pam_authctl.8" 2>/dev/null | sed 's/^ *//')
while IFS= read -r setting; do
  check "pam_authctl(8) EXAMPLES has '$setting' on a line of its own" grep -qxF "$setting" <<<"$man_text"
  for doc in README.md docs/admin-guide.md docs/pam_authctl.md; do
    check "$doc has '$setting' on a line of its own" grep -qxF "$setting" "$src/$doc"
  done
done < <(grep -vE '^(#|$)' "$dropin")
for doc in README.md docs/admin-guide.md docs/pam_authctl.md; do
  check "$doc names the drop-in directory and sshd -t" bash -c "grep -q 'sshd_config.d' '$src/$doc' && grep -q 'sshd -t' '$src/$doc'"
done
e2e_finish
