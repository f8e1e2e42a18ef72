#include "mr2ct/pipeline/Runtime.h"

#include <itkMultiThreaderBase.h>
#include <itkObject.h>

#include "mr2ct/core/Log.h"

#include <thread>

#include "mr2ct/models/Runtime.h"

namespace mr2ct {

void configureRuntime(int threads) {
  const int n = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
  setTorchThreads(n);
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(n);
  itk::MultiThreaderBase::SetGlobalMaximumNumberOfThreads(std::max(n, 1));
  // ITK's warnings (e.g. GDCM's "No Series were found") only with --verbose: every failure reaches
  // the user as one mr2ct error line instead.
  itk::Object::SetGlobalWarningDisplay(spdlog::get_level() <= spdlog::level::debug);
}

void configureProcess() { tuneMallocForTensors(); }

}  // namespace mr2ct
