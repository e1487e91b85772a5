// See xnnpack_invoke_timing.h. Off, an interposed call costs one relaxed atomic load.
#include "xnnpack_invoke_timing.h"

#include <atomic>
#include <ctime>

#include <pthreadpool_runner_accounting.h>

namespace text_generation {

XnnpackInvokes operator-(const XnnpackInvokes& later, const XnnpackInvokes& earlier) {
  return {later.calls - earlier.calls, later.wall_ms - earlier.wall_ms, later.jobs_wall_ms - earlier.jobs_wall_ms};
}

}  // namespace text_generation

#if RUNNER_XNNPACK_RESHAPE_INTERPOSE

#include "xnnpack_interpose.h"

extern "C" {
typedef struct xnn_runtime* xnn_runtime_t;
enum xnn_status { xnn_status_success = 0 };
enum xnn_status xnn_invoke_runtime(xnn_runtime_t runtime);
}

namespace {

std::atomic<bool> g_enabled{false};
std::atomic<int64_t> g_calls{0};
std::atomic<uint64_t> g_wall_ns{0}, g_jobs_ns{0};

uint64_t now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000u + static_cast<uint64_t>(t.tv_nsec);
}

}  // namespace

extern "C" enum xnn_status xnn_invoke_runtime(xnn_runtime_t runtime) {
  static const auto next =
      text_generation::xnnpack_library_function<decltype(&xnn_invoke_runtime)>("xnn_invoke_runtime");
  if (!g_enabled.load(std::memory_order_relaxed)) return next(runtime);
  // The pool's job totals around the call: the jobs XNNPACK handed out inside it.
  const uint64_t jobs_before = pthreadpool_runner_accounting_read().wall_ns;
  const uint64_t start = now_ns();
  const enum xnn_status status = next(runtime);
  g_wall_ns.fetch_add(now_ns() - start, std::memory_order_relaxed);
  g_jobs_ns.fetch_add(pthreadpool_runner_accounting_read().wall_ns - jobs_before, std::memory_order_relaxed);
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return status;
}

namespace text_generation {

bool xnnpack_invoke_timing_compiled() { return true; }

void enable_xnnpack_invoke_timing(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

XnnpackInvokes xnnpack_invokes() {
  return {g_calls.load(std::memory_order_relaxed), g_wall_ns.load(std::memory_order_relaxed) / 1e6,
          g_jobs_ns.load(std::memory_order_relaxed) / 1e6};
}

}  // namespace text_generation

#else  // a delegate built into the runner: nothing to interpose

namespace text_generation {
bool xnnpack_invoke_timing_compiled() { return false; }
void enable_xnnpack_invoke_timing(bool) {}
XnnpackInvokes xnnpack_invokes() { return {}; }
}  // namespace text_generation

#endif
