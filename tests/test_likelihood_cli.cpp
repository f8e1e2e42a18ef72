// `mr2ct likelihood` end to end on NIfTI files written by nibabel, with tiny randomly initialised
// model folders: JSON output, seeded probes, Hutchinson vs the exact divergence on the real network,
// CT off the MR's grid (refused; accepted through --ct-transform), σ = 0 refused, batch with a failure.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/pipeline/Command.h"
#include "mr2ct/pipeline/Likelihood.h"
#include "support/CliRun.h"
#include "support/ConvertFixtures.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::cli;

ModelConfig tinyConfig(const std::string& source, double sigma) {
  ModelConfig c = test::tinyNetworkConfig();
  c.flow.source = source;
  c.flow.sigma = sigma;
  return c;
}

fs::path makeModel(const fs::path& dir, const ModelConfig& c) { return test::saveRandomModel(dir, c, 11); }

/// nibabel writes an MR (an ellipse body in air) and its CT on an oblique 11×9×3 grid, the same CT
/// with its origin moved 3 mm along S (ct_shifted), and the matching ITK transform (LPS: +3 mm in z).
class LikelihoodCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("/usr/bin/python3 -c 'import nibabel' >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "python3-nibabel is missing (scripts/install-deps.sh installs it)";
    const std::string py =
        "import nibabel as nib, numpy as np, sys\n"
        "d = sys.argv[1]; rng = np.random.default_rng(5)\n"
        "x, y, z = np.meshgrid(np.arange(11), np.arange(9), np.arange(3), indexing='ij')\n"
        "body = ((x - 5) / 4.0) ** 2 + ((y - 4) / 3.2) ** 2 < 1\n"
        "mr = np.where(body, 300 + 40 * np.sin(x + y) + rng.normal(0, 5, body.shape), rng.normal(3, 1, body.shape))\n"
        "ct = np.where(body, 40 + 300 * (x > 6) + rng.normal(0, 10, body.shape), -1000.0)\n"
        "c, s = np.cos(0.2), np.sin(0.2)\n"
        "aff = np.array([[1.1 * c, -1.1 * s, 0, 10], [1.1 * s, 1.1 * c, 0, -4], [0, 0, 2.5, 7], [0, 0, 0, 1]])\n"
        "nib.save(nib.Nifti1Image(mr.astype('f4'), aff), d + '/mr.nii.gz')\n"
        "nib.save(nib.Nifti1Image(ct.astype('i2'), aff), d + '/ct.nii.gz')\n"
        "moved = aff.copy(); moved[2, 3] += 3.0\n"
        "nib.save(nib.Nifti1Image(ct.astype('i2'), moved), d + '/ct_shifted.nii.gz')\n"
        "open(d + '/shift.tfm', 'w').write('#Insight Transform File V1.0\\n#Transform 0\\n'\n"
        "  'Transform: AffineTransform_double_3_3\\nParameters: 1 0 0 0 1 0 0 0 1 0 0 3\\nFixedParameters: 0 0 0\\n')\n";
    writeTextAtomically(tmp / "make.py", py);
    ASSERT_EQ(std::system(("/usr/bin/python3 " + (tmp / "make.py").string() + " " + tmp.path().string()).c_str()), 0);
  }
  nlohmann::json score(const fs::path& model, std::vector<std::string> extra, const std::string& ct = "ct.nii.gz") {
    std::vector<std::string> args{"likelihood", "--model", model.string(), "--input", (tmp / "mr.nii.gz").string(),
                                  "--ct", (tmp / ct).string(), "--json", "--quiet", "--threads", "1"};  // 1 thread: tiny tensors
    args.insert(args.end(), extra.begin(), extra.end());
    std::string out, err;
    const int rc = cli(args, &out, &err);
    EXPECT_EQ(rc, 0) << err;
    return rc == 0 ? nlohmann::json::parse(out) : nlohmann::json();
  }
  TempDir tmp;
};

TEST_F(LikelihoodCli, JsonIsSeededAndHutchinsonAgreesWithTheExactDivergence) {
  const auto model = makeModel(tmp / "model", tinyConfig("mr", 0.2));
  const auto a = score(model, {"--probes", "2", "--seed", "3", "--steps", "2"});
  ASSERT_FALSE(a.is_null());
  EXPECT_EQ(a["voxels"].get<int64_t>(), 3 * 10 * 12);  // 9×11 slices padded to multiples of 2
  EXPECT_TRUE(std::isfinite(a["bits_per_voxel"].get<double>()));
  EXPECT_EQ(a["nfe"].get<int>(), 4);  // midpoint, 2 steps
  EXPECT_NEAR(a["bits_per_voxel_hu"].get<double>() - a["bits_per_voxel"].get<double>(), std::log2(2012.0), 1e-9);
  EXPECT_EQ(a["model"]["source_density"], "N(MR, sigma^2 I)");
  const auto again = score(model, {"--probes", "2", "--seed", "3", "--steps", "2"});
  EXPECT_EQ(a["log_density_nats"], again["log_density_nats"]);
  // The exact divergence (one backward pass per voxel) against the mean of 16 one-probe estimates.
  // Their spread gives the standard error; the mean must lie within 5 standard errors.
  const auto exact = score(model, {"--divergence", "exact", "--steps", "2"});
  const double truth = exact["divergence_integral"].get<double>();
  EXPECT_EQ(exact["vjps"].get<int64_t>(), 4 * 120);  // one batch of 3 slices: 10×12 VJPs per evaluation
  const int n = 16;
  double sum = 0, sumSq = 0;
  for (int s = 0; s < n; ++s) {
    const auto h = score(model, {"--probes", "1", "--seed", std::to_string(100 + s), "--steps", "2"});
    const double d = h["divergence_integral"].get<double>();
    sum += d;
    sumSq += d * d;
    // The path x_t does not depend on the probes: the source term is the same for every seed.
    EXPECT_NEAR(h["log_source_nats"].get<double>(), exact["log_source_nats"].get<double>(), 1e-3);
  }
  const double mean = sum / n, sd = std::sqrt(std::max(0.0, (sumSq - n * mean * mean) / (n - 1)));
  EXPECT_GT(sd, 0.0);  // a random network's Jacobian is not diagonal: the estimates differ
  EXPECT_NEAR(mean, truth, 5 * sd / std::sqrt(double(n))) << "exact " << truth << ", sd " << sd;
}

TEST_F(LikelihoodCli, CtOffTheGridIsRefusedOrResampledWithATransform) {
  const auto model = makeModel(tmp / "model", tinyConfig("noise", 0.0));
  std::string out, err;
  EXPECT_EQ(cli({"likelihood", "--model", model.string(), "--input", (tmp / "mr.nii.gz").string(), "--ct",
                 (tmp / "ct_shifted.nii.gz").string(), "--quiet"},
                &out, &err),
            1);
  EXPECT_NE(err.find("ct_shifted.nii.gz"), std::string::npos) << err;
  EXPECT_NE(err.find("not on the MR's grid"), std::string::npos) << err;
  const auto onGrid = score(model, {"--seed", "4"});
  const auto moved = score(model, {"--seed", "4", "--ct-transform", (tmp / "shift.tfm").string()}, "ct_shifted.nii.gz");
  ASSERT_FALSE(moved.is_null());
  EXPECT_NEAR(moved["bits_per_voxel"].get<double>(), onGrid["bits_per_voxel"].get<double>(), 1e-4);
  EXPECT_EQ(onGrid["model"]["source_density"], "N(0, I)");
}

TEST_F(LikelihoodCli, SigmaZeroModelIsRefusedWithTheReason) {
  const auto model = makeModel(tmp / "model", tinyConfig("mr", 0.0));
  std::string out, err;
  EXPECT_EQ(cli({"likelihood", "--model", model.string(), "--input", (tmp / "mr.nii.gz").string(), "--ct",
                 (tmp / "ct.nii.gz").string(), "--quiet"},
                &out, &err),
            1);
  EXPECT_NE(err.find("config.json"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown distribution of MR images"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line: " << err;
  EXPECT_EQ(cli({"likelihood", "--model", model.string(), "--input", "x", "--ct", "y", "--probes", "0", "--quiet"},
                &out, &err),
            2);
}

TEST_F(LikelihoodCli, BatchScoresEveryCaseAndGoesOnAfterAFailure) {
  const auto model = makeModel(tmp / "model", tinyConfig("mr", 0.3));
  writeTextAtomically(tmp / "m.csv", "id,mr,ct,split\ngood,mr.nii.gz,ct.nii.gz,val\nbad,mr.nii.gz,ct_shifted.nii.gz,val\n");
  std::string out, err;
  EXPECT_EQ(cli({"likelihood", "--model", model.string(), "--manifest", (tmp / "m.csv").string(), "--out",
                 (tmp / "report.csv").string(), "--quiet", "--threads", "1"},
                &out, &err),
            3);
  EXPECT_NE(err.find("failed: bad:"), std::string::npos) << err;
  std::ifstream in(tmp / "report.csv");
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') rows.push_back(line);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].rfind("id,split,status,bits_per_voxel", 0), 0u);
  EXPECT_EQ(rows[1].rfind("good,val,ok,", 0), 0u) << rows[1];
  EXPECT_EQ(rows[2].rfind("bad,val,failed,", 0), 0u) << rows[2];
  // The report never replaces an input.
  EXPECT_EQ(cli({"likelihood", "--model", model.string(), "--manifest", (tmp / "m.csv").string(), "--out",
                 (tmp / "m.csv").string(), "--quiet"},
                &out, &err),
            2);
}

}  // namespace
}  // namespace mr2ct
