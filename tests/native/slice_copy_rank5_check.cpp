// Checks the runner's aten::slice_copy.Tensor_out for contiguous float rank-5 tensors
// (third-party/executorch_llm_ops/.../op_slice_copy_rank5.cpp) against the wheel's portable
// kernel: the registry gives the runner's for that kernel key and the wheel's (its fallback) for
// rank 4, and over every dim, negative and out-of-range starts and ends, empty ranges and steps
// 1 to 3 both give the same output shape and floats, bit for bit (run on the same data viewed as
// rank 4 by merging a dimension the slice does not touch). Run by tests/test_llm_kernels.py.
// Exit 0: all equal; 1: a difference (printed).
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/kernel/kernel_runtime_context.h>
#include <executorch/runtime/kernel/operator_registry.h>
#include <executorch/runtime/platform/runtime.h>

#include "registry_kernel.h"

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

constexpr const char* kSlice = "aten::slice_copy.Tensor_out";

// The kernel a program's call gets: the emitter passes the returned out as one more tensor
// argument (self, out, result), and the registry keys on all three.
OpFunction lookup(int rank) {
  return registry_kernel(kSlice, {ScalarType::Float, ScalarType::Float, ScalarType::Float}, rank);
}

struct Sliced {
  std::vector<executorch::aten::SizesType> sizes;
  std::vector<float> values;
};

// The kernel over `x` with these sizes; the output starts at the input's size (a planned upper bound).
Sliced run(OpFunction slice, std::vector<float> x, std::vector<executorch::aten::SizesType> sizes, int64_t dim,
           EValue start, EValue end, int64_t step) {
  using executorch::extension::from_blob;
  std::vector<float> out_data(x.size() + 1, -1.0f);
  auto input = from_blob(x.data(), sizes, ScalarType::Float);
  auto out = from_blob(out_data.data(), sizes, ScalarType::Float);
  KernelRuntimeContext ctx;
  EValue s[] = {EValue(*input), EValue(dim), start, end, EValue(step), EValue(*out), EValue(*out)};
  EValue* stack[] = {&s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6]};
  slice(ctx, Span<EValue*>(stack, 7));
  if (ctx.failure_state() != executorch::runtime::Error::Ok) {
    std::printf("FAIL: slice_copy reported an error (dim %lld, step %lld)\n", (long long)dim, (long long)step);
    std::exit(1);
  }
  Sliced r{std::vector<executorch::aten::SizesType>(out->sizes().begin(), out->sizes().end()), {}};
  r.values.assign(out_data.begin(), out_data.begin() + out->numel());
  return r;
}

}  // namespace

int main() {
  executorch::runtime::runtime_init();
  const OpFunction ours = lookup(5), wheel = lookup(4);
  if (ours == wheel) {
    std::printf("FAIL: the rank-5 float key does not reach the runner's kernel (the registry gave the wheel's)\n");
    return 1;
  }
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-1, 1);
  const std::vector<executorch::aten::SizesType> shape = {1, 3, 4, 5, 2};  // the rope split's layout
  std::vector<float> x(1 * 3 * 4 * 5 * 2);
  for (float& v : x) v = value(rng);
  const int64_t bounds[] = {-9, -3, -1, 0, 1, 2, 3, 7};
  int cases = 0;
  for (int64_t dim = -5; dim < 5; ++dim) {
    const int64_t d = dim < 0 ? dim + 5 : dim;
    // The same data as rank 4 for the wheel: merge a pair of dimensions away from `d`.
    const int64_t merge = d >= 2 ? 0 : 3;  // merges (merge, merge + 1)
    std::vector<executorch::aten::SizesType> shape4;
    for (int64_t i = 0; i < 5; ++i) {
      if (i == merge + 1) continue;
      shape4.push_back(i == merge ? shape[i] * shape[i + 1] : shape[i]);
    }
    const int64_t dim4 = d > merge ? d - 1 : d;
    for (int64_t start : bounds) {
      for (int64_t end : bounds) {
        for (int64_t step : {1, 2, 3}) {
          for (int none = 0; none < 4; ++none) {  // start and end given or None
            const EValue s = none & 1 ? EValue() : EValue(start), e = none & 2 ? EValue() : EValue(end);
            const Sliced a = run(ours, x, shape, dim, s, e, step);
            const Sliced b = run(wheel, x, shape4, dim4, s, e, step);
            std::vector<executorch::aten::SizesType> merged;
            for (int64_t i = 0; i < 5; ++i) {
              if (i == merge + 1) continue;
              merged.push_back(i == merge ? a.sizes[i] * a.sizes[i + 1] : a.sizes[i]);
            }
            if (merged != b.sizes || a.values.size() != b.values.size() ||
                std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) != 0) {
              std::printf("FAIL: dim %lld start %lld end %lld step %lld (none %d): runner and wheel differ\n",
                          (long long)dim, (long long)start, (long long)end, (long long)step, none);
              return 1;
            }
            ++cases;
          }
        }
      }
    }
  }
  std::printf("ok: %d cases, runner and wheel kernels equal bit for bit\n", cases);
  return 0;
}
