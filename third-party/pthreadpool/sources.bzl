# pthreadpool sources: the one list read by both Buck2 (load()) and CMakeLists.txt (parsed with
# string(REGEX)). Paths are relative to third-party/pthreadpool/.
PTHREADPOOL_SRCS = [
    "src/fastpath.c",
    "src/legacy-api.c",
    "src/memory.c",
    "src/portable-api.c",
    "src/pthreads.c",
    "src/runner-accounting.c",
]
