#pragma once
// A subcommand of `mr2ct`: its options (Boost.Program_options) and a run function that turns the
// parsed values into an Options struct and calls a library function. Registered in Commands.cpp.
#include <boost/program_options.hpp>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace mr2ct {

namespace po = boost::program_options;

struct CommandIO {
  std::ostream& out;  ///< results (tables, --json)
  std::ostream& err;  ///< diagnostics
};

struct Command {
  std::string name;
  std::string summary;   ///< one line for `mr2ct --help`
  std::string usage;     ///< e.g. "mr2ct info FILE... [--json]"
  std::string example;   ///< a runnable example for `mr2ct <name> --help`
  /// --config files may also hold "[stage]" sections for other commands (used by `run`); their
  /// keys are left to the command, unknown keys outside sections are still errors.
  bool configHasStageSections = false;
  /// Declares the options (and positional arguments) of this command.
  std::function<void(po::options_description&, po::positional_options_description&)> declare;
  /// Runs the command; returns the exit code (0 ok, 1 failure, 3 batch with failed cases).
  std::function<int(const po::variables_map&, CommandIO&)> run;
};

/// A real-valued option whose default reads in --help as it was written (0.05, not
/// 0.050000000000000003, which is what Boost prints for a double).
po::typed_value<double>* realValue(double defaultValue);

/// The one parser of number lists on the command line: "1,2,4" (separator ',') or "64x64" ('x').
/// UsageError "--option: 'text' is not <expected>" for an empty or non-numeric item.
std::vector<double> parseNumberList(const std::string& option, const std::string& text, char separator,
                                    const std::string& expected);
/// The same, every item an integer.
std::vector<long long> parseIntegerList(const std::string& option, const std::string& text, char separator,
                                        const std::string& expected);

/// A series selector (--dicom-series and the like) given for an input that is not a folder would
/// be ignored: UsageError "--option S: INPUT is a file, not a DICOM folder". Nothing when empty.
void requireDicomFolderFor(const std::string& option, const std::string& series, const std::string& input);

/// A boolean option taking a value (--flips false), whose default reads "true"/"false" in --help.
po::typed_value<bool>* booleanValue(bool defaultValue);

/// Every subcommand, in the order `mr2ct --help` lists them.
const std::vector<Command>& allCommands();

/// The whole command line: parses, dispatches, maps errors to exit codes
/// (0 ok, 1 failure, 2 usage error, 3 batch finished with some cases failed).
int runCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

/// The command-line flag of an option a library names by its field (OptionError): the field's last
/// dotted part in kebab case, "nfeSweep" → "--nfe-sweep", "dicom.patientId" → "--patient-id".
std::string optionFlag(const std::string& name);

/// Runs body and maps what it throws to an exit code, with one "mr2ct: error: ..." line on err:
/// UsageError 2 (an OptionError with its flags), any other error 1. runCli and `run`'s stages share it, so a stage fails as its
/// command would.
int runReportingErrors(const std::function<int()>& body, std::ostream& err);

/// Exit codes.
enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitUsage = 2, kExitPartial = 3 };

}  // namespace mr2ct
