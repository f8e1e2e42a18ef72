#!/usr/bin/env bash
# Conversion speed and memory, side by side with the peer in one run (../shared/peers/README.md).
#   bench/convert_speed.sh [BUILD_DIR]          (default build)
# Environment: SLICES (8), NFES ("1 4"), THREADS ("1 2"), PEER (fm_reference.py path),
#   RSS=1 also converts a 512x512x300 MR with `mr2ct convert` under /usr/bin/time -v (RSS_NFE,
#   RSS_SOLVER, RSS_PRESET, RSS_THREADS choose the run; unet2d-bench Euler NFE 1 by default).
# Speed: ours integrates SLICES slices (batches of 4, channels-last, Euler) of a 256x256 volume;
# the peer samples one batch of 4 slices; both report slices/s = slices / median run time.
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
for T in $THREADS; do
  "$BENCH" speed --preset unet2d-bench --size 256 --slices "$SLICES" --batch 4 --nfe "$NFE_LIST" --threads "$T" \
    --malloc tuned | tail -1 > "$TMP/ours_$T.json"
  cat "$TMP/ours_$T.json"
  # the other memory layout (convert's default is channels-last)
  "$BENCH" speed --preset unet2d-bench --size 256 --slices "$SLICES" --batch 4 --nfe "$NFE_LIST" --threads "$T" \
    --malloc tuned --channels-last 0 | tail -1 > "$TMP/nchw_$T.json"
  cat "$TMP/nchw_$T.json"
  for N in $NFES; do
    /usr/bin/python3 "$PEER" sample --solver euler --nfe "$N" --batch 4 --threads "$T" --malloc tuned \
      | tail -1 > "$TMP/peer_${T}_$N.json"
    cat "$TMP/peer_${T}_$N.json"
  done
done

/usr/bin/python3 - "$TMP" "$THREADS" "$NFES" <<'PY'
import json, sys, os
tmp, threads, nfes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
print("| threads | NFE | ours slices/s (channels-last) | NCHW | peer slices/s | ratio | NCHW ratio | ours s/volume (150 sl) | ours s/volume/NFE |")
print("|---|---|---|---|---|---|---|---|---|")
rows = []
for t in threads:
    ours = json.load(open(os.path.join(tmp, f"ours_{t}.json")))
    nchw = json.load(open(os.path.join(tmp, f"nchw_{t}.json")))
    for n in nfes:
        peer = json.load(open(os.path.join(tmp, f"peer_{t}_{n}.json")))
        row = next(r for r in ours["runs"] if r["nfe"] == int(n))
        alt = next(r for r in nchw["runs"] if r["nfe"] == int(n))
        ps = next(peer[k] for k in ("slices_per_s", "slices_per_sec", "slices/s") if k in peer)
        rows.append({"threads": int(t), "nfe": int(n), "ours_slices_per_s": row["slices_per_s"],
                     "nchw_slices_per_s": alt["slices_per_s"], "peer_slices_per_s": ps,
                     "ratio": row["slices_per_s"] / ps, "ratio_nchw": alt["slices_per_s"] / ps,
                     "s_per_volume": row["s_per_volume"], "s_per_volume_per_nfe": row["s_per_volume_per_nfe"]})
        print(f"| {t} | {n} | {row['slices_per_s']:.3f} | {alt['slices_per_s']:.3f} | {ps:.3f} | {row['slices_per_s']/ps:.2f}x | "
              f"{alt['slices_per_s']/ps:.2f}x | {row['s_per_volume']:.1f} | {row['s_per_volume_per_nfe']:.1f} |")
print(json.dumps({"bench": "convert_speed_summary", "rows": rows, "loadavg": os.getloadavg()}))
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
