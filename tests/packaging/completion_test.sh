#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# packaging/bash-completion/authctl against the built authctl: subcommands,
# nested subcommands, options (read from --help), and option values.
#   completion_test.sh AUTHCTL
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH=$(dirname "$(realpath "$1")"):$PATH
. /usr/share/bash-completion/bash_completion
. "$here/../../packaging/bash-completion/authctl"
. "$here/../e2e/e2e_lib.sh"
complete_words() {
  COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
  COMPREPLY=(); _authctl; printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
offers() { local want=$1; shift; [[ " $(complete_words "$@")" == *" $want "* ]]; }
check "every subcommand of authctl --help is offered" \
  test "$(complete_words authctl '')" = "audit config doctor enroll fleet import invite lock rebind recovery remove reset resync show status uninvite unlock verify "
check "a prefix completes to its subcommand" test "$(complete_words authctl enr)" = "enroll "
check "options come from the subcommand's --help" offers --recovery-codes authctl enroll --
check "...after a global option too" offers --grant-group authctl --dir /tmp enroll --
check "nested subcommands (import)" test "$(complete_words authctl import '')" = "faillock google-authenticator oath "
check "import faillock options" offers --from authctl import faillock --
check "...and its --dry-run" offers --dry-run authctl import faillock --
check "--from completes file names" offers /etc authctl import faillock --from /et
check "--source on reset and lock" offers --source authctl reset --
check "...and lock" offers --source authctl lock --
check "nested subcommands (config)" test "$(complete_words authctl config '')" = "check "
check "nested subcommands (fleet)" test "$(complete_words authctl fleet '')" = "init keygen pull push rekey status "
check "fleet push options" offers --dry-run authctl fleet push --
check "--store values" test "$(complete_words authctl status --store '')" = "file fleet "
check "--fleet-conf on every record command" offers --fleet-conf authctl verify --
check "resync completes its options" offers --fleet-conf authctl resync --
check "--qr values" test "$(complete_words authctl enroll --qr '')" = "ansi none png: svg: utf8 "
check "--algorithm values" test "$(complete_words authctl enroll --algorithm sha)" = "sha1 sha256 sha512 "
check "-u completes user names" offers root authctl status -u ro
check "--group completes group names" offers root authctl audit --group ro
e2e_finish
