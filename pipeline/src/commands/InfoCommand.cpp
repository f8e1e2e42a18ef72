#include "Commands.h"
#include "mr2ct/pipeline/VolumeInfoReport.h"

namespace mr2ct {

Command infoCommand() {
  Command c;
  c.name = "info";
  c.summary = "describe volume files: format, type, geometry, orientation, value range";
  c.usage = "mr2ct info FILE_OR_DICOM_FOLDER... [--json] [--dicom-series UID|NUMBER]";
  c.example = "mr2ct info phantom/case000/mr.nii.gz phantom/case000/ct.nii.gz --json";
  c.declare = [](po::options_description& d, po::positional_options_description& p) {
    d.add_options()("files", po::value<std::vector<std::string>>()->multitoken(), "volume files or DICOM folders")(
        "json", po::bool_switch(), "print JSON")("dicom-series", po::value<std::string>()->default_value(""),
                                                 "a DICOM folder's series to describe: SeriesInstanceUID or SeriesNumber (the folder's series are listed)");
    p.add("files", -1);
  };
  c.run = [](const po::variables_map& vm, CommandIO& io) {
    InfoOptions o;
    if (vm.count("files")) o.files = vm["files"].as<std::vector<std::string>>();
    o.json = vm["json"].as<bool>();
    o.dicomSeries = vm["dicom-series"].as<std::string>();
    return printVolumeInfo(o, io.out, io.err);
  };
  return c;
}

}  // namespace mr2ct
