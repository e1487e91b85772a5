# Runner sources: the one list read by both Buck2 (load()) and CMakeLists.txt (parsed with
# string(REGEX)). Paths are relative to runtime/executor_runner/. Keep each list a plain
# bracketed list of double-quoted strings so the CMake parser can read it.
RUNNER_SRCS = [
    "xnn_executor_runner.cpp",
    "runner_inputs.cpp",
    "runner_report.cpp",
]

# Compiled into text_generation_runner too: the card check (program_verification.h) and what it
# needs (one-line errors and exit codes, the out-of-memory path, the crash phase).
RUNNER_SHARED_SRCS = [
    "program_verification.cpp",
    "blake3_threads.cpp",
    "runner_io.cpp",
    "run_limits.cpp",
    "crash_guard.cpp",
    "runner_cli.cpp",
    "test_hooks.cpp",
    "verified_loader.cpp",
    "verify_cache.cpp",
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
    "runner_cli.h",
    "test_hooks.h",
    "verified_loader.h",
    "verify_cache.h",
]
