#!/usr/bin/env bash
# Real data: mri-dir-porcine-phantom (README "Quality"). One object only, so it is split along its
# long axis: mr2ct registers the CT (feet first) to the MR (head first) with no hand-made start,
# porcine_split cuts MR and registered CT into a train part (z slices [0, TRAIN)) and a test part
# at least GAP_MM away, and `mr2ct run` trains on the first and converts and evaluates the second
# next to the bulk-density baseline.
#   bench/porcine_study.sh [BUILD_DIR]
# Environment: MR2CT_DATA_DIR (required), OUT (runs/study-porcine), TRAIN (50 slices of 2.5 mm),
#   GAP_MM (10), THREADS (2), INI (data_manifests/porcine-study.ini).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "${1:-$HERE/../build}" && pwd)
MR2CT=$BUILD/bin/mr2ct
: "${MR2CT_DATA_DIR:?needs MR2CT_DATA_DIR (the folder holding mri-dir-porcine-phantom)}"
OUT=${OUT:-$HERE/../runs/study-porcine}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
THREADS=${THREADS:-2}
DATA=$MR2CT_DATA_DIR/mri-dir-porcine-phantom
# 1. registration of the whole pair (rigid, with the start search that finds the 180° turn)
if [ ! -e "$OUT/registration/qa/porcine.tfm" ]; then
  "$MR2CT" preprocess --manifest "$HERE/../data_manifests/mri-dir-porcine-phantom.csv" --data-root "$MR2CT_DATA_DIR" \
    --out "$OUT/registration/store.h5" --qa-dir "$OUT/registration/qa" --register rigid --threads "$THREADS" --quiet
fi
grep -h porcine "$OUT/registration/qa/qa.csv" | head -1 > "$OUT/registration_qa.csv"
# 2. the split
"$BUILD/bench/porcine_split" "$DATA/mr_t2.nii.gz" "$DATA/ct.nii.gz" "$OUT/registration/qa/porcine.tfm" \
  "$OUT/split" "${TRAIN:-50}" "${GAP_MM:-10}" | tee "$OUT/split.json"
# 3. train on the train part, convert and evaluate the test part (and the baseline)
"$MR2CT" run --manifest "$OUT/split/manifest.csv" --work "$OUT/run" --config "${INI:-$HERE/../data_manifests/porcine-study.ini}" \
  --split test --threads "$THREADS" --quiet
cat "$OUT/run/results.md"
