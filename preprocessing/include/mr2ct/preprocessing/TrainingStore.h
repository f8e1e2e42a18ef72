#pragma once
// The HDF5 training store (one class owns the schema; layout in README "File formats"):
//   /cases/<id>/mr     float32 [nz][ny][nx]  normalized MR
//   /cases/<id>/ct     float32 [nz][ny][nx]  normalized CT ([-1, 1])
//   /cases/<id>/mask   uint8   body mask
//   /cases/<id>/valid  uint8   1 where the CT is inside its field of view
// chunked by slice, gzip-compressed; per-case attributes: split, geometry, normalization records,
// registration QA (JSON); root attributes: format version, preprocessing options, tool version.
// CONTRACT between preprocessing and models/pipeline: extend, do not break.
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

// 2: written with HDF5 superblock v3 / checksummed metadata (H5F_LIBVER_LATEST); 1 had superblock v0.
inline constexpr int kTrainingStoreFormatVersion = 2;

struct StoredCaseInfo {
  std::string id;
  std::string split;             ///< train | val | test
  Geometry geometry;             ///< of the stored arrays (the MR's grid after preprocessing)
  nlohmann::json attributes;     ///< normalization records, registration QA, source paths, ...
};

/// Geometry as JSON {"size","spacing","origin","direction"} (the store's per-case "geometry" attribute).
nlohmann::json geometryToJson(const Geometry& g);
/// DataError naming `context` when keys are missing or the geometry is invalid.
Geometry geometryFromJson(const nlohmann::json& j, const std::string& context = "geometry");

class TrainingStore;

/// Writes a store under a temporary name and renames it into place on commit(); an interrupted or
/// failing run never leaves a half-written file at the final path. With `resumeFrom` the finished
/// cases of an existing store are copied first.
class TrainingStoreWriter {
 public:
  /// Root attributes: "tool_version" (string, default this build's) and every other key as a JSON
  /// string attribute; "format_version" is always kTrainingStoreFormatVersion.
  TrainingStoreWriter(const std::filesystem::path& path, const nlohmann::json& rootAttributes);
  ~TrainingStoreWriter();  ///< removes the temporary file unless committed
  bool hasCase(const std::string& id) const;
  std::vector<std::string> caseIds() const;  ///< written or copied so far, in order
  /// Copies the cases of an existing store (format version checked first), all of them or only
  /// those in `only`; cases already present are skipped. Returns the ids copied. (--resume)
  std::vector<std::string> copyCasesFrom(const std::filesystem::path& existing, const std::vector<std::string>& only = {});
  /// The same from a store already open (its format version was checked when it was opened).
  std::vector<std::string> copyCasesFrom(const TrainingStore& source, const std::vector<std::string>& only = {});
  /// DataError for an unsafe id, unknown split, sizes that differ from info.geometry, a duplicate id.
  void writeCase(const StoredCaseInfo& info, const Volume& mr, const Volume& ct, const Mask& mask, const Mask& valid);
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// TrainingStore::open's refusal of an HDF5 file that another program wrote (h5py, MINC-2, ...):
/// `info` describes a store and names anything else by its format, so it must tell the two apart.
class NotATrainingStore : public DataError {
 public:
  using DataError::DataError;
};

/// Random access to slices and patches without loading whole volumes. Thread-safe (serialised).
class TrainingStore {
 public:
  /// IoError when missing/unreadable; NotATrainingStore for another program's HDF5 file;
  /// DataError when the format version is unknown.
  static TrainingStore open(const std::filesystem::path& path);
  TrainingStore(TrainingStore&&) noexcept;
  ~TrainingStore();

  const std::filesystem::path& path() const;
  nlohmann::json rootAttributes() const;
  std::vector<std::string> caseIds(const std::string& split = "") const;  ///< "" = all
  const StoredCaseInfo& info(const std::string& id) const;

  /// Reads `count` slices starting at z0 of dataset "mr" | "ct" | "mask" | "valid" as float,
  /// x-fastest within a slice: out[(k·ny + y)·nx + x].
  void readSlices(const std::string& id, const std::string& dataset, std::size_t z0, std::size_t count,
                  float* out) const;
  /// Reads a box [origin, origin+extent) (x, y, z order) as float, x-fastest.
  void readPatch(const std::string& id, const std::string& dataset, const std::array<std::size_t, 3>& origin,
                 const std::array<std::size_t, 3>& extent, float* out) const;
  /// Whole volumes (for validation and conversion of stored cases).
  Volume readVolume(const std::string& id, const std::string& dataset) const;
  /// "mask" | "valid" as uint8.
  Mask readMask(const std::string& id, const std::string& dataset) const;

 private:
  TrainingStore();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mr2ct
