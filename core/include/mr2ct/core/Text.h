#pragma once
// Small text helpers shared by the readers and report writers (one home each).
#include <string>

namespace mr2ct {

/// Without leading and trailing blanks (space, tab, CR, LF).
std::string trim(const std::string& s);

/// A DICOM text value without its padding: leading and trailing spaces, trailing NULs (UI pad).
std::string trimDicomPadding(std::string s);

/// ASCII lower case (file extensions, keys, enumerated values).
std::string lower(std::string s);

/// One RFC 4180 CSV field: quoted when it holds a comma, a quote or a line break, quotes doubled.
std::string csvField(const std::string& s);

/// csvField of a message with its line breaks turned into spaces: one CSV line per case.
std::string csvMessage(std::string s);

}  // namespace mr2ct
