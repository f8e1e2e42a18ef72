#!/usr/bin/env bash
# Conversion speed and memory, side by side with the peer in one run (../shared/peers/README.md).
#   bench/convert_speed.sh [BUILD_DIR]          (default build)
# Environment: SLICES (8), NFES ("1 4"), THREADS ("1 2"), PEER (fm_reference.py path),
#   RSS=1 also converts a 512x512x300 MR with `mr2ct convert` under /usr/bin/time -v (RSS_NFE,
#   RSS_SOLVER, RSS_PRESET, RSS_THREADS choose the run; unet2d-bench Euler NFE 1 by default).
# Speed: ours integrates SLICES slices (batches of 4, channels-last, Euler) of a 256x256 volume in
# fp32 (channels-last and NCHW) and bf16; the peer samples one batch of 4 slices in fp32 and with
# --precision bf16 (its fastest setting); both report slices/s = slices / median run time. The bf16
# GFLOP/s is compared with conv_peak.py's bf16 figure at the same thread count.
# Seconds per 256x256x150 volume = 150 / slices/s. Prints one JSON line per figure and a summary.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../build}
BENCH=$BUILD/bench/convert_bench
MR2CT=$BUILD/bin/mr2ct
PEER=${PEER:-$HERE/../../shared/peers/fm_reference.py}
SLICES=${SLICES:-8}
NFES=${NFES:-"1 4"}
THREADS=${THREADS:-"1 2"}
NFE_LIST=$(echo $NFES | tr ' ' ',')
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "# load: $(cat /proc/loadavg)"
if [[ "${SPEED:-1}" == "1" ]]; then
# The bf16 convolution ceiling of this CPU (oneDNN; AMX where present), for the fraction reached.
/usr/bin/python3 "$(dirname "$PEER")/conv_peak.py" | tail -1 > "$TMP/conv_peak.json"
cat "$TMP/conv_peak.json"
for T in $THREADS; do
  "$BENCH" speed --preset unet2d-bench --size 256 --slices "$SLICES" --batch 4 --nfe "$NFE_LIST" --threads "$T" \
    --malloc tuned | tail -1 > "$TMP/ours_$T.json"
  cat "$TMP/ours_$T.json"
  # the other memory layout (convert's default is channels-last)
  "$BENCH" speed --preset unet2d-bench --size 256 --slices "$SLICES" --batch 4 --nfe "$NFE_LIST" --threads "$T" \
    --malloc tuned --channels-last 0 | tail -1 > "$TMP/nchw_$T.json"
  cat "$TMP/nchw_$T.json"
  # `convert --precision bf16` (falls back to fp32 on a CPU without native bf16: see "precision")
  "$BENCH" speed --preset unet2d-bench --size 256 --slices "$SLICES" --batch 4 --nfe "$NFE_LIST" --threads "$T" \
    --malloc tuned --precision bf16 | tail -1 > "$TMP/bf16_$T.json"
  cat "$TMP/bf16_$T.json"
  for N in $NFES; do
    /usr/bin/python3 "$PEER" sample --solver euler --nfe "$N" --batch 4 --threads "$T" --malloc tuned \
      | tail -1 > "$TMP/peer_${T}_$N.json"
    cat "$TMP/peer_${T}_$N.json"
    /usr/bin/python3 "$PEER" sample --solver euler --nfe "$N" --batch 4 --threads "$T" --malloc tuned --precision bf16 \
      | tail -1 > "$TMP/peerbf16_${T}_$N.json"
    cat "$TMP/peerbf16_${T}_$N.json"
  done
done

/usr/bin/python3 - "$TMP" "$THREADS" "$NFES" <<'PY'
import json, sys, os
tmp, threads, nfes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
GFLOP_PER_SLICE_EVAL = 67.323437056  # unet2d-bench forward at 256x256 (../shared/peers/README.md)
peak = json.load(open(os.path.join(tmp, "conv_peak.json")))
def sps(j):
    return next(j[k] for k in ("slices_per_s", "slices_per_sec", "slices/s") if k in j)
print("| threads | NFE | ours fp32 channels-last | NCHW | ours bf16 | peer fp32 | peer bf16 | ours/peer fp32 | ours bf16 / peer bf16 | bf16 GFLOP/s (% of conv peak) |")
print("|---|---|---|---|---|---|---|---|---|---|")
rows = []
for t in threads:
    ours = json.load(open(os.path.join(tmp, f"ours_{t}.json")))
    nchw = json.load(open(os.path.join(tmp, f"nchw_{t}.json")))
    bf16 = json.load(open(os.path.join(tmp, f"bf16_{t}.json")))
    for n in nfes:
        peer = json.load(open(os.path.join(tmp, f"peer_{t}_{n}.json")))
        peerb = json.load(open(os.path.join(tmp, f"peerbf16_{t}_{n}.json")))
        row = next(r for r in ours["runs"] if r["nfe"] == int(n))
        alt = next(r for r in nchw["runs"] if r["nfe"] == int(n))
        b = next(r for r in bf16["runs"] if r["nfe"] == int(n))
        ps, pb = sps(peer), sps(peerb)
        gflops = b["slices_per_s"] * int(n) * GFLOP_PER_SLICE_EVAL
        pk = peak.get(f"bf16_{t}t_gflops")
        rows.append({"threads": int(t), "nfe": int(n), "ours_slices_per_s": row["slices_per_s"],
                     "nchw_slices_per_s": alt["slices_per_s"], "peer_slices_per_s": ps,
                     "ours_bf16_slices_per_s": b["slices_per_s"], "bf16_precision_ran": bf16.get("precision"),
                     "cpu_bf16": bf16.get("cpu_bf16"), "peer_bf16_slices_per_s": pb,
                     "ratio": row["slices_per_s"] / ps, "ratio_nchw": alt["slices_per_s"] / ps,
                     "ratio_bf16": b["slices_per_s"] / pb, "bf16_gflops": gflops, "conv_peak_bf16_gflops": pk,
                     "fraction_of_conv_peak": gflops / pk if pk else None,
                     "s_per_volume": row["s_per_volume"], "s_per_volume_per_nfe": row["s_per_volume_per_nfe"],
                     "bf16_s_per_volume": b["s_per_volume"]})
        frac = f"{gflops:.0f} ({100 * gflops / pk:.0f} %)" if pk else f"{gflops:.0f}"
        print(f"| {t} | {n} | {row['slices_per_s']:.3f} | {alt['slices_per_s']:.3f} | {b['slices_per_s']:.3f} | {ps:.3f} | "
              f"{pb:.3f} | {row['slices_per_s']/ps:.2f}x | {b['slices_per_s']/pb:.2f}x | {frac} |")
print(json.dumps({"bench": "convert_speed_summary", "rows": rows, "conv_peak": peak, "loadavg": os.getloadavg()}))
PY
fi

if [[ "${RSS:-0}" == "1" ]]; then
  "$BENCH" make-model "$TMP/model" --preset "${RSS_PRESET:-unet2d-bench}"
  # A 512x512x300 head-sized ellipsoid as MetaImage (numpy only; Debian has no nibabel).
  /usr/bin/python3 - "$TMP/mr512.mha" <<'PY'
import sys, numpy as np
nx, ny, nz = 512, 512, 300
z, y, x = np.ogrid[:nz, :ny, :nx]
r = ((x - nx / 2) / (0.4 * nx)) ** 2 + ((y - ny / 2) / (0.45 * ny)) ** 2 + ((z - nz / 2) / (0.6 * nz)) ** 2
v = np.where(r < 1, 300 + 100 * np.sin(0.05 * x) * np.cos(0.07 * y), (x + 3 * y + z) % 7).astype("<f4")
with open(sys.argv[1], "wb") as f:
    f.write(b"ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
            b"ElementSpacing = 0.8 0.8 1.0\nDimSize = 512 512 300\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n")
    f.write(np.ascontiguousarray(v).tobytes())
PY
  /usr/bin/time -v "$MR2CT" convert --model "$TMP/model" --input "$TMP/mr512.mha" --output "$TMP/sct512.nii.gz" \
    --solver "${RSS_SOLVER:-euler}" --steps "${RSS_NFE:-1}" --threads "${RSS_THREADS:-2}" --quiet \
    > "$TMP/rss.out" 2> "$TMP/rss.time"
  cat "$TMP/rss.out"
  KB=$(grep "Maximum resident set size" "$TMP/rss.time" | awk '{print $NF}')
  WALL=$(grep "Elapsed (wall clock)" "$TMP/rss.time" | awk '{print $NF}')
  echo "{\"bench\":\"convert_rss\",\"volume\":\"512x512x300\",\"preset\":\"${RSS_PRESET:-unet2d-bench}\",\"solver\":\"${RSS_SOLVER:-euler}\",\"steps\":${RSS_NFE:-1},\"max_rss_mib\":$((KB / 1024)),\"wall\":\"$WALL\"}"
fi
