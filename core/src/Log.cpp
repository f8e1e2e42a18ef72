#include "mr2ct/core/Log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "mr2ct/core/Progress.h"

namespace mr2ct {

void configureLogging(bool quiet, bool verbose) {
  static bool installed = false;
  if (!installed) {
    auto logger = spdlog::stderr_color_mt("mr2ct");
    logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
    spdlog::set_default_logger(logger);
    installed = true;
  }
  spdlog::set_level(quiet ? spdlog::level::warn : verbose ? spdlog::level::debug : spdlog::level::info);
  setQuiet(quiet);
}

}  // namespace mr2ct
