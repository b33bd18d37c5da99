#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The doctor's corpus: each case under cases/ is Debian 12's stock /etc
# (debian12/, copied from the packages' files) with the case's files laid over
# it (cases/NAME/root/) and cases/NAME/setup.sh run on it; the modules are
# tests/doctor/modules/ less those cases/NAME/modules-missing names; `authctl doctor --root` must then report
# exactly cases/NAME/expected: its exit code, and "SEVERITY ID FILE[:LINE]"
# for each finding. Runs in a private mount namespace with its own /run (sshd
# -T wants /run/sshd); touches nothing of the host.
#
#   run_corpus.sh AUTHCTL CORPUS_DIR [CASE...]
set -uo pipefail
authctl=${1:?usage: run_corpus.sh AUTHCTL CORPUS_DIR [CASE...]}
corpus=${2:?usage: run_corpus.sh AUTHCTL CORPUS_DIR [CASE...]}
shift 2
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (private mount namespace)"; exit 77; }
if [ "${AUTHCTL_DOCTOR_NS:-}" != 1 ]; then
  exec unshare --mount --propagation private env AUTHCTL_DOCTOR_NS=1 "$0" "$authctl" "$corpus" "$@"
fi
mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd || { echo "FAIL - cannot make /run/sshd"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  for d in "$corpus"/cases/*/; do cases+=("$(basename "$d")"); done
fi
for name in "${cases[@]}"; do
  case_dir=$corpus/cases/$name
  root=$work/$name
  mkdir -p "$root"
  cp -a "$corpus/debian12/." "$root/"
  [ -d "$case_dir/root" ] && cp -a "$case_dir/root/." "$root/"
  mkdir -p "$root/var/lib/authctl" "$root/etc/ssh/sshd_config.d"
  chown -R root:root "$root"
  chmod 0700 "$root/var/lib/authctl"
  [ -f "$root/etc/security/authctl.conf" ] && chmod 0644 "$root/etc/security/authctl.conf"
  [ -f "$case_dir/setup.sh" ] && bash "$case_dir/setup.sh" "$root"
  modules=$corpus/modules
  if [ -f "$case_dir/modules-missing" ]; then
    modules=$work/$name.modules
    cp -a "$corpus/modules" "$modules"
    while IFS= read -r m; do [ -n "$m" ] && rm -f "$modules/$m"; done <"$case_dir/modules-missing"
  fi
  "$authctl" doctor --root "$root" --module-dir "$modules" --json >"$work/$name.json" 2>"$work/$name.err"
  echo $? >"$work/$name.rc"
done
# One python for every case (its start-up is most of the run time).
python3 - "$work" "$corpus" "${cases[@]}" <<'PY'
import json, os, subprocess, sys
work, corpus, names = sys.argv[1], sys.argv[2], sys.argv[3:]
failed = 0
for name in names:
    try:
        d = json.load(open(os.path.join(work, name + ".json")))
    except ValueError:
        print("FAIL - %s: no JSON (%s)" % (name, open(os.path.join(work, name + ".err")).read()[:300]))
        failed += 1
        continue
    actual = ["exit " + open(os.path.join(work, name + ".rc")).read().strip()]
    actual += ["unchecked " + u for u in d["unchecked"]]
    found = []
    for f in d["findings"]:
        where = (f["file"] or "-").replace(work, "WORK")
        if f["line"] is not None:
            where += ":%d" % f["line"]
        found.append("%s %s %s" % (f["severity"], f["id"], where))
    actual += sorted(found)
    expected = [l for l in open(os.path.join(corpus, "cases", name, "expected")).read().split("\n")
                if l and not l.startswith("#")]
    if actual == expected:
        print("ok - " + name)
    else:
        failed += 1
        print("FAIL - " + name)
        for l in expected:
            if l not in actual: print("    expected, not reported: " + l)
        for l in actual:
            if l not in expected: print("    reported, not expected: " + l)
print("%d cases, %d failed" % (len(names), failed))
sys.exit(1 if failed else 0)
PY
