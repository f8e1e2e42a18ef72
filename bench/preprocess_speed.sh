#!/usr/bin/env bash
# Preprocessing time per case: runs `mr2ct preprocess` on a manifest and prints one JSON line per
# case (from qa.csv: total seconds, registration seconds, voxels) and a summary line.
#   bench/preprocess_speed.sh MANIFEST [BUILD_DIR]        (default build)
# Environment: MR2CT_DATA_DIR (data root of the manifest), REGISTER (affine), JOBS (1),
#   THREADS (0 = all cores), EXTRA (more preprocess options, e.g. "--n4 --spacing 1").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MANIFEST=${1:?usage: preprocess_speed.sh MANIFEST [BUILD_DIR]}
BUILD=${2:-$HERE/../build}
MR2CT=$BUILD/bin/mr2ct
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "# load: $(cat /proc/loadavg)  cores: $(nproc)"
start=$(date +%s.%N)
set +e
"$MR2CT" preprocess --manifest "$MANIFEST" --out "$TMP/store.h5" --qa-dir "$TMP/qa" --register "${REGISTER:-affine}" \
  --jobs "${JOBS:-1}" --threads "${THREADS:-0}" --quiet ${EXTRA:-}
rc=$?
set -e
end=$(date +%s.%N)
/usr/bin/python3 - "$TMP/qa/qa.csv" "$start" "$end" "$rc" "${REGISTER:-affine}" "${EXTRA:-}" <<'PY'
import csv, json, sys, statistics
rows = list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    print(json.dumps({"bench": "preprocess_case", "id": r["id"], "status": r["status"],
                      "seconds": float(r["seconds"] or 0), "registration_s": float(r["registration_s"] or 0),
                      "final_metric": r["final_metric"], "error": r["error"]}))
ok = [float(r["seconds"]) for r in rows if r["status"] == "ok"]
print(json.dumps({"bench": "preprocess", "register": sys.argv[5], "extra": sys.argv[6], "cases_ok": len(ok),
                  "cases_failed": sum(r["status"] == "failed" for r in rows), "exit_code": int(sys.argv[4]),
                  "wall_s": round(float(sys.argv[3]) - float(sys.argv[2]), 2),
                  "median_case_s": round(statistics.median(ok), 2) if ok else None,
                  "max_case_s": round(max(ok), 2) if ok else None}))
PY
