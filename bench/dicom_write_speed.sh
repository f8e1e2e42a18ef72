#!/usr/bin/env bash
# DICOM series output speed and memory: a 512x512x300 sCT written as a CT series (300 files) and,
# side by side in the same run, as int16 .nii.gz; peak RSS of the whole run via /usr/bin/time -v
# (the volume itself is 300 MiB of float voxels).
#   bench/dicom_write_speed.sh [BUILD_DIR] [REPETITIONS=3]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../build}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mr2ct-dicom-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
echo "# load: $(cat /proc/loadavg)  cores: $(nproc)"
/usr/bin/time -v "$BUILD/bench/dicom_write_bench" "$TMP/out" "${2:-3}" 2> "$TMP/time.txt"
rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$TMP/time.txt")
echo "{\"bench\": \"dicom_write_peak_rss\", \"peak_rss_mib\": $(( rss / 1024 ))}"
