#include "threadpool_binding.h"

#include <dlfcn.h>

#include <pthreadpool_runner_accounting.h>

#ifndef PTHREADPOOL_SPIN_PAUSE_ITERATIONS
#error "build with the vendored pthreadpool's spin length (PTHREADPOOL_SPIN_PAUSE_ITERATIONS)"
#endif

namespace xnn_runner {

ThreadpoolBinding threadpool_binding() {
  // The global lookup is the one the wheel's libraries were relocated with. The vendored copy
  // is bound when the definition it finds lies in the same file (the runner) as this function.
  void* bound = dlsym(RTLD_DEFAULT, "pthreadpool_parallelize_1d");
  Dl_info where_bound{}, where_runner{};
  ThreadpoolBinding b;
  b.vendored = bound != nullptr && dladdr(bound, &where_bound) != 0 &&
               dladdr(reinterpret_cast<void*>(&threadpool_binding), &where_runner) != 0 &&
               where_bound.dli_fbase == where_runner.dli_fbase;
  b.spin_pause_iterations = PTHREADPOOL_SPIN_PAUSE_ITERATIONS;
  return b;
}

std::string describe(const ThreadpoolBinding& b) {
  if (!b.vendored) return "the wheel's pthreadpool (the vendored one is not bound)";
  return "vendored pthreadpool (idle workers spin " + std::to_string(b.spin_pause_iterations) + " pauses)";
}

void enable_pool_accounting(bool enabled) { pthreadpool_runner_accounting_enable(enabled); }

PoolAccounting pool_accounting() {
  const pthreadpool_runner_accounting a = pthreadpool_runner_accounting_read();
  return PoolAccounting{a.jobs, a.wall_ns / 1e6, a.busy_ns / 1e6};
}

PoolAccounting operator-(const PoolAccounting& later, const PoolAccounting& earlier) {
  return PoolAccounting{later.jobs - earlier.jobs, later.wall_ms - earlier.wall_ms, later.busy_ms - earlier.busy_ms};
}

}  // namespace xnn_runner
