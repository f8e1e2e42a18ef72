#!/usr/bin/env bash
# Short-budget ablation on brainweb20-paired (README "Quality → Ablation", issue 15): trains every
# row of a rows file for every seed with the [train] section of the experiment INI, one thread per
# model, JOBS models side by side, and tabulates the trainer's final validation (MAE in HU inside
# body ∩ CT field of view on 8 whole slices per val subject, EMA weights, Euler NFE 1, 2, 4, 8) as
# mean ± std over the seeds, with the training minutes.
#   MR2CT_DATA_DIR=../shared/data bench/ablation_study.sh [ROWS] [BUILD_DIR]
# ROWS: bench/ablation/brainweb-short.rows by default ("name | store | train options" per line;
# store = percentile, n4, zscore, nyul or gamma: the MR normalization of the training store).
# Environment: OUT (runs/ablation), SEEDS ("1 2"), JOBS (2), STEPS (override the INI's steps),
# INI (data_manifests/brainweb20-experiment.ini), ONLY (train only these models, e.g.
# "mr-sigma1-long-s2 noise-long-s2"; the table still covers every row and seed that finished),
# MANIFEST (data_manifests/brainweb20-paired.csv; a cross-validation fold such as
# data_manifests/brainweb20-fold1.csv trains on its train rows and validates on its val rows; give
# each fold its own OUT).
# Rerunning skips the models that finished.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROWS=$(cd "$(dirname "${1:-$HERE/ablation/brainweb-short.rows}")" && pwd)/$(basename "${1:-brainweb-short.rows}")
BUILD=$(cd "${2:-$HERE/../build}" && pwd)
MR2CT=$BUILD/bin/mr2ct
OUT=${OUT:-$HERE/../runs/ablation}
SEEDS=${SEEDS:-"1 2"}
JOBS=${JOBS:-2}
INI=${INI:-$HERE/../data_manifests/brainweb20-experiment.ini}
: "${MR2CT_DATA_DIR:?needs MR2CT_DATA_DIR (the folder holding brainweb20-paired)}"
MANIFEST=$(realpath -e "${MANIFEST:-$HERE/../data_manifests/brainweb20-paired.csv}")
mkdir -p "$OUT/models"
OUT=$(cd "$OUT" && pwd)
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# The experiment's [train] section (steps overridden by STEPS) is every model's base.
awk -v steps="${STEPS:-}" '/^\[/{s=($0=="[train]");next}
  s && NF && !/^#/ { if (steps != "" && $1 == "steps") print "steps = " steps; else print }' "$INI" > "$OUT/train.ini"

store() {  # store NAME -> path of the training store with that MR normalization (built once per manifest)
  local path=$OUT/store-$(basename "$MANIFEST" .csv)-$1.h5 args=()
  case "$1" in
    percentile) ;;
    n4) args=(--n4) ;;
    zscore) args=(--mr-norm zscore) ;;
    nyul) args=(--mr-norm nyul) ;;
    gamma) args=(--mr-norm gamma) ;;
    *) echo "ablation_study.sh: unknown store '$1' (percentile|n4|zscore|nyul|gamma)" >&2; exit 2 ;;
  esac
  if [ ! -e "$path" ]; then
    "$MR2CT" preprocess --manifest "$MANIFEST" --data-root "$MR2CT_DATA_DIR" --out "$path.part.h5" \
      --register none --jobs "$JOBS" "${args[@]}" --quiet >&2
    mv "$path.part.h5" "$path"
  fi
  echo "$path"
}

# One job line per (row, seed): model folder, store, options.
jobs=$OUT/jobs.txt
: > "$jobs"
while IFS='|' read -r name st opts; do
  name=$(echo $name); st=$(echo $st)
  [ -z "$name" ] || [[ "$name" == \#* ]] && continue
  path=  # built only for a row that trains (a store takes minutes per fold)
  for seed in $SEEDS; do
    [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name-s$seed "* ]] && continue
    [ -n "$path" ] || path=$(store "$st")
    echo "$OUT/models/$name-s$seed|$path|$seed|$opts" >> "$jobs"
  done
done < "$ROWS"

train_one() {
  IFS='|' read -r model st seed opts <<< "$1"
  [ -s "$model.summary.json" ] && return 0
  rm -rf "$model"
  echo "[$(date +%H:%M:%S)] train $(basename "$model")" >&2
  # shellcheck disable=SC2086
  if "$MR2CT" train --config "$OUT/train.ini" --store "$st" --out "$model" --seed "$seed" --threads 1 --quiet \
       $opts > "$model.summary.part" 2> "$model.log"; then
    tail -1 "$model.summary.part" > "$model.summary.json"; rm -f "$model.summary.part"
  else
    echo "train $(basename "$model") failed: see $model.log" >&2; return 1
  fi
}
export -f train_one
export MR2CT OUT
log "$(wc -l < "$jobs") models, $JOBS at a time -> $OUT"
tr '\n' '\0' < "$jobs" | xargs -0 -P "$JOBS" -I{} bash -c 'train_one "$@"' _ {}

/usr/bin/python3 - "$ROWS" "$OUT" "$SEEDS" <<'PY'
import json, statistics, sys, os
rows, out, seeds = sys.argv[1], sys.argv[2], sys.argv[3].split()
def ms(v):
    if not v: return "–"
    return f"{statistics.mean(v):.1f} ± {statistics.stdev(v):.1f}" if len(v) > 1 else f"{v[0]:.1f}"
table, lines = [], ["| row | store | options | NFE 1 | NFE 2 | NFE 4 | NFE 8 | train min |", "|---|---|---|---|---|---|---|---|"]
for line in open(rows):
    if not line.strip() or line.lstrip().startswith("#"): continue
    name, store, opts = [p.strip() for p in line.split("|")]
    runs = []
    for s in seeds:
        p = os.path.join(out, "models", f"{name}-s{s}.summary.json")
        if os.path.exists(p): runs.append(json.load(open(p)))
    nfe = {k: [r["val_mae_hu"][f"nfe{k}"] for r in runs] for k in (1, 2, 4, 8)}
    minutes = [r["seconds"] / 60 for r in runs]
    table.append({"row": name, "store": store, "options": opts, "seeds": len(runs),
                  "val_mae_hu": {f"nfe{k}": v for k, v in nfe.items()}, "train_minutes": minutes})
    lines.append(f"| {name} | {store} | `{opts}` | " + " | ".join(ms(nfe[k]) for k in (1, 2, 4, 8)) +
                 f" | {ms(minutes)} |")
open(os.path.join(out, "ablation.json"), "w").write(json.dumps(table, indent=1))
open(os.path.join(out, "ablation.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
