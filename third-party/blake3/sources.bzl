# BLAKE3's C sources: the one list read by both Buck2 (targets.bzl) and CMakeLists.txt (parsed
# with string(REGEX): keep each list a plain bracketed list of double-quoted strings).
BLAKE3_SRCS = [
    "blake3.c",
    "blake3_dispatch.c",
    "blake3_portable.c",
]

# x86-64 (System V): upstream's assembly, one file per instruction set; blake3_dispatch.c picks
# one at run time. About 1.5x faster here than upstream's C-intrinsics variants built by GCC.
BLAKE3_X86_64_UNIX = [
    "blake3_sse2_x86-64_unix.S",
    "blake3_sse41_x86-64_unix.S",
    "blake3_avx2_x86-64_unix.S",
    "blake3_avx512_x86-64_unix.S",
]

BLAKE3_ARM64 = ["blake3_neon.c"]
