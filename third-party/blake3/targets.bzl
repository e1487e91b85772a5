"""//third-party/blake3: the BLAKE3 C library (vendored, unchanged), as CMakeLists.txt builds it.

The runner hashes programs with it before loading them (runtime/executor_runner/
program_verification.cpp). BLAKE3_USE_TBB only turns on the library's subtree-join hook; the
runner implements that hook on std::thread (blake3_threads.cpp), no oneTBB involved.
"""

load(":sources.bzl", "BLAKE3_ARM64", "BLAKE3_SRCS", "BLAKE3_X86_64_UNIX")

def define_common_targets():
    native.cxx_library(
        name = "blake3",
        srcs = select({
            "config//cpu:arm64": BLAKE3_SRCS + BLAKE3_ARM64,
            "config//cpu:x86_64": BLAKE3_SRCS + BLAKE3_X86_64_UNIX,
            "DEFAULT": BLAKE3_SRCS,
        }),
        exported_headers = ["blake3.h"],
        headers = ["blake3_impl.h"],
        header_namespace = "",
        exported_preprocessor_flags = ["-DBLAKE3_USE_TBB"],
        preprocessor_flags = select({
            "config//cpu:arm64": ["-DBLAKE3_USE_NEON=1"],
            "config//cpu:x86_64": [],
            "DEFAULT": ["-DBLAKE3_NO_SSE2", "-DBLAKE3_NO_SSE41", "-DBLAKE3_NO_AVX2", "-DBLAKE3_NO_AVX512"],
        }),
        visibility = ["PUBLIC"],
    )
