#!/usr/bin/env bash
# Installs every Debian package mr2ct's build, tests and benchmarks need. Idempotent: when all
# packages are present it only checks and returns (about a second).
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ make pkg-config
  libtorch-dev libopenblas0-openmp
  libgloo-dev  # c10d's ProcessGroupGloo headers (data-parallel training)
  libinsighttoolkit5-dev libfftw3-dev
  libhdf5-dev libboost-program-options-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libpng-dev zlib1g-dev
  libgdcm-dev  # the DICOM series scan uses GDCM directly (ITK's GDCMImageIO uses the same)
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # peers that tests and benchmarks run side by side with ours (see ../shared/peers/README.md)
  python3 python3-numpy python3-scipy python3-skimage python3-h5py python3-nibabel python3-torch elastix
  # DICOM tests: an independent writer (pydicom), converter (dcm2niix), validator (dicom3tools) and
  # PACS (dcmtk: storescu/findscu/dcmqrscp)
  python3-pydicom dcm2niix dicom3tools dcmtk
  # cluster tests: a single-node Slurm (tests/integration/slurm_cluster.sh)
  slurm-wlm munge
  # fuzzing and sanitizers (clang's libFuzzer and runtimes)
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
