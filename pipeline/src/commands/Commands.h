#pragma once
// One factory per subcommand, each defined in its own file in this folder.
#include "mr2ct/pipeline/Command.h"

namespace mr2ct {

Command infoCommand();
Command runCommand();
Command phantomCommand();
Command demoCommand();
Command manifestCommand();
Command preprocessCommand();
Command mergeStoresCommand();
Command trainCommand();
Command convertCommand();
Command evaluateCommand();
Command baselineCommand();
Command likelihoodCommand();

}  // namespace mr2ct
