#pragma once
// Logging goes through spdlog's default logger, to stderr, so stdout stays for results (--json).
#include <spdlog/spdlog.h>

namespace mr2ct {

/// Configures the default logger: level "error" when quiet, "debug" when verbose, else "info".
void configureLogging(bool quiet, bool verbose);

}  // namespace mr2ct
