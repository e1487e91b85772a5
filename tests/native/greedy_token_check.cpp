// text_generation::greedy_token (runtime/text_generation_runner/greedy.h) against
// std::max_element, the choice it replaces: random logits of every length up to 100 and a
// vocabulary's, ties (the first largest wins), a largest value in every lane and in the tail,
// and NaNs anywhere. CMake target greedy_token_check; tests/test_llm_kernels.py runs it.
// Prints one line; non-zero exit on the first disagreement.
#include "greedy.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

bool agrees(const std::vector<float>& logits, const char* what) {
  const int64_t want = std::max_element(logits.begin(), logits.end()) - logits.begin();
  const int64_t got = text_generation::greedy_token(logits.data(), static_cast<int64_t>(logits.size()));
  if (got == want) return true;
  std::printf("%s: n=%zu greedy_token %lld, std::max_element %lld\n", what, logits.size(), (long long)got,
              (long long)want);
  return false;
}

}  // namespace

int main() {
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> value(-4, 4);
  std::uniform_int_distribution<int> coarse(-3, 3);  // few distinct values: many ties
  int cases = 0;
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 100; ++n) lengths.push_back(n);
  lengths.insert(lengths.end(), {255, 256, 257, 32000, 128256});
  for (int64_t n : lengths) {
    std::vector<float> logits(n);
    for (float& x : logits) x = value(gen);
    if (!agrees(logits, "random")) return 1;
    for (float& x : logits) x = static_cast<float>(coarse(gen));
    if (!agrees(logits, "ties")) return 1;
    for (int64_t at = 0; at < n; at += (n > 300 ? n / 37 : 1)) {  // the largest at each position
      std::vector<float> one(n, -1.0f);
      one[at] = 2.0f;
      if (at + 17 < n) one[at + 17] = 2.0f;  // a tie in another lane, later
      if (!agrees(one, "placed")) return 1;
      std::vector<float> with_nan = logits;
      with_nan[at] = NAN;
      if (!agrees(with_nan, "nan")) return 1;
      cases += 2;
    }
    cases += 2;
  }
  std::printf("%d cases agree with std::max_element\n", cases);
  return 0;
}
