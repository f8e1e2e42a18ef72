#pragma once
// OptionError: a library's "bad option" error that a library caller and the command line each read
// in their own names for the option.
#include <string>

#include "mr2ct/core/Error.h"

namespace mr2ct {

/// A bad option value found by a library. The message names each option as its options struct
/// does, between braces: OptionError("{samples} and {nfeSweep} cannot be combined"). A library
/// caller reads the names it set (what(): "samples and nfeSweep cannot be combined"); the command
/// line prints its flags instead (named(): "--samples and --nfe-sweep cannot be combined").
class OptionError : public UsageError {
 public:
  explicit OptionError(const std::string& marked)
      : UsageError(named(marked, [](const std::string& name) { return name; })), marked_(marked) {}
  /// The message with every {name} replaced by rename(name).
  template <typename Rename>
  std::string named(const Rename& rename) const {
    return named(marked_, rename);
  }

 private:
  template <typename Rename>
  static std::string named(const std::string& marked, const Rename& rename) {
    std::string out;
    std::size_t at = 0;
    while (true) {
      const std::size_t open = marked.find('{', at);
      const std::size_t close = open == std::string::npos ? open : marked.find('}', open);
      if (close == std::string::npos) return out + marked.substr(at);
      const std::string name = marked.substr(open + 1, close - open - 1);
      // Only {identifier} names an option; other braces (in a value the user gave) stay as they are.
      const bool option = !name.empty() && name.find_first_not_of(
                                               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") ==
                                               std::string::npos;
      out += marked.substr(at, open - at) + (option ? rename(name) : "{" + name + "}");
      at = close + 1;
    }
  }
  std::string marked_;
};

}  // namespace mr2ct
