// Times the delegate's calls into XNNPACK (xnn_invoke_runtime) while the thread pool's job
// accounting is on (--threadpool_accounting), so a decode step's time on one thread splits into
// XNNPACK's part (its small operators and their dispatch between the parallel jobs) and the rest
// (ExecuTorch's runtime, the delegate's wrapper, the kernels outside the delegate, the runner).
#pragma once

#include <cstdint>

namespace text_generation {

struct XnnpackInvokes {
  int64_t calls = 0;
  double wall_ms = 0;       // inside xnn_invoke_runtime
  double jobs_wall_ms = 0;  // of that, inside the thread pool's parallel jobs
};

// Whether this build takes XNNPACK's calls (the wheel's delegate; one built from source is
// linked into the runner and has no PLT to interpose). Nothing is timed otherwise.
bool xnnpack_invoke_timing_compiled();
void enable_xnnpack_invoke_timing(bool enabled);
XnnpackInvokes xnnpack_invokes();  // totals since the process started
XnnpackInvokes operator-(const XnnpackInvokes& later, const XnnpackInvokes& earlier);

}  // namespace text_generation
