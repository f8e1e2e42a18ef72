// `mr2ct evaluate`: one case (--pred/--ref) → CaseEvaluation printed as text or JSON, or a batch
// (--manifest/--pred-dir/--out) → metrics.csv, summary.json, montages, index.html (BatchReport.h).
#include <cmath>
#include <iomanip>

#include "Commands.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/evaluation/BatchReport.h"
#include "mr2ct/evaluation/CaseEvaluation.h"
#include "mr2ct/evaluation/Montage.h"
#include "mr2ct/pipeline/Manifest.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct {
namespace {

std::string opt(const po::variables_map& vm, const char* name) {
  return vm.count(name) ? vm[name].as<std::string>() : std::string();
}

EvaluateOptions evaluateOptions(const po::variables_map& vm) {
  EvaluateOptions o;
  o.metrics.profile = vm["profile"].as<std::string>();
  o.metrics.airBelowHu = vm["air-below"].as<double>();
  o.metrics.boneAboveHu = vm["bone-above"].as<double>();
  o.metrics.boneDiceHu = vm["bone-dice-hu"].as<double>();
  o.metrics.threads = vm["threads"].as<int>();
  o.geometryTolerance = vm["geometry-tolerance"].as<double>();
  o.resamplePred = vm["resample-pred"].as<bool>();
  o.refTransform = opt(vm, "ref-transform");
  o.bodyMask.ctThresholdHu = float(vm["body-threshold"].as<double>());
  o.dicomSeries = opt(vm, "dicom-series");
  o.validate();
  return o;
}

void printText(const CaseEvaluation& e, std::ostream& out) {
  const auto& m = e.metrics;
  auto line = [&](const char* name, double v, const char* unit) {
    out << "  " << std::left << std::setw(10) << name << std::right << std::setw(14);
    if (std::isfinite(v)) out << std::fixed << std::setprecision(6) << v; else out << "n/a";
    out << " " << unit << "\n";
  };
  out << "profile " << m.profile << ", " << m.maskVoxels << " voxels in mask (" << e.maskSource << ")\n";
  line("MAE", m.mae, "HU");
  line("ME", m.me, "HU");
  line("RMSE", m.rmse, "HU");
  line("PSNR", m.psnr, "dB");
  line("SSIM", m.ssim, "");
  line("MS-SSIM", m.msSsim, "");
  line("MAE air", m.air.mae, "HU");
  line("MAE soft", m.soft.mae, "HU");
  line("MAE bone", m.bone.mae, "HU");
  line("bone Dice", m.boneDice, "");
  if (!e.resampling.empty()) out << "resampling: " << e.resampling << "\n";
  for (const auto& w : e.warnings) out << "warning: " << w << "\n";
}

int runSingle(const po::variables_map& vm, CommandIO& io) {
  const EvaluateOptions o = evaluateOptions(vm);
  const std::string pred = opt(vm, "pred"), ref = opt(vm, "ref");
  if (pred.empty() || ref.empty()) throw UsageError("evaluate: give --pred and --ref (or --manifest, --pred-dir, --out)");
  requireDicomFolderFor("dicom-series", o.dicomSeries, ref);
  const CaseEvaluation e = evaluateFiles(pred, ref, opt(vm, "mask"), o);
  if (vm.count("montage")) {
    Volume mr;
    if (vm.count("mr")) mr = readVolume(opt(vm, "mr"));
    MontageInput in;
    in.mr = mr.empty() ? nullptr : &mr;
    in.pred = &e.pred;
    in.ref = &e.ref;
    in.mask = &e.mask;
    in.title = std::filesystem::path(pred).filename().string();
    writeMontagePng(in, opt(vm, "montage"));
  }
  if (vm["json"].as<bool>()) {
    nlohmann::json j = e.toJson();
    j["pred"] = pred;
    j["ref"] = ref;
    j["options"] = o.toJson();
    io.out << j.dump(2) << "\n";
  } else {
    printText(e, io.out);
  }
  return kExitOk;
}

}  // namespace

EvaluateBatchStage evaluateBatchFrom(const po::variables_map& vm) {
  EvaluateBatchStage e;
  e.batch.evaluate = evaluateOptions(vm);
  e.batch.predDir = opt(vm, "pred-dir");
  e.batch.outDir = opt(vm, "out");
  e.batch.montages = !vm["no-montage"].as<bool>();
  e.manifest = opt(vm, "manifest");
  e.manifestOptions = manifestOptionsFrom(vm);
  e.split = opt(vm, "split");
  return e;
}

int runEvaluateBatchStage(const EvaluateBatchStage& e, CommandIO& io) {
  const Manifest manifest = readManifest(e.manifest, e.manifestOptions);
  std::vector<BatchCase> cases;
  for (const auto* c : manifest.split(e.split))
    cases.push_back({c->id, c->mr, c->ct, c->mask, c->ctSeries, c->mrSeries});
  if (cases.empty())
    throw UsageError("evaluate: no case in " + manifest.file.string() + (e.split.empty() ? "" : " with split " + e.split));
  const BatchResult r = evaluateBatch(cases, e.batch);
  io.out << "evaluated " << r.succeeded << " of " << r.cases << " cases -> " << e.batch.outDir.string()
         << " (metrics.csv, summary.json, index.html)\n";
  for (const auto& f : r.failures) io.err << "failed: " << f.id << ": " << f.error << "\n";
  return r.failures.empty() ? kExitOk : kExitPartial;
}


Command evaluateCommand() {
  Command c;
  c.name = "evaluate";
  c.summary = "SynthRAD metrics (MAE, ME, RMSE, PSNR, SSIM, MS-SSIM, tissue MAE, bone Dice) of sCT vs CT";
  c.usage =
      "mr2ct evaluate --pred sct.nii.gz --ref ct.nii.gz [--mask m.nii.gz] [--profile synthrad2023|synthrad2025] "
      "[--json] [--montage out.png [--mr mr.nii.gz]]\n"
      "       mr2ct evaluate --manifest M --pred-dir D --out REPORT_DIR [--split test]";
  c.example = "mr2ct evaluate --pred out/case000.nii.gz --ref phantom/case000/ct.nii.gz --profile synthrad2023 --json";
  c.declare = [](po::options_description& d, po::positional_options_description&) {
    const EvaluateOptions def;
    d.add_options()("pred", po::value<std::string>(), "synthetic CT (one case)")(
        "ref", po::value<std::string>(), "reference CT in HU (one case)")(
        "mask", po::value<std::string>(), "evaluation mask (default: body mask of the reference CT)")(
        "profile", po::value<std::string>()->default_value(def.metrics.profile),
        "synthrad2023 (clip [-1024,3000]) | synthrad2025 (clip [-1024,3071])")(
        "json", po::bool_switch(), "print JSON (one case)")(
        "montage", po::value<std::string>(), "also write a montage PNG (one case)")(
        "mr", po::value<std::string>(), "MR shown in the montage (one case)")(
        "resample-pred", po::bool_switch(), "resample the prediction onto the reference grid when they differ")(
        "ref-transform", po::value<std::string>(),
        "ITK transform (prediction-grid point -> reference point): resample the reference onto the prediction grid")(
        "dicom-series", po::value<std::string>(),
        "--ref is a DICOM folder of several series (a study): the CT's SeriesInstanceUID or SeriesNumber")(
        "geometry-tolerance", realValue(def.geometryTolerance),
        "grid tolerance: origin mm, spacing relative, direction absolute")(
        "air-below", realValue(def.metrics.airBelowHu), "reference HU below this: air class")(
        "bone-above", realValue(def.metrics.boneAboveHu), "reference HU above this: bone class")(
        "bone-dice-hu", realValue(def.metrics.boneDiceHu), "bone threshold for the Dice")(
        "body-threshold", realValue(double(def.bodyMask.ctThresholdHu)),
        "HU threshold of the body mask when no mask is given")(
        "manifest", po::value<std::string>(), "data manifest (batch)")(
        "pred-dir", po::value<std::string>(), "predictions <dir>/<id>.nii.gz or <dir>/<id>/sct.nii.gz (batch)")(
        "out", po::value<std::string>(), "report folder (batch)")(
        "split", po::value<std::string>(), "only cases of this split (batch; default all)")(
        "no-montage", po::bool_switch(), "skip the montage pictures (batch)");
    addManifestOptions(d, "batch: ");
  };
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    if (vm.count("manifest")) return runEvaluateBatchStage(evaluateBatchFrom(vm), io);
    return runSingle(vm, io);
  };
  return c;
}

}  // namespace mr2ct
