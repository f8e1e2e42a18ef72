#!/usr/bin/env bash
# Training throughput of unet2d-bench (256×256, batch 4, CPU): mr2ct (LibTorch, bench/train_throughput)
# next to the PyTorch reference (../shared/peers/fm_reference.py train) at 1 and 2 threads, both with
# the tuned allocator, in ONE run (the machine is shared: compare ratios, not absolute times across
# runs). Also: the sgemm peak, our variants (channels-last off, bf16 autocast), peak RSS.
# Usage: bench/train_throughput.sh [BUILD_DIR]   (default build/; env STEPS=5 WARMUP=3 THREADS="1 2")
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
exe=$build/bench/train_throughput
peers=${PEERS:-$here/../../shared/peers}
steps=${STEPS:-5}
warmup=${WARMUP:-3}
threads=${THREADS:-"1 2"}
py=/usr/bin/python3
[ -x "$exe" ] || { echo "missing $exe (ninja -C $build train_throughput)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== sgemm peak (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})" >&2
$py "$peers/sgemm_bench.py" --threads $threads | tail -1 > "$out/sgemm.json"
for t in $threads; do
  echo "== threads $t: reference" >&2
  /usr/bin/time -f %M -o "$out/ref_rss_$t" \
    $py "$peers/fm_reference.py" train --batch 4 --steps "$steps" --warmup "$warmup" --threads "$t" --malloc tuned \
    | tail -1 > "$out/ref_$t.json"
  echo "== threads $t: mr2ct (channels-last)" >&2
  "$exe" --batch 4 --steps "$steps" --warmup "$warmup" --threads "$t" --channels-last 1 2>/dev/null > "$out/ours_$t.json"
  echo "== threads $t: mr2ct (NCHW)" >&2
  "$exe" --batch 4 --steps "$steps" --warmup "$warmup" --threads "$t" --channels-last 0 2>/dev/null > "$out/nchw_$t.json"
  echo "== threads $t: mr2ct (channels-last + bf16 autocast)" >&2
  "$exe" --batch 4 --steps "$steps" --warmup "$warmup" --threads "$t" --bf16 1 2>/dev/null > "$out/bf16_$t.json"
done

$py - "$out" $threads <<'PY'
import json, sys, os
d, threads = sys.argv[1], sys.argv[2:]
load = lambda n: json.load(open(os.path.join(d, n)))
sg = load("sgemm.json")["results"]
print(f"{'threads':>7} {'ref s/s':>8} {'ours s/s':>8} {'ratio':>6} {'NCHW':>6} {'bf16':>6} {'GFLOP/s':>8} {'sgemm':>7} {'%peak':>6} {'RSS MiB ref/ours':>17}")
rows = []
for t in threads:
    r, o, n, b = (load(f"{k}_{t}.json") for k in ("ref", "ours", "nchw", "bf16"))
    peak = sg[t]["gflops_median"]
    ref_rss = int(open(os.path.join(d, f"ref_rss_{t}")).read().split()[-1]) / 1024
    row = {"threads": int(t), "ref_samples_per_s": r["samples_per_s"], "ours_samples_per_s": o["samples_per_s"],
           "ratio": o["samples_per_s"] / r["samples_per_s"], "ratio_nchw": n["samples_per_s"] / r["samples_per_s"],
           "ratio_bf16": b["samples_per_s"] / r["samples_per_s"], "ours_gflops": o["train_gflops_per_s_est"],
           "ref_gflops": r["train_gflops_per_s_est"], "sgemm_gflops": peak,
           "ref_peak_rss_mib": ref_rss, "ours_peak_rss_mib": o["peak_rss_mib"], "bf16_peak_rss_mib": b["peak_rss_mib"]}
    rows.append(row)
    print(f"{t:>7} {r['samples_per_s']:8.3f} {o['samples_per_s']:8.3f} {row['ratio']:6.2f} {row['ratio_nchw']:6.2f} "
          f"{row['ratio_bf16']:6.2f} {o['train_gflops_per_s_est']:8.1f} {peak:7.1f} {100*o['train_gflops_per_s_est']/peak:5.1f}% "
          f"{ref_rss:8.0f}/{o['peak_rss_mib']:.0f}")
print(json.dumps({"program": "train_throughput.sh", "rows": rows, "loadavg": os.getloadavg()}))
PY
