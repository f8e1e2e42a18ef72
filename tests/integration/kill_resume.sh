#!/usr/bin/env bash
# Interruption test (label integration): SIGKILLs `preprocess`, `train` and `convert` at random
# moments on tiny phantoms, reruns each with --resume until it finishes, and checks
#   - after every kill, nothing half-written sits at an output path (a store at --out opens and
#     holds every case; each converted volume reads completely; model files are complete archives);
#   - the final outputs equal those of an uninterrupted run (store arrays, weights, sCT voxels).
# Usage: kill_resume.sh MR2CT_EXE [KILLS_PER_COMMAND]   (prints "kills survived: N")
set -euo pipefail
exe="$1"
kills="${2:-3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/mr2ct-kill-XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMP_NUM_THREADS=1
common=(--threads 1 --quiet)
survived=0
RANDOM=20261130  # reproducible kill moments

fail() { echo "kill_resume: FAIL: $*" >&2; exit 1; }

# Runs "$@" in the background, SIGKILLs it after a random moment within the reference duration
# $1 (ms); returns 0 if it was killed, 1 if it finished first.
killAt() {
  local ms="$1"; shift
  local delay=$(( (RANDOM % 90 + 5) * ms / 100 ))
  "$@" >/dev/null 2>&1 &
  local pid=$!
  sleep "$(awk "BEGIN{print $delay/1000}")"
  if kill -9 "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; return 0; fi
  wait "$pid" 2>/dev/null || true
  return 1
}

elapsedMs() { local s=$(date +%s%N); "$@" >/dev/null 2>&1 || fail "reference run failed: $*"; echo $(( ($(date +%s%N) - s) / 1000000 )); }

# Python checks (h5py, zipfile): complete store / same arrays / complete archives. The Debian
# python3 (python3-h5py, scripts/install-deps.sh) is preferred over another python3 on PATH.
py=python3
for c in /usr/bin/python3 python3; do
  if "$c" -c 'import h5py, numpy' 2>/dev/null; then py="$c"; break; fi
done
storeComplete() { "$py" - "$1" "$2" <<'PY' || fail "partial store visible at $1"
import sys, h5py
f = h5py.File(sys.argv[1], "r"); n = int(sys.argv[2])
assert "format_version" in f.attrs, "no format_version"
assert len(f["cases"]) == n, f"{len(f['cases'])} of {n} cases"
for c in f["cases"].values():
    for d in ("mr", "ct", "mask", "valid"): c[d][...]
PY
}
storesEqual() { "$py" - "$1" "$2" <<'PY' || fail "resumed store differs from the uninterrupted one"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert sorted(a["cases"]) == sorted(b["cases"]), "case lists differ"
for k in a["cases"]:
    for d in ("mr", "ct", "mask", "valid"):
        assert np.array_equal(a["cases"][k][d][...], b["cases"][k][d][...]), f"{k}/{d} differs"
PY
}
# Same tensors: torch names an archive's top folder after the file it wrote, and that is the
# temporary sibling of writeAtomically (random), so compare the members below that folder.
archivesEqual() { "$py" - "$1" "$2" <<'PY' || fail "$3"
import sys, zipfile
def members(p):
    z = zipfile.ZipFile(p)
    return {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}
a, b = members(sys.argv[1]), members(sys.argv[2])
assert a.keys() == b.keys(), "member lists differ"
for k in a:
    assert a[k] == b[k], k + " differs"
PY
}
archiveComplete() { "$py" -c "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None" "$1" \
  || fail "partial model file visible: $1"; }

# ---- data: 5 tiny phantom cases -----------------------------------------------------------------
"$exe" phantom --out ph --cases 5 --size 40,40,36 --spacing 3.5 --mr-spacing 3.8,4.2 "${common[@]}" >/dev/null || fail "phantom"
manifest=ph/manifest.csv
cases=$(( $(grep -vc '^#' "$manifest") - 1 ))

stage() { echo "kill_resume: $1 ($(( SECONDS - t0 )) s)"; t0=$SECONDS; }
t0=$SECONDS
stage "phantoms written"

# ---- preprocess ---------------------------------------------------------------------------------
pre=(preprocess --manifest "$manifest" --register rigid "${common[@]}")
ms=$(elapsedMs "$exe" "${pre[@]}" --out ref.h5)
for i in $(seq "$kills"); do
  rm -f run.h5 run.h5.*
  if killAt "$ms" "$exe" "${pre[@]}" --out run.h5; then survived=$((survived + 1)); fi
  [ ! -e run.h5 ] || storeComplete run.h5 "$cases"
  "$exe" "${pre[@]}" --out run.h5 --resume >/dev/null || fail "preprocess --resume after kill $i"
  storeComplete run.h5 "$cases"
  storesEqual ref.h5 run.h5
done

stage "preprocess: $kills kill(s) and resumes checked"

# ---- train --------------------------------------------------------------------------------------
tr=(train --store ref.h5 --steps 9 --batch 2 --checkpoint-every 3 --validate-every 9 --log-every 3 "${common[@]}")
ms=$(elapsedMs "$exe" "${tr[@]}" --out refmodel)
for i in $(seq "$kills"); do
  rm -rf runmodel
  if killAt "$ms" "$exe" "${tr[@]}" --out runmodel; then survived=$((survived + 1)); fi
  for f in runmodel/weights.pt runmodel/train_state.pt; do [ ! -e "$f" ] || archiveComplete "$f"; done
  if [ -e runmodel/train_state.pt ]; then
    "$exe" train --store ref.h5 --out runmodel --resume "${common[@]}" >/dev/null || fail "train --resume after kill $i"
  else
    rm -rf runmodel  # killed before the first checkpoint: a fresh start is the resume
    "$exe" "${tr[@]}" --out runmodel >/dev/null || fail "train rerun after kill $i"
  fi
  archivesEqual refmodel/weights.pt runmodel/weights.pt "resumed weights differ from the uninterrupted run (kill $i)"
done

stage "train: $kills kill(s) and resumes checked"

# ---- convert (batch) ----------------------------------------------------------------------------
cv=(convert --model refmodel --manifest "$manifest" --steps 2 "${common[@]}")
mkdir refsct
ms=$(elapsedMs "$exe" "${cv[@]}" --out-dir refsct)
for i in $(seq "$kills"); do
  rm -rf runsct && mkdir runsct
  if killAt "$ms" "$exe" "${cv[@]}" --out-dir runsct; then survived=$((survived + 1)); fi
  for f in runsct/*.nii.gz; do [ ! -e "$f" ] || "$exe" info "$f" >/dev/null 2>&1 || fail "partial volume visible: $f"; done
  "$exe" "${cv[@]}" --out-dir runsct --resume >/dev/null || fail "convert --resume after kill $i"
  for f in refsct/*.nii.gz; do cmp -s "$f" "runsct/$(basename "$f")" || fail "resumed $(basename "$f") differs"; done
done

stage "convert: $kills kill(s) and resumes checked"
echo "kill_resume: kills survived: $survived of $((3 * kills)) attempts (the others finished before the kill)"
