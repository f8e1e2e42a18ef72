#include <iomanip>
#include <tuple>
#include <sstream>

#include "Commands.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/pipeline/Converter.h"
#include "mr2ct/pipeline/Shard.h"

namespace mr2ct {

namespace {

std::vector<int> parseNfeList(const std::string& text) {
  const std::string expected = "a list of positive integers separated by commas (e.g. 1,2,4,8)";
  std::vector<int> out;
  for (long long n : parseIntegerList("nfe-sweep", text, ',', expected)) {
    if (n < 1 || n > 100000) throw UsageError("--nfe-sweep: '" + text + "' is not " + expected);
    out.push_back(int(n));
  }
  return out;
}

ConvertOptions convertOptionsFrom(const po::variables_map& vm) {
  ConvertOptions o;
  o.model = vm["model"].as<std::string>();
  o.solver.method = parseSolverMethod(vm["solver"].as<std::string>());
  o.solver.steps = vm["steps"].as<int>();
  o.solver.rtol = vm["rtol"].as<double>();
  o.solver.atol = vm["atol"].as<double>();
  if (vm.count("nfe-sweep")) o.nfeSweep = parseNfeList(vm["nfe-sweep"].as<std::string>());
  o.device = vm["device"].as<std::string>();
  o.batch = vm["batch"].as<int>();
  o.maxBatchVoxels = vm["max-batch-voxels"].as<int64_t>();
  o.overlap = vm["overlap"].as<double>();
  o.blend = parseBlendWindow(vm["blend"].as<std::string>());
  o.maskOutside = !vm["no-mask-outside"].as<bool>();
  const std::string type = vm["pixel-type"].as<std::string>();
  if (type == "int16")
    o.pixelType = PixelType::Int16;
  else if (type == "float32" || type == "float")
    o.pixelType = PixelType::Float32;
  else
    throw UsageError("--pixel-type: use int16 or float32 (got '" + type + "')");
  o.dicomSeries = vm["dicom-series"].as<std::string>();
  o.seed = vm["seed"].as<std::uint64_t>();
  o.samples = vm["samples"].as<int>();
  o.matchMedian = vm["match-median"].as<bool>();
  o.outputFormat = parseOutputFormat(vm["output-format"].as<std::string>());
  o.dicom.seriesDescription = vm["series-description"].as<std::string>();
  o.dicom.seriesNumber = vm["series-number"].as<int>();
  o.dicom.patientId = vm["patient-id"].as<std::string>();
  o.dicom.patientName = vm["patient-name"].as<std::string>();
  o.dicom.patientPosition = vm["patient-position"].as<std::string>();
  o.dicom.overwrite = vm["overwrite"].as<bool>();
  // Compared with the defaults, not "given": `mr2ct run` records every option with its value in
  // config/convert.ini, and that file must convert again as it stands.
  const DicomSeriesOptions plain;
  const bool dicomOnly = o.dicom.seriesDescription != plain.seriesDescription ||
                         o.dicom.seriesNumber != plain.seriesNumber || !o.dicom.patientId.empty() ||
                         !o.dicom.patientName.empty() || !o.dicom.patientPosition.empty() || o.dicom.overwrite;
  if (dicomOnly && o.outputFormat != OutputFormat::DicomSeries)
    throw UsageError("--series-description/--series-number/--patient-*/--overwrite apply to --output-format dicom");
  o.precision = parseInferencePrecision(vm["precision"].as<std::string>());
  o.validate();
  return o;
}

void printReport(const ConvertReport& r, std::ostream& out) {
  out << std::fixed << std::setprecision(3);
  out << r.input.string() << ": " << r.slices << " slices, read " << r.secondsRead << " s, preprocess "
      << r.secondsPreprocess << " s, integrate " << r.secondsIntegrate << " s, write " << r.secondsWrite
      << " s, total " << r.secondsTotal << " s\n";
  out << "  precision " << inferencePrecisionName(r.precision) << ", network evaluations: " << r.evaluations << ", " << r.secondsPerEvaluation() << " s per NFE over the volume\n";
  for (std::size_t i = 0; i < r.outputs.size(); ++i)
    out << "  NFE " << r.nfe[i] << ": " << r.outputs[i].string() << " (integration at this NFE alone ~"
        << double(r.nfe[i]) * r.secondsPerEvaluation() << " s)\n";
  if (r.samples > 1)
    out << "  " << r.samples << " samples: mean written above, standard deviation " << r.uncertaintyOutput.string()
        << " (mean " << std::setprecision(1) << r.meanStdHu << " HU in the body)\n";
  if (r.inputCheck)
    out << "  input check: " << std::setprecision(1) << r.inputCheck->score << " (largest |z|, on "
        << r.inputCheck->feature << "; the model allows " << r.inputCheck->threshold << "): "
        << (r.inputCheck->typical() ? "like" : "UNLIKE") << " the training data\n";
  if (r.medianMatchGamma)
    out << "  median match: gamma " << std::setprecision(3) << *r.medianMatchGamma
        << " (the MR's body median moved to the training MRs')\n";
}

void declareConvertOptions(po::options_description& d) {
  static const ConvertOptions def;  // the defaults live in the structs
  static const BatchConvertOptions batchDef;
  d.add_options()
      ("model", po::value<std::string>()->required(), "model folder (config.json, weights.pt)")
      ("input", po::value<std::string>(), "MR volume (NIfTI, MetaImage, NRRD or a DICOM series folder)")
      ("output", po::value<std::string>(), "synthetic CT file, format by extension (.nii.gz, .mha, ...); with --output-format dicom a series folder")
      ("manifest", po::value<std::string>(), "batch: manifest (.csv/.json); every case's `mr` is converted")
      ("out-dir", po::value<std::string>(), "batch: folder for <id>.nii.gz (dicom: series folder <id>) and status.csv/status.json")
      ("resume", po::bool_switch(), "batch: skip cases whose output already exists")
      ("shard", po::value<std::string>(),
       "batch: convert only shard i of N (cases i, i+N, ...); default 0/1, or in a Slurm job array "
       "$SLURM_ARRAY_TASK_ID-$SLURM_ARRAY_TASK_MIN/$SLURM_ARRAY_TASK_COUNT")
      ("jobs", po::value<int>()->default_value(batchDef.jobs), "batch: cases converted at the same time")
      ("split", po::value<std::string>()->default_value(""), "batch: only cases of this split (train|val|test)")
      ("solver", po::value<std::string>()->default_value(solverMethodName(def.solver.method)), "euler | midpoint | heun | rk4 | dopri5")
      ("steps", po::value<int>()->default_value(def.solver.steps), "steps of a fixed-step solver (NFE = steps x evaluations per step)")
      ("rtol", realValue(def.solver.rtol), "dopri5 relative tolerance")
      ("atol", realValue(def.solver.atol), "dopri5 absolute tolerance")
      ("nfe-sweep", po::value<std::string>(), "Euler on nested grids: one output per NFE, e.g. 1,2,4,8 (out_nfeN.ext)")
      ("device", po::value<std::string>()->default_value(def.device), "cpu | cuda | cuda:N")
      ("batch", po::value<int>()->default_value(def.batch), "slices (2D) or patches (3D) per network call")
      ("max-batch-voxels", po::value<int64_t>()->default_value(def.maxBatchVoxels),
       "2D: fewer slices per call when batch x H x W exceeds this (bounds memory on 512^2 slices; 0 = off)")
      ("overlap", realValue(def.overlap), "3D: patch overlap as a fraction of the patch")
      ("blend", po::value<std::string>()->default_value("gaussian"), "3D velocity blending window: gaussian | hann")
      ("no-mask-outside", po::bool_switch(), "keep the network's values outside the body mask (default: -1000 HU)")
      ("match-median", po::bool_switch(), "gamma-correct the MR so that its body median sits where the model's "
       "training MRs have theirs on average (percentile-map models with an input reference)")
      ("pixel-type", po::value<std::string>()->default_value("int16"), "output voxels: int16 | float32")
      ("dicom-series", po::value<std::string>()->default_value(""), "--input is a DICOM folder of several series (a study): the MR's SeriesInstanceUID or SeriesNumber")
      ("seed", po::value<std::uint64_t>()->default_value(def.seed),
       "seed of the starting noise (models trained with --source noise, or --samples)")
      ("samples", po::value<int>()->default_value(def.samples),
       "trajectories per volume; K > 1 writes their mean and <output>_std.<ext>, the voxel-wise standard "
       "deviation in HU (noise-source models: K seeded starts; mr-source models with sigma > 0: K draws of "
       "the Brownian-bridge sampler, one evaluation per --steps step)")
      ("output-format", po::value<std::string>()->default_value("file"),
       "file (format by --output's extension) | dicom (--output is a folder: a CT series, one file per slice)")
      ("series-description", po::value<std::string>()->default_value(def.dicom.seriesDescription),
       "dicom: SeriesDescription")
      ("series-number", po::value<int>()->default_value(def.dicom.seriesNumber), "dicom: SeriesNumber")
      ("patient-id", po::value<std::string>()->default_value(""),
       "dicom from a non-DICOM MR: PatientID (else empty); a DICOM MR's own is kept")
      ("patient-name", po::value<std::string>()->default_value(""),
       "dicom from a non-DICOM MR: PatientName, DICOM form Family^Given (else empty)")
      ("patient-position", po::value<std::string>()->default_value(""),
       "dicom: PatientPosition (HFS, FFS, HFP, ...); default the DICOM MR's, else empty")
      ("overwrite", po::bool_switch(), "dicom: replace an existing non-empty series folder")
      ("precision", po::value<std::string>()->default_value(inferencePrecisionName(def.precision)),
       "network precision: fp32 | bf16 | auto (bf16: weights cast once, ODE state float32, fp32 on CPUs without "
       "AVX512-BF16/AMX; auto: bf16 for 2D models on CPUs with it, else fp32)");
  addManifestOptions(d, "batch: ");
}

int runSingleConvert(const po::variables_map& vm, CommandIO& io) {
  const ConvertOptions options = convertOptionsFrom(vm);
  if (!vm.count("input") || !vm.count("output"))
    throw UsageError("give --input and --output (one volume) or --manifest and --out-dir (a batch)");
  requireDicomFolderFor("dicom-series", options.dicomSeries, vm["input"].as<std::string>());
  const Converter converter(options);
  const auto report = converter.convert(vm["input"].as<std::string>(), vm["output"].as<std::string>());
  printReport(report, io.out);
  return int(kExitOk);
}

}  // namespace

BatchConvertOptions batchConvertOptionsFrom(const po::variables_map& vm) {
  BatchConvertOptions b;
  b.convert = convertOptionsFrom(vm);
  if (vm.count("input") || vm.count("output")) throw UsageError("--manifest and --input/--output exclude each other");
  b.manifest = vm["manifest"].as<std::string>();
  if (!vm.count("out-dir")) throw UsageError("--out-dir is required with --manifest");
  if (!b.convert.dicom.patientId.empty() || !b.convert.dicom.patientName.empty())
    throw UsageError("--patient-id/--patient-name name one patient: give them with --input, not a batch");
  b.outDir = vm["out-dir"].as<std::string>();
  b.resume = vm["resume"].as<bool>();
  std::tie(b.shardIndex, b.shardCount) =
      resolveShard(vm.count("shard") ? std::optional<std::string>(vm["shard"].as<std::string>()) : std::nullopt);
  b.jobs = vm["jobs"].as<int>();
  b.split = vm["split"].as<std::string>();
  b.manifestOptions = manifestOptionsFrom(vm);
  return b;
}

int runBatchConvertStage(const BatchConvertOptions& b, CommandIO& io) {
  const auto summary = runBatchConvert(b, io.err);
  io.out << summary.count("ok") << " converted, " << summary.count("skipped") << " skipped, "
         << summary.count("failed") << " failed (status in " << b.outDir.string() << ")\n";
  for (const auto& cs : summary.cases)
    if (cs.status == "failed") io.out << "  failed: " << cs.id << ": " << cs.reason << "\n";
  return summary.exitCode();
}

Command convertCommand() {
  Command c;
  c.name = "convert";
  c.summary = "MR volume(s) to synthetic CT with a trained model (one file, or a manifest batch)";
  c.usage =
      "mr2ct convert --model DIR --input MR --output SCT [--solver heun] [--steps 4] [--device cpu|cuda] "
      "[--nfe-sweep 1,2,4,8]\n       mr2ct convert --model DIR --input MR --output SCT_DIR --output-format dicom [--patient-id ID] "
      "[--patient-name 'Family^Given'] [--series-description TEXT] [--series-number N]\n       mr2ct convert --model DIR --manifest M --out-dir D [--resume] [--shard i/N] [--jobs J]";
  c.example = "mr2ct convert --model model --input phantom/case000/mr.nii.gz --output sct.nii.gz --solver heun --steps 4";
  c.declare = [](po::options_description& d, po::positional_options_description&) { declareConvertOptions(d); };
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    if (vm.count("manifest")) return runBatchConvertStage(batchConvertOptionsFrom(vm), io);
    return runSingleConvert(vm, io);
  };
  return c;
}

}  // namespace mr2ct
