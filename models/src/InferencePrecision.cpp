#include "mr2ct/models/InferencePrecision.h"

#include <atomic>
#include <mutex>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <spdlog/spdlog.h>

#include "mr2ct/core/Error.h"

namespace mr2ct {

namespace {
// -1: real detector, 0: forced absent, 1: forced present.
std::atomic<int> forcedSupport{-1};

#if defined(__x86_64__) || defined(__i386__)
unsigned long long readXcr0() {
  unsigned int eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif
}  // namespace

InferencePrecision parseInferencePrecision(const std::string& name, const std::string& option) {
  if (name == "fp32") return InferencePrecision::Fp32;
  if (name == "bf16") return InferencePrecision::Bf16;
  if (name == "auto") return InferencePrecision::Auto;
  throw UsageError(option + " must be fp32, bf16 or auto, not '" + name + "'");
}

std::string inferencePrecisionName(InferencePrecision precision) {
  switch (precision) {
    case InferencePrecision::Bf16: return "bf16";
    case InferencePrecision::Auto: return "auto";
    default: return "fp32";
  }
}

at::ScalarType inferenceScalarType(InferencePrecision precision) {
  return precision == InferencePrecision::Bf16 ? at::kBFloat16 : at::kFloat;
}

std::string CpuBf16Support::describe() const {
  if (!any()) return "no native bf16 (neither AVX512-BF16 nor AMX-BF16)";
  std::string s = avx512bf16 ? "AVX512-BF16" : "";
  if (amxbf16) s += std::string(s.empty() ? "" : " + ") + "AMX-BF16";
  return s;
}

CpuBf16Support detectCpuBf16Support() {
  CpuBf16Support s;
#if defined(__x86_64__) || defined(__i386__)
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return s;
  if (!(ecx & (1u << 27))) return s;  // OSXSAVE: without it xgetbv faults and no AVX state is saved
  const unsigned long long xcr0 = readXcr0();
  const bool avx512State = (xcr0 & 0xE6) == 0xE6;          // XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM
  const bool amxState = (xcr0 & (3ull << 17)) == (3ull << 17);  // XTILECFG, XTILEDATA
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return s;
  const bool avx512f = ebx & (1u << 16);
  const bool amxBf16Bit = edx & (1u << 22);
  const unsigned int maxSubleaf = eax;
  bool avx512Bf16Bit = false;
  if (maxSubleaf >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) avx512Bf16Bit = eax & (1u << 5);
  s.avx512bf16 = avx512State && avx512f && avx512Bf16Bit;
  // Linux also needs arch_prctl(ARCH_REQ_XCOMP_PERM) for AMX tiles; oneDNN requests it itself.
  s.amxbf16 = amxState && amxBf16Bit;
#endif
  return s;
}

void forceCpuBf16SupportForTesting(std::optional<bool> supported) {
  forcedSupport = supported ? int(*supported) : -1;
}

bool cpuHasNativeBf16() {
  const int forced = forcedSupport.load();
  if (forced >= 0) return forced == 1;
  static const bool detected = detectCpuBf16Support().any();
  return detected;
}

InferencePrecision effectiveInferencePrecision(InferencePrecision requested, const torch::Device& device, int dims) {
  if (requested == InferencePrecision::Auto) {
    if (!device.is_cpu() || dims != 2) return InferencePrecision::Fp32;
    if (cpuHasNativeBf16()) return InferencePrecision::Bf16;
    static std::once_flag said;
    std::call_once(said, [] {
      spdlog::info("--precision auto: this CPU has {}, so the network runs in fp32", detectCpuBf16Support().describe());
    });
    return InferencePrecision::Fp32;
  }
  if (requested != InferencePrecision::Bf16 || !device.is_cpu() || cpuHasNativeBf16()) return requested;
  static std::once_flag warned;
  std::call_once(warned, [] {
    const auto real = detectCpuBf16Support();
    spdlog::warn("--precision bf16: this CPU has {}; oneDNN would emulate bf16 slower than fp32, so fp32 is used",
                 real.any() ? "native bf16 switched off (test override)" : real.describe());
  });
  return InferencePrecision::Fp32;
}

}  // namespace mr2ct
