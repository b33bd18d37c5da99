#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails unless each ELF file given is built the hardened way: full RELRO
# (GNU_RELRO + BIND_NOW), a non-executable stack, position independence, and
# a stack protector, and (across the set, since a binary that calls no
# fortifiable function has nothing to show) _FORTIFY_SOURCE checked calls.
set -euo pipefail
status=0
for f in "$@"; do
  hdr=$(readelf -h -W "$f")
  prog=$(readelf -l -W "$f")
  dyn=$(readelf -d -W "$f")
  syms=$(readelf --dyn-syms -W "$f")
  fail() { echo "FAIL $f: $1"; status=1; }
  grep -q 'Type:.*DYN' <<<"$hdr" || fail "not position independent (ELF type is not DYN)"
  grep -q 'GNU_RELRO' <<<"$prog" || fail "no GNU_RELRO segment"
  grep -qE 'BIND_NOW|FLAGS.*NOW' <<<"$dyn" || fail "no BIND_NOW (-z now)"
  grep -E 'GNU_STACK' <<<"$prog" | grep -q 'RWE' && fail "executable stack"
  grep -q '__stack_chk_fail' <<<"$syms" || fail "no stack protector (__stack_chk_fail not referenced)"
  grep -qE '__[a-z_]+_chk@' <<<"$syms" && fortified=1
  [ $status -eq 0 ] && echo "ok   $f"
done
if [ "${AUTHCTL_EXPECT_FORTIFY:-1}" = 1 ] && [ -z "${fortified:-}" ]; then
  echo "FAIL: no binary references a _FORTIFY_SOURCE checked function"
  status=1
fi
exit $status
