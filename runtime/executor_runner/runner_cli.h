// What both runners (xnn_executor_runner, text_generation_runner) do the same way around the
// runtime: read the command line strictly, and route the runtime's log lines.
#pragma once

#include <string>

#include <executorch/runtime/core/error.h>

namespace xnn_runner {

// gflags parsing, but an unknown flag or an invalid value is one `error:` line and exit 2
// (kUsageExit) instead of gflags' own text and exit 1; a leftover positional argument too.
void parse_flags_strictly(int* argc, char*** argv, const std::string& usage);

// Registers the runtime's log sink: error lines are remembered (last_runtime_error(), for the
// runner's one-line errors) and shown on stderr only when `verbose`. Call before runtime_init().
void install_runtime_log(bool verbose);

// Whether the runtime logged an allocation failure (XNNPACK's out_of_memory, say): later lines
// ("Init failed for backend") no longer say why, so a failed call is then exit 6.
bool runtime_allocation_failed();

// A failed runtime call, as both runners report it: exit 6 (kMemoryExit) when an allocation
// failed (the error says so, the runtime logged one, the message reads like one, or the
// caller's own allocators refused some: `allocator_failed`), else exit 1 with `what` and the error.
[[noreturn]] void fail_runtime(const std::string& what, executorch::runtime::Error e, bool allocator_failed = false);

}  // namespace xnn_runner
