#pragma once
// `mr2ct info`: what a volume file is (format, type, geometry, value distribution).
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace mr2ct {

struct InfoOptions {
  std::vector<std::string> files;
  bool json = false;
  std::string dicomSeries;
};

/// Describes one file as JSON (format, pixel_type, size, spacing, origin, direction, orientation,
/// min, max, mean, p1, p50, p99, nonfinite voxels). An mr2ct training store (HDF5) is described
/// as one: format "mr2ct training store", format_version, cases, splits, preprocessing_options.
nlohmann::json describeVolumeFile(const std::string& path, const std::string& dicomSeries = "");

/// Prints every file; returns 0, or 1 when some file could not be read (others are still shown).
int printVolumeInfo(const InfoOptions& options, std::ostream& out, std::ostream& err);

}  // namespace mr2ct
