#!/usr/bin/env bash
# Installs the dependencies, builds mr2ct and runs every test through CTest.
# Real-data tests use $MR2CT_DATA_DIR (set it to ../shared/data); without it they skip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "${MR2CT_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "$(nproc)" --timeout 900
