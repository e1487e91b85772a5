// The next token from a step's logits: greedy (temperature 0), or sampled from
// softmax(logits / temperature), optionally within the smallest set of most likely tokens whose
// probability reaches top_p. Seeded: the same seed gives the same tokens.
#pragma once

#include <cstdint>
#include <random>

namespace text_generation {

class TokenSampler {
 public:
  TokenSampler(double temperature, double top_p, uint64_t seed) : temperature_(temperature), top_p_(top_p), rng_(seed) {}

  int64_t operator()(const float* logits, int64_t n);

 private:
  double temperature_, top_p_;
  std::mt19937_64 rng_;
};

}  // namespace text_generation
