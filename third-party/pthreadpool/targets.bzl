"""//third-party/pthreadpool: Google's pthreadpool (vendored, two local changes), as CMakeLists.txt's
runner_threadpool builds it.

Both runners link it whole and export its symbols, so the wheel's XNNPACK delegate and
ExecuTorch thread pool bind to it instead of the wheel's copy; its idle workers spin
-c executorch.threadpool_spin_iterations pauses (default 50000, CMake's
RUNNER_THREADPOOL_SPIN_ITERATIONS) before they sleep. runtime/executor_runner/
threadpool_binding.h says why.
"""

load(":sources.bzl", "PTHREADPOOL_SRCS")

_FLAGS = ["-D_GNU_SOURCE=1", "-DPTHREADPOOL_USE_FUTEX=1", "-DPTHREADPOOL_USE_CPUINFO=0"]

def define_common_targets():
    spin = read_config("executorch", "threadpool_spin_iterations", "50000")
    native.cxx_library(
        name = "pthreadpool",
        srcs = PTHREADPOOL_SRCS,
        headers = native.glob(["src/*.h"]) + ["fxdiv/include/fxdiv.h"],
        exported_headers = ["include/pthreadpool.h", "include/pthreadpool_runner_accounting.h"],
        header_namespace = "",
        include_directories = ["fxdiv/include"],
        public_include_directories = ["include"],
        exported_preprocessor_flags = ["-DPTHREADPOOL_SPIN_PAUSE_ITERATIONS=" + spin],
        preprocessor_flags = select({
            "config//cpu:x86_64": _FLAGS + ["-DPTHREADPOOL_USE_FASTPATH=1"],
            "DEFAULT": _FLAGS,
        }),
        # Every object, and exported: the wheel's libraries must find all of its functions here.
        link_whole = True,
        exported_linker_flags = ["-Wl,--export-dynamic-symbol=pthreadpool_*"],
        visibility = ["PUBLIC"],
    )
