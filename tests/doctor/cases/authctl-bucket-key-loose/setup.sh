# SPDX-License-Identifier: Apache-2.0
# The key of the buckets of unknown names, readable by others (a careless restore).
head -c 32 /dev/urandom >"$1/var/lib/authctl/.bucket.key" && chmod 0644 "$1/var/lib/authctl/.bucket.key"
