// Rigid stage: a small versor rigid transform about the fixed image's centre, optimised on top of
// the initial rigid transform (kept fixed and composed), so starts turned by 90° or 180° never sit
// on the versor parameterisation's singularity at 180°.
#include <itkVersorRigid3DTransform.h>

#include "RegistrationStage.h"

namespace mr2ct::registration {

SpatialTransform rigidStage(const Images& images, const SpatialTransform& initial, const Schedule& schedule,
                            StageReport& report) {
  using Versor = itk::VersorRigid3DTransform<double>;
  const Vec3 c = geometryOf(images.fixed.GetPointer()).center();
  auto t = Versor::New();
  Versor::InputPointType centre;
  for (int i = 0; i < 3; ++i) centre[i] = c[i];
  t->SetCenter(centre);
  t->SetIdentity();
  t->SetCenter(centre);
  // A plain rigid copy of the start (an ITK composite would also do; this keeps the result simple).
  const SpatialTransform start = SpatialTransform::rigid(initial.matrix(), initial.offset());
  runGradientStage<Versor>(images, t.GetPointer(), schedule, report, "rigid", &start);
  const SpatialTransform small = SpatialTransform::fromItk(t.GetPointer());
  const SpatialTransform full = start.after(small);
  return full;
}

}  // namespace mr2ct::registration
