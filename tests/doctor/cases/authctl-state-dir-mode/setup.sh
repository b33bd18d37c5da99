# SPDX-License-Identifier: Apache-2.0
chmod 0755 "$1/var/lib/authctl"
