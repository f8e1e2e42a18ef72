#!/usr/bin/env bash
# Data-parallel training on this machine: 1 process × 2 threads against 2 ranks × 1 thread
# (torchrun --no_python, c10d Gloo on loopback), same global batch, same store, in ONE run. Reports
# samples/s, the all-reduce's share of a step (mr2ct train's "communication_s", which includes
# waiting for the slower rank) and the gradient bytes reduced per step; then projects weak-scaling
# efficiency to 8 and 64 ranks on paper (formula printed with the figures). Also: conversion of a
# manifest as 4 concurrent shard tasks (what a Slurm array does on one node) against one run.
# Usage: bench/distributed_scaling.sh [BUILD_DIR]
#   env PRESETS="unet2d-small unet2d-bench" STEPS=30 BATCH=8 STORE=existing.h5 (default: a phantom store)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
exe=$build/bin/mr2ct
presets=${PRESETS:-"unet2d-small unet2d-bench"}
steps=${STEPS:-30}
batch=${BATCH:-8}
py=/usr/bin/python3
[ -x "$exe" ] || { echo "missing $exe (ninja -C $build mr2ct)" >&2; exit 1; }
command -v torchrun >/dev/null || { echo "torchrun missing (apt-get install python3-torch)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMP_NUM_THREADS=1
store=${STORE:-}
if [ -z "$store" ]; then
  "$exe" phantom --out ph --cases 4 --size 64,64,48 --spacing 2.5 --mr-spacing 2.5,3 --quiet >/dev/null
  "$exe" preprocess --manifest ph/manifest.csv --register none --out s.h5 --quiet >/dev/null
  store=$work/s.h5
fi
# The summary line is the JSON object mr2ct train prints last (torchrun --tee prefixes it "[default0]:").
summary() { grep -o '{"communication_s".*}' "$1" | head -1; }
for p in $presets; do
  tr=(train --store "$store" --preset "$p" --steps "$steps" --batch "$batch" --validate-every 0 --checkpoint-every 100000 --warmup 1 --quiet)
  echo "== $p: 1 process x 2 threads" >&2
  "$exe" "${tr[@]}" --out "one-$p" --threads 2 > "one-$p.out" 2>&1
  echo "== $p: 2 ranks x 1 thread (torchrun)" >&2
  torchrun --no_python --nproc_per_node 2 --redirects 1 --tee 1 --master_port $((29500 + RANDOM % 1000)) \
    "$exe" "${tr[@]}" --out "two-$p" --threads 1 > "two-$p.out" 2>&1
  summary "one-$p.out" > "one-$p.json"
  summary "two-$p.out" > "two-$p.json"
done

# Conversion: one run over 8 cases against 4 shard tasks at once (1 thread each).
"$exe" phantom --out cv --cases 8 --size 64,64,48 --spacing 2.5 --mr-spacing 2.5,3 --quiet >/dev/null
model=one-$(echo $presets | cut -d' ' -f1)
t0=$(date +%s.%N)
"$exe" convert --model "$model" --manifest cv/manifest.csv --out-dir cv-one --steps 4 --threads 2 --quiet >/dev/null 2>&1
t1=$(date +%s.%N)
for i in 0 1 2 3; do "$exe" convert --model "$model" --manifest cv/manifest.csv --out-dir cv-four --shard $i/4 --steps 4 --threads 1 --quiet >/dev/null 2>&1 & done
wait
t2=$(date +%s.%N)
for f in cv-one/*.nii.gz; do cmp -s "$f" "cv-four/$(basename "$f")" || echo "warning: $(basename "$f") differs between the runs" >&2; done

$py - "$work" "$t0" "$t1" "$t2" $presets <<'PY'
import json, os, sys
d, (t0, t1, t2), presets = sys.argv[1], map(float, sys.argv[2:5]), sys.argv[5:]
one_s, four_s = t1 - t0, t2 - t1
rows = []
print(f"{'preset':>13} {'1x2 s/s':>8} {'2x1 s/s':>8} {'ratio':>6} {'comm %':>7} {'MB/step':>8}   projected efficiency (8 / 64 ranks)")
for p in presets:
    one, two = (json.load(open(os.path.join(d, f"{k}-{p}.json"))) for k in ("one", "two"))
    share = two["communication_s"] / two["seconds"]
    step_s = two["seconds"] / two["last_step"]
    comm_s = two["communication_s"] / two["last_step"]
    compute_s = step_s - comm_s            # per-rank compute of a step (its half of the global batch)
    B = two["gradient_bytes_per_step"]
    # Ring all-reduce (as Gloo and NCCL do for large buffers), no overlap with the backward pass
    # (mr2ct reduces after it): each rank sends and receives 2(N-1)/N · B bytes per step,
    # t_comm(N) = 2(N-1)/N · B / BW + 2(N-1)·alpha per bucket (alpha = 20 us per message);
    # weak scaling (per-rank batch fixed): efficiency E(N) = t_compute / (t_compute + t_comm(N)).
    # Two compute times: this CPU's measured per-rank step, and an assumed 50 ms GPU step.
    proj, proj_gpu = {}, {}
    for name, bw in (("10GbE", 1.25e9), ("100Gb IB", 12.5e9)):
        buckets = max(1, -(-B // (25 << 20)))
        for n in (8, 64):
            t = 2 * (n - 1) / n * B / bw + 2 * (n - 1) * 20e-6 * buckets
            proj[f"{name} N={n}"] = compute_s / (compute_s + t)
            proj_gpu[f"{name} N={n}"] = 0.05 / (0.05 + t)
    rows.append({"preset": p, "one_process_samples_per_s": one["samples_per_s"],
                 "two_ranks_samples_per_s": two["samples_per_s"], "ratio": two["samples_per_s"] / one["samples_per_s"],
                 "communication_share": share, "step_s": step_s, "communication_s_per_step": comm_s,
                 "gradient_bytes_per_step": B, "projected_efficiency_cpu_step": proj,
                 "projected_efficiency_50ms_step": proj_gpu})
    print(f"{p:>13} {one['samples_per_s']:8.2f} {two['samples_per_s']:8.2f} {rows[-1]['ratio']:6.2f} "
          f"{100*share:6.1f}% {B/1e6:8.2f}   " + "  ".join(f"{k}: {v:.2f}" for k, v in proj.items()))
    print(f"{'':>13} {'(a 50 ms GPU step instead)':>43}   " + "  ".join(f"{k}: {v:.2f}" for k, v in proj_gpu.items()))
print(f"conversion of 8 phantom cases (NFE 4): one run x 2 threads {one_s:.1f} s, 4 shard tasks x 1 thread at once {four_s:.1f} s")
print(json.dumps({"program": "distributed_scaling.sh", "rows": rows, "convert_one_run_s": one_s,
                  "convert_four_tasks_s": four_s, "loadavg": os.getloadavg()}))
PY
