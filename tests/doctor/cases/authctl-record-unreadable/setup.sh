# SPDX-License-Identifier: Apache-2.0
printf "garbage\n" >"$1/var/lib/authctl/alice.rec" && chmod 0600 "$1/var/lib/authctl/alice.rec"
