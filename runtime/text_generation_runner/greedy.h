// Greedy decoding's choice: the index of the first largest logit, as std::max_element gives it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace text_generation {

// Compiled for AVX-512, AVX2 and the baseline, the loader picking the CPU's best (GCC
// target_clones): on the baseline's SSE registers GCC keeps the 16 lanes on the stack.
#if defined(__x86_64__) && defined(__gnu_linux__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define GREEDY_TOKEN_TARGETS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GREEDY_TOKEN_TARGETS
#endif

// Sixteen lanes, each keeping its first largest value and where it was; then the largest of the
// lanes, the lowest index among equals, and the tail. std::max_element's compare-and-move chain
// was about 1 % of a stories110m decode step (32000 logits, one per cycle or two). A NaN among a
// lane's first values would freeze that lane (later NaNs are skipped, as std::max_element skips
// them), so logits with a NaN there take std::max_element itself.
GREEDY_TOKEN_TARGETS inline int64_t greedy_token(const float* logits, int64_t n) {
  typedef float Floats __attribute__((vector_size(64)));
  typedef int32_t Ints __attribute__((vector_size(64)));
  constexpr int64_t kLanes = 16;
  if (n < kLanes || n > INT32_MAX) return std::max_element(logits, logits + n) - logits;
  Floats best;
  std::memcpy(&best, logits, sizeof(best));
  Ints best_at = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  Ints at = best_at;
  int64_t i = kLanes;
  for (; i + kLanes <= n; i += kLanes) {
    at += kLanes;
    Floats v;
    std::memcpy(&v, logits + i, sizeof(v));
    const Ints greater = v > best;
    best = greater ? v : best;
    best_at = greater ? at : best_at;
  }
  float top = best[0];
  int64_t top_at = best_at[0];
  for (int lane = 0; lane < kLanes; ++lane) {
    if (best[lane] != best[lane]) return std::max_element(logits, logits + n) - logits;
    if (best[lane] > top || (best[lane] == top && best_at[lane] < top_at)) {
      top = best[lane];
      top_at = best_at[lane];
    }
  }
  for (; i < n; ++i) {
    if (logits[i] != logits[i]) return std::max_element(logits, logits + n) - logits;
    if (logits[i] > top) {
      top = logits[i];
      top_at = i;
    }
  }
  return top_at;
}

}  // namespace text_generation
