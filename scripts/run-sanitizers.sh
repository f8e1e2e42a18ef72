#!/usr/bin/env bash
# Builds the torch-free libraries and their "fast" tests with AddressSanitizer + UndefinedBehavior-
# Sanitizer into ${MR2CT_ASAN_BUILD_DIR:-build-asan} and runs them (ctest -L fast). With clang (the
# default when installed) the same build also carries the libFuzzer targets (fuzz/) that
# scripts/run-fuzz.sh runs; with MR2CT_SANITIZE_CC=gcc it uses GCC and builds no fuzzers.
# -O1 and line tables only: enough for symbolized reports, and the build stays a few minutes.
# --build-only: configure and build, run nothing (run-tests.sh uses it for the fuzzers alone).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MR2CT_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="${MR2CT_JOBS:-$(nproc)}"
cc="${MR2CT_SANITIZE_CC:-clang}"
if [ "$cc" = clang ] && command -v clang++ >/dev/null; then
  export CC=clang CXX=clang++
  flags=(-DMR2CT_BUILD_FUZZERS=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG")
else
  export CC=gcc CXX=g++
  flags=(-DMR2CT_BUILD_FUZZERS=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
fi
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMR2CT_WITH_TORCH=OFF \
  -DMR2CT_SANITIZE=ON -DMR2CT_BUILD_BENCH=OFF "${flags[@]}" >/dev/null
start=$(date +%s)
cmake --build "$build" -j "$jobs"
echo "run-sanitizers: build took $(( $(date +%s) - start )) s"
[ "${1:-}" = --build-only ] && exit 0
cd "$build"
# The suppressions and halt-on-error settings come with each test (tests/CMakeLists.txt).
ctest --output-on-failure -j "$jobs" -L fast --timeout 600
