// --data-root and --allow-outside: declared here once for every command that reads a manifest.
#include "Commands.h"

namespace mr2ct {

void addManifestOptions(po::options_description& d, const std::string& scope) {
  d.add_options()("data-root", po::value<std::string>()->default_value(""),
                  (scope + "folder that manifests with a data-root line are relative to (default $MR2CT_DATA_DIR)").c_str())(
      "allow-outside", po::bool_switch(), (scope + "accept manifest paths that leave the manifest's folder").c_str());
}

ManifestOptions manifestOptionsFrom(const po::variables_map& vm) {
  ManifestOptions o;
  o.dataRoot = vm["data-root"].as<std::string>();
  o.allowOutside = vm["allow-outside"].as<bool>();
  return o;
}

}  // namespace mr2ct
