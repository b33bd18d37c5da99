#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The repository's documents stand on their own: no README, guide, man page or
# comment cites a file outside the repository (such as ../shared/ANCHORS.md),
# so every figure and claim they make can be checked from the repository.
# Prints each offending line; exit 1 if any.
#
#   check_docs_refs.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: check_docs_refs.sh SOURCE_DIR}
cd "$src" || exit 1
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git ls-files | grep -vE '^(\.ci/|tests/check_docs_refs\.sh$)')
else
  files=$(find . -path ./.git -prune -o -type d -exec test -e '{}/CMakeCache.txt' \; -prune -o -path ./build -prune \
    -o -type f -print | sed 's,^\./,,' | grep -vE '^(\.ci/|tests/check_docs_refs\.sh$)')
fi
# shellcheck disable=SC2086
hits=$(grep -nE '\.\./shared/|ANCHORS\.md' $files 2>/dev/null)
if [ -n "$hits" ]; then
  echo "files cite something outside the repository:"
  echo "$hits"
  exit 1
fi
echo "$(echo "$files" | wc -l) files checked: no reference outside the repository"
