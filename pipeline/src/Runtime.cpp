#include "mr2ct/pipeline/Runtime.h"

#include <itkMultiThreaderBase.h>

#include <thread>

#include "mr2ct/models/Runtime.h"

namespace mr2ct {

void configureRuntime(int threads) {
  const int n = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
  setTorchThreads(n);
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(n);
  itk::MultiThreaderBase::SetGlobalMaximumNumberOfThreads(std::max(n, 1));
}

void configureProcess() { tuneMallocForTensors(); }

}  // namespace mr2ct
