// Registration benchmark helper (driven by bench/registration_vs_elastix.sh).
//   registration_bench phantom OUT_DIR CASES SEED        writes phantom pairs (mr, ct, mask, true_transform.tfm)
//   registration_bench ours MR CT MASK TRUE.tfm|- THREADS [KIND]
//       registers CT (moving) to MR (fixed), prints one JSON line: seconds, TRE (mean over MASK of
//       |ours(p) - true(p)|), final metric, QA
//   registration_bench elastix-tre MASK TRUE.tfm "rx ry rz tx ty tz" "cx cy cz"
//       TRE of an elastix Euler result (maps CT points to MR points, R = Rz Rx Ry):
//       mean over MR mask points p of |E(true(p)) - p|
#include <itkMultiThreaderBase.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/phantom/HeadPhantom.h"
#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Registration.h"
#include "mr2ct/preprocessing/VolumeIO.h"

using namespace mr2ct;

namespace {

std::vector<double> numbers(const std::string& s) {
  std::istringstream in(s);
  std::vector<double> v;
  double x;
  while (in >> x) v.push_back(x);
  return v;
}

int ours(int argc, char** argv) {
  if (argc < 7) throw UsageError("ours MR CT MASK TRUE.tfm|- THREADS [KIND] [OUT.tfm]");
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(std::stoi(argv[6]));
  const Volume mr = readVolume(argv[2]);
  const Volume ct = readVolume(argv[3]);
  RegistrationOptions o;
  o.kind = parseRegistrationKind(argc > 7 ? argv[7] : "rigid");
  // Overrides for tuning runs (the defaults are the library's).
  if (const char* v = std::getenv("REG_SAMPLES")) o.maxSamplesPerLevel = std::stoul(v);
  if (const char* v = std::getenv("REG_SIGMAS")) o.smoothingSigmasMm = numbers(v);
  if (const char* v = std::getenv("REG_ITERATIONS")) o.iterations = std::stoi(v);
  if (const char* v = std::getenv("REG_DEBUG")) spdlog::set_level(std::string(v) == "trace" ? spdlog::level::trace : spdlog::level::debug);
  o.validate();
  const auto t0 = std::chrono::steady_clock::now();
  // REG_BODY_MASK=1: the metric limited to the MR's body mask, as `mr2ct preprocess` does
  // (REG_MASK_MARGIN mm around it, default the library's).
  if (const char* v = std::getenv("REG_MASK_MARGIN")) o.maskMarginMm = std::stod(v);
  const bool bodyMask = std::getenv("REG_BODY_MASK") && std::string(std::getenv("REG_BODY_MASK")) == "1";
  const Mask body = bodyMask ? bodyMaskFromMr(mr) : Mask();
  const RegistrationResult r = registerImages(mr, ct, o, bodyMask ? &body : nullptr);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (argc > 8) r.transform.save(argv[8]);
  nlohmann::json j{{"program", "mr2ct"}, {"seconds", seconds}, {"final_metric", r.qa.finalMetric},
                   {"qa", r.qa.toJson()}};
  if (std::string(argv[5]) != "-") {
    const Mask mask = readMask(argv[4]);
    const SpatialTransform truth = SpatialTransform::load(argv[5]);
    j["tre_mm"] = r.transform.meanDistance(truth, mask);
    j["initial_error_mm"] = SpatialTransform::identity().meanDistance(truth, mask);
  }
  std::cout << j.dump() << std::endl;
  return 0;
}

int elastixTre(int argc, char** argv) {
  if (argc < 6) throw UsageError("elastix-tre MASK TRUE.tfm PARAMS CENTER");
  const Mask mask = readMask(argv[2]);
  const SpatialTransform truth = SpatialTransform::load(argv[3]);
  const auto p = numbers(argv[4]), c = numbers(argv[5]);
  if (p.size() != 6 || c.size() != 3) throw UsageError("elastix-tre: 6 parameters and a 3D centre expected");
  const double cx = std::cos(p[0]), sx = std::sin(p[0]), cy = std::cos(p[1]), sy = std::sin(p[1]),
               cz = std::cos(p[2]), sz = std::sin(p[2]);
  const Mat3 rx{1, 0, 0, 0, cx, -sx, 0, sx, cx}, ry{cy, 0, sy, 0, 1, 0, -sy, 0, cy}, rz{cz, -sz, 0, sz, cz, 0, 0, 0, 1};
  const SpatialTransform e = SpatialTransform::rigid(multiply(rz, multiply(rx, ry)), {p[3], p[4], p[5]}, {c[0], c[1], c[2]});
  // e maps CT -> MR; e ∘ truth maps MR -> MR and is the identity when both agree.
  const double tre = e.after(truth).meanDistance(SpatialTransform::identity(), mask);
  std::cout << nlohmann::json{{"program", "elastix"}, {"tre_mm", tre}}.dump() << std::endl;
  return 0;
}

int phantom(int argc, char** argv) {
  if (argc < 5) throw UsageError("phantom OUT_DIR CASES SEED");
  PhantomDatasetOptions o;
  o.out = argv[2];
  o.cases = std::stoul(argv[3]);
  o.phantom.seed = std::stoull(argv[4]);
  writePhantomDataset(o);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "ours") return ours(argc, argv);
    if (cmd == "elastix-tre") return elastixTre(argc, argv);
    if (cmd == "phantom") return phantom(argc, argv);
    std::cerr << "usage: registration_bench phantom|ours|elastix-tre ...\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "registration_bench: " << e.what() << "\n";
    return 1;
  }
}
