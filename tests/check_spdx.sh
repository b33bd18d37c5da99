#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every source file of the tree carries the licence's SPDX line in its first
# three lines (after a #! line): C and C++ sources and headers, shell scripts,
# CMake files, the scripts/, the package's maintainer scripts, units, spec and
# completion, the linker map and the man pages; and LICENSE is the Apache
# License 2.0. Prints each file that lacks it; exit 1 if any does.
#
#   check_spdx.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: check_spdx.sh SOURCE_DIR}
cd "$src" || exit 1
tag='SPDX-License-Identifier: Apache-2.0'
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  list() { git ls-files; }
else
  # (no git: skip build trees, wherever they are, by their CMakeCache.txt)
  list() {
    find . -path ./.git -prune -o -type d -exec test -e '{}/CMakeCache.txt' \; -prune -o -path ./build -prune \
      -o -type f -print | sed 's,^\./,,'
  }
fi
is_source() {
  case $1 in
    .ci/*) return 1 ;;  # the CI harness is not ours to edit
    *.cpp | *.hpp | *.c | *.h | *.sh | *.cmake | *.spec | *.in | *.socket | *.service | *.map) return 0 ;;
    */CMakeLists.txt | CMakeLists.txt) return 0 ;;
    docs/man/*.[58]) return 0 ;;
    scripts/deps.txt) return 1 ;;
    scripts/*) return 0 ;;
    debian/rules | debian/authctl.postinst | debian/authctl.postrm | debian/authctl.prerm) return 0 ;;
    packaging/bash-completion/*) return 0 ;;
  esac
  return 1
}
missing=0 checked=0
while IFS= read -r f; do
  is_source "$f" || continue
  [ -f "$f" ] || continue
  checked=$((checked + 1))
  if ! head -n 3 "$f" | grep -qF "$tag"; then
    echo "no '$tag' line at the top of $f"
    missing=$((missing + 1))
  fi
done < <(list)
if ! grep -q 'Apache License' LICENSE 2>/dev/null || ! grep -q 'Version 2.0, January 2004' LICENSE; then
  echo "LICENSE is missing or is not the Apache License 2.0"
  missing=$((missing + 1))
fi
echo "$checked source files checked, $missing problems"
[ "$checked" -gt 100 ] || { echo "too few source files found ($checked): is $src the source tree?"; exit 1; }
[ "$missing" -eq 0 ]
