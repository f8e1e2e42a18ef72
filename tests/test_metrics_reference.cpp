// Agreement with the Python reference (../shared/peers/metrics_reference.py, the SynthRAD
// definitions): the same files go through both; MAE, ME, RMSE and PSNR must agree to 1e-4
// relative, SSIM and MS-SSIM to 1e-4 absolute, for both profiles. Real CT (BrainWeb-paired,
// perturbed by noise, a shift and a bias) and a synthetic phantom with odd sizes (MS-SSIM
// padding) and a partial mask. Skips without MR2CT_DATA_DIR or python3 with scikit-image.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

#include "mr2ct/evaluation/Metrics.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

const char* kPython = "/usr/bin/python3";

std::filesystem::path referenceScript(const std::filesystem::path& dataDir) {
  if (const char* s = std::getenv("MR2CT_METRICS_REFERENCE")) return s;
  return dataDir.parent_path() / "peers" / "metrics_reference.py";
}

bool pythonHasSkimage() {
  const std::string cmd = std::string(kPython) + " -c 'import numpy, scipy, skimage, nibabel' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

/// Runs the reference once for both profiles (one interpreter start, one read of the files):
/// {"synthrad2023": {...}, "synthrad2025": {...}}, each as metrics_reference.py prints it.
nlohmann::json runReference(const std::filesystem::path& script, const std::filesystem::path& dir) {
  const std::string code =
      "import importlib.util, json, sys\n"
      "spec = importlib.util.spec_from_file_location('mref', sys.argv[1])\n"
      "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
      "p, r, k = (m.load(a) for a in sys.argv[2:5])\n"
      "print(json.dumps({pr: m.compute(p, r, k, pr) for pr in ('synthrad2023', 'synthrad2025')}))\n";
  const std::filesystem::path codeFile = dir / "run_reference.py";
  std::ofstream(codeFile) << code;
  const std::string cmd = std::string(kPython) + " '" + codeFile.string() + "' '" + script.string() + "' '" +
                          (dir / "pred.nii.gz").string() + "' '" + (dir / "ref.nii.gz").string() + "' '" +
                          (dir / "mask.nii.gz").string() + "'";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + cmd);
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int rc = pclose(pipe);
  if (rc != 0) throw std::runtime_error("reference failed (" + std::to_string(rc) + "): " + cmd);
  return nlohmann::json::parse(out);
}

void expectAgreement(const Volume& pred, const Volume& ref, const Mask& mask, const std::filesystem::path& script) {
  test::TempDir dir;
  writeVolume(pred, dir / "pred.nii.gz");
  writeVolume(ref, dir / "ref.nii.gz");
  writeMask(mask, dir / "mask.nii.gz");
  // Read back what Python reads, so both sides see identical voxels.
  const Volume p = readVolume(dir / "pred.nii.gz"), r = readVolume(dir / "ref.nii.gz");
  const Mask m = readMask(dir / "mask.nii.gz");
  const nlohmann::json both = runReference(script, dir.path());
  for (const std::string profile : {"synthrad2023", "synthrad2025"}) {
    SCOPED_TRACE(profile);
    const nlohmann::json& py = both.at(profile);
    MetricsOptions o;
    o.profile = profile;
    const MetricsResult cpp = computeMetrics(p, r, m, o);
    const auto rel = [](double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-12); };
    EXPECT_LT(rel(cpp.mae, py["mae"].get<double>()), 1e-4) << cpp.mae << " vs " << py["mae"];
    EXPECT_LT(rel(cpp.me, py["me"].get<double>()), 1e-4) << cpp.me << " vs " << py["me"];
    EXPECT_LT(rel(cpp.rmse, py["rmse"].get<double>()), 1e-4) << cpp.rmse << " vs " << py["rmse"];
    EXPECT_LT(rel(cpp.psnr, py["psnr"].get<double>()), 1e-4) << cpp.psnr << " vs " << py["psnr"];
    EXPECT_NEAR(cpp.ssim, py["ssim"].get<double>(), 1e-4);
    EXPECT_NEAR(cpp.msSsim, py["ms_ssim"].get<double>(), 1e-4);
    // Guard against a trivial pass: the perturbation must move every metric away from ideal.
    EXPECT_GT(cpp.mae, 1.0);
    EXPECT_LT(cpp.ssim, 0.99);
  }
}

/// noise (sigma 30 HU), a shift of 2 voxels along x, a bias of +15 HU.
Volume perturbed(const Volume& ct, unsigned seed) {
  Volume p = ct.clone();
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 30.0f);
  const auto s = ct.size();
  for (std::size_t z = 0; z < s[2]; ++z)
    for (std::size_t y = 0; y < s[1]; ++y)
      for (std::size_t x = 0; x < s[0]; ++x)
        p.at(x, y, z) = ct.at(x >= 2 ? x - 2 : 0, y, z) + 15.0f + noise(rng);
  return p;
}

#define MR2CT_REQUIRE_REFERENCE(script)                                                    \
  MR2CT_REQUIRE_DATA(dataDir__);                                                           \
  const std::filesystem::path script = referenceScript(dataDir__);                         \
  if (!std::filesystem::exists(script)) GTEST_SKIP() << "no reference script " << script; \
  if (!pythonHasSkimage()) GTEST_SKIP() << "python3 with numpy/scipy/skimage/nibabel missing";

TEST(MetricsReference, RealCtAgainstPerturbedCopy) {
  MR2CT_REQUIRE_REFERENCE(script);
  const auto dir = dataDir__ / "brainweb20-paired" / "subject04";
  if (!std::filesystem::exists(dir / "ct.nii.gz")) GTEST_SKIP() << "missing " << dir;
  const Volume ct = readVolume(dir / "ct.nii.gz");
  const Mask mask = readMask(dir / "mask.nii.gz");
  expectAgreement(perturbed(ct, 7), ct, mask, script);
}

TEST(MetricsReference, PhantomWithOddSizesAndPartialMask) {
  MR2CT_REQUIRE_REFERENCE(script);
  Geometry g;
  g.size = {41, 36, 23};  // odd pads to 97, and odd halvings
  Volume ct(g, -1000.0f), sct(g, -1000.0f);
  Mask m(g, 0);
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 50.0f);
  for (std::size_t z = 0; z < g.size[2]; ++z)
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x) {
        const double dx = (double(x) - 20) / 17, dy = (double(y) - 18) / 15, dz = (double(z) - 11) / 12;
        const double r = std::sqrt(dx * dx + dy * dy + dz * dz);
        float v = r < 0.75 ? 35.0f : (r < 0.9 ? 1200.0f : (r < 1.0 ? 20.0f : -1000.0f));
        ct.at(x, y, z) = v;
        sct.at(x, y, z) = (r < 0.9 && r > 0.72 ? 600.0f : v) + noise(rng) - 20.0f + (x > 30 ? 3500.0f : 0.0f);
        m.at(x, y, z) = r < 1.05;
      }
  expectAgreement(sct, ct, m, script);
}

}  // namespace
}  // namespace mr2ct
