#pragma once
// Inference precision of the velocity network (`mr2ct convert --precision`). bf16: the weights are
// cast once to bfloat16 at load (2D: channels-last), while the time embedding, the ODE state, the
// solver's arithmetic and the returned velocity stay float32 (VelocityUNet::prepareForInference).
// On a CPU, bf16 only pays with native bf16 instructions (AVX512-BF16 or AMX-BF16); without them
// oneDNN emulates bf16 and is slower than fp32, so the request falls back to fp32 with one warning.
// Auto: bf16 for 2D networks on a CPU with native bf16 (on BrainWeb's val subjects the MAE moved by
// +0.2 to +0.4 HU at NFE 1, 4 and 8: README "convert --precision"), fp32 everywhere else (3D
// networks and CUDA: their MAE effect is not measured).
#include <optional>
#include <string>

#include <torch/types.h>

namespace mr2ct {

enum class InferencePrecision { Fp32, Bf16, Auto };

/// "fp32" | "bf16" | "auto"; UsageError naming `option` otherwise.
InferencePrecision parseInferencePrecision(const std::string& name, const std::string& option = "--precision");
std::string inferencePrecisionName(InferencePrecision precision);
at::ScalarType inferenceScalarType(InferencePrecision precision);  ///< of fp32 or bf16, not Auto

/// What this CPU offers for bf16, from cpuid (leaf 7) and the OS-enabled state (xgetbv).
struct CpuBf16Support {
  bool avx512bf16 = false;  ///< AVX512_BF16 (Cooper Lake, Sapphire Rapids, AMD Zen 4)
  bool amxbf16 = false;     ///< AMX-BF16 tiles (Sapphire Rapids and later)
  bool any() const { return avx512bf16 || amxbf16; }
  std::string describe() const;  ///< e.g. "AVX512-BF16 + AMX-BF16", or "no native bf16"
};
/// The real detector (not affected by the test override). All false on non-x86 builds.
CpuBf16Support detectCpuBf16Support();

/// Tests: force the answer of cpuHasNativeBf16() (nullopt: back to the real detector).
void forceCpuBf16SupportForTesting(std::optional<bool> supported);
bool cpuHasNativeBf16();

/// The precision that runs for `requested` on `device` for a network of `dims` (2 or 3): bf16 on a
/// CPU without native bf16 becomes fp32 with one warning per process; CUDA: as requested. Auto:
/// bf16 for 2D on a CPU with native bf16, else fp32 (said once at info level on a CPU without it).
/// Never returns Auto.
InferencePrecision effectiveInferencePrecision(InferencePrecision requested, const torch::Device& device,
                                               int dims = 2);

}  // namespace mr2ct
