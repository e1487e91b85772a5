"""//runtime/executor_runner: the native runner, built from the same source list as CMake.

Profiling mirrors the CMake options EXECUTORCH_PROF_ENABLED / EXECUTORCH_PROF_BUF_SIZE /
EXECUTORCH_NUM_PROF_BLOCKS through buckconfig:
    buck2 run -c executorch.prof_enabled=true [-c executorch.prof_buf_size=N]
              [-c executorch.num_prof_blocks=N] examples/backend:xnn_executor_runner -- ...

The OpenVINO delegate (CMake's EXECUTORCH_BUILD_OPENVINO, on by default) is
-c executorch.openvino=true|false.
"""

load(":sources.bzl", "RUNNER_SHARED_HEADERS", "RUNNER_SHARED_SRCS", "RUNNER_SRCS")

# Same text as the FATAL_ERROR in CMakeLists.txt.
PROF_WITHOUT_ENABLE_MESSAGE = "EXECUTORCH_PROF_BUF_SIZE and EXECUTORCH_NUM_PROF_BLOCKS require EXECUTORCH_PROF_ENABLED=ON"

def _is_true(value):
    return value.lower() in ("1", "true", "on", "yes")

def profiling_flags():
    """The -D flags for the runner, as CMakeLists.txt computes them: none unless profiling is
    on; buffer size and block count only when set; either without profiling is an error."""
    enabled = _is_true(read_config("executorch", "prof_enabled", "false"))
    buf_size = read_config("executorch", "prof_buf_size", "")
    num_blocks = read_config("executorch", "num_prof_blocks", "")
    if not enabled:
        if buf_size or num_blocks:
            fail(PROF_WITHOUT_ENABLE_MESSAGE)
        return []
    flags = ["-DEXECUTORCH_PROF_ENABLED=1"]
    if buf_size:
        flags.append("-DEXECUTORCH_PROF_BUF_SIZE=" + buf_size)
    if num_blocks:
        flags.append("-DEXECUTORCH_NUM_PROF_BLOCKS=" + num_blocks)
    return flags

def openvino_enabled():
    """CMake's EXECUTORCH_BUILD_OPENVINO (default on); anything but a boolean is an error."""
    value = read_config("executorch", "openvino", "true").lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no"):
        return False
    fail("executorch.openvino must be true or false, got '{}'".format(value))

def define_common_targets():
    openvino = openvino_enabled()
    # The runners' shared core (the card check and loader, errors and exit codes, limits, crash
    # guard, command line): compiled once, linked into both runners, as CMake's runner_core.
    native.cxx_library(
        name = "runner_shared",
        srcs = RUNNER_SHARED_SRCS,
        exported_headers = RUNNER_SHARED_HEADERS,
        header_namespace = "",
        deps = [
            "//:executorch",
            "//:executorch_threadpool",
            "//:gflags",
            "//third-party/blake3:blake3",
            "//third-party/pthreadpool:pthreadpool",
        ],
        # dlsym / dladdr (threadpool_binding.cpp): in libdl before glibc 2.34.
        exported_linker_flags = ["-ldl"],
        visibility = ["PUBLIC"],
    )
    native.cxx_binary(
        name = "xnn_executor_runner",
        srcs = RUNNER_SRCS,
        headers = native.glob(["**/*.h"]),
        preprocessor_flags = profiling_flags() + (["-DRUNNER_WITH_OPENVINO=1"] if openvino else []),
        # The XNNPACK backend registers itself from a static initializer: keep its
        # library (and the kernels') as DT_NEEDED even though no symbol is referenced.
        linker_flags = ["-Wl,--no-as-needed"],
        deps = [
            "//:executorch",
            "//:executorch_backend_xnnpack",
            "//:executorch_etdump",
            "//:executorch_kernels_optimized",
            "//:executorch_kernels_quantized",
            "//:executorch_threadpool",
            "//:gflags",
            ":runner_shared",
            "//third-party/blake3:blake3",
            # nlohmann/json is header-only, from /usr/include (nlohmann-json3-dev, setup.sh).
        ] + (["//third-party/executorch_openvino:openvino_backend"] if openvino else []),
        visibility = ["PUBLIC"],
    )
