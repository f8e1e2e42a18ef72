#pragma once
// Options of the phantom generator on the command line, shared by `mr2ct phantom` and `mr2ct demo`.
#include <boost/program_options.hpp>
#include <iosfwd>
#include <string>
#include <vector>

#include "mr2ct/phantom/HeadPhantom.h"

namespace mr2ct {

/// --out --cases --seed --size X,Y,Z --spacing --mr-spacing MIN,MAX --max-rotation --max-translation
void declarePhantomOptions(boost::program_options::options_description& d, const std::string& defaultOut,
                           std::size_t defaultCases);
/// Parsed and validated (UsageError naming the option).
PhantomDatasetOptions phantomOptionsFrom(const boost::program_options::variables_map& vm);
/// "wrote N phantom case(s) to DIR (a train, b val, c test; seed S)" and the manifest's path.
void printPhantomSummary(const PhantomDatasetOptions& o, const std::vector<PhantomDatasetCase>& cases,
                         std::ostream& out);

}  // namespace mr2ct
