// The generation loop, apart from the command line (upstream's LLM runner keeps its reusable
// parts apart from main the same way): prefill the prompt in one call of the program's prefill
// method ("forward" unless the program has a "prefill" sharing its KV cache), then one call of
// forward per token, each token sampled from the last position's logits (or, teacher-forced, a
// given token fed whatever was sampled: an accuracy check's logits); and what the decode
// steps cost (time, context switches, and with accounting the thread pool's jobs and the
// delegate's calls into XNNPACK).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <executorch/extension/module/module.h>

#include "run_limits.h"
#include "threadpool_binding.h"
#include "xnnpack_invoke_timing.h"

namespace text_generation {

struct Request {
  std::vector<int64_t> prompt, stop;  // stop: token ids that end generation (kept in the output)
  int max_new_tokens = 32;
  double temperature = 0, top_p = 1;
  uint64_t seed = 0;
  bool accounting = false;  // time the decode steps' pool jobs and XNNPACK calls (costs clock reads)
  // Teacher forcing: the i-th decode call after the prompt's (i >= 1) feeds forced[i - 1] instead
  // of the token chosen before it; the generation's tokens stay the program's choices. Past its
  // end, the choices are fed.
  std::vector<int64_t> forced;
  bool keep_logits = false;  // Generation::logits gets every step's last-position logits
};

struct Generation {
  std::vector<int64_t> tokens;
  double ttft_ms = 0, decode_ms = 0;
  bool stopped = false;  // ended on a stop token
  xnn_runner::ContextSwitches decode_switches;  // all threads, decode steps only
  xnn_runner::PoolAccounting decode_pool;       // with accounting
  XnnpackInvokes decode_invokes;                // likewise
  std::vector<float> logits;                    // with keep_logits: [steps][vocab]
};

// A failed call is the runners' one error line and exit code (xnn_runner::fail_runtime).
Generation generate(executorch::extension::Module& module, const Request& request, const std::string& prefill_method);

}  // namespace text_generation
