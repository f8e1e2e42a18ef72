#!/usr/bin/env bash
# Configures and builds mr2ct (Release) into ${MR2CT_BUILD_DIR:-build}. Extra arguments go to CMake.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MR2CT_BUILD_DIR:-$root/build}"
jobs="${MR2CT_JOBS:-$(nproc)}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j "$jobs"
