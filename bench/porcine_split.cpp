// The porcine quality study's data split (bench/porcine_study.sh): one real object only, so it is
// cut along its long (z) axis into a train part and a test part with a gap between them. The CT
// is first resampled onto the MR's grid through the transform `mr2ct preprocess` found (MR point →
// CT point), so both parts of both images share one grid and no registration is needed later.
//   porcine_split MR CT TRANSFORM.tfm OUT_DIR TRAIN_SLICES GAP_MM
// Writes OUT_DIR/{train,test}_{mr,ct}.nii.gz and OUT_DIR/manifest.csv (train, test), and prints
// one JSON line with the slice ranges and the gap in mm.
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/VolumeIO.h"

using namespace mr2ct;

namespace {

/// Slices [z0, z0 + n) of `v` as their own volume (voxel centres coincide: values are copied).
Volume slab(const Volume& v, std::size_t z0, std::size_t n) {
  Geometry g = v.geometry();
  g.origin = g.indexToPhysical({0.0, 0.0, double(z0)});
  g.size[2] = n;
  return resampleVolume(v, g, SpatialTransform::identity(), Interpolation::Nearest, -1024.0f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::cerr << "usage: porcine_split MR CT TRANSFORM.tfm OUT_DIR TRAIN_SLICES GAP_MM\n";
    return 2;
  }
  try {
    const std::filesystem::path out = argv[4];
    std::filesystem::create_directories(out);
    const Volume mr = readVolume(argv[1]);
    const Volume ct = resampleVolume(readVolume(argv[2]), mr.geometry(), SpatialTransform::load(argv[3]),
                                     Interpolation::Linear, -1024.0f);
    const std::size_t nz = mr.geometry().size[2], train = std::stoul(argv[5]);
    const double dz = mr.geometry().spacing[2];
    // The gap is measured between the nearest voxel centres of the two parts.
    const std::size_t gapSlices = std::size_t(std::ceil(std::stod(argv[6]) / dz));
    const std::size_t testStart = train - 1 + gapSlices + 1;
    if (train < 8 || testStart + 8 > nz)
      throw UsageError("porcine_split: " + std::to_string(nz) + " slices cannot hold a train part of " +
                       std::to_string(train) + ", a gap of " + argv[6] + " mm and a test part of at least 8");
    const WriteOptions i16{PixelType::Int16};
    writeVolume(slab(mr, 0, train), out / "train_mr.nii.gz", i16);
    writeVolume(slab(ct, 0, train), out / "train_ct.nii.gz", i16);
    writeVolume(slab(mr, testStart, nz - testStart), out / "test_mr.nii.gz", i16);
    writeVolume(slab(ct, testStart, nz - testStart), out / "test_ct.nii.gz", i16);
    std::ofstream(out / "manifest.csv")
        << "# mri-dir-porcine-phantom cut along z: train slices [0, " << train << "), test slices [" << testStart
        << ", " << nz << "), CT resampled onto the MR grid\n"
        << "id,mr,ct,split\n"
        << "porcine_train,train_mr.nii.gz,train_ct.nii.gz,train\n"
        << "porcine_test,test_mr.nii.gz,test_ct.nii.gz,test\n";
    std::cout << "{\"bench\": \"porcine_split\", \"slices\": " << nz << ", \"train\": [0, " << train
              << "], \"test\": [" << testStart << ", " << nz << "], \"gap_mm\": " << double(testStart - train + 1) * dz
              << ", \"slice_mm\": " << dz << "}\n";
  } catch (const std::exception& e) {
    std::cerr << "porcine_split: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
