"""//runtime/decode_region: one decode step of a Llama-style model in one parallel region (CMake:
compiled into xnnpack_decode_probe and text_generation_runner)."""

def define_common_targets():
    native.cxx_library(
        name = "decode_region",
        srcs = ["decode_region.c"],
        exported_headers = ["decode_region.h"],
        header_namespace = "",
        compiler_flags = ["-O3", "-Wno-psabi"],
        exported_deps = ["//runtime/gemm_probe:xnnpack_operator_api"],
        deps = [
            "//:executorch_backend_xnnpack",
            "//third-party/pthreadpool:pthreadpool",
        ],
        visibility = ["PUBLIC"],
    )

    # The DecodeRegionBackend delegate text_generation_runner registers (a static initializer:
    # link_whole keeps it).
    native.cxx_library(
        name = "decode_region_backend",
        srcs = ["decode_region_backend.cpp"],
        link_whole = True,
        deps = [
            ":decode_region",
            "//:executorch",
            "//:executorch_threadpool",
            "//runtime/executor_runner:runner_shared",
        ],
        visibility = ["PUBLIC"],
    )
