#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The man pages render without a single warning, and cannot silently fall
# behind the code: every option key the parser knows (core/src/options.cpp)
# is in pam_authctl(8) and authctl.conf(5), and every command of
# `authctl --help` is in authctl(8); every option of `authctld --help` and
# every fleet.conf key (core/src/fleet_config.cpp) is in authctld(8).
#   check_man.sh MAN_DIR OPTIONS_CPP AUTHCTL AUTHCTLD FLEET_CONFIG_CPP
set -uo pipefail
man_dir=$1 options=$2 authctl=$3 authctld=$4 fleet_config=$5
fail=0
bad() { echo "FAIL - $*"; fail=1; }

for page in "$man_dir"/pam_authctl.8 "$man_dir"/authctl.8 "$man_dir"/authctl.conf.5 "$man_dir"/authctld.8; do
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=all -l "$page" 2>&1 >/dev/null)
  [ -z "$warnings" ] || bad "$(basename "$page") renders with warnings: $warnings"
  warnings=$(groff -man -ww -z "$page" 2>&1)
  [ -z "$warnings" ] || bad "$(basename "$page"): groff: $warnings"
done

keys=$(grep -oE 'key == "[a-z_]+"' "$options" | sed -E 's/.*"(.*)"/\1/' | sort -u)
[ "$(echo "$keys" | wc -l)" -ge 10 ] || bad "found only $(echo "$keys" | wc -w) option keys in $options"
for key in $keys conf; do
  grep -qE "^\\.(B|BI) +\"?$key([= \"]|\$)" "$man_dir/pam_authctl.8" || bad "pam_authctl.8 does not document '$key'"
done
for mode in preauth authfail authsucc; do
  grep -qE "^\\.B auth $mode\$" "$man_dir/pam_authctl.8" || bad "pam_authctl.8 does not document the mode '$mode'"
done
for key in $keys; do
  grep -qE "^\\.(B|BI) +\"?$key([= \"]|\$)" "$man_dir/authctl.conf.5" || bad "authctl.conf.5 does not document '$key'"
done

commands=$("$authctl" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
[ -n "$commands" ] || bad "authctl --help lists no commands"
for cmd in $commands; do
  grep -qE "^\\.B $cmd( |\$)" "$man_dir/authctl.8" || bad "authctl.8 does not document the command '$cmd'"
done

agent_opts=$("$authctld" --help | grep -oE '^  --[a-z-]+' | sed 's/^  //')
[ -n "$agent_opts" ] || bad "authctld --help lists no options"
agent_page=$(sed 's/\\-/-/g' "$man_dir/authctld.8")  # roff's \- as a plain -
for opt in $agent_opts; do
  grep -qE "^\\.(B|BI) +$opt( |\$)" <<<"$agent_page" || bad "authctld.8 does not document '$opt'"
done
fleet_keys=$(sed -n '/kKeyNames = {/,/};/p' "$fleet_config" | grep -oE '"[a-z_]+"' | tr -d '"')
[ "$(echo "$fleet_keys" | wc -l)" -ge 10 ] || bad "found only $(echo "$fleet_keys" | wc -w) fleet.conf keys in $fleet_config"
for key in $fleet_keys; do
  grep -qE "^\\.BI (.*[ \"])?$key=" "$man_dir/authctld.8" || bad "authctld.8 does not document the fleet.conf key '$key'"
done

[ "$fail" = 0 ] && echo "ok - 4 man pages render cleanly and document $(echo $keys | wc -w) options, $(echo $commands | wc -w) commands, $(echo $agent_opts | wc -w) agent options and $(echo $fleet_keys | wc -w) fleet.conf keys"
exit "$fail"
