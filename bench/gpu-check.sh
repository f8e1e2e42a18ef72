#!/usr/bin/env bash
# The GPU checks, on a machine with an NVIDIA GPU, a CUDA PyTorch (pip's wheel, whose LibTorch this
# builds against), CMake, ninja and a C++ compiler, but no ITK and no Debian packages:
#   1. builds the torch half of mr2ct (bench/gpu/CMakeLists.txt: core, models, c10d with NCCL,
#      their unit tests, convert_bench and train_throughput) against that CUDA LibTorch 2.x;
#   2. runs the unit tests: test_cuda (training fp32/bf16, resume, integration and bf16 inference
#      against the CPU, a NCCL group), and the CPU suites of models/ under LibTorch 2.x;
#   3. measures conversion (slices/s) and training (samples/s), fp32 and bf16, of unet2d-bench at
#      256², next to the peer's network in PyTorch on the same GPU (bench/gpu/peer_cuda.py).
# Usage: bench/gpu-check.sh KIT OUT, where KIT holds headers/{spdlog,fmt,nlohmann}, googletest/ and
# peers/fm_reference.py (copies of Debian's headers and ../shared/peers), and OUT receives the logs.
set -uo pipefail
KIT=${1:?KIT folder}
OUT=${2:?OUT folder}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-/tmp/mr2ct-gpu-build}
mkdir -p "$OUT" "$BUILD"
exec > >(tee "$OUT/gpu-check.log") 2>&1
step() { echo; echo "=== $* ($(date +%T))"; }

step machine
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
c++ --version | head -1
cmake --version | head -1
PY=${PYTHON:-python3}
TORCH_DIR=$($PY -c 'import torch, os; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))')
NCCL_INC=$($PY -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "include"))' 2>/dev/null || true)
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'

step configure
cmake -S "$ROOT/bench/gpu" -B "$BUILD" -G Ninja -DTorch_DIR="$TORCH_DIR" -DMR2CT_HEADERS="$KIT/headers" \
  -DMR2CT_GTEST_SOURCE="$KIT/googletest" -DMR2CT_NCCL_INCLUDE="$NCCL_INC" 2>&1 | grep -v "^-- Found\|^-- Looking\|^-- Performing" || exit 1

step build
ninja -C "$BUILD" -k 0 -j "$(nproc)" 2>&1 | grep -E "error|FAILED|warning: .*deprecated|^\[[0-9]+/[0-9]+\] Linking" | head -80
ninja -C "$BUILD" -k 0 -j "$(nproc)" > /dev/null 2>&1
buildOk=$?
echo "build exit $buildOk"

step tests
for t in test_cuda test_solvers test_integrator test_inference_precision test_likelihood test_velocity_unet test_flow_matching \
    test_slice_sampler test_model_folder test_trainer; do
  [ -x "$BUILD/$t" ] || { echo "$t: not built"; continue; }
  "$BUILD/$t" --gtest_brief=1 > "$OUT/$t.log" 2>&1
  echo "$t exit $? : $(grep -E '^\[  (PASSED|FAILED|SKIPPED)' "$OUT/$t.log" | tr '\n' ' ')"
  grep -E "Failure|FAILED  |largest relative|error" "$OUT/$t.log" | head -20
done

[ "${SPEED:-1}" = 1 ] || { step done; exit 0; }
step speed
export OMP_NUM_THREADS=8
for p in fp32 bf16; do
  [ -x "$BUILD/convert_bench" ] && "$BUILD/convert_bench" speed --device cuda --precision $p --preset unet2d-bench \
    --size 256 --slices 256 --batch 32 --nfe 1,4 --repeats 5 --threads 8 2>/dev/null
  [ -f "$KIT/peers/fm_reference.py" ] && for n in 1 4; do
    $PY "$ROOT/bench/gpu/peer_cuda.py" "$KIT/peers" sample --precision $p --batch 32 --nfe $n --repeats 5
  done
  [ -x "$BUILD/train_throughput" ] && "$BUILD/train_throughput" --device cuda --bf16 $([ $p = bf16 ] && echo 1 || echo 0) \
    --batch 32 --steps 20 --warmup 5 --threads 8 2>/dev/null
  [ -f "$KIT/peers/fm_reference.py" ] && $PY "$ROOT/bench/gpu/peer_cuda.py" "$KIT/peers" train --precision $p --batch 32 --steps 20
done
step done
