# Runner sources: the one list read by both Buck2 (load()) and CMakeLists.txt (parsed with
# string(REGEX)). Paths are relative to runtime/executor_runner/. Keep each list a plain
# bracketed list of double-quoted strings so the CMake parser can read it.
RUNNER_SRCS = [
    "xnn_executor_runner.cpp",
    "runner_io.cpp",
    "crash_guard.cpp",
]

RUNNER_HEADERS = [
    "runner_io.h",
    "crash_guard.h",
    "gated_event_tracer.h",
]
