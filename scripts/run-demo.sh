#!/usr/bin/env bash
# Installs the dependencies, builds mr2ct (Release) and runs `mr2ct demo`. Arguments go to the demo
# (e.g. --quick, --out DIR).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
exec "${MR2CT_BUILD_DIR:-$root/build}/bin/mr2ct" demo "$@"
