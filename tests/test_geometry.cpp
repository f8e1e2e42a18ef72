// Geometry and Volume: index↔physical round trips on an oblique, anisotropic, non-cubic grid;
// direction cosines after reorientation to LPS; and the RAS→LPS convention against NIfTI files
// written by nibabel (Debian's python3-nibabel), whose affine is the reference for voxel→world.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/Geometry.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/Volume.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

namespace fs = std::filesystem;
using Affine = std::array<double, 12>;  ///< the top three rows of a 4×4 voxel→world affine, row-major

// The same double arithmetic as the formula, summed in another order over coordinates of at most
// a few hundred mm: a few ulps of 1e-13 mm.
constexpr double kFormulaMm = 1e-11;
// index → physical → index goes through a 3×3 inverse (condition number 1) and a division by
// the spacing: double rounding, far below this.
constexpr double kRoundTripVoxels = 1e-10;
// Direction cosines from sin/cos in double: DᵀD = I to a few ulps.
constexpr double kOrthonormal = 1e-12;
// Reorientation moves voxels and permutes direction columns exactly; the physical positions of
// the moved voxels agree to double rounding of coordinates of a few hundred mm.
constexpr double kReorientedMm = 1e-9;
// Direction cosines read from a NIfTI sform: its float32 columns (2^-24 relative per element) are
// normalised but not re-orthogonalised, so their dot products are ~1e-8, not double-exact.
constexpr double kNiftiOrthonormal = 1e-6;
// NIfTI headers hold float32 (srow, quaternion, pixdim): 2^-24 relative of coordinates up to
// ~150 mm is 1e-5 mm; both sides then compute in double.
constexpr double kNiftiMm = 1e-4;

/// An oblique grid: no axis aligned with the world, anisotropic spacing, non-zero origin, 7×5×3.
Geometry obliqueGrid() {
  Geometry g;
  g.size = {7, 5, 3};
  g.spacing = {0.7, 1.3, 2.9};
  g.origin = {-12.5, 33.25, 101.0};
  g.direction = test::rotationXYZ(0.35, -0.25, 0.6);
  return g;
}

/// origin + D·diag(spacing)·index, written out the way Geometry.h defines it.
Vec3 byTheFormula(const Geometry& g, const Vec3& index) {
  Vec3 p{};
  for (std::size_t r = 0; r < 3; ++r) {
    p[r] = g.origin[r];
    for (std::size_t c = 0; c < 3; ++c) p[r] += g.direction[3 * r + c] * g.spacing[c] * index[c];
  }
  return p;
}

void expectOrthonormal(const Mat3& d, const std::string& name, double tolerance = kOrthonormal) {
  for (std::size_t a = 0; a < 3; ++a)
    for (std::size_t b = 0; b < 3; ++b) {
      double dot = 0;
      for (std::size_t r = 0; r < 3; ++r) dot += d[3 * r + a] * d[3 * r + b];
      EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, tolerance) << name << ": columns " << a << ", " << b;
    }
}

TEST(Geometry, IndexToPhysicalFollowsTheFormulaOnAnObliqueGrid) {
  const Geometry g = obliqueGrid();
  const std::vector<Vec3> indices{{0, 0, 0}, {6, 4, 2}, {3, 1, 2}, {2.5, 0.25, 1.75}, {-1, 7, 10.5}};
  for (const Vec3& i : indices) {
    const Vec3 p = g.indexToPhysical(i), want = byTheFormula(g, i);
    for (std::size_t r = 0; r < 3; ++r)
      EXPECT_NEAR(p[r], want[r], kFormulaMm) << "index " << i[0] << "," << i[1] << "," << i[2];
  }
  // One step along voxel axis c moves spacing[c] mm along direction column c.
  for (std::size_t c = 0; c < 3; ++c) {
    Vec3 step{0, 0, 0};
    step[c] = 1;
    const Vec3 a = g.indexToPhysical({0, 0, 0}), b = g.indexToPhysical(step);
    for (std::size_t r = 0; r < 3; ++r) EXPECT_NEAR(b[r] - a[r], g.direction[3 * r + c] * g.spacing[c], kFormulaMm);
  }
  const Vec3 centre = g.center(), mid = g.indexToPhysical({3, 2, 1});
  for (std::size_t r = 0; r < 3; ++r) EXPECT_NEAR(centre[r], mid[r], kFormulaMm);
  const Vec3 extent = g.extentMm();
  EXPECT_NEAR(extent[0], 7 * 0.7, kFormulaMm);
  EXPECT_NEAR(extent[1], 5 * 1.3, kFormulaMm);
  EXPECT_NEAR(extent[2], 3 * 2.9, kFormulaMm);
}

TEST(Geometry, DotAndCrossOfAxes) {
  EXPECT_DOUBLE_EQ(dot({1, 2, 3}, {4, -5, 6}), 12.0);
  EXPECT_EQ(cross({1, 0, 0}, {0, 1, 0}), (Vec3{0, 0, 1}));  // right-handed: x × y = z
  EXPECT_EQ(cross({0, 1, 0}, {1, 0, 0}), (Vec3{0, 0, -1}));
}

TEST(Geometry, IndexPhysicalRoundTripsOnAnObliqueGrid) {
  Geometry g = obliqueGrid();
  for (bool flipped : {false, true}) {
    if (flipped)  // a left-handed grid (third axis reversed), as a NIfTI with qfac -1 reads
      for (std::size_t r = 0; r < 3; ++r) g.direction[3 * r + 2] = -g.direction[3 * r + 2];
    SCOPED_TRACE(flipped ? "left-handed" : "right-handed");
    for (const Vec3& i : std::vector<Vec3>{{0, 0, 0}, {6, 4, 2}, {1.5, 3.25, 0.5}, {-2, 9, -1}}) {
      const Vec3 back = g.physicalToIndex(g.indexToPhysical(i));
      for (std::size_t c = 0; c < 3; ++c) EXPECT_NEAR(back[c], i[c], kRoundTripVoxels);
    }
    for (const Vec3& p : std::vector<Vec3>{{0, 0, 0}, {-40, 12.5, 90}, {17, 60, 120}}) {
      const Vec3 again = g.indexToPhysical(g.physicalToIndex(p));
      for (std::size_t r = 0; r < 3; ++r) EXPECT_NEAR(again[r], p[r], kRoundTripVoxels);
    }
  }
}

TEST(Volume, VoxelsAreXFastestAndCarryTheirGeometry) {
  const Volume v = test::makeIdentifiableVolume({7, 5, 3});
  EXPECT_EQ(v.voxelCount(), 7u * 5u * 3u);
  EXPECT_EQ(v.geometry().linearIndex(1, 0, 0), 1u);
  EXPECT_EQ(v.geometry().linearIndex(0, 1, 0), 7u);
  EXPECT_EQ(v.geometry().linearIndex(0, 0, 1), 35u);
  EXPECT_EQ(v.data()[v.geometry().linearIndex(4, 3, 2)], v.at(4, 3, 2));
  EXPECT_EQ(v.at(4, 3, 2), 4.0f + 300.0f + 20000.0f);
  // A copy shares the buffer, a clone does not; both keep the geometry.
  Volume shared = v;
  const Volume deep = v.clone();
  shared.at(0, 0, 0) = -1;
  EXPECT_EQ(v.at(0, 0, 0), -1.0f);
  EXPECT_EQ(deep.at(0, 0, 0), 0.0f);
  EXPECT_TRUE(deep.geometry().sameAs(v.geometry(), 0.0));
}

/// The direction matrices reorientation must handle: oblique, left-handed, nearly permuted axes.
std::vector<std::pair<std::string, Mat3>> obliqueDirections() {
  const Mat3 flipZ{1, 0, 0, 0, 1, 0, 0, 0, -1}, cycle{0, 0, 1, 1, 0, 0, 0, 1, 0};
  return {{"oblique", test::rotationXYZ(0.35, -0.25, 0.6)},
          {"oblique, left-handed", multiply(test::rotationXYZ(0.2, 0.4, -0.3), flipZ)},
          {"near 90 degrees about z", test::rotationXYZ(0.1, -0.05, 1.45)},
          {"axes cycled", multiply(cycle, test::rotationXYZ(-0.3, 0.2, 0.15))},
          {"near RAS", multiply(Mat3{-1, 0, 0, 0, -1, 0, 0, 0, 1}, test::rotationXYZ(0.05, 0.1, -0.2))}};
}

TEST(Geometry, DirectionCosinesStayOrthonormalAfterReorientation) {
  for (const auto& [name, direction] : obliqueDirections()) {
    SCOPED_TRACE(name);
    Volume v = test::makeIdentifiableVolume({7, 5, 3});
    Geometry g = v.geometry();
    g.direction = direction;
    v.setGeometry(g);
    expectOrthonormal(g.direction, name + " (input)");
    const Volume r = reorientToLps(v);
    const Geometry& h = r.geometry();
    expectOrthonormal(h.direction, name);
    for (std::size_t a = 0; a < 3; ++a) EXPECT_GT(h.direction[4 * a], 0.5) << "axis " << a << " points away from LPS";
    EXPECT_EQ(r.voxelCount(), v.voxelCount());
    // Every voxel keeps its physical position: its value names its index in the input.
    for (std::size_t z = 0; z < h.size[2]; ++z)
      for (std::size_t y = 0; y < h.size[1]; ++y)
        for (std::size_t x = 0; x < h.size[0]; ++x) {
          const auto id = static_cast<std::size_t>(r.at(x, y, z));
          const Vec3 from{double(id % 100), double(id / 100 % 100), double(id / 10000)};
          const Vec3 p = h.indexToPhysical({double(x), double(y), double(z)}), q = g.indexToPhysical(from);
          for (std::size_t c = 0; c < 3; ++c) ASSERT_NEAR(p[c], q[c], kReorientedMm) << x << "," << y << "," << z;
        }
  }
}

// ---- LPS/RAS against nibabel ----------------------------------------------------------------------

bool haveNibabel() {
  return std::system("/usr/bin/python3 -c 'import nibabel' >/dev/null 2>&1") == 0;
}

// Writes a 6×5×4 float32 NIfTI whose voxel (i, j, k) holds i + 100·j + 10000·k, with `affine` (RAS)
// as its sform, its qform or both (`which`), and saves the affine nibabel reads back next to it.
const char* const kWriteNifti = R"(import sys
import numpy as np, nibabel as nib
path, which = sys.argv[1], sys.argv[2]
a = np.eye(4)
a[:3, :] = np.array([float(v) for v in sys.argv[3:15]]).reshape(3, 4)
i, j, k = np.indices((6, 5, 4))
img = nib.Nifti1Image((i + 100 * j + 10000 * k).astype(np.float32), None)
img.set_qform(a, code=0 if which == 'sform' else 1)
img.set_sform(a, code=0 if which == 'qform' else 1)
nib.save(img, path)
np.savetxt(path + '.affine', nib.load(path).affine[:3, :].reshape(1, 12), fmt='%.17g')
)";

/// nibabel's affine (its top three rows) of the file it wrote at `path` with `affine` in `which`.
Affine writeWithNibabel(const fs::path& path, const std::string& which, const Affine& affine) {
  const fs::path script = path.parent_path() / "write_nifti.py";
  std::ofstream(script) << kWriteNifti;
  std::ostringstream cmd;
  cmd.precision(17);
  cmd << "/usr/bin/python3 " << script << " " << path << " " << which;
  for (double a : affine) cmd << " " << a;
  EXPECT_EQ(std::system(cmd.str().c_str()), 0) << cmd.str();
  Affine back{};
  std::ifstream in(path.string() + ".affine");
  for (double& a : back) in >> a;
  EXPECT_TRUE(bool(in)) << "no affine from nibabel for " << path;
  return back;
}

/// R·diag(zooms) and an origin, in RAS: an oblique, anisotropic grid away from the world origin.
Affine obliqueRasAffine() {
  const Mat3 r = test::rotationXYZ(0.35, -0.25, 0.6);
  const Vec3 zooms{0.9, 1.4, 3.0}, origin{-80.5, 110.25, -42.0};
  Affine a{};
  for (std::size_t row = 0; row < 3; ++row) {
    for (std::size_t c = 0; c < 3; ++c) a[4 * row + c] = r[3 * row + c] * zooms[c];
    a[4 * row + 3] = origin[row];
  }
  return a;
}

TEST(Geometry, NibabelAffineInLpsIsTheVoxelToPhysicalMapping) {
  if (!haveNibabel()) GTEST_SKIP() << "python3-nibabel is missing (scripts/install-deps.sh installs it)";
  test::TempDir dir;
  const Affine known = obliqueRasAffine();
  for (const std::string which : {"sform", "qform", "both"}) {
    SCOPED_TRACE(which);
    const fs::path file = dir / ("oblique-" + which + ".nii.gz");
    const Affine ras = writeWithNibabel(file, which, known);
    for (std::size_t e = 0; e < 12; ++e) EXPECT_NEAR(ras[e], known[e], kNiftiMm) << "nibabel's affine, element " << e;
    const Volume v = readVolume(file);
    ASSERT_EQ(v.size(), (std::array<std::size_t, 3>{6, 5, 4}));
    expectOrthonormal(v.geometry().direction, which, kNiftiOrthonormal);
    const std::vector<std::array<std::size_t, 3>> voxels{{0, 0, 0}, {5, 4, 3}, {5, 0, 0},
                                                         {0, 4, 0}, {0, 0, 3}, {2, 3, 1}};
    for (const auto& [i, j, k] : voxels) {
      // The voxel nibabel calls (i, j, k) is mr2ct's (x, y, z) = (i, j, k)...
      EXPECT_EQ(v.at(i, j, k), float(i + 100 * j + 10000 * k));
      // ...and lies where nibabel's affine puts it, with x and y negated (RAS → LPS).
      const Vec3 p = v.geometry().indexToPhysical({double(i), double(j), double(k)});
      for (std::size_t r = 0; r < 3; ++r) {
        const double worldRas =
            ras[4 * r] * double(i) + ras[4 * r + 1] * double(j) + ras[4 * r + 2] * double(k) + ras[4 * r + 3];
        EXPECT_NEAR(p[r], r < 2 ? -worldRas : worldRas, kNiftiMm)
            << "voxel " << i << "," << j << "," << k << " axis " << r;
      }
    }
  }
}

TEST(Geometry, AxisAlignedNiftiOrientationCodes) {
  if (!haveNibabel()) GTEST_SKIP() << "python3-nibabel is missing (scripts/install-deps.sh installs it)";
  test::TempDir dir;
  // nibabel's "RAS+" identity grid is RAS for mr2ct too; a grid whose affine flips x and y is LPS.
  const std::vector<std::pair<std::string, Affine>> grids{{"RAS", {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}},
                                                          {"LPS", {-1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0}},
                                                          {"LAS", {-2, 0, 0, 5, 0, 1.5, 0, -7, 0, 0, 3, 9}}};
  for (const auto& [code, affine] : grids) {
    const fs::path file = dir / (code + ".nii");
    writeWithNibabel(file, "both", affine);
    const Geometry g = readVolume(file).geometry();
    EXPECT_EQ(g.orientationCode(), code);
    EXPECT_NEAR(g.origin[0], -affine[3], kNiftiMm) << code;
    EXPECT_NEAR(g.origin[1], -affine[7], kNiftiMm) << code;
    EXPECT_NEAR(g.origin[2], affine[11], kNiftiMm) << code;
  }
}

}  // namespace
}  // namespace mr2ct
