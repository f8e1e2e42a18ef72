# Debian's ITK 5.2 was configured with GCC: its generated itk_compiler_detection.h knows only GNU
# and stops clang with "#error Unsupported compiler". Clang is needed for libFuzzer (fuzz/), so for
# clang we generate a copy of that header whose feature tests treat clang like a current GCC (clang 14
# supports every C++11/14 feature ITK asks about) and force-include it: its include guard then
# turns ITK's own copy into a no-op. GCC builds are untouched.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  return()
endif()
find_file(MR2CT_ITK_DETECTION_HEADER itk_compiler_detection.h PATHS ${ITK_INCLUDE_DIRS} NO_DEFAULT_PATH)
find_file(MR2CT_ITK_GNU_INFO_HEADER compilers/ITK_COMPILER_INFO_GNU_CXX.h PATHS ${ITK_INCLUDE_DIRS} NO_DEFAULT_PATH)
if(NOT MR2CT_ITK_DETECTION_HEADER OR NOT MR2CT_ITK_GNU_INFO_HEADER)
  return()  # an ITK built by the user with clang needs no shim
endif()
file(READ ${MR2CT_ITK_DETECTION_HEADER} detection)
if(NOT detection MATCHES "error Unsupported compiler" OR detection MATCHES "ITK_COMPILER_INFO_Clang")
  return()
endif()
set(shim_dir ${PROJECT_BINARY_DIR}/itk-clang-shim)
file(READ ${MR2CT_ITK_GNU_INFO_HEADER} gnu_info)
string(REPLACE "(__GNUC__ * 100 + __GNUC_MINOR__)" "1200" clang_info "${gnu_info}")
file(WRITE ${shim_dir}/itk_clang_compiler_info.h "${clang_info}")
string(REPLACE "#  else\n#    error Unsupported compiler"
               "#  elif ITK_COMPILER_IS_Clang\n#    include \"${shim_dir}/itk_clang_compiler_info.h\"\n#  else\n#    error Unsupported compiler"
               detection "${detection}")
file(WRITE ${shim_dir}/itk_compiler_detection.h "${detection}")
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:SHELL:-include ${shim_dir}/itk_compiler_detection.h>")
message(STATUS "ITK was built with GCC: clang uses the generated ${shim_dir}/itk_compiler_detection.h")
