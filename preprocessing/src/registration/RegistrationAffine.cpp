// Affine stage: refines the rigid result with scaling and shear (12 parameters) about the fixed
// image's centre.
#include <itkAffineTransform.h>

#include "RegistrationStage.h"

namespace mr2ct::registration {

SpatialTransform affineStage(const Images& images, const SpatialTransform& initial, const Schedule& schedule,
                             StageReport& report) {
  using Affine = itk::AffineTransform<double, 3>;
  const Mat3 a = initial.matrix();
  const Vec3 o = initial.offset();
  const Vec3 c = geometryOf(images.fixed.GetPointer()).center();
  auto t = Affine::New();
  Affine::MatrixType m;
  Affine::InputPointType centre;
  Affine::OutputVectorType translation;
  for (int i = 0; i < 3; ++i) {
    centre[i] = c[i];
    double ac = 0;
    for (int j = 0; j < 3; ++j) {
      m(i, j) = a[i * 3 + j];
      ac += a[i * 3 + j] * c[j];
    }
    translation[i] = o[i] + ac - c[i];
  }
  t->SetCenter(centre);
  t->SetMatrix(m);
  t->SetTranslation(translation);
  runGradientStage<Affine>(images, t.GetPointer(), schedule, report, "affine");
  return SpatialTransform::fromItk(t.GetPointer());
}

}  // namespace mr2ct::registration
