#!/usr/bin/env bash
# Installs the dependencies, builds mr2ct and runs every test through CTest.
# Real-data tests use $MR2CT_DATA_DIR (set it to ../shared/data); without it they skip.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "${MR2CT_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "$(nproc)" --timeout 900
# Reliability (README "Reliability"): with MR2CT_RELIABILITY=1, the torch-free libraries and their
# fast tests again under ASan+UBSan, then each libFuzzer target for about a minute (the fuzzers
# come from the same clang build). Not part of the default run yet: see README "Reliability".
if [ "${MR2CT_RELIABILITY:-0}" = 1 ]; then
  "$root/scripts/run-sanitizers.sh"
  if command -v clang++ >/dev/null; then
    # Open third-party findings make fuzzing report, not fail, unless MR2CT_FUZZ_STRICT=1.
    "$root/scripts/run-fuzz.sh" "${MR2CT_ASAN_BUILD_DIR:-$root/build-asan}" ||
      { [ "${MR2CT_FUZZ_STRICT:-0}" != 1 ] || exit 1; echo "run-tests: fuzzing reported findings (not fatal)"; }
  fi
fi
