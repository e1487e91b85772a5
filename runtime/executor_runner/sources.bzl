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
    "checked_on_use.cpp",
    "runner_io.cpp",
    "run_limits.cpp",
    "crash_guard.cpp",
    "huge_pages.cpp",
    "runner_cli.cpp",
    "test_hooks.cpp",
    "threadpool_binding.cpp",
    "verified_loader.cpp",
    "verify_cache.cpp",
]

# Headers of the shared core (exported to both runners; profiling.h: the profiling build's ETDump),
# then those of xnn_executor_runner alone.
RUNNER_SHARED_HEADERS = [
    "checked_on_use.h",
    "crash_guard.h",
    "exit_codes.h",
    "gated_event_tracer.h",
    "huge_pages.h",
    "profiling.h",
    "program_verification.h",
    "run_limits.h",
    "runner_cli.h",
    "runner_io.h",
    "test_hooks.h",
    "threadpool_binding.h",
    "wheel_threadpool.h",
    "verified_loader.h",
    "verify_cache.h",
]

RUNNER_HEADERS = [
    "runner_inputs.h",
    "runner_report.h",
]
