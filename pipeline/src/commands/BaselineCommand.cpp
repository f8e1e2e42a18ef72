// `mr2ct baseline bulk-density`: options → BulkDensityOptions → bulkDensitySct → sCT file.
#include "Commands.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/core/OutputGuard.h"
#include "mr2ct/evaluation/BulkDensity.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace mr2ct {

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
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    const std::string method = vm.count("method") ? vm["method"].as<std::string>() : "";
    if (method != "bulk-density") throw UsageError("baseline: unknown method '" + method + "' (bulk-density)");
    if (!vm.count("input") || !vm.count("output")) throw UsageError("baseline: --input and --output are required");
    BulkDensityOptions o;
    o.airHu = vm["air-hu"].as<float>();
    o.softHu = vm["soft-hu"].as<float>();
    o.boneHu = vm["bone-hu"].as<float>();
    o.darkFraction = vm["dark-fraction"].as<double>();
    o.airFraction = vm["air-fraction"].as<double>();
    o.boneMaxDepthMm = vm["bone-depth-mm"].as<double>();
    o.validate();
    const std::string input = vm["input"].as<std::string>(), output = vm["output"].as<std::string>();
    std::vector<std::filesystem::path> inputs{input};
    if (vm.count("mask")) inputs.push_back(vm["mask"].as<std::string>());
    refuseOverwritingInputs(output, inputs);
    VolumeInfo info;
    ReadOptions ro;
    ro.dicomSeries = vm["dicom-series"].as<std::string>();
    requireDicomFolderFor("dicom-series", ro.dicomSeries, input);
    const Volume mr = readVolume(input, ro, &info);
    prepareOutputFile(output, mr.voxelCount() * 2);
    Mask mask;
    if (vm.count("mask")) mask = readMask(vm["mask"].as<std::string>());
    const BulkDensityResult r = bulkDensitySct(mr, mask, o, input);
    WriteOptions w;
    w.pixelType = PixelType::Int16;
    if (r.sct.geometry().sameAs(mr.geometry(), 1e-9)) w.nifti = info.nifti;
    writeVolume(r.sct, output, w);
    if (vm["json"].as<bool>()) {
      nlohmann::json j = r.toJson();
      j["input"] = input;
      j["output"] = output;
      io.out << j.dump(2) << "\n";
    } else {
      io.out << "wrote " << output << ": bone " << r.boneVoxels << ", soft " << r.softVoxels << ", air "
             << r.airVoxels << " voxels inside the body\n";
    }
    return kExitOk;
  };
  return c;
}

}  // namespace mr2ct
