#include <cctype>
#include <cmath>
#include <map>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Log.h"
#include "mr2ct/core/Text.h"
#include "mr2ct/pipeline/Command.h"
#include "mr2ct/pipeline/Runtime.h"

namespace mr2ct {

namespace {

void printTopHelp(std::ostream& out) {
  out << "mr2ct " << MR2CT_VERSION << " - synthetic CT from MR with flow matching\n\n"
      << "Usage: mr2ct <command> [options]    (mr2ct <command> --help for its options)\n\nCommands:\n";
  for (const auto& c : allCommands()) {
    out << "  " << c.name << std::string(c.name.size() < 12 ? 12 - c.name.size() : 1, ' ') << c.summary << "\n";
  }
  out << "\nGlobal options: --help, --version\n"
      << "Exit codes: 0 success, 1 failure, 2 usage error, 3 batch finished with some cases failed.\n";
}

void addCommonOptions(po::options_description& desc) {
  desc.add_options()
      ("help,h", "show this command's options")
      ("config", po::value<std::string>(), "read options from an INI file (same names; the command line wins)")
      ("threads", po::value<int>()->default_value(0), "worker threads for torch and ITK (0 = all cores)")
      ("quiet,q", po::bool_switch(), "only warnings and errors; no progress bars")
      ("verbose,v", po::bool_switch(), "debug logging");
}

const Command* findCommand(const std::string& name) {
  for (const auto& c : allCommands())
    if (c.name == name) return &c;
  return nullptr;
}

int dispatch(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  if (argc < 2) {
    printTopHelp(err);
    return kExitUsage;
  }
  const std::string first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    printTopHelp(out);
    return kExitOk;
  }
  if (first == "--version" || first == "-V") {
    out << "mr2ct " << MR2CT_VERSION << "\n";
    return kExitOk;
  }
  const Command* cmd = findCommand(first);
  if (!cmd) throw UsageError("unknown command '" + first + "' (see mr2ct --help)");

  po::options_description desc(cmd->name + " options");
  po::positional_options_description positional;
  addCommonOptions(desc);
  cmd->declare(desc, positional);

  po::variables_map vm;
  try {
    auto parsed = po::command_line_parser(argc - 1, argv + 1).options(desc).positional(positional).run();
    po::store(parsed, vm);
    if (vm.count("help")) {
      out << "Usage: " << cmd->usage << "\n\n" << cmd->summary << "\n\n" << desc << "\nExample:\n  " << cmd->example
          << "\n";
      return kExitOk;
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) throw UsageError("--config " + path + ": file not found or unreadable");
      try {
        auto fromFile = po::parse_config_file(in, desc, true);
        for (const auto& o : fromFile.options) {
          if (!o.unregistered) continue;
          if (cmd->configHasStageSections && o.string_key.find('.') != std::string::npos) continue;
          throw UsageError(path + ": unknown option '" + o.string_key + "' for mr2ct " + cmd->name);
        }
        po::store(fromFile, vm);
      } catch (const po::error& e) {
        throw UsageError(path + ": " + e.what());
      }
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(cmd->name + ": " + e.what() + " (see mr2ct " + cmd->name + " --help)");
  }
  configureLogging(vm["quiet"].as<bool>(), vm["verbose"].as<bool>());
  configureRuntime(vm["threads"].as<int>());
  CommandIO io{out, err};
  return cmd->run(vm, io);
}

}  // namespace

po::typed_value<double>* realValue(double defaultValue) {
  std::ostringstream text;
  text << std::setprecision(15) << defaultValue;  // 15 digits: every decimal literal comes back as typed
  return po::value<double>()->default_value(defaultValue, text.str());
}

std::vector<double> parseNumberList(const std::string& option, const std::string& text, char separator,
                                    const std::string& expected) {
  const auto bad = [&]() { return UsageError("--" + option + ": '" + text + "' is not " + expected); };
  std::vector<double> values;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(separator, start), text.size());
    const std::string item = trim(text.substr(start, end - start));
    char* stop = nullptr;
    const double v = item.empty() ? 0.0 : std::strtod(item.c_str(), &stop);
    if (item.empty() || stop != item.c_str() + item.size() || !std::isfinite(v)) throw bad();
    values.push_back(v);
    start = end + 1;
  }
  return values;
}

std::vector<long long> parseIntegerList(const std::string& option, const std::string& text, char separator,
                                        const std::string& expected) {
  std::vector<long long> out;
  for (double v : parseNumberList(option, text, separator, expected)) {
    if (v != std::floor(v) || std::fabs(v) > 9e15) throw UsageError("--" + option + ": '" + text + "' is not " + expected);
    out.push_back(static_cast<long long>(v));
  }
  return out;
}

void requireDicomFolderFor(const std::string& option, const std::string& series, const std::string& input) {
  std::error_code ec;
  if (series.empty() || input.empty() || std::filesystem::is_directory(input, ec) || !std::filesystem::exists(input, ec))
    return;  // a missing input is named by the reader
  throw UsageError("--" + option + " " + series + ": " + input + " is a file, not a DICOM folder of several series");
}

po::typed_value<bool>* booleanValue(bool defaultValue) {
  return po::value<bool>()->default_value(defaultValue, defaultValue ? "true" : "false");
}

std::string optionFlag(const std::string& name) {
  // The few flags that are not their field's name.
  static const std::map<std::string, std::string> kFlags{{"solver.method", "solver"},
                                                         {"registration.kind", "register"},
                                                         {"maxRotationDeg", "max-rotation"},
                                                         {"maxTranslationMm", "max-translation"},
                                                         {"valFraction", "val"},
                                                         {"testFraction", "test"},
                                                         {"boneMaxDepthMm", "bone-depth-mm"},
                                                         {"distTimeoutSeconds", "dist-timeout"}};
  if (auto it = kFlags.find(name); it != kFlags.end()) return "--" + it->second;
  std::string flag = "--";
  for (char c : name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1)) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      flag += '-';
      flag += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      flag += c;
    }
  }
  return flag;
}

int runReportingErrors(const std::function<int()>& body, std::ostream& err) {
  try {
    return body();
  } catch (const OptionError& e) {
    err << "mr2ct: error: " << e.named(optionFlag) << "\n";
    return kExitUsage;
  } catch (const UsageError& e) {
    err << "mr2ct: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const Error& e) {
    err << "mr2ct: error: " << e.what() << "\n";
    return kExitFailure;
  } catch (const std::bad_alloc&) {
    err << "mr2ct: error: out of memory\n";
    return kExitFailure;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    const auto nl = msg.find('\n');
    if (nl != std::string::npos) msg = msg.substr(0, nl);
    err << "mr2ct: error: " << msg << "\n";
    return kExitFailure;
  }
}

int runCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  return runReportingErrors([&] { return dispatch(argc, argv, out, err); }, err);
}

}  // namespace mr2ct
