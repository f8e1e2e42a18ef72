#pragma once
// `mr2ct preprocess`: manifest → aligned, masked, normalized HDF5 training store, with per-case QA.
// Per case: read MR and CT → prepareMr (reorient to LPS, target spacing, body mask from the MR or
// the manifest's mask, optional N4, normalization: the function conversion calls too) → register
// the CT to the MR → resample the CT onto the MR grid (outside its field of view: -1024 HU, marked
// invalid) → CT normalization → TrainingStoreWriter. Cases run in parallel; a failing case is reported
// and the others go on.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/preprocessing/PreprocessPlan.h"
#include "mr2ct/preprocessing/Registration.h"
#include "mr2ct/preprocessing/TrainingStore.h"

namespace mr2ct {

struct PreprocessOptions {
  std::filesystem::path manifest;
  std::filesystem::path out;        ///< the .h5 store
  std::filesystem::path qaDir;      ///< empty: no QA folder (qa.csv, <id>_qa.png, <id>.tfm)
  ManifestOptions manifestOptions;
  int jobs = 1;                     ///< cases in parallel
  bool resume = false;              ///< keep the cases already in `out` (same options required)
  /// --shard i/N: only the manifest's cases at positions i, i+N, ...; the store and qa.csv are
  /// named with ".shard<i>of<N>" so the tasks of one array never share a file (mergeStores joins them).
  int shardIndex = 0, shardCount = 1;
  RegistrationOptions registration;
  PreprocessPlan plan;              ///< the MR's preparation (and the CT's normalization), kept by the model
  float ctOutsideHu = -1024.0f;     ///< CT value outside its field of view

  void validate() const;            ///< UsageError naming the bad option
  std::filesystem::path storePath() const;  ///< `out`, with the shard suffix before ".h5"
  /// The options that determine the stored data (not paths, jobs, resume): the store's
  /// "preprocessing_options" root attribute = plan.toJson() + "registration" + "ct_outside_hu";
  /// --resume requires it to match; `train` copies it into the model folder unchanged.
  nlohmann::json toJson() const;
};

/// One preprocessed case, before it is stored.
struct PreprocessedCase {
  StoredCaseInfo info;
  Volume mr, ct;            ///< normalized, on the MR grid
  Mask mask, valid;
  Volume ctHu;              ///< registered CT in HU (for QA pictures)
  SpatialTransform transform;  ///< MR (fixed) → CT (moving), physical LPS
  std::vector<std::string> warnings;
};

/// Runs the per-case chain (no store, no files written). Throws Error naming the file/case.
PreprocessedCase preprocessCase(const ManifestCase& c, const PreprocessOptions& options);

struct CaseReport {
  std::string id, split;
  std::string status;  ///< "ok" | "kept" (resume) | "failed" | "skipped" (no CT) | "interrupted" (Ctrl-C)
  std::string error;
  std::vector<std::string> warnings;
  double seconds = 0;
  nlohmann::json qa = nlohmann::json::object();  ///< mask, registration, normalization figures
};

struct PreprocessSummary {
  std::vector<CaseReport> cases;  ///< manifest order
  std::size_t count(const std::string& status) const;
  int exitCode() const;  ///< 0, or 3 when some case failed or was not reached (interrupted)
};

/// The whole batch (or its shard): store committed atomically at options.storePath() (failed cases
/// left out), qa.csv (qa.shard<i>of<N>.csv) in qaDir.
/// SIGINT/SIGTERM during the run: running cases finish, the rest are "interrupted", the store with
/// the finished cases is committed (so --resume continues from there); a second signal kills.
PreprocessSummary runPreprocess(const PreprocessOptions& options);

/// qa.csv text for a summary (one row per case).
std::string qaCsv(const PreprocessSummary& summary);

}  // namespace mr2ct
