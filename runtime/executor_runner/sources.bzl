# Runner sources: the one list read by both Buck2 (load()) and CMakeLists.txt (parsed with
# string(REGEX)). Paths are relative to runtime/executor_runner/. Keep each list a plain
# bracketed list of double-quoted strings so the CMake parser can read it.
RUNNER_SRCS = [
    "xnn_executor_runner.cpp",
    "runner_io.cpp",
    "crash_guard.cpp",
    "run_limits.cpp",
    "runner_inputs.cpp",
    "runner_report.cpp",
    "program_verification.cpp",
    "blake3_threads.cpp",
]

RUNNER_HEADERS = [
    "crash_guard.h",
    "exit_codes.h",
    "gated_event_tracer.h",
    "profiling.h",
    "program_verification.h",
    "run_limits.h",
    "runner_inputs.h",
    "runner_io.h",
    "runner_report.h",
]
