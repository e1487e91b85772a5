"""//third-party/executorch_llm_ops: ExecuTorch's LLM kernels (llama::custom_sdpa, llama::update_cache),
compiled from the vendored sources, as CMakeLists.txt's llm_custom_ops library does.

Their vectorized math is ATen's header-only `ATen/cpu/vec`, taken from the installed torch
wheel (`-c executorch.python=` names the interpreter, as for the executorch wheel).
"""

def define_common_targets():
    python = read_config("executorch", "python", "python3")
    native.genrule(
        name = "torch_wheel_headers",
        out = "include",
        cmd = "P=$({} -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), \"include\"))')".format(python) +
              " && test -f \"$P/ATen/cpu/vec/vec.h\" || { echo \"torch headers not found (got '$P')\" >&2; exit 1; }" +
              " && cp -RL \"$P\" $OUT",
        visibility = ["PUBLIC"],
    )
    native.prebuilt_cxx_library(
        name = "torch_headers",
        header_dirs = [":torch_wheel_headers"],
        header_only = True,
        visibility = ["PUBLIC"],
    )
    native.cxx_library(
        name = "llm_custom_ops",
        srcs = [
            "executorch/extension/llm/custom_ops/op_sdpa.cpp",
            "executorch/extension/llm/custom_ops/op_update_cache.cpp",
            "executorch/extension/llm/custom_ops/decode_attention.cpp",
            "executorch/kernels/quantized/cpu/op_per_token_int8.cpp",
            "executorch/kernels/portable/cpu/op_slice_copy_rank5.cpp",
        ],
        headers = native.glob(["executorch/**/*.h", "torchao/**/*.h"]),
        header_namespace = "",
        compiler_flags = ["-Wno-deprecated-declarations"],
        # The kernels register themselves from static initializers.
        link_whole = True,
        deps = [
            "//:executorch",  # its header dirs (with ExecuTorch's c10) come before torch's
            "//:executorch_kernels_optimized",
            "//:executorch_threadpool",
            ":torch_headers",
        ],
        visibility = ["PUBLIC"],
    )
