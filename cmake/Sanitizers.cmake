# -DMR2CT_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer on everything we compile.
# Third-party libraries (ITK, HDF5, GDCM, zlib) are Debian builds and stay uninstrumented: ASan still
# sees their heap through its malloc/free interceptors, but not their out-of-bounds reads.
# -DMR2CT_BUILD_FUZZERS=ON (clang only) also adds libFuzzer's coverage instrumentation to our
# libraries, so one build serves the sanitized unit tests and the fuzz targets in fuzz/.
if(MR2CT_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "MR2CT_BUILD_FUZZERS needs clang (libFuzzer): configure with CXX=clang++ CC=clang")
  endif()
  set(MR2CT_SANITIZE ON CACHE BOOL "Build with AddressSanitizer and UndefinedBehaviorSanitizer" FORCE)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(MR2CT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # Third-party header code excluded from single UBSan checks (see the file for why).
    add_compile_options(-fsanitize-ignorelist=${PROJECT_SOURCE_DIR}/cmake/ubsan-ignorelist.txt)
  endif()
endif()
