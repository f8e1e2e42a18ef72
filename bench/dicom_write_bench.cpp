// Writing a 512×512×300 sCT (HU, float voxels as the converter holds them) as a DICOM CT series,
// side by side with the same volume as int16 NIfTI (.nii.gz), the default output. One JSON line
// per repetition and a summary with medians. Peak memory: run under /usr/bin/time -v
// (bench/dicom_write_speed.sh does).
//   dicom_write_bench OUT_DIR [repetitions=3] [nx ny nz]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "mr2ct/pipeline/DicomCtSeriesWriter.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace fs = std::filesystem;
using namespace mr2ct;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::uintmax_t folderBytes(const fs::path& p) {
  if (fs::is_regular_file(p)) return fs::file_size(p);
  std::uintmax_t n = 0;
  for (const auto& e : fs::directory_iterator(p)) n += e.file_size();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: dicom_write_bench OUT_DIR [repetitions=3] [nx ny nz]\n";
    return 2;
  }
  const fs::path out = argv[1];
  const int reps = argc > 2 ? std::stoi(argv[2]) : 3;
  Geometry g;
  g.size = {512, 512, 300};
  if (argc > 5) g.size = {std::size_t(std::stoul(argv[3])), std::size_t(std::stoul(argv[4])), std::size_t(std::stoul(argv[5]))};
  g.spacing = {0.9765625, 0.9765625, 1.25};
  g.origin = {-249.51171875, -249.51171875, -180.0};
  Volume hu(g, -1000.0f);
  // A body-like content: an elliptic cylinder of soft tissue with a bony ring, air outside.
  for (std::size_t z = 0; z < g.size[2]; ++z)
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x) {
        const double u = (double(x) - double(g.size[0]) / 2.0) / (0.42 * double(g.size[0])),
                     w = (double(y) - double(g.size[1]) / 2.0) / (0.35 * double(g.size[1]));
        const double r = u * u + w * w;
        if (r < 1)
          hu.at(x, y, z) = float(r > 0.8 ? 900 + 50 * std::sin(0.1 * double(z))
                                         : 40 + 30 * std::sin(0.05 * double(x) + 0.07 * double(y)));
      }
  fs::create_directories(out);
  std::vector<double> dicomS, niftiS;
  std::uintmax_t dicomBytes = 0, niftiBytes = 0;
  for (int r = 0; r < reps; ++r) {
    const fs::path series = out / ("sct_dicom_" + std::to_string(r));
    const fs::path nifti = out / ("sct_" + std::to_string(r) + ".nii.gz");
    fs::remove_all(series);
    fs::remove(nifti);
    DicomSeriesOptions o;
    o.patientId = "BENCH";
    auto t = std::chrono::steady_clock::now();
    writeDicomCtSeries(hu, series, o, DicomDerivation{std::nullopt, "benchmark volume"});
    dicomS.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
    t = std::chrono::steady_clock::now();
    WriteOptions wo;
    wo.pixelType = PixelType::Int16;
    writeVolume(hu, nifti, wo);
    niftiS.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
    dicomBytes = folderBytes(series);
    niftiBytes = folderBytes(nifti);
    std::cout << "{\"bench\": \"dicom_write_rep\", \"rep\": " << r << ", \"dicom_s\": " << dicomS.back()
              << ", \"nifti_gz_s\": " << niftiS.back() << "}\n";
    fs::remove_all(series);
    fs::remove(nifti);
  }
  std::cout << "{\"bench\": \"dicom_write\", \"size\": [" << g.size[0] << ", " << g.size[1] << ", " << g.size[2]
            << "], \"repetitions\": " << reps << ", \"dicom_median_s\": " << median(dicomS)
            << ", \"nifti_gz_median_s\": " << median(niftiS) << ", \"dicom_mb\": " << double(dicomBytes) / 1e6
            << ", \"nifti_gz_mb\": " << double(niftiBytes) / 1e6 << ", \"dicom_files\": " << g.size[2] << "}\n";
  return 0;
}
