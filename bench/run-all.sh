#!/usr/bin/env bash
# The benchmark suite: every benchmark of the project in one run on one machine, side by side with
# the peers (../shared/peers), into one JSON file and one Markdown table (README "Benchmarks").
#   bench/run-all.sh [BUILD_DIR]                      (default build)
# Environment: OUT (default runs/bench-<date>), ONLY (space-separated subset of: registration
# train convert convert_rss metrics preprocess), MR2CT_DATA_DIR (the porcine pair of the
# registration benchmark; skipped without it).
# Each benchmark's full output is kept in OUT/<name>.log; its summary JSON line goes into
# OUT/results.json, and OUT/results.md holds the table. Run it on a quiet machine: the ratios are
# measured side by side, but absolute seconds depend on the load (recorded per benchmark).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "${1:-$HERE/../build}" && pwd)
OUT=${OUT:-$HERE/../runs/bench-$(date +%Y%m%d-%H%M)}
ONLY=${ONLY:-"registration train convert convert_rss metrics preprocess"}
PY=/usr/bin/python3
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export MR2CT_DATA_DIR=${MR2CT_DATA_DIR:-$([ -d "$HERE/../../shared/data" ] && cd "$HERE/../../shared/data" && pwd)}

run() {  # name, command...: keeps the log, records wall time, load and the last JSON line
  local name=$1; shift
  case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
  echo "== $name: $*" >&2
  local load0 t0 rc
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(date +%s)
  "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  $PY - "$OUT/$name.log" "$name" "$rc" "$(( $(date +%s) - t0 ))" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    >> "$OUT/results.jsonl" <<'PY'
import json, sys
log, name, rc, wall, load0, load1 = sys.argv[1:7]
rows = []
for line in open(log, errors="replace"):
    line = line.strip()
    if line.startswith("{"):
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
print(json.dumps({"name": name, "exit_code": int(rc), "wall_s": int(wall), "load_before": load0,
                  "load_after": load1, "summary": rows[-1] if rows else None, "lines": rows}))
PY
  echo "   exit $rc after $(( $(date +%s) - t0 )) s (log: $OUT/$name.log)" >&2
}

: > "$OUT/results.jsonl"
run registration env THREADS=2 CASES=8 "$HERE/registration_vs_elastix.sh" "$BUILD"
run train env STEPS=4 WARMUP=2 "$HERE/train_throughput.sh" "$BUILD"
run convert env THREADS="1 2" NFES="1 4" "$HERE/convert_speed.sh" "$BUILD"
run convert_rss env RSS=1 SPEED=0 "$HERE/convert_speed.sh" "$BUILD"
run metrics "$HERE/metrics_vs_reference.sh" "$BUILD"
# The preprocessing target is stated for a 256×256×200 case: one generated head phantom whose MR
# grid is 286×286×230 at 1 mm (1.44× those voxels), CT misaligned by a known motion.
if [[ " $ONLY " == *" preprocess "* ]]; then
  "$BUILD/bin/mr2ct" phantom --out "$OUT/big" --cases 1 --seed 3 --size 256,256,200 --spacing 1 --mr-spacing 1,1 \
    --quiet > "$OUT/phantom.log" 2>&1
  run preprocess env REGISTER=affine EXTRA="--n4" THREADS=2 "$HERE/preprocess_speed.sh" "$OUT/big/manifest.csv" "$BUILD"
  rm -rf "$OUT/big"
fi

$PY - "$OUT" "$BUILD" <<'PY'
import json, os, platform, subprocess, sys
out, build = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(os.path.join(out, "results.jsonl"))]
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
cpu = sh("lscpu | sed -n 's/^Model name: *//p'")
flags = sh("grep -o -m1 -w avx512_bf16 /proc/cpuinfo")
machine = {"cpu": cpu, "cores": os.cpu_count(), "avx512_bf16": bool(flags),
           "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
           "os": sh(". /etc/os-release && echo $PRETTY_NAME"), "commit": sh(f"git -C {build}/.. rev-parse --short HEAD"),
           "date": sh("date -u +%Y-%m-%dT%H:%MZ")}
json.dump({"machine": machine, "benchmarks": rows}, open(os.path.join(out, "results.json"), "w"), indent=2)

by = {r["name"]: r for r in rows}
md = [f"Machine: {cpu}, {machine['cores']} cores, {machine['memory_gib']} GiB, {machine['os']}; "
      f"commit {machine['commit']}, {machine['date']}. Load (1-min average) before each benchmark in the last column.", "",
      "| benchmark | mr2ct | peer | ratio | target | load |", "|---|---|---|---|---|---|"]
def add(name, ours, peer, ratio, target):
    r = by.get(name)
    md.append(f"| {ours[0]} | {ours[1]} | {peer} | {ratio} | {target} | {r['load_before'].split()[0] if r else '–'} |")
r = by.get("registration")
if r and r["summary"]:
    s = r["summary"]
    add("registration", ("rigid registration, 8 phantom pairs: median s / TRE median (max) mm",
                         f"{s['ours_s_median']:.1f} s / {s['ours_tre_median_mm']:.3f} ({s['ours_tre_max_mm']:.3f})"),
        f"elastix 5.0.1: {s['elastix_s_median']:.1f} s / {s['elastix_tre_median_mm']:.3f} ({s['elastix_tre_max_mm']:.3f})",
        f"time {s['time_ratio_ours_over_elastix_median']:.2f}x elastix", "time ≤ 1x, TRE ≤ elastix")
r = by.get("train")
if r and r["summary"]:
    for row in r["summary"]["rows"]:
        # train_throughput's "ours" is fp32 channels-last; training defaults to NCHW (ratio_nchw).
        ref = row["ref_samples_per_s"]
        add("train", (f"training unet2d-bench 256², batch 4, {row['threads']} thread(s): samples/s "
                      f"(fp32 NCHW default / fp32 channels-last / bf16 channels-last)",
                      f"{ref * row['ratio_nchw']:.3f} / {row['ours_samples_per_s']:.3f} / {ref * row['ratio_bf16']:.3f}"),
            f"fm_reference.py fp32: {ref:.3f}",
            f"{row['ratio_nchw']:.2f}x / {row['ratio']:.2f}x / {row['ratio_bf16']:.2f}x", "≥ 1.1x")
r = by.get("convert")
if r and r["summary"] and r["summary"].get("bench") == "convert_speed_summary":
    for row in r["summary"]["rows"]:
        add("convert", (f"sampling unet2d-bench 256², Euler NFE {row['nfe']}, {row['threads']} thread(s): slices/s "
                        f"fp32 channels-last / NCHW (s per 256×256×150 volume)",
                        f"{row['ours_slices_per_s']:.2f} / {row['nchw_slices_per_s']:.2f} ({row['s_per_volume']:.0f} s)"),
            f"fm_reference.py sample: {row['peer_slices_per_s']:.2f}",
            f"{row['ratio']:.2f}x / {row['ratio_nchw']:.2f}x", "≥ 1.1x")
        if "ours_bf16_slices_per_s" in row:
            frac = row.get("fraction_of_conv_peak")
            add("convert", (f"sampling unet2d-bench 256², Euler NFE {row['nfe']}, {row['threads']} thread(s): slices/s "
                            f"`--precision bf16` ({row['bf16_precision_ran']} ran; {row['cpu_bf16']}); "
                            f"share of conv_peak.py bf16",
                            f"{row['ours_bf16_slices_per_s']:.2f} ({row['bf16_s_per_volume']:.0f} s); "
                            + (f"{100 * frac:.0f} %" if frac else "–")),
                f"fm_reference.py sample --precision bf16: {row['peer_bf16_slices_per_s']:.2f}",
                f"{row['ratio_bf16']:.2f}x", "≥ 1.1x")
r = by.get("convert_rss")
if r and r["summary"]:
    s = r["summary"]
    add("convert_rss", (f"`mr2ct convert` 512×512×300 MR, {s['preset']}, {s['solver']} NFE {s['steps']}: peak RSS",
                        f"{s['max_rss_mib'] / 1024:.2f} GiB ({s['wall']} wall)"), "–", "–", "< 3 GiB")
r = by.get("metrics")
if r and r["lines"]:
    for s in r["lines"]:
        if s.get("bench") != "metrics_vs_reference":
            continue
        worst = max(s["rel_diff"].values())
        add("metrics", (f"SynthRAD metrics {s['profile']}, {s['size']}: compute s ({s['threads']} threads)",
                        f"{s['mr2ct_compute_s']:.2f}"), f"metrics_reference.py: {s['python_compute_s']:.2f}",
            f"{s['speedup_compute']:.1f}x faster, end to end {s['speedup_end_to_end']:.1f}x; max rel. diff {worst:.1e}",
            "same values")
r = by.get("preprocess")
if r and r["summary"]:
    s = r["summary"]
    add("preprocess", ("preprocess one 286×286×230 phantom case at 1 mm (affine, N4, mask, normalize, store): s per case",
                       f"{s['median_case_s']}"), "–", "–", "< 60 s (256×256×200)")
md.append("")
md.append(f"Full results: `results.json`; logs per benchmark beside it. Command: `bench/run-all.sh`.")
open(os.path.join(out, "results.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
