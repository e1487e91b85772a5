"""//runtime/text_generation_runner: token generation for exported Llama programs (CMake target of the same name).

With -c executorch.prof_enabled=true it writes ETDump (--prof_result_path), as the CMake
profiling build does.
"""

load("//runtime/executor_runner:targets.bzl", "profiling_flags")

def define_common_targets():
    native.cxx_binary(
        name = "text_generation_runner",
        srcs = ["text_generation_runner.cpp"],
        headers = ["greedy.h"],
        preprocessor_flags = profiling_flags(),
        # The XNNPACK backend and the kernels register themselves from static initializers.
        linker_flags = ["-Wl,--no-as-needed"],
        deps = [
            "//:executorch",
            "//:executorch_backend_xnnpack",
            "//:executorch_etdump",
            "//:executorch_kernels_optimized",
            "//:executorch_kernels_quantized",
            "//:executorch_threadpool",
            "//:gflags",
            "//runtime/executor_runner:runner_shared",
            "//third-party/executorch_llm_ops:llm_custom_ops",
        ],
        visibility = ["PUBLIC"],
    )
