#pragma once
// A paired MR/CT head phantom: analytic anatomy (scalp, subcutaneous fat, muscle, skull with cortical
// tables and marrow, sinuses and ear canals next to bone, CSF, ventricles, grey and white matter,
// eyes) with smooth seeded variation per case; a CT in HU with bone texture and noise on one grid; a
// T1-weighted MR (bone AND air dark, fat bright, WM > GM > CSF, multiplicative bias, Rician noise)
// on its own grid, rigidly misaligned to the CT. The anatomy is a function of CT physical space, so
// labels on the MR grid are exact (evaluated at T(p)), never resampled.
//
// The true transform T follows SpatialTransform's convention: it maps MR (fixed) physical points to
// CT (moving) physical points; resampleVolume(ct, mrGrid, T) puts the CT onto the MR.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

/// Tissue classes of labels.nii.gz; values follow the paired real data sets (brainweb20-paired).
enum PhantomLabel : std::uint8_t {
  kAir = 0,
  kCsf = 1,
  kGreyMatter = 2,
  kWhiteMatter = 3,
  kFat = 4,
  kMuscle = 5,
  kSkin = 6,
  kCorticalBone = 7,
  kMarrow = 11,
  kInternalAir = 12,  ///< sinuses and ear canals
  kEye = 15,
};
/// Name of a label ("grey_matter", ...), "" for values not used by the phantom.
std::string phantomLabelName(int label);

struct PhantomOptions {
  std::array<std::size_t, 3> size{128, 128, 96};  ///< CT grid (x, y, z)
  double spacing = 1.5;                           ///< CT spacing, mm (isotropic)
  double mrSpacingMin = 1.2, mrSpacingMax = 1.8;  ///< MR spacing drawn per case and axis, mm
  double maxRotationDeg = 10.0;                   ///< misalignment MR↔CT
  double maxTranslationMm = 15.0;
  std::uint64_t seed = 1;

  /// Throws UsageError naming the option that is out of range.
  void validate() const;
  nlohmann::json toJson() const;
};

struct PhantomCase {
  Volume ct;          ///< HU, CT grid (rounded to integers)
  Volume ctLabels;    ///< PhantomLabel values, CT grid
  Volume mr;          ///< T1 arbitrary units, MR grid
  Volume mrLabels;    ///< PhantomLabel values, MR grid (exact, evaluated through the transform)
  Mask mrMask;        ///< body (head incl. internal air), MR grid
  SpatialTransform mrToCt;  ///< true transform: MR physical point -> CT physical point
  double rotationDeg = 0, translationMm = 0;
  std::string parametersJson;  ///< every drawn parameter (anatomy, CT, MR, misalignment), JSON text
};

/// Generates case `index` of the data set seeded by options.seed (deterministic).
PhantomCase generatePhantomCase(const PhantomOptions& options, std::size_t index);

struct PhantomDatasetOptions {
  std::filesystem::path out;  ///< created if missing
  std::size_t cases = 4;
  PhantomOptions phantom;
  double valFraction = 0.15, testFraction = 0.15;

  void validate() const;
};

struct PhantomDatasetCase {
  std::string id, split;
  std::filesystem::path dir;
};

/// Writes <out>/<id>/{mr,ct,mask,labels}.nii.gz, true_transform.tfm, meta.json per case and
/// <out>/manifest.csv (id,mr,ct,mask,split; paths relative to the manifest). Shows a progress bar.
std::vector<PhantomDatasetCase> writePhantomDataset(const PhantomDatasetOptions& options);

/// Seeded split of n cases: about testFraction/valFraction each, at least one val and one test when
/// n >= 3, the rest train. Deterministic in (n, seed).
std::vector<std::string> phantomSplit(std::size_t n, std::uint64_t seed, double valFraction = 0.15,
                                      double testFraction = 0.15);

}  // namespace mr2ct
