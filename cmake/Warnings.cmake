# Warnings as an INTERFACE target so every library and test opts in the same way. -Wshadow: a
# lambda parameter or inner variable that hides an outer one has bitten conversion code before.
# -Wconversion (GCC's: value-changing conversions; clang's also flags every sign change, so the
# clang sanitizer and fuzz builds leave it out): a size_t or double narrowed without a cast.
# CI (scripts/run-tests.sh) builds with MR2CT_WARNINGS_AS_ERRORS=ON; a user's newer compiler may
# warn about more, so the default does not fail on warnings.
option(MR2CT_WARNINGS_AS_ERRORS "treat compiler warnings in mr2ct's own code as errors (CI)" OFF)
add_library(mr2ct_warnings INTERFACE)
add_library(mr2ct::warnings ALIAS mr2ct_warnings)
target_compile_options(mr2ct_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-deprecated-declarations>
  $<$<CXX_COMPILER_ID:GNU>:-Wconversion>)
if(MR2CT_WARNINGS_AS_ERRORS)
  target_compile_options(mr2ct_warnings INTERFACE $<$<CXX_COMPILER_ID:GNU,Clang>:-Werror>)
endif()
