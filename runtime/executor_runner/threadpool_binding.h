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

}  // namespace xnn_runner
