// The runner's exit codes: one table, also in README.md (runner section) and mapped to
// one-line messages in examples/runner/client.py (RunnerFailed.kind).
//
//   code  kind            meaning
//   0     ok              the run finished; results printed / written
//   1     error           bad input, missing, unreadable or invalid program, load or run failure
//   2     usage           bad command line (unknown flag, missing --model_path, invalid flag value)
//   3     crash           the runtime raised a fatal signal, caught by the crash guard
//   4     timeout         --timeout_s elapsed (the watchdog ended the run)
//   5     verification    the program failed verification against its card before it ran
//   6     memory          an allocation failed (over --max_memory_mb, or out of memory)
//
// Both runners (xnn_executor_runner, text_generation_runner) follow this table.
#pragma once

namespace xnn_runner {

constexpr int kOkExit = 0;
constexpr int kErrorExit = 1;
constexpr int kUsageExit = 2;
constexpr int kCrashExit = 3;
constexpr int kTimeoutExit = 4;
constexpr int kVerificationExit = 5;
constexpr int kMemoryExit = 6;

}  // namespace xnn_runner
