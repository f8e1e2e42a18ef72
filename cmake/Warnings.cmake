# Warnings as an INTERFACE target so every library and test opts in the same way.
add_library(mr2ct_warnings INTERFACE)
add_library(mr2ct::warnings ALIAS mr2ct_warnings)
target_compile_options(mr2ct_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wno-unused-parameter -Wno-deprecated-declarations>)
