# Sourced by the bench scripts that score a model at several NFE (ablation_confirm.sh,
# precision_accuracy.sh, solver_compare.sh): one nested Euler sweep over the split's cases, then
# `mr2ct evaluate` (SynthRAD 2023, the dataset's body masks) of each NFE's outputs.
# Needs MR2CT, MANIFEST, MR2CT_DATA_DIR, SPLIT and NFES in the environment.

# sweep_and_evaluate MODEL DIR [CONVERT OPTIONS ...]: DIR/nfe<k>/sct/<id>.nii.gz and
# DIR/nfe<k>/report per NFE, and DIR/convert_time.json (the sweep's seconds per volume).
sweep_and_evaluate() {
  local model=$1 d=$2 first=${NFES%% *}
  shift 2
  mkdir -p "$d/sweep"
  local t0; t0=$(date +%s.%N)
  "$MR2CT" convert --model "$model" --manifest "$MANIFEST" --data-root "$MR2CT_DATA_DIR" --split "$SPLIT" \
    --out-dir "$d/sweep" --nfe-sweep "$(echo $NFES | tr ' ' ,)" "$@" --threads 1 --quiet
  local n; n=$(ls "$d/sweep"/*_nfe"$first".nii.gz | wc -l)
  echo "{\"seconds_per_volume_sweep\": $(echo "($(date +%s.%N) - $t0) / $n" | bc -l)}" > "$d/convert_time.json"
  for k in $NFES; do
    mkdir -p "$d/nfe$k/sct"
    for f in "$d/sweep"/*_nfe$k.nii.gz; do b=$(basename "$f"); mv "$f" "$d/nfe$k/sct/${b%_nfe$k.nii.gz}.nii.gz"; done
    evaluate_predictions "$d/nfe$k/sct" "$d/nfe$k/report"
  done
}
export -f sweep_and_evaluate

# evaluate_predictions SCT_DIR REPORT_DIR: the split's sCTs (<id>.nii.gz) scored against the manifest.
evaluate_predictions() {
  "$MR2CT" evaluate --manifest "$MANIFEST" --data-root "$MR2CT_DATA_DIR" --pred-dir "$1" \
    --out "$2" --split "$SPLIT" --profile synthrad2023 --no-montage --threads 1 --quiet
}
export -f evaluate_predictions
