// The `mr2ct` executable: a thin entry over the pipeline library.
#include <iostream>

#include "mr2ct/pipeline/Command.h"
#include "mr2ct/pipeline/Runtime.h"

int main(int argc, char** argv) {
  mr2ct::configureProcess();
  return mr2ct::runCli(argc, argv, std::cout, std::cerr);
}
