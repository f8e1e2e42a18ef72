#!/usr/bin/env bash
# The quality study (README "Quality"): trains one model per flow-matching source (`mr`: x0 is the
# MR itself; `noise`: x0 ~ N(0, I), the classic conditional baseline) on the same store with the
# same settings. Both models convert the evaluation split (whole volumes, `mr2ct convert`; the noise
# model from seeded noise, --seed 0) with Euler at NFE 1, 2, 4, 8, 16 (one nested sweep) and Heun at
# NFE 2, 4, 8, 16, evaluated against the reference CT on each MR's grid next to the bulk-density
# baseline. Both sources are also compared by the trainer's own validation (MAE in the body of
# whole val slices, Euler NFE 1, 2, 4, 8). Writes one table (Markdown + JSON) and an NFE-versus-MAE
# plot.
#   bench/quality_study.sh phantom|brainweb [BUILD_DIR]
# phantom:  10 generated head phantoms, data_manifests/phantom-study.ini
# brainweb: brainweb20-paired in $MR2CT_DATA_DIR (12 train subjects, 3 val subjects, never both),
#           data_manifests/brainweb20-experiment.ini
# Environment: OUT (default runs/study-<dataset>), THREADS (per model, default 1: the two models
# train side by side on a 2-core machine), STEPS (override the INI's training steps), EULER_NFES
# ("1 2 4 8 16", one nested sweep), HEUN_NFES ("2 4 8 16"; Heun takes 2 evaluations per step),
# INI (brainweb: another experiment file, e.g. bench/ablation/brainweb-2026-11-30-sigma0.ini).
# Rerunning resumes: `mr2ct run` skips finished stages, training resumes bit-for-bit, finished
# conversions and reports are kept.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATASET=${1:?usage: quality_study.sh phantom|brainweb [BUILD_DIR]}
BUILD=$(cd "${2:-$HERE/../build}" && pwd)
MR2CT=$BUILD/bin/mr2ct
OUT=${OUT:-$HERE/../runs/study-$DATASET}
THREADS=${THREADS:-1}
EULER_NFES=${EULER_NFES:-"1 2 4 8 16"}
HEUN_NFES=${HEUN_NFES-"2 4 8 16"}  # may be empty: no Heun runs
EULER_MAX=$(echo $EULER_NFES | tr ' ' '\n' | sort -n | tail -1)
PY=/usr/bin/python3
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

case "$DATASET" in
  phantom)
    INI=${INI:-$HERE/../data_manifests/phantom-study.ini}
    [ -f "$OUT/data/manifest.csv" ] || "$MR2CT" phantom --out "$OUT/data" --cases 10 --seed 1 --quiet
    MANIFEST=$OUT/data/manifest.csv
    ROOT_ARGS=()
    ;;
  brainweb)
    INI=${INI:-$HERE/../data_manifests/brainweb20-experiment.ini}
    : "${MR2CT_DATA_DIR:?brainweb needs MR2CT_DATA_DIR (the folder holding brainweb20-paired)}"
    MANIFEST=$HERE/../data_manifests/brainweb20-paired.csv
    ROOT_ARGS=(--data-root "$MR2CT_DATA_DIR")
    ;;
  *) echo "quality_study.sh: unknown dataset '$DATASET' (phantom|brainweb)" >&2; exit 2 ;;
esac
SPLIT=$(sed -n 's/^split *= *//p' "$INI" | head -1)
PROFILE=$(awk '/^\[evaluate\]/{s=1;next} /^\[/{s=0} s && /^profile/{sub(/^profile *= */,"");print}' "$INI")
WORK=$OUT/run

# The experiment INI with the step count overridden (STEPS) for both models.
CONFIG=$OUT/experiment.ini
if [ -n "${STEPS:-}" ]; then
  awk -v steps="$STEPS" '/^\[/{s=($0=="[train]")} s && /^steps *=/{print "steps = " steps; next} {print}' "$INI" > "$CONFIG"
else
  cp "$INI" "$CONFIG"
fi
# The noise model trains with exactly the [train] section of the same INI, only --source differs.
awk '/^\[/{s=($0=="[train]");next} s && NF && !/^#/' "$CONFIG" > "$OUT/train.ini"

# 1. mr2ct run (preprocess, train the mr-source model, convert, baseline, evaluate) and, as soon as
#    the store is complete, the noise-source model beside it.
start=$(date +%s)
log "mr2ct run -> $WORK (threads $THREADS)"
"$MR2CT" run --manifest "$MANIFEST" "${ROOT_ARGS[@]}" --work "$WORK" --config "$CONFIG" --split "$SPLIT" \
  --threads "$THREADS" --quiet > "$OUT/run.log" 2>&1 &
run_pid=$!
while [ ! -e "$WORK/.stages/preprocess.done" ]; do
  kill -0 $run_pid 2>/dev/null || { wait $run_pid || true; echo "run failed: see $OUT/run.log" >&2; tail "$OUT/run.log" >&2; exit 1; }
  sleep 5
done
noise_args=(--store "$WORK/store.h5" --out "$OUT/model-noise" --threads "$THREADS" --quiet)
if [ -e "$OUT/model-noise/train_state.pt" ]; then noise_args+=(--resume); fi
log "train --source noise -> $OUT/model-noise"
"$MR2CT" train --config "$OUT/train.ini" --source noise "${noise_args[@]}" > "$OUT/train-noise.log" 2>&1 &
noise_pid=$!
wait $run_pid || { echo "run failed: see $OUT/run.log" >&2; exit 1; }
wait $noise_pid || { echo "noise training failed: see $OUT/train-noise.log" >&2; exit 1; }
log "training done in $(( $(date +%s) - start )) s"

# 2. conversions of the evaluation split: per model, one nested Euler sweep and four Heun runs.
mapfile -t CASES < <($PY - "$WORK/reference/manifest.csv" "$SPLIT" <<'PY'
import csv, os, sys
path, split = sys.argv[1], sys.argv[2]
rows = csv.DictReader(l for l in open(path) if not l.startswith("#"))
for r in rows:
    if r.get("split", "") == split:
        print(r["id"] + "\t" + os.path.normpath(os.path.join(os.path.dirname(path), r["mr"])))
PY
)
[ ${#CASES[@]} -gt 0 ] || { echo "no '$SPLIT' cases in $WORK/reference/manifest.csv" >&2; exit 1; }
SWEEP=$OUT/sweep
TIMES=$OUT/convert_times.jsonl
for model in mr noise; do  # the noise model starts from seeded noise (convert --seed, default 0)
  dir=$WORK/model; [ $model = noise ] && dir=$OUT/model-noise
  for entry in "${CASES[@]}"; do
    id=${entry%%$'\t'*}; mr=${entry#*$'\t'}
    if [ ! -e "$SWEEP/$model-euler-$EULER_MAX/$id.nii.gz" ]; then
      mkdir -p "$SWEEP/tmp"
      t0=$(date +%s.%N)
      "$MR2CT" convert --model "$dir" --input "$mr" --output "$SWEEP/tmp/$id.nii.gz" --nfe-sweep "$(echo $EULER_NFES | tr ' ' ,)" \
        --threads 2 --quiet
      echo "{\"model\":\"$model\",\"solver\":\"euler-sweep\",\"case\":\"$id\",\"seconds\":$(echo "$(date +%s.%N) - $t0" | bc)}" >> "$TIMES"
      for n in $EULER_NFES; do
        mkdir -p "$SWEEP/$model-euler-$n"
        mv "$SWEEP/tmp/${id}_nfe$n.nii.gz" "$SWEEP/$model-euler-$n/$id.nii.gz"
      done
    fi
    for nfe in $HEUN_NFES; do
      steps=$((nfe / 2))
      target=$SWEEP/$model-heun-$nfe/$id.nii.gz
      [ -e "$target" ] && continue
      mkdir -p "$(dirname "$target")"
      "$MR2CT" convert --model "$dir" --input "$mr" --output "$target" --solver heun --steps $steps --threads 2 --quiet
    done
  done
  log "converted the $SPLIT cases with the $model model"
done

# Both sources on the trainer's validation slices (a resumed run at its last step only validates).
for model in mr noise; do
  dir=$WORK/model; [ $model = noise ] && dir=$OUT/model-noise
  [ -s "$OUT/validation-$model.json" ] && continue
  "$MR2CT" train --config "$OUT/train.ini" --store "$WORK/store.h5" --out "$dir" --resume --threads 2 --quiet \
    | tail -1 > "$OUT/validation-$model.json"
done

# 3. evaluation of every output set against the same references
for d in "$SWEEP"/mr-euler-* "$SWEEP"/mr-heun-* "$SWEEP"/noise-euler-* "$SWEEP"/noise-heun-*; do
  [ -d "$d" ] || continue
  name=$(basename "$d")
  [ -e "$OUT/reports/$name/summary.json" ] && continue
  "$MR2CT" evaluate --manifest "$WORK/reference/manifest.csv" --allow-outside --pred-dir "$d" \
    --out "$OUT/reports/$name" --split "$SPLIT" --no-montage ${PROFILE:+--profile "$PROFILE"} --threads 2 --quiet
done
log "evaluated"

# 4. one table, one JSON, one plot
$PY - "$OUT" "$WORK" "$DATASET" "$SPLIT" "$CONFIG" <<'PY'
import glob, json, os, re, sys
out, work, dataset, split, config = sys.argv[1:6]
def summary(path):
    s = json.load(open(path))
    m = s["metrics"]
    pick = lambda k: {"mean": m[k]["mean"], "std": m[k]["std"]} if k in m else None
    return {"cases": m["mae"]["n"], "mae": pick("mae"), "me": pick("me"), "psnr": pick("psnr"),
            "ssim": pick("ssim"), "mae_bone": pick("mae_bone")}
rows = []
for d in sorted(glob.glob(os.path.join(out, "reports", "*", "summary.json"))):
    name = os.path.basename(os.path.dirname(d))
    source, solver, nfe = re.match(r"(mr|noise)-(euler|heun)-(\d+)", name).groups()
    rows.append({"source": source, "solver": solver, "nfe": int(nfe), **summary(d)})
rows.sort(key=lambda r: (r["source"], r["solver"], r["nfe"]))
base = summary(os.path.join(work, "report-baseline", "summary.json"))
train = {}
for source, d in (("mr", os.path.join(work, "model")), ("noise", os.path.join(out, "model-noise"))):
    import csv
    log = list(csv.DictReader(open(os.path.join(d, "log.csv"))))
    train[source] = {"steps": int(log[-1]["step"]),
                     "final_val_mae_hu": next((r["val_mae_hu"] for r in reversed(log) if r["val_mae_hu"]), None)}
result = {"dataset": dataset, "split": split, "config": open(config).read(), "rows": rows,
          "baseline_bulk_density": base, "training": train}
json.dump(result, open(os.path.join(out, "study.json"), "w"), indent=2)
f = lambda x, p=1: "–" if x is None else f"{x['mean']:.{p}f} ± {x['std']:.{p}f}"
lines = [f"Dataset `{dataset}`, split `{split}` ({base['cases']} cases), mean ± std over cases inside the body mask.", "",
         "| method | source | solver | NFE | MAE (HU) | ME (HU) | PSNR (dB) | SSIM | MAE bone (HU) |",
         "|---|---|---|---|---|---|---|---|---|",
         f"| bulk-density baseline | – | – | – | {f(base['mae'])} | {f(base['me'])} | {f(base['psnr'], 2)} | {f(base['ssim'], 3)} | {f(base['mae_bone'])} |"]
for r in rows:
    lines.append(f"| mr2ct flow matching | {r['source']} | {r['solver']} | {r['nfe']} | {f(r['mae'])} | {f(r['me'])} | "
                 f"{f(r['psnr'], 2)} | {f(r['ssim'], 3)} | {f(r['mae_bone'])} |")
val = {}
for source in ("mr", "noise"):
    try:
        val[source] = json.load(open(os.path.join(out, f"validation-{source}.json")))["val_mae_hu"]
    except (OSError, ValueError, KeyError):
        pass
result["validation_mae_hu"] = val
json.dump(result, open(os.path.join(out, "study.json"), "w"), indent=2)
if val:
    nfes = sorted({int(k[3:]) for v in val.values() for k in v})
    lines += ["", "Both sources on the trainer's validation (whole val slices, 8 per case, EMA weights, Euler, MAE in the body, HU):", "",
              "| source | " + " | ".join(f"NFE {n}" for n in nfes) + " |", "|---|" + "---|" * len(nfes)]
    for source, v in val.items():
        lines.append(f"| {source} | " + " | ".join(f"{v.get(f'nfe{n}', float('nan')):.1f}" for n in nfes) + " |")
open(os.path.join(out, "study.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 5), dpi=120)
    styles = {("mr", "euler"): ("C0", "-o"), ("mr", "heun"): ("C0", "--s"),
              ("noise", "euler"): ("C3", "-o"), ("noise", "heun"): ("C3", "--s")}
    for (source, solver), (colour, style) in styles.items():
        pts = [(r["nfe"], r["mae"]["mean"]) for r in rows if r["source"] == source and r["solver"] == solver]
        if pts:
            ax.plot(*zip(*pts), style, color=colour, label=f"source {source}, {solver} (whole volumes)")
    for source, colour in (("mr", "C0"), ("noise", "C3")):
        if source in val:
            pts = sorted((int(k[3:]), v) for k, v in val[source].items())
            ax.plot(*zip(*pts), ":^", color=colour, label=f"source {source}, Euler (validation slices)")
    ax.axhline(base["mae"]["mean"], color="grey", linestyle=":", label="bulk-density baseline")
    ax.set_xscale("log", base=2)
    ax.set_xticks([1, 2, 4, 8, 16]); ax.set_xticklabels(["1", "2", "4", "8", "16"])
    # A diverging row (e.g. Heun on the noise source) would flatten the others: cut the axis at
    # twice the baseline and write the cut values at the top instead.
    top = 2.0 * base["mae"]["mean"]
    ax.set_ylim(0, top)
    for r in rows:
        if r["mae"]["mean"] > top:
            ax.annotate(f"{r['mae']['mean']:.0f}", (r["nfe"], top), textcoords="offset points", xytext=(0, -12),
                        ha="center", fontsize=7, color="C3" if r["source"] == "noise" else "C0")
    ax.set_xlabel("NFE (network evaluations per slice)")
    ax.set_ylabel("MAE inside the body (HU)")
    ax.set_title(f"mr2ct quality study: {dataset}, {split} cases")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "nfe_mae.png"))
    print(f"plot: {os.path.join(out, 'nfe_mae.png')}")
except ImportError:
    print("(matplotlib missing: no plot)")
PY
