# ExecuTorch's XNNPACK delegate built from source with XNNPACK's AMX micro-kernels, in place of
# the wheel's lib/libexecutorch_backend_xnnpack.so. Opt-in:
#
#   cmake -S . -B cmake-out-amx -G Ninja -DEXECUTORCH_SOURCE_DIR=<executorch checkout> && cmake --build cmake-out-amx
#
# <executorch checkout>: `git clone --recursive` of ExecuTorch at the wheel's version. Used from
# it: backends/xnnpack/{runtime,serialization}, the submodules backends/xnnpack/third-party/
# {XNNPACK,cpuinfo,pthreadpool} and third-party/flatbuffers (flatc generates the schema headers).
#
# Why the wheel's delegate has no AMX code (executorch 1.5.1; no tdpbssd in its disassembly),
# so its int8 convolutions run at AVX-512 VNNI speed on CPUs with AMX-INT8:
#  1. ExecuTorch configures XNNPACK with XNNPACK_ENABLE_AVX512VNNIGFNI=OFF, and XNNPACK's
#     hardware config enables AMX only on top of VNNI-GFNI (src/configs/hardware-config.c);
#  2. XNNPACK's CMakeLists.txt turns AMX off for every GCC build ("unit tests fail with GCC 14",
#     written when the kernels were inline assembly; they are intrinsics since the next day).
# Here both are switched on. (2) is a one-line patch of a copy of XNNPACK's CMakeLists.txt; the
# runner's q8 outputs are checked against the Python runtime's (tests/test_runner_numerics.py).
#
# cpuinfo comes from the wheel's libexecutorch_threadpool.so, as in the wheel's own shared build;
# pthreadpool's functions are the runner's own (third-party/pthreadpool, linked as objects, so
# they win over the wheel's): one thread pool per process, the one --num_threads sizes.

set(_et_src "${EXECUTORCH_SOURCE_DIR}")
set(_xnn_third_party "${_et_src}/backends/xnnpack/third-party")
foreach(_need
    "backends/xnnpack/runtime/XNNCompiler.cpp"
    "backends/xnnpack/serialization/runtime_schema.fbs"
    "extension/threadpool/threadpool.h"
    "backends/xnnpack/third-party/XNNPACK/CMakeLists.txt"
    "backends/xnnpack/third-party/cpuinfo/include/cpuinfo.h"
    "backends/xnnpack/third-party/pthreadpool/include/pthreadpool.h"
    "third-party/flatbuffers/CMakeLists.txt")
  if(NOT EXISTS "${_et_src}/${_need}")
    message(FATAL_ERROR "EXECUTORCH_SOURCE_DIR=${_et_src} lacks ${_need}: it must be a "
                        "`git clone --recursive` of ExecuTorch (submodules included)")
  endif()
endforeach()

# ---- flatc, for the delegate's schema headers
set(FLATBUFFERS_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(FLATBUFFERS_BUILD_FLATLIB OFF CACHE BOOL "" FORCE)
set(FLATBUFFERS_BUILD_FLATHASH OFF CACHE BOOL "" FORCE)
set(FLATBUFFERS_INSTALL OFF CACHE BOOL "" FORCE)
add_subdirectory("${_et_src}/third-party/flatbuffers" "${CMAKE_BINARY_DIR}/flatbuffers" EXCLUDE_FROM_ALL)

set(_schema_inc "${CMAKE_BINARY_DIR}/xnnpack_schema/include")
set(_schema_out "${_schema_inc}/executorch/backends/xnnpack/serialization")
# runtime_schema.fbs is the one the delegate reads; its header is named schema_generated.h.
add_custom_command(
  OUTPUT "${_schema_out}/schema_generated.h"
  COMMAND flatc --cpp --cpp-std c++11 --scoped-enums -o "${_schema_out}"
          "${_et_src}/backends/xnnpack/serialization/runtime_schema.fbs"
  COMMAND "${CMAKE_COMMAND}" -E rename "${_schema_out}/runtime_schema_generated.h"
          "${_schema_out}/schema_generated.h"
  DEPENDS flatc "${_et_src}/backends/xnnpack/serialization/runtime_schema.fbs"
  COMMENT "Generating the XNNPACK delegate's schema header"
  VERBATIM)
add_custom_target(xnnpack_schema_header DEPENDS "${_schema_out}/schema_generated.h")

# ---- cpuinfo and pthreadpool: headers from the checkout, code from the wheel (pthreadpool: the runner's)
add_library(cpuinfo INTERFACE)
target_include_directories(cpuinfo INTERFACE "${_xnn_third_party}/cpuinfo/include")
target_link_libraries(cpuinfo INTERFACE executorch::threadpool)
add_library(pthreadpool INTERFACE)
# The header of the code that runs: the runner's vendored pthreadpool, not the checkout's.
target_include_directories(pthreadpool INTERFACE "${CMAKE_CURRENT_SOURCE_DIR}/third-party/pthreadpool/include")
target_link_libraries(pthreadpool INTERFACE executorch::threadpool)

# ---- XNNPACK: a copy of its source tree whose CMakeLists.txt allows AMX with GCC
set(_xnn_upstream "${_xnn_third_party}/XNNPACK")
set(_xnn_copy "${CMAKE_BINARY_DIR}/xnnpack-src")
file(MAKE_DIRECTORY "${_xnn_copy}")
file(GLOB _xnn_entries RELATIVE "${_xnn_upstream}" "${_xnn_upstream}/*")
foreach(_entry IN LISTS _xnn_entries)
  if(NOT _entry STREQUAL "CMakeLists.txt" AND NOT EXISTS "${_xnn_copy}/${_entry}")
    file(CREATE_LINK "${_xnn_upstream}/${_entry}" "${_xnn_copy}/${_entry}" SYMBOLIC)
  endif()
endforeach()
file(READ "${_xnn_upstream}/CMakeLists.txt" _xnn_cmake)
set(_gcc_gate "IF(CMAKE_C_COMPILER_ID STREQUAL \"GNU\")\n  SET(XNNPACK_ENABLE_AVX512AMX OFF)")
string(FIND "${_xnn_cmake}" "${_gcc_gate}" _gate_at)
if(_gate_at EQUAL -1)
  message(FATAL_ERROR "XNNPACK's CMakeLists.txt no longer has the GCC gate on AMX this build "
                      "patches; check cmake/xnnpack_from_source.cmake against this XNNPACK")
endif()
string(REPLACE "${_gcc_gate}" "IF(CMAKE_C_COMPILER_ID STREQUAL \"GNU\" AND CMAKE_C_COMPILER_VERSION VERSION_LESS \"12\")\n  SET(XNNPACK_ENABLE_AVX512AMX OFF)"
       _xnn_cmake "${_xnn_cmake}")
file(CONFIGURE OUTPUT "${_xnn_copy}/CMakeLists.txt" CONTENT "${_xnn_cmake}" @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_xnn_upstream}/CMakeLists.txt")

# Defined, so XNNPACK neither downloads them nor builds its own copies.
set(CPUINFO_SOURCE_DIR "${_xnn_third_party}/cpuinfo" CACHE PATH "" FORCE)
set(PTHREADPOOL_SOURCE_DIR "${_xnn_third_party}/pthreadpool" CACHE PATH "" FORCE)
set(XNNPACK_LIBRARY_TYPE "static" CACHE STRING "" FORCE)
set(XNNPACK_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(XNNPACK_BUILD_BENCHMARKS OFF CACHE BOOL "" FORCE)
set(XNNPACK_BUILD_ALL_MICROKERNELS OFF CACHE BOOL "" FORCE)
set(XNNPACK_ENABLE_KLEIDIAI OFF CACHE BOOL "" FORCE)
set(XNNPACK_ENABLE_AVXVNNI OFF CACHE BOOL "" FORCE)  # as ExecuTorch's build
set(XNNPACK_ENABLE_AVX512VNNIGFNI ON CACHE BOOL "" FORCE)  # AMX needs it (see above)
set(XNNPACK_ENABLE_AVX512AMX ON CACHE BOOL "" FORCE)
set(USE_GNU_SOURCE ON CACHE BOOL "" FORCE)  # struct timespec in its C99 sources (profiling timestamps)
add_subdirectory("${_xnn_copy}" "${CMAKE_BINARY_DIR}/xnnpack" EXCLUDE_FROM_ALL)

# ---- the delegate (an object library: it registers itself from a static initializer)
# Its sources include <executorch/backends/xnnpack/...> and the threadpool header the wheel does
# not ship: an include root for both, whatever the checkout's folder is named (the wheel's
# include root provides the rest of <executorch/...>; the wheel's library, get_pthreadpool()).
set(_delegate_inc "${CMAKE_BINARY_DIR}/xnnpack_delegate/include")
foreach(_part backends/xnnpack extension/threadpool)
  get_filename_component(_parent "${_delegate_inc}/executorch/${_part}" DIRECTORY)
  file(MAKE_DIRECTORY "${_parent}")
  if(NOT EXISTS "${_delegate_inc}/executorch/${_part}")
    file(CREATE_LINK "${_et_src}/${_part}" "${_delegate_inc}/executorch/${_part}" SYMBOLIC)
  endif()
endforeach()
file(GLOB_RECURSE _xnn_delegate_srcs CONFIGURE_DEPENDS "${_et_src}/backends/xnnpack/runtime/*.cpp")
add_library(executorch_xnnpack_backend OBJECT ${_xnn_delegate_srcs})
add_dependencies(executorch_xnnpack_backend xnnpack_schema_header)
target_include_directories(executorch_xnnpack_backend PRIVATE
  "${_delegate_inc}" "${_schema_inc}" "${_et_src}/third-party/flatbuffers/include")
# As the wheel's delegate: workspace shared between delegate instances, no weights cache
# (ExecuTorch's default preset); per-operator profiling events come with the wheel's
# ET_EVENT_TRACER_ENABLED (executorch::runtime's interface definitions).
target_compile_definitions(executorch_xnnpack_backend PRIVATE ENABLE_XNNPACK_SHARED_WORKSPACE)
target_compile_options(executorch_xnnpack_backend PRIVATE -Wno-deprecated-declarations)
target_link_libraries(executorch_xnnpack_backend PUBLIC executorch::runtime executorch::threadpool XNNPACK)
