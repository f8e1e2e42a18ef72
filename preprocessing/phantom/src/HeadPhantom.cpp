// The head phantom's public entry points: one case in memory, and a data set written to disk with
// its manifest. The pieces live in Phantom*.cpp (anatomy, CT, MR, misalignment, fields).
#include "mr2ct/phantom/HeadPhantom.h"

#include "mr2ct/core/SplitCounts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "PhantomInternal.h"
#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Progress.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace fs = std::filesystem;

namespace mr2ct {

std::string phantomLabelName(int label) {
  switch (label) {
    case kAir: return "air";
    case kCsf: return "csf";
    case kGreyMatter: return "grey_matter";
    case kWhiteMatter: return "white_matter";
    case kFat: return "fat";
    case kMuscle: return "muscle";
    case kSkin: return "skin";
    case kCorticalBone: return "cortical_bone";
    case kMarrow: return "marrow";
    case kInternalAir: return "internal_air";
    case kEye: return "eye";
    default: return "";
  }
}

void PhantomOptions::validate() const {
  for (int i = 0; i < 3; ++i)
    if (size[i] < 16 || size[i] > 1024)
      throw OptionError("{size}: each dimension must be within 16..1024 voxels (got " + std::to_string(size[i]) + ")");
  if (!(spacing >= 0.3 && spacing <= 10)) throw OptionError("{spacing}: must be within 0.3..10 mm");
  if (!(mrSpacingMin >= 0.3 && mrSpacingMax <= 10 && mrSpacingMin <= mrSpacingMax))
    throw OptionError("{mrSpacing}: need 0.3 <= min <= max <= 10 mm");
  if (!(maxRotationDeg >= 0 && maxRotationDeg <= 45)) throw OptionError("{maxRotationDeg}: must be within 0..45 degrees");
  if (!(maxTranslationMm >= 0 && maxTranslationMm <= 100))
    throw OptionError("{maxTranslationMm}: must be within 0..100 mm");
  // The head is about 150 x 180 x 150 mm: a field of view much smaller than that cuts it badly.
  for (int i = 0; i < 3; ++i)
    if (double(size[i]) * spacing < 120)
      throw OptionError("{size}/{spacing}: the field of view must be at least 120 mm along each axis (got " +
                       std::to_string(double(size[i]) * spacing) + " mm)");
}

nlohmann::json PhantomOptions::toJson() const {
  return {{"size", size},
          {"spacing_mm", spacing},
          {"mr_spacing_mm", {mrSpacingMin, mrSpacingMax}},
          {"max_rotation_deg", maxRotationDeg},
          {"max_translation_mm", maxTranslationMm},
          {"seed", seed}};
}

void PhantomDatasetOptions::validate() const {
  phantom.validate();
  if (out.empty()) throw OptionError("{out}: an output folder is required");
  if (cases < 1 || cases > 100000) throw OptionError("{cases}: must be within 1..100000");
  if (!(valFraction >= 0 && testFraction >= 0 && valFraction + testFraction < 1))
    throw UsageError("split fractions must be >= 0 and leave cases for training");
}

PhantomCase generatePhantomCase(const PhantomOptions& options, std::size_t index) {
  options.validate();
  // Each case has its own stream, so case k is the same whatever the number of cases.
  phantom::Random seeder(options.seed);
  phantom::Random rng(seeder.next() ^ (0x9e3779b97f4a7c15ull * (index + 1)));
  rng.next();

  Geometry ct;
  ct.size = options.size;
  ct.spacing = {options.spacing, options.spacing, options.spacing};
  for (int i = 0; i < 3; ++i) ct.origin[i] = -0.5 * double(ct.size[i] - 1) * options.spacing;

  auto gridRng = rng.fork(1);
  const Geometry mr =
      phantom::drawMrGrid(ct, options.mrSpacingMin, options.mrSpacingMax, options.maxTranslationMm, gridRng);
  auto moveRng = rng.fork(2);
  const auto mis = phantom::drawMisalignment(ct.center(), options.maxRotationDeg, options.maxTranslationMm, moveRng);

  Vec3 lo, hi, mrLo, mrHi;
  phantom::gridBox(ct, 60.0, lo, hi);
  phantom::gridBox(mr, 5.0, mrLo, mrHi);
  auto anatomyRng = rng.fork(3);
  const phantom::HeadAnatomy anatomy(ct.center(), lo, hi, anatomyRng);

  PhantomCase c;
  c.ctLabels = anatomy.labels(ct);
  c.mrLabels = anatomy.labels(mr, &mis.rotation, &mis.translation, &mis.centre);
  nlohmann::json ctMeta, mrMeta;
  auto ctRng = rng.fork(4);
  c.ct = phantom::synthesizeCt(c.ctLabels, lo, hi, ctRng, ctMeta);
  auto mrRng = rng.fork(5);
  c.mr = phantom::synthesizeMr(c.mrLabels, mrLo, mrHi, mrRng, mrMeta);
  c.mrMask = Mask(mr);
  for (std::size_t i = 0; i < c.mrMask.voxelCount(); ++i) c.mrMask.data()[i] = c.mrLabels.data()[i] != kAir;
  c.mrToCt = SpatialTransform::rigid(mis.rotation, mis.translation, mis.centre);
  c.rotationDeg = mis.angleDeg;
  c.translationMm = mis.translationMm;

  const nlohmann::json meta = {
      {"generator", "mr2ct phantom"},
      {"options", options.toJson()},
      {"case_index", index},
      {"anatomy", anatomy.toJson()},
      {"ct", ctMeta},
      {"mr", mrMeta},
      {"mr_grid", {{"size", mr.size}, {"spacing_mm", mr.spacing}, {"origin_mm", mr.origin}}},
      {"misalignment",
       {{"convention", "maps MR (fixed) physical points to CT (moving) physical points, LPS mm"},
        {"rotation_deg", mis.angleDeg},
        {"translation_mm", mis.translationMm},
        {"matrix", mis.rotation},
        {"translation", mis.translation},
        {"centre", mis.centre}}},
      {"labels", [] {
         nlohmann::json t;
         for (int l = 0; l < 256; ++l)
           if (!phantomLabelName(l).empty()) t[std::to_string(l)] = phantomLabelName(l);
         return t;
       }()}};
  c.parametersJson = meta.dump(2);
  return c;
}

std::vector<std::string> phantomSplit(std::size_t n, std::uint64_t seed, double valFraction, double testFraction) {
  const auto [nVal, nTest] = splitCounts(n, valFraction, testFraction);
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  phantom::Random rng(seed ^ 0x51c3a7ull);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.next() % i]);  // Fisher–Yates
  std::vector<std::string> split(n, "train");
  for (std::size_t k = 0; k < nVal + nTest && k < n; ++k) split[order[k]] = k < nVal ? "val" : "test";
  return split;
}

std::vector<PhantomDatasetCase> writePhantomDataset(const PhantomDatasetOptions& options) {
  options.validate();
  std::error_code ec;
  fs::create_directories(options.out, ec);
  if (ec || !fs::is_directory(options.out)) throw IoError(options.out.string(), "cannot create the output folder");
  const auto split = phantomSplit(options.cases, options.phantom.seed, options.valFraction, options.testFraction);
  std::vector<PhantomDatasetCase> cases;
  std::ostringstream manifest;
  manifest << "id,mr,ct,mask,split\n";
  ProgressBar bar("phantom", options.cases);
  for (std::size_t i = 0; i < options.cases; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "case%03zu", i);
    const fs::path dir = options.out / id;
    fs::create_directories(dir, ec);
    if (ec) throw IoError(dir.string(), "cannot create the case folder: " + ec.message());
    const PhantomCase c = generatePhantomCase(options.phantom, i);
    writeVolume(c.mr, dir / "mr.nii.gz", {PixelType::Int16, true});
    writeVolume(c.ct, dir / "ct.nii.gz", {PixelType::Int16, true});
    writeMask(c.mrMask, dir / "mask.nii.gz");
    writeVolume(c.ctLabels, dir / "labels.nii.gz", {PixelType::UInt8, true});
    c.mrToCt.save(dir / "true_transform.tfm");
    nlohmann::json meta = nlohmann::json::parse(c.parametersJson);
    meta["id"] = id;
    meta["split"] = split[i];
    writeTextAtomically(dir / "meta.json", meta.dump(2) + "\n");
    const std::string sid = id;
    manifest << sid << "," << sid << "/mr.nii.gz," << sid << "/ct.nii.gz," << sid << "/mask.nii.gz," << split[i] << "\n";
    cases.push_back({sid, split[i], dir});
    bar.advance(1, sid);
  }
  bar.finish();
  writeTextAtomically(options.out / "manifest.csv", manifest.str());
  return cases;
}

}  // namespace mr2ct
