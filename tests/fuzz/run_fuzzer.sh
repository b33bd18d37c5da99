#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one libFuzzer binary for a bounded time on a scratch copy of its seed
# corpus, so the repository's corpus is never written to. Fails (non-zero) on
# any crash, leak, timeout or out-of-memory; a failing input is kept as
# WORK/crash-* (or leak-*, timeout-*, oom-*) and reproduced with `FUZZER INPUT`.
#
#   run_fuzzer.sh FUZZER SEED_DIR WORK SECONDS [DICT]
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4 dict=${5:-}

rm -rf "$work"
mkdir -p "$work/corpus" "$work/tmp"
cp "$seeds"/* "$work/corpus/"
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$work/")
[ -z "$dict" ] || args+=(-dict="$dict")

# fuzz_code's state directory lives under TMPDIR: keep it in the scratch area.
export TMPDIR="$work/tmp"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "run_fuzzer: $fuzzer ${args[*]} $work/corpus (seeds from $seeds)"
exec "$fuzzer" "${args[@]}" "$work/corpus"
