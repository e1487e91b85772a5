// XNNPACK reshapes a delegate's runtime only when one of its input shapes changed.
//
// Why: ExecuTorch's XNNPACK delegate (XNNExecutor::prepare_args, executorch 1.5.1) sets every
// input's shape and calls xnn_reshape_runtime on every call, and XNNPACK then re-derives every
// operator's shapes and tiling. A stories110m decode step makes 124 delegate calls, each with
// the shapes of the step before; on one thread that was about 1 % of the step, and more at 2
// threads, where it runs while the other thread waits.
//
// How: the wheel's delegate library calls these functions through its PLT, so the runner's
// definitions (exported with --export-dynamic-symbol) take its calls and pass them on to the
// library's own (dlsym RTLD_NEXT). Each runtime's input shapes are remembered as they are set;
// a reshape is passed on when the runtime is new, when a shape differs from the one at its last
// successful reshape, or when that reshape failed. Otherwise the plan XNNPACK made for those
// shapes still holds (a reshape with the same shapes derives the same one), and
// xnn_setup_runtime_v2, which points the operators at this call's tensors, still runs on every
// call. A deleted runtime's entry is dropped, so a new runtime at the same address reshapes.
#include "xnnpack_reshape.h"

#if RUNNER_XNNPACK_RESHAPE_INTERPOSE

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "xnnpack_interpose.h"

extern "C" {
// XNNPACK's declarations (include/xnnpack.h), for the three functions interposed here.
typedef struct xnn_runtime* xnn_runtime_t;
enum xnn_status { xnn_status_success = 0 };
enum xnn_status xnn_reshape_external_value(xnn_runtime_t runtime, uint32_t external_id, size_t num_dims,
                                           const size_t* dims);
enum xnn_status xnn_reshape_runtime(xnn_runtime_t runtime);
enum xnn_status xnn_delete_runtime(xnn_runtime_t runtime);
}

namespace {

struct RuntimeShapes {
  std::unordered_map<uint32_t, std::vector<size_t>> inputs;  // as last set
  bool changed = true;  // since the last successful reshape
};

// Never destroyed: a runtime may be deleted by another static destructor at exit.
struct Runtimes {
  std::mutex mutex;
  std::unordered_map<xnn_runtime_t, RuntimeShapes> shapes;
};
Runtimes& runtimes() {
  static Runtimes* const state = new Runtimes();
  return *state;
}

std::atomic<bool> g_every_call{false};
std::atomic<int64_t> g_done{0}, g_skipped{0}, g_seen{0};

}  // namespace

extern "C" {

enum xnn_status xnn_reshape_external_value(xnn_runtime_t runtime, uint32_t external_id, size_t num_dims,
                                           const size_t* dims) {
  static const auto next =
      text_generation::xnnpack_library_function<decltype(&xnn_reshape_external_value)>("xnn_reshape_external_value");
  const enum xnn_status status = next(runtime, external_id, num_dims, dims);
  if (g_every_call.load(std::memory_order_relaxed)) return status;  // the delegate's own behaviour
  Runtimes& all = runtimes();
  std::lock_guard<std::mutex> lock(all.mutex);
  RuntimeShapes& shapes = all.shapes[runtime];
  std::vector<size_t>& known = shapes.inputs[external_id];
  if (status != xnn_status_success || known.size() != num_dims || !std::equal(known.begin(), known.end(), dims)) {
    known.assign(dims, dims + num_dims);
    shapes.changed = true;
  }
  return status;
}

enum xnn_status xnn_reshape_runtime(xnn_runtime_t runtime) {
  static const auto next =
      text_generation::xnnpack_library_function<decltype(&xnn_reshape_runtime)>("xnn_reshape_runtime");
  g_seen.fetch_add(1, std::memory_order_relaxed);
  if (g_every_call.load(std::memory_order_relaxed)) {
    g_done.fetch_add(1, std::memory_order_relaxed);
    return next(runtime);
  }
  Runtimes& all = runtimes();
  {
    std::lock_guard<std::mutex> lock(all.mutex);
    const auto it = all.shapes.find(runtime);
    if (it != all.shapes.end() && !it->second.changed) {
      g_skipped.fetch_add(1, std::memory_order_relaxed);
      return xnn_status_success;
    }
  }
  const enum xnn_status status = next(runtime);
  g_done.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(all.mutex);
  all.shapes[runtime].changed = status != xnn_status_success;
  return status;
}

enum xnn_status xnn_delete_runtime(xnn_runtime_t runtime) {
  static const auto next =
      text_generation::xnnpack_library_function<decltype(&xnn_delete_runtime)>("xnn_delete_runtime");
  {
    Runtimes& all = runtimes();
    std::lock_guard<std::mutex> lock(all.mutex);
    all.shapes.erase(runtime);
  }
  return next(runtime);
}

}  // extern "C"

namespace text_generation {

bool xnnpack_reshape_compiled() { return true; }

bool xnnpack_reshape_interposed() { return g_seen.load(std::memory_order_relaxed) > 0; }

void set_xnnpack_reshape_every_call(bool every_call) {
  Runtimes& all = runtimes();
  std::lock_guard<std::mutex> lock(all.mutex);
  all.shapes.clear();  // every_call records no shapes: what was recorded before would go stale
  g_every_call.store(every_call, std::memory_order_relaxed);
}

XnnpackReshapes xnnpack_reshapes() {
  return {g_done.load(std::memory_order_relaxed), g_skipped.load(std::memory_order_relaxed)};
}

}  // namespace text_generation

#else  // a delegate built into the runner: nothing to interpose

namespace text_generation {
bool xnnpack_reshape_compiled() { return false; }
bool xnnpack_reshape_interposed() { return false; }
void set_xnnpack_reshape_every_call(bool) {}
XnnpackReshapes xnnpack_reshapes() { return {}; }
}  // namespace text_generation

#endif
