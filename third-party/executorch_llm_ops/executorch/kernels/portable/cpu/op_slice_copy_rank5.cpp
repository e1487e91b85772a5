/*
 * Copyright (c) Meta Platforms, Inc. and affiliates.
 * All rights reserved.
 *
 * This source code is licensed under the BSD-style license found in the
 * LICENSE file in the root directory of this source tree.
 */

// LOCAL ADDITION (xnnpack toolkit): aten::slice_copy.Tensor_out for contiguous float rank-5
// tensors, registered under that exact kernel key.
//
// Why: the LLM exporter's rotary embedding splits each query and key into its real and
// imaginary parts with slice_copy over a last dimension of 2 ([1, seq, heads, head_size / 2, 2]
// -> [..., 1]), 48 calls per stories110m decode step, outside the XNNPACK delegate. The wheel's
// portable kernel (kernels/portable/cpu/util/slice_util.cpp, compute_slice) copies one run of
// the sliced dimension's inner size per memcpy call: here a memcpy per float, 1.5-2 % of a
// 1-thread decode step. This one copies single floats in a plain loop and longer runs with
// memcpy. The runtime aborts when a kernel is registered twice under one key, and the wheel
// registers its slice_copy under the fallback key; the registry prefers an exact key, so this
// takes the calls whose tensors match and the wheel's keeps the rest.
//
// Same result as the wheel's kernel: the indices are adjusted as its adjust_slice_indices does
// (negative start / end count from the end, then both are clamped to [0, size]; an empty range
// when start >= end), and a step below 1 is an error.

#include <executorch/runtime/core/event_tracer_hooks.h>
#include <executorch/runtime/kernel/kernel_includes.h>
#include <executorch/runtime/kernel/operator_registry.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace torch::executor::native {
namespace {

using ::executorch::aten::SizesType;
using ::executorch::aten::Tensor;
using ::executorch::runtime::EValue;
using ::executorch::runtime::KernelRuntimeContext;
using ::executorch::runtime::Span;

constexpr int kRank = 5;

// Indices kept along a dimension of `size`: as the wheel's adjust_slice_indices.
int64_t slice_length(int64_t size, int64_t& start, int64_t& end, int64_t step) {
  start = start < 0 ? start + size : start;
  end = end < 0 ? end + size : end;
  start = std::min(std::max<int64_t>(start, 0), size);
  end = std::min(std::max<int64_t>(end, 0), size);
  return start >= end ? 0 : (end - 1 - start) / step + 1;
}

// out[o, k, i] = in[o, start + k * step, i] over [outer, size, inner] views.
void copy_slice(const float* in, float* out, int64_t outer, int64_t size, int64_t inner, int64_t start,
                int64_t length, int64_t step) {
  for (int64_t o = 0; o < outer; ++o) {
    const float* row = in + (o * size + start) * inner;
    if (inner == 1) {
      for (int64_t k = 0; k < length; ++k) {
        out[k] = row[k * step];
      }
    } else {
      for (int64_t k = 0; k < length; ++k) {
        std::memcpy(out + k * inner, row + k * step * inner, inner * sizeof(float));
      }
    }
    out += length * inner;
  }
}

// slice_copy.Tensor_out(Tensor self, int dim=0, SymInt? start=None, SymInt? end=None,
// SymInt step=1, *, Tensor(a!) out) -> Tensor(a!); stack: 6 arguments and the result.
void slice_copy_boxed(KernelRuntimeContext& ctx, Span<EValue*> stack) {
  ::executorch::runtime::internal::EventTracerProfileOpScope scope(ctx.internal_event_tracer(),
                                                                   "aten::slice_copy.Tensor_out");
  ET_KERNEL_CHECK_MSG(ctx, stack.size() == 7, InvalidArgument, , "expected 7 values on the stack, got %zu",
                      stack.size());
  const Tensor& in = stack[0]->toTensor();
  int64_t dim = stack[1]->toInt();
  int64_t start = stack[2]->isNone() ? 0 : stack[2]->toInt();
  const int64_t size = in.dim() == kRank && dim >= -kRank && dim < kRank ? in.size(dim < 0 ? dim + kRank : dim) : 0;
  int64_t end = stack[3]->isNone() ? size : stack[3]->toInt();
  const int64_t step = stack[4]->toInt();
  Tensor& out = stack[5]->toTensor();
  ET_KERNEL_CHECK_MSG(ctx, in.dim() == kRank && dim >= -kRank && dim < kRank, InvalidArgument, ,
                      "slice_copy: dim %lld out of range", static_cast<long long>(dim));
  ET_KERNEL_CHECK_MSG(ctx, step > 0, InvalidArgument, , "slice_copy: step must be positive, got %lld",
                      static_cast<long long>(step));
  dim = dim < 0 ? dim + kRank : dim;
  const int64_t length = slice_length(size, start, end, step);
  SizesType sizes[kRank];
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < kRank; ++d) {
    sizes[d] = d == dim ? static_cast<SizesType>(length) : in.size(d);
    if (d < dim) outer *= in.size(d);
    if (d > dim) inner *= in.size(d);
  }
  ET_KERNEL_CHECK(ctx,
                  ::executorch::runtime::resize_tensor(out, {sizes, static_cast<size_t>(kRank)}) ==
                      ::executorch::runtime::Error::Ok,
                  InvalidArgument, );
  copy_slice(in.const_data_ptr<float>(), out.mutable_data_ptr<float>(), outer, size, inner, start, length, step);
}

// Kernel key: per tensor argument its dtype (6: float) and dim order: self, out, and the result
// (the emitter passes the returned out as one more argument, and the runtime keys on all three).
constexpr char kSliceKey[] = "v1/6;0,1,2,3,4|6;0,1,2,3,4|6;0,1,2,3,4";

const ::executorch::runtime::Kernel kKernels[] = {
    ::executorch::runtime::Kernel("aten::slice_copy.Tensor_out", kSliceKey, slice_copy_boxed),
};
const auto registration = ::executorch::runtime::register_kernels(kKernels);

}  // namespace
}  // namespace torch::executor::native
