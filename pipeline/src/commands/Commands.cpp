// The one place where subcommands are registered.
#include "Commands.h"

namespace mr2ct {

const std::vector<Command>& allCommands() {
  static const std::vector<Command> commands{
      infoCommand(),
      runCommand(),
      phantomCommand(),
      demoCommand(),
      manifestCommand(),
      preprocessCommand(),
      mergeStoresCommand(),
      trainCommand(),
      convertCommand(),
      evaluateCommand(),
      baselineCommand(),
      likelihoodCommand(),
  };
  return commands;
}

}  // namespace mr2ct
