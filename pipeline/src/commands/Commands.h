#pragma once
// One factory per subcommand, each defined in its own file in this folder.
#include <filesystem>
#include <string>

#include "mr2ct/evaluation/BatchReport.h"
#include "mr2ct/evaluation/BulkDensity.h"
#include "mr2ct/pipeline/Command.h"
#include "mr2ct/pipeline/Converter.h"
#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/pipeline/Preprocess.h"
#include "mr2ct/pipeline/Train.h"

namespace mr2ct {

Command infoCommand();
Command runCommand();
Command phantomCommand();
Command demoCommand();
Command manifestCommand();
Command preprocessCommand();
Command mergeStoresCommand();
Command trainCommand();
Command convertCommand();
Command evaluateCommand();
Command baselineCommand();
Command likelihoodCommand();

/// The manifest option group (--data-root, --allow-outside), declared once; `scope` prefixes the
/// help text (e.g. "batch: " where the command also takes single files).
void addManifestOptions(po::options_description& d, const std::string& scope = "");
ManifestOptions manifestOptionsFrom(const po::variables_map& vm);

// The stages `mr2ct run` chains, each split where its typed options meet the library:
// <stage>From reads the parsed values once into the stage's options struct (UsageError naming the
// option), run<Stage>Stage calls the library with it and prints what the command prints. The
// commands call both with their command line; `run` with the options its experiment file gives
// the stage (ExperimentStage.cpp), so a stage behaves the same either way.
PreprocessOptions preprocessOptionsFrom(const po::variables_map& vm);
int runPreprocessStage(const PreprocessOptions& options, CommandIO& io);

TrainCommandOptions trainOptionsFrom(const po::variables_map& vm);
int runTrainStage(const TrainCommandOptions& options, CommandIO& io);

/// convert --manifest: every case of the manifest (or of one split / shard).
BatchConvertOptions batchConvertOptionsFrom(const po::variables_map& vm);
int runBatchConvertStage(const BatchConvertOptions& options, CommandIO& io);

/// evaluate --manifest: the cases of a manifest (or of one split) against a folder of predictions.
struct EvaluateBatchStage {
  BatchOptions batch;  ///< metrics, prediction and report folders, montages
  std::filesystem::path manifest;
  ManifestOptions manifestOptions;
  std::string split;  ///< empty: every case
};
EvaluateBatchStage evaluateBatchFrom(const po::variables_map& vm);
int runEvaluateBatchStage(const EvaluateBatchStage& stage, CommandIO& io);

/// baseline bulk-density: one MR to one sCT file.
struct BulkDensityStage {
  BulkDensityOptions options;
  std::filesystem::path input, output;
  std::filesystem::path mask;  ///< empty: the MR's body mask
  std::string dicomSeries;     ///< --input is a DICOM study: the MR series
  bool json = false;           ///< print the class counts as JSON
};
BulkDensityStage bulkDensityStageFrom(const po::variables_map& vm);
int runBulkDensityStage(const BulkDensityStage& stage, CommandIO& io);

}  // namespace mr2ct
