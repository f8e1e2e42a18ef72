#!/bin/bash
# Rigid MR<->CT registration: mr2ct vs elastix 5.0.1 (random-sampler rigid Mattes MI,
# ../shared/peers/elastix) on the same pairs, same machine, same thread count, one run.
#   bench/registration_vs_elastix.sh [BUILD_DIR]
# Environment: CASES (phantom pairs, default 8), SEED (default 7), THREADS (default 2),
# ELASTIX (default /work/shared/peers/elastix/run_elastix.sh), PORCINE (folder of the real
# mri-dir-porcine-phantom pair; default $MR2CT_DATA_DIR/mri-dir-porcine-phantom, skipped if missing).
# Phantom pairs come with true_transform.tfm (MR point -> CT point); TRE = mean distance over the
# MR head mask between the recovered and the true mapping. Prints one JSON line per case, then a
# summary JSON line (medians, time ratio ours/elastix). Each case also runs what `mr2ct preprocess`
# runs by default (affine, metric limited to the MR's body mask grown by 10 mm): ours_preprocess_*.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${1:-$HERE/../build}
BENCH=$BUILD/bench/registration_bench
CASES=${CASES:-8}; SEED=${SEED:-7}; THREADS=${THREADS:-2}
ELASTIX=${ELASTIX:-/work/shared/peers/elastix/run_elastix.sh}
DATA=${MR2CT_DATA_DIR:-/work/shared/data}
PORCINE=${PORCINE:-$DATA/mri-dir-porcine-phantom}
PY=/usr/bin/python3
[ -x "$BENCH" ] || { echo "build $BENCH first (ninja -C $BUILD registration_bench)" >&2; exit 1; }
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
"$BENCH" phantom "$WORK/phantom" "$CASES" "$SEED" >/dev/null 2>&1
LINES=$WORK/lines.jsonl
for dir in "$WORK"/phantom/case*; do
  id=$(basename "$dir")
  ours=$("$BENCH" ours "$dir/mr.nii.gz" "$dir/ct.nii.gz" "$dir/mask.nii.gz" "$dir/true_transform.tfm" "$THREADS" rigid)
  prep=$(REG_BODY_MASK=1 "$BENCH" ours "$dir/mr.nii.gz" "$dir/ct.nii.gz" "$dir/mask.nii.gz" "$dir/true_transform.tfm" "$THREADS" affine)
  elx=$(THREADS=$THREADS "$ELASTIX" "$dir/ct.nii.gz" "$dir/mr.nii.gz" "$WORK/elx_$id" | tail -n 1)
  params=$(echo "$elx" | $PY -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["transform_parameters"])))')
  centre=$(echo "$elx" | $PY -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["center_of_rotation"])))')
  etre=$("$BENCH" elastix-tre "$dir/mask.nii.gz" "$dir/true_transform.tfm" "$params" "$centre")
  line=$($PY - "$id" "$ours" "$elx" "$etre" "$prep" <<'PYEOF'
import json, sys
cid, ours, elx, etre = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
prep = json.loads(sys.argv[5])
print(json.dumps({"case": cid, "initial_error_mm": round(ours["initial_error_mm"], 3),
                  "ours_s": round(ours["seconds"], 3), "ours_tre_mm": round(ours["tre_mm"], 4),
                  "elastix_s": elx["wall_s"], "elastix_tre_mm": round(etre["tre_mm"], 4),
                  "ours_initialisation": ours["qa"]["initialisation"],
                  "ours_preprocess_s": round(prep["seconds"], 3), "ours_preprocess_tre_mm": round(prep["tre_mm"], 4)}))
PYEOF
)
  echo "$line"; echo "$line" >> "$LINES"
done
porcine='null'
if [ -f "$PORCINE/ct.nii.gz" ] && [ -f "$PORCINE/mr_t2.nii.gz" ]; then
  ours=$("$BENCH" ours "$PORCINE/mr_t2.nii.gz" "$PORCINE/ct.nii.gz" - - "$THREADS" rigid "$WORK/porcine.tfm")
  elx=$(THREADS=$THREADS "$ELASTIX" "$PORCINE/ct.nii.gz" "$PORCINE/mr_t2.nii.gz" "$WORK/elx_porcine" | tail -n 1)
  porcine=$($PY - "$ours" "$elx" <<'PYEOF'
import json, sys
o, e = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"ours_s": round(o["seconds"], 3), "ours_final_mi": round(o["final_metric"], 4),
                  "ours_initialisation": o["qa"]["initialisation"], "elastix_s": e["wall_s"],
                  "elastix_parameters": e["transform_parameters"]}))
PYEOF
)
  echo "{\"case\": \"porcine\", \"result\": $porcine}"
fi
$PY - "$LINES" "$THREADS" "$porcine" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda k: statistics.median(r[k] for r in rows)
print(json.dumps({"benchmark": "registration_vs_elastix", "cases": len(rows), "threads": int(sys.argv[2]),
                  "ours_tre_median_mm": round(med("ours_tre_mm"), 4), "ours_tre_max_mm": max(r["ours_tre_mm"] for r in rows),
                  "elastix_tre_median_mm": round(med("elastix_tre_mm"), 4), "elastix_tre_max_mm": max(r["elastix_tre_mm"] for r in rows),
                  "ours_preprocess_tre_median_mm": round(med("ours_preprocess_tre_mm"), 4),
                  "ours_preprocess_tre_max_mm": max(r["ours_preprocess_tre_mm"] for r in rows),
                  "ours_s_median": round(med("ours_s"), 3), "elastix_s_median": round(med("elastix_s"), 3),
                  "time_ratio_ours_over_elastix_median": round(statistics.median(r["ours_s"] / r["elastix_s"] for r in rows), 3),
                  "porcine": json.loads(sys.argv[3])}))
PYEOF
