# SPDX-License-Identifier: Apache-2.0
# Three invitations (record format 3, as `authctl invite` writes them): carol's
# expired an hour ago, dave's runs out in 5 hours, erin's in 6 days.
now=$(date +%s)
record() {  # NAME CREATED EXPIRES
  printf 'authctl-user 3\ntype none\nfailures 0\nfirst_failure 0\nlast_failure 0\nlast_source -\nlocked_until 0\ninvitation 1234567 %s %s totp SHA1 6 30 no root\nend\n' \
    "$2" "$3" >"$1/var/lib/authctl/$4.rec"
  chmod 0600 "$1/var/lib/authctl/$4.rec"
}
record "$1" $((now - 8 * 86400)) $((now - 3600)) carol
record "$1" $((now - 86400)) $((now + 5 * 3600 - 60)) dave
record "$1" $((now - 86400)) $((now + 6 * 86400)) erin
