#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a test script where it sees only the users, homes and files it makes,
# whatever users and state the machine has of its own:
#   private_users.sh INNER-SCRIPT [ARG...]
# INNER-SCRIPT runs as root in a private mount namespace where
#   - /etc is a private copy of the machine's (bind-mounted over it: the
#     machine's /etc is never written; gpasswd and sudo work on the copy);
#   - /etc/passwd, shadow, group and gshadow hold root's entries only (the
#     script appends its own users and groups), and nsswitch.conf reads users
#     and groups (and sudo its rules) from those files only (no systemd, sss,
#     ldap; nscd's socket, if any, is hidden); the machine's own
#     /etc/security/authctl.conf is not there;
#   - /home and /root are empty tmpfs: no real user's home is visible;
#   - $PRIVATE_WORK is a temp dir (removed afterwards) for state and files.
set -euo pipefail
inner=$1; shift
PRIVATE_WORK=$(mktemp -d /tmp/authctl-private-XXXXXX)
export PRIVATE_WORK
trap 'rm -rf --one-file-system "$PRIVATE_WORK"' EXIT
trap 'exit 143' TERM INT HUP
cp -a /etc "$PRIVATE_WORK/etc"
# Nothing of the machine's own authctl configuration: the tests write their own.
rm -f "$PRIVATE_WORK/etc/security/authctl.conf"

unshare -m --propagation private bash -s "$inner" "$@" <<'SETUP'
set -euo pipefail
inner=$1; shift
mount --bind "$PRIVATE_WORK/etc" /etc
for f in passwd shadow group gshadow; do
  grep '^root:' "/etc/$f" > "/etc/$f.root" || true
  cat "/etc/$f.root" > "/etc/$f"   # keeps the file's owner and mode
  rm -f "/etc/$f.root" "/etc/$f-"
done
sed -i -E 's/^(passwd|group|shadow|gshadow|sudoers):.*/\1: files/' /etc/nsswitch.conf
for d in /home /root /run/nscd; do
  if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 tmpfs "$d"; fi
done
chmod 0700 /root
[ "$(getent passwd | wc -l)" -eq 1 ] || { echo "FAIL: the private namespace still sees other users"; exit 1; }
[ "$(stat -f -c %T /home)" = tmpfs ] || { echo "FAIL: /home is not private"; exit 1; }
exec bash "$inner" "$@"
SETUP
