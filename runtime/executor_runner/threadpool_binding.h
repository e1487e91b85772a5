// Which pthreadpool the runner's operators run on.
//
// The wheel's XNNPACK delegate and ExecuTorch thread pool call pthreadpool through the dynamic
// linker. Its own copy lets an idle worker spin 1000 pauses (microseconds) before it sleeps in
// the kernel, so a decode step, where portable and custom operators sit between short parallel
// ones, paid a worker wake-up for most operators at 2 threads. Both runners therefore link the
// vendored pthreadpool (third-party/pthreadpool, spin length set at build time) and export its
// symbols, so every library binds to it. threadpool_binding() says whether that took effect in
// this process (checked on one function; tests/test_runner_cli.py checks that the runners export
// every pthreadpool function the wheel has).
#pragma once

#include <cstdint>
#include <string>

namespace xnn_runner {

struct ThreadpoolBinding {
  bool vendored = false;            // the process-wide pthreadpool_* symbols are the runner's own
  long spin_pause_iterations = 0;   // an idle worker's spin-wait before it sleeps (vendored build)
};

ThreadpoolBinding threadpool_binding();

// One line for the text report: "vendored pthreadpool (idle workers spin 50000 pauses)".
std::string describe(const ThreadpoolBinding& b);

// The JSON reports' "threadpool" object (Json: nlohmann::json or ordered_json).
template <class Json>
Json threadpool_json(const ThreadpoolBinding& b) {
  return Json{{"vendored", b.vendored}, {"spin_pause_iterations", b.spin_pause_iterations}};
}

// Where a phase's time went between the pool's threads (the vendored pool's job accounting,
// third-party/pthreadpool/include/pthreadpool_runner_accounting.h; off until enabled).
struct PoolAccounting {
  uint64_t jobs = 0;     // parallel jobs handed to the pool's threads
  double wall_ms = 0;    // their wall time
  double busy_ms = 0;    // every thread's time inside them
};

void enable_pool_accounting(bool enabled);
PoolAccounting pool_accounting();  // totals since the process started
PoolAccounting operator-(const PoolAccounting& later, const PoolAccounting& earlier);

// The report's figures for a phase of phase_ms over `steps` calls: outside the jobs the calling
// thread ran alone ("one_thread_ms"), and busy_share_in_jobs = busy / (wall x threads).
template <class Json>
Json pool_accounting_json(const PoolAccounting& a, double phase_ms, unsigned threads, int64_t steps) {
  const double one_thread_ms = phase_ms - a.wall_ms;
  return Json{{"jobs", a.jobs},
              {"jobs_per_step", steps > 0 ? static_cast<double>(a.jobs) / steps : 0.0},
              {"parallel_ms", a.wall_ms},
              {"one_thread_ms", one_thread_ms},
              {"one_thread_share", phase_ms > 0 ? one_thread_ms / phase_ms : 0.0},
              {"busy_share_in_jobs", a.wall_ms > 0 ? a.busy_ms / (a.wall_ms * threads) : 0.0}};
}

}  // namespace xnn_runner
