// Checks the runner's per-token int8 kernels (third-party/executorch_llm_ops/.../op_per_token_int8.cpp)
// against the wheel's own: the registry hands out the runner's for the exporter's kernel key and the
// wheel's (its fallback) for any other, and both must give the same scales, zero points and int8
// values, bit for bit, on random tokens and on the edge cases of calculate_scale_and_zero_point and
// of rounding. Run by tests/test_llm_kernels.py. Exit 0: all equal; 1: a difference (printed).
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/kernel/kernel_runtime_context.h>
#include <executorch/runtime/kernel/operator_registry.h>
#include <executorch/runtime/platform/runtime.h>

#include "registry_kernel.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

using executorch::aten::ScalarType;
using executorch::runtime::EValue;
using executorch::runtime::KernelRuntimeContext;
using executorch::runtime::OpFunction;
using executorch::runtime::Span;

namespace {

constexpr const char* kChoose = "quantized_decomposed::choose_qparams_per_token_asymmetric.out";
constexpr const char* kQuantize = "quantized_decomposed::quantize_per_token.out";

// The kernel the registry gives tensors with these dtypes, contiguous rank 4 (`rank4` true: the
// exporter's key, the runner's kernel) or rank 3 (no exact key: the wheel's fallback).
OpFunction lookup(const char* name, std::vector<ScalarType> dtypes, bool rank4) {
  return registry_kernel(name, dtypes, rank4 ? 4 : 3);
}

struct Quantized {
  std::vector<double> scales;
  std::vector<int64_t> zero_points;
  std::vector<int8_t> values;
};

// Both kernels over `x` viewed as [1, tokens, 1, size]. The outputs start at a larger size, as a
// program with dynamic shapes plans them (its upper bound): the kernels must resize them.
Quantized run(OpFunction choose, OpFunction quantize, std::vector<float> x, int tokens, int size) {
  using executorch::extension::from_blob;
  const int bound = tokens + 3;
  Quantized r{std::vector<double>(bound), std::vector<int64_t>(bound), std::vector<int8_t>(static_cast<size_t>(bound) * size)};
  auto input = from_blob(x.data(), {1, tokens, 1, size}, ScalarType::Float);
  auto scales = from_blob(r.scales.data(), {1, bound, 1, 1}, ScalarType::Double);
  auto zero_points = from_blob(r.zero_points.data(), {1, bound, 1, 1}, ScalarType::Long);
  auto out = from_blob(r.values.data(), {1, bound, 1, size}, ScalarType::Char);
  KernelRuntimeContext ctx;
  EValue c[] = {EValue(*input), EValue(static_cast<int64_t>(ScalarType::Char)), EValue(*scales), EValue(*zero_points),
                EValue()};
  EValue* cs[] = {&c[0], &c[1], &c[2], &c[3], &c[4]};
  choose(ctx, Span<EValue*>(cs, 5));
  EValue q[] = {EValue(*input), EValue(*scales), EValue(*zero_points), EValue(int64_t{-128}), EValue(int64_t{127}),
                EValue(static_cast<int64_t>(ScalarType::Char)), EValue(*out), EValue(*out)};
  EValue* qs[] = {&q[0], &q[1], &q[2], &q[3], &q[4], &q[5], &q[6], &q[7]};
  quantize(ctx, Span<EValue*>(qs, 8));
  if (ctx.failure_state() != executorch::runtime::Error::Ok) {
    std::printf("FAIL: a kernel reported an error\n");
    std::exit(1);
  }
  if (scales->size(1) != tokens || zero_points->size(1) != tokens || out->size(1) != tokens) {
    std::printf("FAIL: the outputs were not resized to %d tokens\n", tokens);
    std::exit(1);
  }
  r.scales.resize(tokens);
  r.zero_points.resize(tokens);
  r.values.resize(x.size());
  return r;
}

}  // namespace

int main() {
  executorch::runtime::runtime_init();
  const OpFunction ours_choose = lookup(kChoose, {ScalarType::Float, ScalarType::Double, ScalarType::Long}, true);
  const OpFunction ours_quantize = lookup(kQuantize, {ScalarType::Float, ScalarType::Double, ScalarType::Long,
                                                      ScalarType::Char, ScalarType::Char}, true);
  const OpFunction wheel_choose = lookup(kChoose, {ScalarType::Float, ScalarType::Double, ScalarType::Long}, false);
  const OpFunction wheel_quantize = lookup(kQuantize, {ScalarType::Float, ScalarType::Double, ScalarType::Long,
                                                       ScalarType::Char, ScalarType::Char}, false);
  if (ours_choose == wheel_choose || ours_quantize == wheel_quantize) {
    std::printf("FAIL: the exporter's key does not reach the runner's kernels (the registry gave the wheel's)\n");
    return 1;
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  int cases = 0;
  for (int size : {1, 15, 16, 17, 64, 100, 128}) {
    for (int tokens : {1, 12, 768}) {  // 768 tokens of 64 values or more: past 16384 values, the kernels split tokens over threads
      std::vector<float> x(static_cast<size_t>(tokens) * size);
      for (size_t i = 0; i < x.size(); ++i) {
        const int token = static_cast<int>(i / size);
        switch (token % 8) {
          case 0: x[i] = normal(rng); break;                       // both signs
          case 1: x[i] = std::fabs(normal(rng)) * 40.f; break;     // positive only: min is 0
          case 2: x[i] = -std::fabs(normal(rng)) * 1e-6f; break;   // scale below 6.1e-5
          case 3: x[i] = 0.f; break;                               // all zeros: scale 0.1
          case 4: x[i] = std::ldexp(std::round(normal(rng) * 8.f) + 0.5f, -3); break;  // eighths and a half
          // min 0 and max 31.875 make the scale 31.875 / 255 = 1/8 exactly, so x * (1 / scale)
          // lands on .5 for every value k/8 + 1/16: round half to even decides each of them
          case 6: x[i] = i % size == 0 ? 31.875f : std::fabs(std::round(normal(rng) * 40.f)) / 8.f + 0.0625f; break;
          case 7: x[i] = i % size == 3 ? std::nanf("") : normal(rng); break;  // a NaN after the first value
          default: x[i] = normal(rng) * 1e-6f + (i % size == 0 ? 3.f : 0.f); break;    // one large value
        }
      }
      const Quantized ours = run(ours_choose, ours_quantize, x, tokens, size);
      const Quantized wheel = run(wheel_choose, wheel_quantize, x, tokens, size);
      for (int t = 0; t < tokens; ++t) {
        if (std::memcmp(&ours.scales[t], &wheel.scales[t], sizeof(double)) != 0 || ours.zero_points[t] != wheel.zero_points[t]) {
          std::printf("FAIL: size %d token %d: scale %.17g / %.17g, zero point %lld / %lld (runner / wheel)\n", size, t,
                      ours.scales[t], wheel.scales[t], static_cast<long long>(ours.zero_points[t]),
                      static_cast<long long>(wheel.zero_points[t]));
          return 1;
        }
      }
      for (size_t i = 0; i < x.size(); ++i) {
        if (ours.values[i] != wheel.values[i]) {
          std::printf("FAIL: size %d value %zu (%.9g): %d / %d (runner / wheel)\n", size, i, x[i], ours.values[i],
                      wheel.values[i]);
          return 1;
        }
      }
      ++cases;
    }
  }
  std::printf("ok: %d cases, runner and wheel kernels equal bit for bit\n", cases);
  return 0;
}
