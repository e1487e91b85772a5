#include "token_sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "greedy.h"

namespace text_generation {

int64_t TokenSampler::operator()(const float* logits, int64_t n) {
  if (temperature_ == 0) return greedy_token(logits, n);
  const float peak = *std::max_element(logits, logits + n);
  std::vector<double> probs(n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += probs[i] = std::exp((logits[i] - peak) / temperature_);
  for (auto& p : probs) p /= sum;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  size_t keep = n;
  if (top_p_ < 1) {  // smallest set of most likely tokens whose probability reaches top_p
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return probs[a] > probs[b]; });
    double cumulative = 0;
    for (keep = 0; keep < order.size();) {
      cumulative += probs[order[keep++]];
      if (cumulative >= top_p_) break;
    }
  }
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += probs[order[i]];
  double r = std::uniform_real_distribution<double>(0, mass)(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= probs[order[i]];
    if (r <= 0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace text_generation
