// `mr2ct baseline bulk-density`: options → BulkDensityOptions → bulkDensitySct → sCT file.
#include "Commands.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/evaluation/BulkDensity.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct {

BulkDensityStage bulkDensityStageFrom(const po::variables_map& vm) {
  const std::string method = vm.count("method") ? vm["method"].as<std::string>() : "";
  if (method != "bulk-density") throw UsageError("baseline: unknown method '" + method + "' (bulk-density)");
  if (!vm.count("input") || !vm.count("output")) throw UsageError("baseline: --input and --output are required");
  BulkDensityStage b;
  b.options.airHu = vm["air-hu"].as<float>();
  b.options.softHu = vm["soft-hu"].as<float>();
  b.options.boneHu = vm["bone-hu"].as<float>();
  b.options.darkFraction = vm["dark-fraction"].as<double>();
  b.options.airFraction = vm["air-fraction"].as<double>();
  b.options.boneMaxDepthMm = vm["bone-depth-mm"].as<double>();
  b.options.validate();
  b.input = vm["input"].as<std::string>();
  b.output = vm["output"].as<std::string>();
  if (vm.count("mask")) b.mask = vm["mask"].as<std::string>();
  b.dicomSeries = vm["dicom-series"].as<std::string>();
  b.json = vm["json"].as<bool>();
  return b;
}

int runBulkDensityStage(const BulkDensityStage& b, CommandIO& io) {
  std::vector<std::filesystem::path> inputs{b.input};
  if (!b.mask.empty()) inputs.push_back(b.mask);
  refuseOverwritingInputs(b.output, inputs);
  VolumeInfo info;
  ReadOptions ro;
  ro.dicomSeries = b.dicomSeries;
  requireDicomFolderFor("dicom-series", ro.dicomSeries, b.input.string());
  const Volume mr = readVolume(b.input, ro, &info);
  prepareOutputFile(b.output, mr.voxelCount() * 2);
  Mask mask;
  if (!b.mask.empty()) mask = readMask(b.mask);
  const BulkDensityResult r = bulkDensitySct(mr, mask, b.options, b.input.string());
  WriteOptions w;
  w.pixelType = PixelType::Int16;
  if (r.sct.geometry().sameAs(mr.geometry(), 1e-9)) w.nifti = info.nifti;
  writeVolume(r.sct, b.output, w);
  if (b.json) {
    nlohmann::json j = r.toJson();
    j["input"] = b.input.string();
    j["output"] = b.output.string();
    io.out << j.dump(2) << "\n";
  } else {
    io.out << "wrote " << b.output.string() << ": bone " << r.boneVoxels << ", soft " << r.softVoxels << ", air "
           << r.airVoxels << " voxels inside the body\n";
  }
  return kExitOk;
}

Command baselineCommand() {
  Command c;
  c.name = "baseline";
  c.summary = "classical non-learning sCT to compare models against (bulk-density: air/soft/bone HU by MR class)";
  c.usage = "mr2ct baseline bulk-density --input mr.nii.gz --output sct.nii.gz [--mask m.nii.gz] [--dicom-series UID|NUMBER] [--json]";
  c.example = "mr2ct baseline bulk-density --input phantom/case000/mr.nii.gz --output case000_bulk.nii.gz";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    const BulkDensityOptions def;
    d.add_options()("method", po::value<std::string>(), "bulk-density")(
        "input", po::value<std::string>(), "MR volume")("output", po::value<std::string>(), "sCT to write (HU)")(
        "mask", po::value<std::string>(), "body mask (default: body mask of the MR)")(
        "dicom-series", po::value<std::string>()->default_value(""),
        "--input is a DICOM folder of several series: the MR's SeriesInstanceUID or SeriesNumber")(
        "air-hu", po::value<float>()->default_value(def.airHu), "HU of air")(
        "soft-hu", po::value<float>()->default_value(def.softHu), "HU of soft tissue")(
        "bone-hu", po::value<float>()->default_value(def.boneHu), "HU of bone")(
        "dark-fraction", realValue(def.darkFraction), "dark = MR below this x median in the body")(
        "air-fraction", realValue(def.airFraction), "very dark = MR below this x median")(
        "bone-depth-mm", realValue(def.boneMaxDepthMm), "outer shell where dark voxels are bone")(
        "json", po::bool_switch(), "print the class counts and options as JSON");
    p.add("method", 1);
  };
  c.run = [](const po::variables_map& vm, CommandIO& io) { return runBulkDensityStage(bulkDensityStageFrom(vm), io); };
  return c;
}

}  // namespace mr2ct
