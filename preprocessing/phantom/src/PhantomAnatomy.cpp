// The analytic head anatomy of the phantom. Head frame: LPS mm relative to the CT grid centre
// (x to the patient's left, y posterior, z superior). Shapes are ellipsoids and layers measured as
// depth below their surfaces, bent by a smooth random deformation, so every case differs smoothly.
#include <algorithm>
#include <cmath>

#include "PhantomInternal.h"
#include "mr2ct/phantom/HeadPhantom.h"

namespace mr2ct::phantom {

namespace {
double sq(double x) { return x * x; }
}  // namespace

HeadAnatomy::HeadAnatomy(const Vec3& centre, const Vec3& lo, const Vec3& hi, Random& rng) : centre_(centre) {
  // Head and its soft layers.
  const Vec3 scale{rng.uniform(0.93, 1.04), rng.uniform(0.93, 1.04), rng.uniform(0.94, 1.03)};
  head_.c = {rng.uniform(-2, 2), rng.uniform(-2, 2), -12 + rng.uniform(-2, 2)};
  head_.a = {70 * scale[0], 85 * scale[1], 77 * scale[2]};
  skin_ = rng.uniform(1.3, 2.0);
  fat_ = rng.uniform(2.5, 4.5);
  bone_ = rng.uniform(5.5, 7.5);
  // Inner table of the skull: the head shrunk by the soft layers, the bone and a thin muscle layer
  // (thicker at the temples, where the temporal muscle lies).
  const double soft = skin_ + fat_ + 1.0;
  cavity_.c = {head_.c[0], head_.c[1] + 2, head_.c[2] + 1};
  cavity_.a = {head_.a[0] - soft - bone_ - rng.uniform(3, 6), head_.a[1] - soft - bone_ - 2,
               head_.a[2] - soft - bone_ - 1};
  // Skull base: a plane rising towards the face (anterior fossa above the orbits, posterior fossa low).
  floorZ0_ = rng.uniform(-22, -16);
  floorSlope_ = rng.uniform(0.26, 0.34);
  csf_ = rng.uniform(1.5, 3.0);
  grey_ = rng.uniform(2.5, 3.5);
  for (int i = 0; i < 3; ++i) {
    gyriFreq_[i] = 2 * M_PI / rng.uniform(11, 16);
    gyriPhase_[i] = rng.uniform(0, 2 * M_PI);
  }
  // Lateral ventricles and deep grey nuclei.
  const double vs = rng.uniform(0.75, 1.3);
  for (int s = 0; s < 2; ++s) {
    const double side = s == 0 ? -1 : 1;
    ventricles_[s].c = {side * rng.uniform(6, 9), cavity_.c[1] + rng.uniform(0, 6), cavity_.c[2] + rng.uniform(18, 24)};
    ventricles_[s].a = {4.5 * vs, 22 * vs, 7 * vs};
    deepGrey_[s].c = {side * 13, cavity_.c[1] + 8, ventricles_[s].c[2] - 14};
    deepGrey_[s].a = {7, 10, 7};
  }
  // Eyes: 12-14 mm behind the face surface, below the anterior skull base.
  const double eyeR = rng.uniform(11.3, 12.5), eyeX = rng.uniform(29, 33);
  const double eyeZ = floorZ0_ + floorSlope_ * 60.0 - 24 + rng.uniform(-2, 2);
  for (int s = 0; s < 2; ++s) {
    const double x = (s == 0 ? -1 : 1) * eyeX;
    // front surface of the head at (x, eyeZ)
    const double f = 1 - sq((x - head_.c[0]) / head_.a[0]) - sq((eyeZ - head_.c[2]) / head_.a[2]);
    const double yFace = head_.c[1] - head_.a[1] * std::sqrt(std::max(0.05, f));
    eyes_[s].c = {x, yFace + eyeR + rng.uniform(1.5, 3.0), eyeZ};
    eyes_[s].a = {eyeR, eyeR, eyeR};
  }
  orbitFat_ = rng.uniform(3.5, 5.0);
  orbitBone_ = 2.0;
  // Sinuses: frontal (in the frontal bone above the nose), sphenoid/nasal (midline, below the skull
  // base) and the two maxillary sinuses below the orbits. Each gets a thin bone wall.
  const double ss = rng.uniform(0.8, 1.2);
  const double yFront = cavity_.c[1] - cavity_.a[1];
  sinuses_[0].c = {0, yFront - 2, eyeZ + 24};
  sinuses_[0].a = {11 * ss, 4.5, 8 * ss};
  sinuses_[1].c = {0, eyes_[0].c[1] + 18, eyeZ - 6};
  sinuses_[1].a = {9 * ss, 16 * ss, 11 * ss};
  for (int s = 0; s < 2; ++s) {
    sinuses_[2 + s].c = {(s == 0 ? -24.0 : 24.0), eyes_[s].c[1] + 6, eyeZ - 26};
    sinuses_[2 + s].a = {11 * ss, 13 * ss, 13 * ss};
  }
  // Ear canals: horizontal tubes from the side of the head, wrapped in dense (petrous) bone.
  earY_ = head_.c[1] + rng.uniform(4, 12);
  earZ_ = eyeZ - rng.uniform(4, 10);
  earRadius_ = rng.uniform(3.0, 4.0);
  earDepth_ = rng.uniform(22, 28);
  // Smooth shape variation (a few mm) and smooth thickness variation of fat and bone.
  deformMm_ = rng.uniform(2.0, 4.0);
  for (auto& f : deform_) f = SmoothField(lo, hi, 45.0, rng);
  fatVar_ = SmoothField(lo, hi, 25.0, rng);
  boneVar_ = SmoothField(lo, hi, 20.0, rng);

  params_ = {{"head_axes_mm", head_.a},   {"head_centre_mm", head_.c}, {"skin_mm", skin_},
             {"fat_mm", fat_},            {"skull_mm", bone_},         {"csf_mm", csf_},
             {"grey_mm", grey_},          {"ventricle_scale", vs},     {"eye_radius_mm", eyeR},
             {"sinus_scale", ss},         {"ear_radius_mm", earRadius_}, {"deformation_mm", deformMm_},
             {"skull_base_z0_mm", floorZ0_}, {"skull_base_slope", floorSlope_}};
}

std::uint8_t HeadAnatomy::label(const Vec3& p) const {
  Vec3 q{p[0] - centre_[0], p[1] - centre_[1], p[2] - centre_[2]};
  for (int i = 0; i < 3; ++i) q[i] += deformMm_ * deform_[i].at(p);

  const double r0 = head_.radius(q);
  if (r0 >= 1.0) return kAir;
  const double d0 = head_.depth(q);

  // Ear canals open to the outside, so they come before the skin.
  const double xSurf = head_.a[0] * std::sqrt(std::max(0.0, 1 - sq((q[1] - head_.c[1]) / head_.a[1]) -
                                                           sq((q[2] - head_.c[2]) / head_.a[2])));
  const double ax = std::abs(q[0] - head_.c[0]);
  const double rEar = std::sqrt(sq(q[1] - earY_) + sq(q[2] - earZ_));
  if (ax > xSurf - earDepth_) {
    if (rEar < earRadius_) return kInternalAir;
    if (rEar < earRadius_ + 3.5 && ax < xSurf - 8) return kCorticalBone;
  }

  if (d0 < skin_) return kSkin;
  if (d0 < skin_ + fat_ * (1 + 0.35 * fatVar_.at(p))) return kFat;

  // Eyes in their orbits: eye, orbital fat, a bony wall behind the equator.
  for (const auto& e : eyes_) {
    const double re = e.radius(q) * e.a[0];  // sphere: distance from the centre in mm
    if (re < e.a[0]) return kEye;
    if (re < e.a[0] + orbitFat_) return kFat;
    if (re < e.a[0] + orbitFat_ + orbitBone_ && q[1] > e.c[1] - 3) return kCorticalBone;
  }
  // Sinuses: air in a 2 mm bone wall.
  for (const auto& s : sinuses_) {
    const double d = s.depth(q);
    if (d > 0) return kInternalAir;
    if (d > -2.0) return kCorticalBone;
  }

  // Skull and what it holds: depth into the cranial cavity (ellipsoid cut by the skull base).
  const double floorZ = floorZ0_ - floorSlope_ * (q[1] - head_.c[1]);
  const double s = std::min(cavity_.depth(q), q[2] - floorZ);
  const double bone = bone_ * (1 + 0.15 * boneVar_.at(p));
  if (s <= -bone) return kMuscle;
  if (s <= 0) {
    // Outer and inner tables (cortical) around the diploë (marrow).
    const double table = std::min(2.0, bone / 3.2);
    if (s > -table || s <= -bone + table) return kCorticalBone;
    return kMarrow;
  }
  for (const auto& v : ventricles_)
    if (v.radius(q) < 1) return kCsf;
  for (const auto& g : deepGrey_)
    if (g.radius(q) < 1) return kGreyMatter;
  // Interhemispheric fissure (CSF along the midline from the top).
  if (std::abs(q[0] - head_.c[0]) < 1.0 && q[2] > cavity_.c[2] - 5 && s < 30) return kCsf;
  if (s < csf_) return kCsf;
  // Cortex with gyri: grey matter thickness and sulcal CSF follow a folded pattern.
  const double g = std::sin(gyriFreq_[0] * q[0] + gyriPhase_[0]) * std::sin(gyriFreq_[1] * q[1] + gyriPhase_[1]) *
                   std::sin(gyriFreq_[2] * q[2] + gyriPhase_[2]);
  if (g < -0.55 && s < csf_ + grey_) return kCsf;  // a sulcus
  if (s < csf_ + grey_ * (1.0 + 0.6 * g) + 1.0) return kGreyMatter;
  return kWhiteMatter;
}

Volume HeadAnatomy::labels(const Geometry& grid, const Mat3* rotation, const Vec3* translation,
                           const Vec3* rotationCentre) const {
  Volume out(grid);
  float* d = out.data();
  const auto& n = grid.size;
  for (std::size_t z = 0; z < n[2]; ++z)
    for (std::size_t y = 0; y < n[1]; ++y)
      for (std::size_t x = 0; x < n[0]; ++x) {
        Vec3 p = grid.indexToPhysical({double(x), double(y), double(z)});
        if (rotation) {  // p ↦ R·(p − c) + c + t
          const Vec3& c = *rotationCentre;
          const Vec3 v{p[0] - c[0], p[1] - c[1], p[2] - c[2]};
          const Mat3& R = *rotation;
          for (int i = 0; i < 3; ++i)
            p[i] = R[i * 3] * v[0] + R[i * 3 + 1] * v[1] + R[i * 3 + 2] * v[2] + c[i] + (*translation)[i];
        }
        d[grid.linearIndex(x, y, z)] = float(label(p));
      }
  return out;
}

}  // namespace mr2ct::phantom
