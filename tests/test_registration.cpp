// Registration, transforms and resampling on tiny synthetic images built here: a known rigid
// motion must be recovered, a 180°-turned pair must be found by the rotation search, and the
// resampling/reorientation helpers must move voxels exactly where the geometry says.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Registration.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

using test::rotationXYZ;

// A smooth "head": an ellipsoid with an off-centre bright blob, a dark blob and a "bone" shell, so
// no rotation maps it onto itself. `tissue` picks the contrast: MR-like or CT-like.
double smoothStep(double d, double width) { return 1.0 / (1.0 + std::exp(d / width)); }

double phantomValue(const Vec3& p, bool ctLike) {
  auto ell = [&](Vec3 c, Vec3 r) {
    const double q = std::sqrt(std::pow((p[0] - c[0]) / r[0], 2) + std::pow((p[1] - c[1]) / r[1], 2) +
                               std::pow((p[2] - c[2]) / r[2], 2));
    return smoothStep((q - 1.0) * std::min({r[0], r[1], r[2]}), 1.0);
  };
  // skull with a face: the face (anterior = -y in LPS) and the neck make it clearly asymmetric
  const double head = std::max({ell({0, 0, 4}, {40, 48, 34}), ell({0, -36, -14}, {18, 14, 16}),
                                ell({2, 8, -30}, {16, 16, 18})});
  const double brain = ell({0, 4, 8}, {34, 40, 26});
  const double blobA = ell({14, -16, 12}, {11, 9, 8});
  const double blobB = ell({-14, 18, 2}, {8, 12, 9});
  const double blobC = ell({4, -30, -14}, {7, 6, 6});
  if (ctLike)  // air, bone shell, soft tissue, a dense and a fatty blob
    return -1000 + 1000 * head + 800 * (head - brain) + 40 * brain + 600 * blobA - 100 * blobB + 300 * blobC;
  return 0 + 80 * head + 40 * brain - 60 * (head - brain) + 120 * blobA + 90 * blobB - 50 * blobC;
}

Geometry grid(std::size_t n, double spacing, Vec3 origin) {
  Geometry g;
  g.size = {n, n, n};
  g.spacing = {spacing, spacing, spacing};
  g.origin = origin;
  return g;
}

/// Samples the phantom so that moving(T(p)) = phantom(p): voxel q of `g` shows phantom(T⁻¹(q)).
Volume render(const Geometry& g, const SpatialTransform& fixedToMoving, bool ctLike) {
  const SpatialTransform inv = fixedToMoving.inverse();
  Volume v(g);
  for (std::size_t z = 0; z < g.size[2]; ++z)
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x)
        v.at(x, y, z) = float(phantomValue(inv.apply(g.indexToPhysical({double(x), double(y), double(z)})), ctLike));
  return v;
}

Mask headMask(const Geometry& g) {
  Mask m(g);
  for (std::size_t z = 0; z < g.size[2]; ++z)
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x)
        m.at(x, y, z) = phantomValue(g.indexToPhysical({double(x), double(y), double(z)}), false) > 40 ? 1 : 0;
  return m;
}

RegistrationOptions rigidOptions() {
  RegistrationOptions o;
  o.kind = RegistrationKind::Rigid;
  return o;
}

TEST(Registration, RecoversKnownRigidMotion) {
  const Geometry fixedGrid = grid(48, 2.5, {-58.75, -58.75, -58.75});
  const Geometry movingGrid = grid(44, 2.8, {-55, -62, -58});  // a different grid, like a real CT
  const SpatialTransform truth = SpatialTransform::rigid(rotationXYZ(0.10, -0.07, 0.12), {6.0, -4.5, 3.0});
  const Volume fixed = render(fixedGrid, SpatialTransform::identity(), false);
  const Volume moving = render(movingGrid, truth, true);
  const RegistrationResult r = registerImages(fixed, moving, rigidOptions());
  const double tre = r.transform.meanDistance(truth, headMask(fixedGrid));
  EXPECT_LT(tre, 0.35) << r.qa.toJson().dump();
  EXPECT_EQ(r.transform.kind(), "rigid");
  EXPECT_LT(r.qa.finalMetric, -0.1);
  EXPECT_EQ(r.qa.iterationsPerLevel.size(), 3u);
  EXPECT_GT(r.qa.meanDisplacementMm, 0.0);
}

TEST(Registration, IsDeterministicForAFixedSeed) {
  const Geometry g = grid(40, 3.0, {-58.5, -58.5, -58.5});
  const SpatialTransform truth = SpatialTransform::rigid(rotationXYZ(0.05, 0.02, -0.08), {3.0, 2.0, -4.0});
  const Volume fixed = render(g, SpatialTransform::identity(), false);
  const Volume moving = render(g, truth, true);
  RegistrationOptions o = rigidOptions();
  o.rotationSearch = false;
  const auto a = registerImages(fixed, moving, o), b = registerImages(fixed, moving, o);
  // Same seed, same samples: equal up to the summation order of ITK's threads.
  EXPECT_LT(a.transform.meanDistance(b.transform, g), 1e-3);
}

TEST(Registration, FindsAHeadFirstFeetFirstTurnWithoutAHandMadeStart) {
  const Geometry fixedGrid = grid(48, 2.5, {-58.75, -58.75, -58.75});
  const Geometry movingGrid = grid(48, 2.5, {-40, -70, -50});
  // 180° about y (feet-first vs head-first), plus a few degrees and a shift.
  const SpatialTransform truth = SpatialTransform::rigid(rotationXYZ(0.06, M_PI + 0.05, -0.04), {12.0, -8.0, 5.0});
  const Volume fixed = render(fixedGrid, SpatialTransform::identity(), false);
  const Volume moving = render(movingGrid, truth, true);
  const RegistrationResult r = registerImages(fixed, moving, rigidOptions());
  EXPECT_LT(r.transform.meanDistance(truth, headMask(fixedGrid)), 0.35) << r.qa.toJson().dump();
  EXPECT_NE(r.qa.initialisation.find("180° about y"), std::string::npos) << r.qa.initialisation;
  // Without the search the same pair ends far away: the search is what makes it work.
  RegistrationOptions noSearch = rigidOptions();
  noSearch.rotationSearch = false;
  const RegistrationResult bad = registerImages(fixed, moving, noSearch);
  EXPECT_GT(bad.transform.meanDistance(truth, headMask(fixedGrid)), 10.0);
}

TEST(Registration, AffineStageKeepsARigidAnswer) {
  const Geometry g = grid(40, 3.0, {-58.5, -58.5, -58.5});
  const SpatialTransform truth = SpatialTransform::rigid(rotationXYZ(-0.06, 0.04, 0.05), {-3.0, 5.0, 2.0});
  const Volume fixed = render(g, SpatialTransform::identity(), false);
  const Volume moving = render(g, truth, true);
  RegistrationOptions o;
  o.kind = RegistrationKind::Affine;
  o.rotationSearch = false;
  const auto r = registerImages(fixed, moving, o);
  EXPECT_EQ(r.transform.kind(), "affine");
  EXPECT_LT(r.transform.meanDistance(truth, headMask(g)), 0.6);
}

TEST(Registration, AlreadyAlignedPairStaysPut) {
  // MR and CT on one shared grid, truly aligned (like brainweb20-paired): registration must not
  // move the CT, and the QA displacement (from the chosen start) must say so.
  const Geometry g = grid(48, 2.5, {-58.75, -58.75, -58.75});
  const Volume fixed = render(g, SpatialTransform::identity(), false);
  const Volume moving = render(g, SpatialTransform::identity(), true);
  const Mask mask = headMask(g);
  const RegistrationResult r = registerImages(fixed, moving, rigidOptions(), &mask);
  EXPECT_LT(r.transform.meanDistance(SpatialTransform::identity(), mask), 0.3) << r.qa.toJson().dump();
  EXPECT_LT(r.qa.meanDisplacementMm, 0.3) << r.qa.toJson().dump();
}

TEST(Registration, AffineWithATightBodyMaskKeepsARigidAnswer) {
  // The body mask cut at the skin hides the outline; before the mask margin the affine stage
  // "improved" MI by rescaling the inside and ended 1.7 mm from this rigid truth (0.56 mm now).
  const Geometry g = grid(40, 3.0, {-58.5, -58.5, -58.5});
  const SpatialTransform truth = SpatialTransform::rigid(rotationXYZ(0.04, -0.05, 0.06), {2.0, -3.0, 4.0});
  const Volume fixed = render(g, SpatialTransform::identity(), false);
  const Volume moving = render(g, truth, true);
  const Mask mask = headMask(g);
  RegistrationOptions o;
  o.rotationSearch = false;
  o.kind = RegistrationKind::Affine;
  const RegistrationResult margin = registerImages(fixed, moving, o, &mask);
  EXPECT_LT(margin.transform.meanDistance(truth, mask), 0.8) << margin.qa.toJson().dump();
  o.maskMarginMm = 0;  // the old behaviour, for contrast: the tight mask is what made it drift
  const RegistrationResult tight = registerImages(fixed, moving, o, &mask);
  EXPECT_GT(tight.transform.meanDistance(truth, mask), 1.2) << tight.qa.toJson().dump();
}

// The B-spline tests use a textured phantom at 2 mm. On the smooth phantom alone the brain is flat
// (no metric can see a deformation there) and Mattes MI itself prefers a wrong warp: evaluated
// densely, MI at the true bending was -0.623 and at the unregularised answer -0.640. With tissue
// texture the deformation is observable, but MI still rewards warping the partial-volume edges:
// unregularised, the B-spline raises MI most and does not reduce the error at all (1.83 → 1.88 mm);
// the smoothness penalty is what makes the stage useful.
double textured(const Vec3& p, bool ctLike) {
  const double waves = std::sin(0.31 * p[0] + 0.17 * p[1] + 0.05 * p[2]) +
                       std::sin(-0.12 * p[0] + 0.29 * p[1] + 0.21 * p[2] + 1.0) +
                       std::sin(0.22 * p[0] - 0.08 * p[1] + 0.33 * p[2] + 2.0);
  const double q = std::sqrt(std::pow(p[0] / 40, 2) + std::pow(p[1] / 48, 2) + std::pow((p[2] - 4) / 34, 2));
  return phantomValue(p, ctLike) + smoothStep((q - 1.0) * 34, 1.0) * waves * (ctLike ? 60.0 : 15.0);
}

/// Voxel q of `g` shows the textured phantom at where(q).
template <class Where>
Volume renderTextured(const Geometry& g, bool ctLike, Where where) {
  Volume v(g);
  for (std::size_t z = 0; z < g.size[2]; ++z)
    for (std::size_t y = 0; y < g.size[1]; ++y)
      for (std::size_t x = 0; x < g.size[0]; ++x)
        v.at(x, y, z) = float(textured(where(g.indexToPhysical({double(x), double(y), double(z)})), ctLike));
  return v;
}

const Geometry kTexturedGrid = grid(60, 2.0, {-59, -59, -59});

TEST(Registration, BSplineAfterAffineImprovesMiAndKeepsARigidAnswer) {
  // A rigid truth: the B-spline stage may polish MI but must not drift away from where the affine
  // stage put the head (unregularised it drifted 0.3 → 1.0-1.5 mm on the smooth phantom).
  const Geometry& g = kTexturedGrid;
  const SpatialTransform truth = SpatialTransform::rigid(rotationXYZ(0.04, -0.05, 0.06), {2.0, -3.0, 4.0});
  const SpatialTransform inverse = truth.inverse();
  const Volume fixed = renderTextured(g, false, [](const Vec3& p) { return p; });
  const Volume moving = renderTextured(g, true, [&](const Vec3& p) { return inverse.apply(p); });
  const Mask mask = headMask(g);
  RegistrationOptions o;
  o.rotationSearch = false;
  o.kind = RegistrationKind::Affine;
  const RegistrationResult affine = registerImages(fixed, moving, o, &mask);
  o.kind = RegistrationKind::BSpline;
  const RegistrationResult bspline = registerImages(fixed, moving, o, &mask);
  EXPECT_EQ(bspline.transform.kind(), "composite");
  EXPECT_LT(bspline.qa.finalMetric, affine.qa.finalMetric);
  EXPECT_GT(bspline.qa.smoothnessPenalty, 0.0);
  const double affineError = affine.transform.meanDistance(truth, mask);
  const double bsplineError = bspline.transform.meanDistance(truth, mask);
  EXPECT_LT(affineError, 1.0) << affine.qa.toJson().dump();
  EXPECT_LT(bsplineError, affineError + 0.1) << "affine " << affineError << " mm; " << bspline.qa.toJson().dump();
}

/// A smooth, non-affine deformation (bending in x and y, ±3 mm): D(q) = q + u(q).
Vec3 bend(const Vec3& q) {
  return {q[0] + 3.0 * std::cos(M_PI * q[2] / 50.0), q[1] + 3.0 * std::cos(M_PI * q[0] / 50.0), q[2]};
}

TEST(Registration, BSplineStageRecoversASmoothDeformation) {
  // Moving voxel q shows the phantom at D(q), so the right mapping R satisfies D(R(p)) = p and the
  // error of any answer is |D(R(p)) - p| over the head (no inverse of D needed).
  const Geometry& g = kTexturedGrid;
  const Volume fixed = renderTextured(g, false, [](const Vec3& p) { return p; });
  const Volume moving = renderTextured(g, true, bend);
  const Mask mask = headMask(g);
  auto error = [&](const SpatialTransform& t) {
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t z = 0; z < g.size[2]; ++z)
      for (std::size_t y = 0; y < g.size[1]; ++y)
        for (std::size_t x = 0; x < g.size[0]; ++x) {
          if (!mask.at(x, y, z)) continue;
          const Vec3 p = g.indexToPhysical({double(x), double(y), double(z)});
          const Vec3 back = bend(t.apply(p));
          sum += std::sqrt(std::pow(back[0] - p[0], 2) + std::pow(back[1] - p[1], 2) + std::pow(back[2] - p[2], 2));
          ++n;
        }
    return sum / double(n);
  };
  RegistrationOptions o;
  o.rotationSearch = false;
  o.kind = RegistrationKind::Affine;
  const RegistrationResult affine = registerImages(fixed, moving, o, &mask);
  o.kind = RegistrationKind::BSpline;
  o.bsplineGridMm = 30.0;
  const RegistrationResult bspline = registerImages(fixed, moving, o, &mask);
  o.bsplineBending = 0;
  o.bsplineShrink = 0;
  const RegistrationResult free = registerImages(fixed, moving, o, &mask);
  const double affineError = error(affine.transform), bsplineError = error(bspline.transform),
               freeError = error(free.transform);
  // The bending is not affine: the affine answer keeps a clear error, the B-spline removes most of it.
  EXPECT_GT(affineError, 1.5) << affine.qa.toJson().dump();
  EXPECT_LT(bsplineError, 0.5 * affineError) << "affine " << affineError << " mm, bspline " << bsplineError
                                             << " mm; " << bspline.qa.toJson().dump();
  EXPECT_LT(bspline.qa.finalMetric, affine.qa.finalMetric);
  // Without the penalty MI rises further but the error does not fall: the regularisation is what works.
  EXPECT_LT(free.qa.finalMetric, bspline.qa.finalMetric);
  EXPECT_GT(freeError, bsplineError + 0.5) << "unregularised " << freeError << " mm";
}

TEST(Registration, MaskMarginGrowsTheMaskByWholeVoxelsPerAxis) {
  Geometry g = grid(11, 1.0, {0, 0, 0});
  g.spacing = {1.0, 2.0, 4.0};
  Mask m(g);
  m.at(5, 5, 5) = 1;
  const Mask grown = dilateMaskBox(m, 4.0);
  // ±4 voxels in x, ±2 in y, ±1 in z: a 9×5×3 box around the voxel, nothing else.
  EXPECT_EQ(grown.count(), 9u * 5u * 3u);
  EXPECT_EQ(grown.at(1, 3, 4), 1);
  EXPECT_EQ(grown.at(9, 7, 6), 1);
  EXPECT_EQ(grown.at(0, 5, 5), 0);
  EXPECT_EQ(grown.at(5, 2, 5), 0);
  EXPECT_EQ(grown.at(5, 5, 3), 0);
  EXPECT_EQ(m.count(), 1u);  // the input is untouched
  EXPECT_EQ(dilateMaskBox(m, 0.0).count(), 1u);
}

TEST(Registration, NoOverlapIsADataError) {
  const Geometry g = grid(24, 4.0, {-46, -46, -46});
  const Volume fixed = render(g, SpatialTransform::identity(), false);
  Geometry far = g;
  far.origin = {2000, 0, 0};
  const Volume moving = render(far, SpatialTransform::rigid({1, 0, 0, 0, 1, 0, 0, 0, 1}, {2046, 0, 0}), true);
  RegistrationOptions o = rigidOptions();
  o.alignCentres = false;
  o.rotationSearch = false;
  const std::string message = test::thrownMessage<DataError>([&] { registerImages(fixed, moving, o); });
  EXPECT_NE(message.find("overlap"), std::string::npos) << message;
}

TEST(Registration, FlatImageIsADataError) {
  const Geometry g = grid(16, 4.0, {0, 0, 0});
  const Volume fixed = render(g, SpatialTransform::identity(), false);
  const Volume flat(g, -1024.0f);
  EXPECT_THROW(registerImages(fixed, flat, rigidOptions()), DataError);
  EXPECT_THROW(registerImages(flat, fixed, rigidOptions()), DataError);
}

TEST(Registration, OptionsAreValidated) {
  RegistrationOptions o;
  o.shrinkFactors = {4, 2};
  EXPECT_THROW(o.validate(), UsageError);
  EXPECT_THROW(parseRegistrationKind("elastic"), UsageError);
  EXPECT_EQ(parseRegistrationKind("bspline"), RegistrationKind::BSpline);
  EXPECT_EQ(RegistrationOptions().toJson()["kind"], "affine");
}

TEST(SpatialTransform, SaveLoadRoundTrip) {
  test::TempDir dir;
  const SpatialTransform rigid = SpatialTransform::rigid(rotationXYZ(0.3, -0.2, 1.1), {1.5, -2.0, 7.0}, {10, 20, 30});
  const SpatialTransform affine = SpatialTransform::affine({1.1, 0.05, 0, -0.02, 0.95, 0.01, 0, 0.03, 1.02}, {3, 2, 1});
  for (const auto& t : {rigid, affine}) {
    const auto path = dir / ("t_" + t.kind() + ".tfm");
    t.save(path);
    const SpatialTransform back = SpatialTransform::load(path);
    EXPECT_EQ(back.kind(), t.kind());
    for (const Vec3& p : {Vec3{0, 0, 0}, Vec3{-50, 20, 80}, Vec3{100, -100, 3}}) {
      const Vec3 a = t.apply(p), b = back.apply(p);
      for (int i = 0; i < 3; ++i) EXPECT_NEAR(a[i], b[i], 1e-9);
    }
  }
  // no temporary left behind
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 2u);
  EXPECT_THROW(SpatialTransform::load(dir / "missing.tfm"), IoError);
}

// ITK 5.2's TransformFileWriter registers every transform class in its constructor, unguarded;
// `preprocess --jobs 2` saved two cases' transforms at once and crashed in that registration
// (std::multimap insert). ctest runs each test in a fresh process, so this one does the process's
// first save, from many threads at one moment.
TEST(SpatialTransform, SavesFromManyThreadsAtOnce) {
  constexpr int kThreads = 8;
  test::TempDir dir;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      const SpatialTransform t = SpatialTransform::rigid(rotationXYZ(0.1 * i, 0, 0), {double(i), 0, 0}, {0, 0, 0});
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      t.save(dir / ("t" + std::to_string(i) + ".tfm"));
    });
  for (auto& th : threads) th.join();
  for (int i = 0; i < kThreads; ++i) {
    const Vec3 q = SpatialTransform::load(dir / ("t" + std::to_string(i) + ".tfm")).apply({0, 0, 0});
    EXPECT_NEAR(q[0], double(i), 1e-9) << i;
  }
}

TEST(SpatialTransform, InverseAndComposition) {
  const SpatialTransform t = SpatialTransform::rigid(rotationXYZ(0.4, 0.1, -0.3), {5, -6, 7}, {1, 2, 3});
  const SpatialTransform id = t.after(t.inverse());
  EXPECT_EQ(id.kind(), "identity");  // judged by content: the composition is exactly the identity
  EXPECT_EQ(t.after(t).kind(), "rigid");
  const Vec3 p{12, -34, 56};
  const Vec3 q = id.apply(p);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(q[i], p[i], 1e-9);
  EXPECT_THROW(SpatialTransform::rigid({2, 0, 0, 0, 1, 0, 0, 0, 1}, {0, 0, 0}), DataError);
  EXPECT_EQ(SpatialTransform::identity().kind(), "identity");
}

TEST(Resampling, IdentityReproducesValuesAtCoincidingVoxelCentres) {
  const Volume v = test::makeIdentifiableVolume({7, 5, 4});
  const Volume same = resampleVolume(v, v.geometry(), SpatialTransform::identity());
  EXPECT_EQ(same.voxels(), v.voxels());
  // A sub-grid starting at voxel (2, 1, 1): values are the original's, shifted.
  Geometry sub = v.geometry();
  sub.size = {4, 3, 2};
  sub.origin = v.geometry().indexToPhysical({2, 1, 1});
  for (auto interp : {Interpolation::Nearest, Interpolation::Linear, Interpolation::BSpline}) {
    const Volume s = resampleVolume(v, sub, SpatialTransform::identity(), interp, -1.0f);
    for (std::size_t z = 0; z < 2; ++z)
      for (std::size_t y = 0; y < 3; ++y)
        for (std::size_t x = 0; x < 4; ++x) EXPECT_NEAR(s.at(x, y, z), v.at(x + 2, y + 1, z + 1), 1e-2);
  }
  // Outside the moving image: the outside value.
  Geometry away = sub;
  away.origin = v.geometry().indexToPhysical({50, 0, 0});
  const Volume o = resampleVolume(v, away, SpatialTransform::identity(), Interpolation::Linear, -1024.0f);
  EXPECT_EQ(o.range().min, -1024.0f);
  EXPECT_EQ(o.range().max, -1024.0f);
}

TEST(Resampling, FieldOfViewMask) {
  const Geometry moving = grid(10, 1.0, {0, 0, 0});
  const Geometry target = grid(20, 1.0, {-5, -5, -5});
  const Mask m = fieldOfViewMask(moving, target, SpatialTransform::identity());
  EXPECT_EQ(m.count(), 1000u);
  EXPECT_EQ(m.at(5, 5, 5), 1);
  EXPECT_EQ(m.at(14, 14, 14), 1);
  EXPECT_EQ(m.at(4, 5, 5), 0);
  EXPECT_EQ(m.at(15, 5, 5), 0);
  // Fixed→moving shift of +3 mm in x: target x index i maps to moving x = i − 5 + 3.
  const Mask shifted = fieldOfViewMask(moving, target, SpatialTransform::rigid({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 0, 0}));
  EXPECT_EQ(shifted.count(), 1000u);
  EXPECT_EQ(shifted.at(2, 5, 5), 1);
  EXPECT_EQ(shifted.at(11, 5, 5), 1);
  EXPECT_EQ(shifted.at(12, 5, 5), 0);
  // The mask agrees with where resampling produced real data.
  Volume ones(moving, 1.0f);
  const Volume r = resampleVolume(ones, target, SpatialTransform::rigid({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 0, 0}),
                                  Interpolation::Linear, 0.0f);
  for (std::size_t i = 0; i < r.voxelCount(); ++i) EXPECT_EQ(r.data()[i] > 0.5f, shifted.data()[i] == 1) << i;
}

TEST(Resampling, WithSpacingKeepsTheExtent) {
  const Geometry g = grid(10, 1.0, {0, 0, 0});
  const Geometry h = withSpacing(g, {2.0, 2.0, 0.5});
  EXPECT_EQ(h.size, (std::array<std::size_t, 3>{5, 5, 20}));
  EXPECT_NEAR(h.origin[0], 0.5, 1e-12);  // corner at -0.5 stays
  EXPECT_NEAR(h.origin[2], -0.25, 1e-12);
  EXPECT_THROW(withSpacing(g, {0, 1, 1}), UsageError);
}

TEST(Resampling, ReorientToLpsRoundTrip) {
  const Volume v = test::makeIdentifiableVolume({7, 5, 3});
  const Volume r = reorientToLps(v);
  for (int i = 0; i < 3; ++i) EXPECT_GT(r.geometry().direction[i * 4], 0.9);
  EXPECT_EQ(r.voxelCount(), v.voxelCount());
  const Volume back = resampleVolume(r, v.geometry(), SpatialTransform::identity(), Interpolation::Nearest);
  EXPECT_EQ(back.voxels(), v.voxels());
  // An axis permutation too.
  Volume p = test::makeIdentifiableVolume({4, 6, 5});
  Geometry g = p.geometry();
  g.direction = {0, 0, 1, -1, 0, 0, 0, -1, 0};
  p.setGeometry(g);
  const Volume rp = reorientToLps(p);
  EXPECT_EQ(rp.geometry().direction, (Mat3{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(rp.size(), (std::array<std::size_t, 3>{5, 4, 6}));
  const Volume pb = resampleVolume(rp, p.geometry(), SpatialTransform::identity(), Interpolation::Nearest);
  EXPECT_EQ(pb.voxels(), p.voxels());
  const Mask mask(p.geometry(), 1);
  EXPECT_EQ(reorientToLps(mask).count(), mask.count());
}

}  // namespace
}  // namespace mr2ct
