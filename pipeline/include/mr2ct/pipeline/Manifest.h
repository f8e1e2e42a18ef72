#pragma once
// Data manifests: one row per case, `id,mr,ct,mask,split[,mr_series,ct_series]` (CSV) or a MONAI/nnU-Net style data
// list (JSON). Both forms are parsed into raw rows and checked by ONE validation path. Schema and
// path rules: data_manifests/README.md.
//
// Paths are relative to the manifest's folder, or — when the manifest names a data root with a
// `# data-root: <sub>` comment line (CSV) or a "data_root": "<sub>" key (JSON) — relative to
// <data root>/<sub>, where the data root is ManifestOptions::dataRoot or $MR2CT_DATA_DIR.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mr2ct {

struct ManifestOptions {
  std::filesystem::path dataRoot;  ///< empty: $MR2CT_DATA_DIR (only needed by manifests that name one)
  bool allowOutside = false;       ///< accept paths that escape the base folder
};

struct ManifestCase {
  std::string id;
  std::string split;  ///< train | val | test (an empty CSV cell means train)
  std::filesystem::path mr, ct, mask;  ///< resolved; ct and mask empty when not given
  /// For an mr/ct that is a DICOM folder of several series: the SeriesInstanceUID or SeriesNumber
  /// to read (columns mr_series/ct_series; "" = the folder's only series).
  std::string mrSeries, ctSeries;
  std::string where;                   ///< "line 7" (CSV) or "training[2]" (JSON), for messages
  bool hasCt() const { return !ct.empty(); }
  bool hasMask() const { return !mask.empty(); }
};

struct Manifest {
  std::filesystem::path file;
  std::filesystem::path base;   ///< folder the relative paths were resolved against
  std::string dataRootKey;      ///< the manifest's data-root sub-folder, "" when none
  nlohmann::json metadata = nlohmann::json::object();  ///< `# key: value` comments / extra JSON keys
  std::vector<ManifestCase> cases;
  /// The cases of one split, in manifest order; "" selects every case (no case has an empty split).
  std::vector<const ManifestCase*> split(const std::string& name) const;
  const ManifestCase* find(const std::string& id) const;
};

/// Parsing result: every problem found, not just the first.
struct ManifestParse {
  Manifest manifest;
  std::vector<std::string> problems;  ///< each names the manifest and the row
  std::vector<std::string> warnings;
};

/// Parses a .csv or .json manifest. IoError when the file is missing/unreadable; content problems
/// are collected in `problems` (rows with problems are left out of `manifest.cases`).
ManifestParse parseManifest(const std::filesystem::path& file, const ManifestOptions& options = {});

/// parseManifest, then DataError listing every problem when there is any.
Manifest readManifest(const std::filesystem::path& file, const ManifestOptions& options = {});

struct ManifestCheckReport {
  std::size_t cases = 0;
  std::vector<std::string> problems;
  std::vector<std::string> warnings;
  bool ok() const { return problems.empty(); }
};

/// Everything parseManifest checks, plus per case: files missing or unreadable (header read),
/// a mask whose grid differs from the MR's, MR and CT of very different physical extent.
ManifestCheckReport checkManifest(const std::filesystem::path& file, const ManifestOptions& options = {});

enum class ScanLayout { SynthRad, NnUnet, Flat };
ScanLayout parseScanLayout(const std::string& name);  ///< UsageError for unknown names
std::string toString(ScanLayout layout);

struct ScanOptions {
  ScanLayout layout = ScanLayout::SynthRad;
  std::uint32_t seed = 12345;
  double valFraction = 0.2;
  double testFraction = 0.0;
  std::filesystem::path dataRoot;  ///< when DIR lies inside it, rows are written relative to a `# data-root:`
  void validate() const;
  nlohmann::json toJson() const;
};

/// Finds the cases of a folder in the given layout:
///   synthrad: <id>/mr[_*].ext, <id>/ct[_*].ext, optional <id>/mask[_*].ext
///   nnunet:   imagesTr/<id>_0000.ext (MR), labelsTr/<id>.ext (CT), optional masksTr/<id>.ext;
///             imagesTs/<id>_0000.ext become test cases without CT
///   flat:     <id>_mr.ext, <id>_ct.ext, optional <id>_mask.ext
/// ext: .nii.gz .nii .mha .mhd .nrrd .nhdr. Cases are sorted by id, then a seeded shuffle assigns
/// round(n·val) to val and round(n·test) to test (cases without CT always go to test).
/// Writes the CSV atomically at `out` with the scan's options recorded as `#` comment lines;
/// returns the manifest as written (paths resolved).
Manifest scanToManifest(const std::filesystem::path& dir, const std::filesystem::path& out, const ScanOptions& options);

/// Writes a manifest as CSV (paths relative to `base`, quoted when needed), `comments` first as `# ` lines.
void writeManifestCsv(const std::filesystem::path& out, const std::vector<ManifestCase>& cases,
                      const std::filesystem::path& base, const std::vector<std::string>& comments);

}  // namespace mr2ct
