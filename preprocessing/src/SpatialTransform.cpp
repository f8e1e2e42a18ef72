// SpatialTransform: a shared, immutable handle on an itk::Transform<double,3,3>.
// Linear transforms are handled through their matrix/offset (read back by transforming four
// points, which works for every linear ITK class, composites of linear ones included).
#include "mr2ct/preprocessing/SpatialTransform.h"

#include <itkAffineTransform.h>
#include <itkCompositeTransform.h>
#include <itkEuler3DTransform.h>
#include <itkIdentityTransform.h>
#include <itkTransformFactoryBase.h>
#include <itkTransformFileReader.h>
#include <itkTransformFileWriter.h>
#include <itkVersorRigid3DTransform.h>

#include <algorithm>
#include <cmath>
#include <mutex>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"

namespace mr2ct {

using ItkTransformBase = itk::Transform<double, 3, 3>;

struct SpatialTransform::Impl {
  ItkTransformBase::Pointer transform;  // never modified after construction
};

namespace {

using Affine = itk::AffineTransform<double, 3>;
using Versor = itk::VersorRigid3DTransform<double>;

std::shared_ptr<const SpatialTransform::Impl> wrap(ItkTransformBase::Pointer t) {
  auto impl = std::make_shared<SpatialTransform::Impl>();
  impl->transform = std::move(t);
  return impl;
}

bool isRotation(const Mat3& m, double tol) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double dot = 0;
      for (int k = 0; k < 3; ++k) dot += m[k * 3 + i] * m[k * 3 + j];
      if (std::abs(dot - (i == j ? 1.0 : 0.0)) > tol) return false;
    }
  return determinant(m) > 0;
}

bool isRigidClass(const std::string& name) {
  return name.find("Euler3D") != std::string::npos || name.find("VersorRigid3D") != std::string::npos ||
         name.find("Rigid3D") != std::string::npos || name.find("TranslationTransform") != std::string::npos;
}

// ITK's transform factories must know the classes a file may contain; registering is idempotent
// but not thread-safe, hence the once-flag. ITK 5.2's TransformFileReader and TransformFileWriter
// constructors register too (unguarded): call this before creating either, so theirs finds the
// registration done.
void registerTransformFactories() {
  static std::once_flag once;
  std::call_once(once, [] { itk::TransformFactoryBase::RegisterDefaultTransforms(); });
}

}  // namespace

SpatialTransform::SpatialTransform() {
  auto t = Affine::New();
  t->SetIdentity();
  impl_ = wrap(t.GetPointer());
}

SpatialTransform SpatialTransform::identity() { return SpatialTransform(); }

SpatialTransform SpatialTransform::rigid(const Mat3& rotation, const Vec3& translation, const Vec3& center) {
  if (!isRotation(rotation, 1e-6))
    throw DataError("rigid transform: the matrix is not a rotation (orthonormal with determinant +1)");
  auto t = Versor::New();
  Versor::MatrixType m;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m(r, c) = rotation[r * 3 + c];
  Versor::InputPointType c0;
  Versor::OutputVectorType tr;
  for (int i = 0; i < 3; ++i) {
    c0[i] = center[i];
    tr[i] = translation[i];
  }
  t->SetCenter(c0);
  t->SetMatrix(m, 1e-6);
  t->SetTranslation(tr);
  SpatialTransform s;
  s.impl_ = wrap(t.GetPointer());
  return s;
}

SpatialTransform SpatialTransform::affine(const Mat3& matrix, const Vec3& translation, const Vec3& center) {
  if (std::abs(determinant(matrix)) < 1e-12) throw DataError("affine transform: the matrix is singular");
  auto t = Affine::New();
  Affine::MatrixType m;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m(r, c) = matrix[r * 3 + c];
  Affine::InputPointType c0;
  Affine::OutputVectorType tr;
  for (int i = 0; i < 3; ++i) {
    c0[i] = center[i];
    tr[i] = translation[i];
  }
  t->SetCenter(c0);
  t->SetMatrix(m);
  t->SetTranslation(tr);
  SpatialTransform s;
  s.impl_ = wrap(t.GetPointer());
  return s;
}

SpatialTransform SpatialTransform::fromItk(const ItkTransform* transform) {
  if (!transform) throw Error("SpatialTransform::fromItk: null transform");
  SpatialTransform s;
  // Shared ownership through ITK's intrusive count; we never modify it.
  s.impl_ = wrap(const_cast<ItkTransform*>(transform));
  return s;
}

SpatialTransform SpatialTransform::load(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) throw IoError(path.string(), "transform file not found");
  registerTransformFactories();
  auto reader = itk::TransformFileReaderTemplate<double>::New();
  reader->SetFileName(path.string());
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw IoError(path.string(), std::string("cannot read the transform: ") + e.GetDescription());
  }
  const auto* list = reader->GetTransformList();
  if (!list || list->empty()) throw IoError(path.string(), "the file holds no transform");
  std::vector<ItkTransformBase::Pointer> transforms;
  for (const auto& t : *list) {
    auto* t3 = dynamic_cast<ItkTransformBase*>(t.GetPointer());
    if (!t3) throw IoError(path.string(), "not a 3D double-precision transform: " + std::string(t->GetNameOfClass()));
    transforms.push_back(t3);
  }
  SpatialTransform s;
  if (transforms.size() == 1 || std::string(transforms.front()->GetNameOfClass()) == "CompositeTransform") {
    s.impl_ = wrap(transforms.front());
  } else {
    // A plain list: ITK's convention is that the file lists them in the order a composite holds them.
    auto composite = itk::CompositeTransform<double, 3>::New();
    for (auto& t : transforms) composite->AddTransform(t);
    s.impl_ = wrap(composite.GetPointer());
  }
  return s;
}

void SpatialTransform::save(const std::filesystem::path& path) const {
  registerTransformFactories();
  writeAtomically(path, [&](const std::filesystem::path& tmp) {
    auto writer = itk::TransformFileWriterTemplate<double>::New();
    writer->SetFileName(tmp.string());
    writer->SetInput(impl_->transform);
    try {
      writer->Update();
    } catch (const itk::ExceptionObject& e) {
      throw IoError(path.string(), std::string("cannot write the transform: ") + e.GetDescription());
    }
  });
}

Vec3 SpatialTransform::apply(const Vec3& point) const {
  ItkTransformBase::InputPointType p;
  for (int i = 0; i < 3; ++i) p[i] = point[i];
  const auto q = impl_->transform->TransformPoint(p);
  return {q[0], q[1], q[2]};
}

bool SpatialTransform::isLinear() const { return impl_->transform->IsLinear(); }

std::string SpatialTransform::kind() const {
  const std::string name = impl_->transform->GetNameOfClass();
  if (name == "IdentityTransform") return "identity";
  if (name == "CompositeTransform") return "composite";
  if (name.find("BSpline") != std::string::npos) return "bspline";
  if (isLinear()) {
    const Mat3 m = matrix();
    const Vec3 o = offset();
    bool ident = true;
    for (int i = 0; i < 9; ++i) ident = ident && std::abs(m[i] - ((i % 4 == 0) ? 1.0 : 0.0)) < 1e-12;
    for (int i = 0; i < 3; ++i) ident = ident && std::abs(o[i]) < 1e-9;
    if (ident) return "identity";
    return isRigidClass(name) ? "rigid" : "affine";
  }
  return "nonlinear";
}

Vec3 SpatialTransform::offset() const {
  if (!isLinear()) throw DataError("offset(): the transform is not linear (" + kind() + ")");
  return apply({0, 0, 0});
}

Mat3 SpatialTransform::matrix() const {
  if (!isLinear()) throw DataError("matrix(): the transform is not linear (" + kind() + ")");
  const Vec3 o = apply({0, 0, 0});
  Mat3 m{};
  for (int c = 0; c < 3; ++c) {
    Vec3 e{0, 0, 0};
    e[c] = 1;
    const Vec3 q = apply(e);
    for (int r = 0; r < 3; ++r) m[r * 3 + c] = q[r] - o[r];
  }
  return m;
}

SpatialTransform SpatialTransform::inverse() const {
  if (!isLinear()) throw DataError("cannot invert a " + kind() + " transform exactly");
  const Mat3 m = matrix();
  const Vec3 o = offset();
  const double d = determinant(m);
  if (std::abs(d) < 1e-12) throw DataError("the transform is not invertible (singular matrix)");
  const Mat3 inv = mr2ct::inverse(m);
  Vec3 t{};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) t[r] -= inv[r * 3 + c] * o[c];
  const std::string k = kind();
  if (k == "identity") return identity();
  if (k == "rigid" && isRotation(inv, 1e-6)) return rigid(inv, t);
  return affine(inv, t);
}

SpatialTransform SpatialTransform::after(const SpatialTransform& first) const {
  if (isLinear() && first.isLinear()) {
    const Mat3 a = matrix(), b = first.matrix();
    const Vec3 oa = offset(), ob = first.offset();
    const Mat3 m = multiply(a, b);
    Vec3 t = oa;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) t[r] += a[r * 3 + c] * ob[c];
    const std::string ka = kind(), kb = first.kind();
    const bool rigidBoth = (ka == "rigid" || ka == "identity") && (kb == "rigid" || kb == "identity");
    if (ka == "identity" && kb == "identity") return identity();
    if (rigidBoth && isRotation(m, 1e-6)) return rigid(m, t);
    return affine(m, t);
  }
  // ITK's composite applies the most recently added transform first.
  auto composite = itk::CompositeTransform<double, 3>::New();
  composite->AddTransform(impl_->transform);
  composite->AddTransform(first.impl_->transform);
  SpatialTransform s;
  s.impl_ = wrap(composite.GetPointer());
  return s;
}

double SpatialTransform::meanDistance(const SpatialTransform& other, const Geometry& grid,
                                      std::size_t maxPoints) const {
  return meanDistance(other, grid, nullptr, maxPoints);
}

double SpatialTransform::meanDistance(const SpatialTransform& other, const Mask& mask, std::size_t maxPoints) const {
  return meanDistance(other, mask.geometry(), mask.data(), maxPoints);
}

double SpatialTransform::meanDistance(const SpatialTransform& other, const Geometry& grid,
                                      const std::uint8_t* mask, std::size_t maxPoints) const {
  const std::size_t n = grid.voxelCount();
  if (n == 0) return 0.0;
  // A regular stride per axis so that at most maxPoints points are visited.
  std::size_t stride = 1;
  while (n / (stride * stride * stride) > std::max<std::size_t>(maxPoints, 1)) ++stride;
  double sum = 0;
  std::size_t count = 0;
  for (std::size_t z = stride / 2; z < grid.size[2]; z += stride)
    for (std::size_t y = stride / 2; y < grid.size[1]; y += stride)
      for (std::size_t x = stride / 2; x < grid.size[0]; x += stride) {
        if (mask && !mask[grid.linearIndex(x, y, z)]) continue;
        const Vec3 p = grid.indexToPhysical({double(x), double(y), double(z)});
        const Vec3 a = apply(p), b = other.apply(p);
        sum += std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
        ++count;
      }
  if (count == 0) throw DataError("meanDistance: no point of the grid lies inside the mask");
  return sum / double(count);
}

const SpatialTransform::ItkTransform* SpatialTransform::itk() const { return impl_->transform.GetPointer(); }

}  // namespace mr2ct
