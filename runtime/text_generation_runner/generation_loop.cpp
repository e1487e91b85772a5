#include "generation_loop.h"

#include <algorithm>
#include <chrono>

#include <executorch/extension/tensor/tensor.h>

#include "crash_guard.h"
#include "runner_cli.h"
#include "runner_io.h"
#include "test_hooks.h"
#include "token_sampler.h"

namespace text_generation {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// One call of `method` on `tokens` at position `pos`: the sampled next token. With `kept`, the
// last position's logits are appended to it.
int64_t step(executorch::extension::Module& module, TokenSampler& sample, std::vector<int64_t> tokens, int64_t pos,
             const std::string& method, std::vector<float>* kept) {
  const auto n = static_cast<executorch::aten::SizesType>(tokens.size());
  auto token_tensor = executorch::extension::from_blob(tokens.data(), {1, n}, executorch::aten::ScalarType::Long);
  int64_t position = pos;
  auto pos_tensor = executorch::extension::from_blob(&position, {1}, executorch::aten::ScalarType::Long);
  auto out = module.execute(method, {token_tensor, pos_tensor});
  if (!out.ok()) xnn_runner::fail_runtime(method + " failed at position " + std::to_string(pos), out.error());
  const auto& logits = (*out)[0].toTensor();
  if (logits.scalar_type() != executorch::aten::ScalarType::Float) {
    xnn_runner::fail(xnn_runner::kErrorExit, "the program's logits are not float32");
  }
  const int64_t vocab = logits.size(logits.dim() - 1);
  const float* last = logits.const_data_ptr<float>() + (logits.numel() - vocab);
  xnn_runner::record_logits_for_tests(last, vocab);
  if (kept) kept->insert(kept->end(), last, last + vocab);
  return sample(last, vocab);
}

}  // namespace

Generation generate(executorch::extension::Module& module, const Request& r, const std::string& prefill_method) {
  xnn_runner::set_crash_phase("generating with");
  TokenSampler sample(r.temperature, r.top_p, r.seed);
  Generation g;
  const auto start = Clock::now();
  std::vector<float>* kept = r.keep_logits ? &g.logits : nullptr;
  g.tokens.push_back(step(module, sample, r.prompt, 0, prefill_method, kept));
  const auto first = Clock::now();
  const xnn_runner::ContextSwitches switches_before = xnn_runner::process_context_switches();
  xnn_runner::enable_pool_accounting(r.accounting);
  enable_xnnpack_invoke_timing(r.accounting);
  const xnn_runner::PoolAccounting pool_before = xnn_runner::pool_accounting();
  const XnnpackInvokes invokes_before = xnnpack_invokes();
  int64_t position = static_cast<int64_t>(r.prompt.size());
  auto stopped = [&] { return std::find(r.stop.begin(), r.stop.end(), g.tokens.back()) != r.stop.end(); };
  while (static_cast<int>(g.tokens.size()) < r.max_new_tokens && !stopped()) {
    const size_t fed = g.tokens.size() - 1;  // the forced token of this step, if there is one
    const int64_t token = fed < r.forced.size() ? r.forced[fed] : g.tokens.back();
    g.tokens.push_back(step(module, sample, {token}, position++, "forward", kept));
  }
  g.ttft_ms = ms_between(start, first);
  g.decode_ms = ms_between(first, Clock::now());
  g.decode_switches = xnn_runner::process_context_switches() - switches_before;
  g.decode_pool = xnn_runner::pool_accounting() - pool_before;
  g.decode_invokes = xnnpack_invokes() - invokes_before;
  xnn_runner::enable_pool_accounting(false);
  enable_xnnpack_invoke_timing(false);
  g.stopped = stopped();
  return g;
}

}  // namespace text_generation
