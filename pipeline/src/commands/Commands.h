#pragma once
// One factory per subcommand, each defined in its own file in this folder.
#include "mr2ct/pipeline/Command.h"

namespace mr2ct {

Command infoCommand();

}  // namespace mr2ct
