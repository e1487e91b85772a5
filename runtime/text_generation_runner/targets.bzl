"""//runtime/text_generation_runner: token generation for exported Llama programs (CMake target of the same name).

With -c executorch.prof_enabled=true it writes ETDump (--prof_result_path), as the CMake
profiling build does.
"""

load("//runtime/executor_runner:targets.bzl", "profiling_flags")

def define_common_targets():
    native.cxx_binary(
        name = "text_generation_runner",
        srcs = ["text_generation_runner.cpp", "generation_loop.cpp", "token_sampler.cpp", "xnnpack_reshape.cpp",
                "xnnpack_invoke_timing.cpp"],
        headers = ["generation_loop.h", "greedy.h", "token_sampler.h", "xnnpack_interpose.h", "xnnpack_invoke_timing.h",
                   "xnnpack_reshape.h"],
        # The wheel's delegate library calls XNNPACK's reshape and invoke functions through its
        # PLT: the runner's own (xnnpack_reshape.cpp, xnnpack_invoke_timing.cpp) take those calls.
        preprocessor_flags = profiling_flags() + ["-DRUNNER_XNNPACK_RESHAPE_INTERPOSE=1"],
        # The XNNPACK backend and the kernels register themselves from static initializers.
        linker_flags = [
            "-Wl,--no-as-needed",
            "-Wl,--export-dynamic-symbol=xnn_reshape_external_value",
            "-Wl,--export-dynamic-symbol=xnn_reshape_runtime",
            "-Wl,--export-dynamic-symbol=xnn_delete_runtime",
            "-Wl,--export-dynamic-symbol=xnn_invoke_runtime",
        ],
        deps = [
            "//:executorch",
            "//:executorch_backend_xnnpack",
            "//:executorch_etdump",
            "//:executorch_kernels_optimized",
            "//:executorch_kernels_quantized",
            "//:executorch_threadpool",
            "//:gflags",
            "//runtime/decode_region:decode_region_backend",
            "//runtime/executor_runner:runner_shared",
            "//third-party/executorch_llm_ops:llm_custom_ops",
            "//third-party/pthreadpool:pthreadpool",  # the job accounting xnnpack_invoke_timing.cpp reads
        ],
        visibility = ["PUBLIC"],
    )
