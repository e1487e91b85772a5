/*
 * Copyright (c) Meta Platforms, Inc. and affiliates.
 * All rights reserved.
 *
 * This source code is licensed under the BSD-style license found in the
 * LICENSE file in the root directory of this source tree.
 */

// LOCAL ADDITION (xnnpack toolkit): quantized_decomposed::choose_qparams_per_token_asymmetric.out
// and quantized_decomposed::quantize_per_token.out for the int8 KV cache, registered under the
// kernel keys the LLM exporter's programs carry (float input, double scales, int64 zero points,
// int8 output, contiguous rank-4 tensors).
//
// Why: the wheel's kernels (kernels/quantized/cpu/op_choose_qparams.cpp, op_quantize.cpp) are
// scalar on x86: std::min_element per token and a std::nearbyint call plus int64 clamps per
// element. They took about 12 ms of a 64-token stories110m prefill and 0.2 ms of each decode
// step. The runtime aborts when a kernel is registered twice under one key, and the wheel's
// quantized library registers these under the fallback key; the registry prefers an exact key
// to the fallback, so these take the calls whose tensors match and the wheel's keep the rest.
//
// Same results as the wheel's kernels for finite inputs: min / max are exact in any order,
// calculate_scale_and_zero_point is upstream's (v1.4.1) unchanged, and each element is
// nearbyint(value * (1.0f / float(scale))) + zero_point in float, clamped, as quantize_val does.

#include <executorch/extension/threadpool/threadpool.h>
#include <executorch/runtime/core/event_tracer_hooks.h>
#include <executorch/runtime/kernel/kernel_includes.h>
#include <executorch/runtime/kernel/operator_registry.h>
#include <executorch/runtime/kernel/thread_parallel_interface.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace torch::executor::native {
namespace {

using ::executorch::aten::ScalarType;
using ::executorch::aten::Tensor;
using ::executorch::runtime::EValue;
using ::executorch::runtime::KernelRuntimeContext;
using ::executorch::runtime::Span;

#if defined(__x86_64__) && defined(__gnu_linux__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define PER_TOKEN_TARGETS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PER_TOKEN_TARGETS
#endif

constexpr float SMALL_SCALE_THRESHOLD = 6.1e-5f;

// Upstream's, unchanged (kernels/quantized/cpu/op_choose_qparams.cpp at v1.4.1).
void calculate_scale_and_zero_point(float min, float max, int32_t qmin, int32_t qmax, double& scale,
                                    int32_t& zero_point) {
  min = std::min(min, 0.f);
  max = std::max(max, 0.f);
  scale = (static_cast<double>(max) - min) / (qmax - qmin);
  if (float(scale) == 0.0f || std::isinf(1.0f / float(scale))) {
    scale = 0.1;
  }
  ET_CHECK_MSG(scale > 0, "quantization scale should be > 0");
  if (scale < SMALL_SCALE_THRESHOLD) {
    float org_scale = scale;
    scale = SMALL_SCALE_THRESHOLD;
    if (min == 0.0f) {
      max = SMALL_SCALE_THRESHOLD * (qmax - qmin);
    } else if (max == 0.0f) {
      min = -SMALL_SCALE_THRESHOLD * (qmax - qmin);
    } else {
      float amplifier = SMALL_SCALE_THRESHOLD / org_scale;
      min *= amplifier;
      max *= amplifier;
    }
  }
  double zero_point_from_min = qmin - min / static_cast<double>(scale);
  double zero_point_from_max = qmax - max / static_cast<double>(scale);
  double zero_point_from_min_error = std::abs(qmin) - std::abs(min / static_cast<double>(scale));
  double zero_point_from_max_error = std::abs(qmax) - std::abs(max / static_cast<double>(scale));
  double initial_zero_point =
      zero_point_from_min_error < zero_point_from_max_error ? zero_point_from_min : zero_point_from_max;
  int32_t nudged_zero_point = 0;
  if (initial_zero_point < qmin) {
    nudged_zero_point = qmin;
  } else if (initial_zero_point > qmax) {
    nudged_zero_point = qmax;
  } else {
    nudged_zero_point = nearbyint(static_cast<float>(initial_zero_point));
  }
  zero_point = nudged_zero_point;
}

// Sixteen floats (GCC / Clang vector extensions: one AVX-512 register, two AVX2 ones or four SSE
// ones, whichever the clone targets). Sixteen lanes in plain arrays stayed scalar code.
typedef float Float16 __attribute__((vector_size(64)));

// Min and max of one token, sixteen independent lanes at a time (std::min_element's one running
// minimum does not vectorize). The same extremes in any order; a -0 / +0 tie may come out with
// the other sign, which calculate_scale_and_zero_point treats alike. Every lane starts from x[0]
// and keeps it against a NaN (the comparisons are false), as std::min_element does for a NaN
// after the first element.
PER_TOKEN_TARGETS void token_min_max(const float* x, int64_t n, float& min_out, float& max_out) {
  float mn = x[0], mx = x[0];
  int64_t i = 0;
  if (n >= 16) {
    Float16 lo = Float16{} + x[0], hi = lo;
    for (; i + 16 <= n; i += 16) {
      Float16 v;
      std::memcpy(&v, x + i, sizeof v);
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    for (int l = 0; l < 16; ++l) {
      mn = lo[l] < mn ? lo[l] : mn;
      mx = hi[l] > mx ? hi[l] : mx;
    }
  }
  for (; i < n; ++i) {
    mn = x[i] < mn ? x[i] : mn;
    mx = x[i] > mx ? x[i] : mx;
  }
  min_out = mn;
  max_out = mx;
}

// One token to int8: quantize_val's arithmetic (float product, round half to even, the zero
// point added in float) with the clamp in float, which vectorizes.
PER_TOKEN_TARGETS void quantize_token(const float* x, int64_t n, float inv_scale, float zero_point, float qmin,
                                      float qmax, int8_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    float q = __builtin_nearbyintf(x[i] * inv_scale) + zero_point;
    q = q > qmin ? q : qmin;  // NaN lands on qmin, as the wheel's int64 conversion does
    q = q < qmax ? q : qmax;
    out[i] = static_cast<int8_t>(static_cast<int32_t>(q));
  }
}

int64_t leading_size(const Tensor& t) {
  int64_t n = 1;
  for (ssize_t d = 0; d + 1 < t.dim(); ++d) n *= t.size(d);
  return n;
}

// The per-token outputs take the input's shape with a last dimension of 1: a program with
// dynamic shapes plans them at their upper bound, and each call sets their sizes, as the wheel's
// kernels do.
bool resize_per_token(const Tensor& input, Tensor& scale, Tensor& zero_point) {
  if (input.dim() < 1 || input.dim() > static_cast<ssize_t>(::executorch::runtime::kTensorDimensionLimit)) return false;
  ::executorch::aten::SizesType sizes[::executorch::runtime::kTensorDimensionLimit];
  for (ssize_t d = 0; d + 1 < input.dim(); ++d) sizes[d] = input.size(d);
  sizes[input.dim() - 1] = 1;
  const ::executorch::aten::ArrayRef<::executorch::aten::SizesType> shape(sizes, input.dim());
  return ::executorch::runtime::resize_tensor(scale, shape) == ::executorch::runtime::Error::Ok &&
         ::executorch::runtime::resize_tensor(zero_point, shape) == ::executorch::runtime::Error::Ok;
}

bool per_token_shapes_match(const Tensor& input, const Tensor& scale, const Tensor& zero_point) {
  if (input.dim() < 1 || scale.dim() != input.dim() || zero_point.dim() != input.dim()) return false;
  for (ssize_t d = 0; d + 1 < input.dim(); ++d) {
    if (scale.size(d) != input.size(d) || zero_point.size(d) != input.size(d)) return false;
  }
  return scale.size(input.dim() - 1) == 1 && zero_point.size(input.dim() - 1) == 1;
}

// Tokens in chunks on the runtime's thread pool past this many values (the wheel's kernels: past
// 512). A decode step's 12 tokens of 64 values took longer split over 2 threads than on one
// (profiled: 0.06 against 0.02 ms a step for quantize_per_token); a 64-token prefill's 49152 split.
constexpr int64_t kParallelValues = 16384;

template <typename Fn>
void for_each_token(int64_t tokens, int64_t token_size, const Fn& fn) {
  if (tokens * token_size < kParallelValues) {
    fn(0, tokens);
    return;
  }
  ::executorch::extension::parallel_for(0, tokens, 1, fn);
}

// choose_qparams_per_token_asymmetric.out(Tensor input, ScalarType dtype, *, Tensor(a!) scale_out,
// Tensor(b!) zero_point_out) -> (Tensor(a!), Tensor(b!)); stack: 4 arguments and the result.
// Profiling builds time each call under the operator's name (the wheel's kernels appear as
// "native_call_<name>", these under the name itself).
void choose_qparams_per_token_asymmetric_boxed(KernelRuntimeContext& ctx, Span<EValue*> stack) {
  ::executorch::runtime::internal::EventTracerProfileOpScope scope(
      ctx.internal_event_tracer(), "quantized_decomposed::choose_qparams_per_token_asymmetric.out");
  ET_KERNEL_CHECK_MSG(ctx, stack.size() == 5, InvalidArgument, , "expected 5 values on the stack, got %zu",
                      stack.size());
  const Tensor& input = stack[0]->toTensor();
  Tensor& scale_out = stack[2]->toTensor();
  Tensor& zero_point_out = stack[3]->toTensor();
  ET_KERNEL_CHECK(ctx, resize_per_token(input, scale_out, zero_point_out), InvalidArgument, );
  ET_KERNEL_CHECK(ctx, per_token_shapes_match(input, scale_out, zero_point_out), InvalidArgument, );
  const int64_t tokens = leading_size(input), token_size = input.size(input.dim() - 1);
  const float* x = input.const_data_ptr<float>();
  double* scales = scale_out.mutable_data_ptr<double>();
  int64_t* zero_points = zero_point_out.mutable_data_ptr<int64_t>();
  for_each_token(tokens, token_size, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float mn, mx;
      token_min_max(x + t * token_size, token_size, mn, mx);
      double scale;
      int32_t zero_point;
      calculate_scale_and_zero_point(mn, mx, -128, 127, scale, zero_point);  // int8, as the wheel's
      scales[t] = scale;
      zero_points[t] = zero_point;
    }
  });
}

// quantize_per_token.out(Tensor input, Tensor scales, Tensor zero_points, int quant_min,
// int quant_max, ScalarType dtype, *, Tensor(a!) out) -> Tensor(a!); stack: 7 arguments and the result.
void quantize_per_token_boxed(KernelRuntimeContext& ctx, Span<EValue*> stack) {
  ::executorch::runtime::internal::EventTracerProfileOpScope scope(ctx.internal_event_tracer(),
                                                                   "quantized_decomposed::quantize_per_token.out");
  ET_KERNEL_CHECK_MSG(ctx, stack.size() == 8, InvalidArgument, , "expected 8 values on the stack, got %zu",
                      stack.size());
  const Tensor& input = stack[0]->toTensor();
  const Tensor& scales = stack[1]->toTensor();
  const Tensor& zero_points = stack[2]->toTensor();
  const int64_t quant_min = stack[3]->toInt(), quant_max = stack[4]->toInt();
  Tensor& out = stack[6]->toTensor();
  ET_KERNEL_CHECK(ctx, per_token_shapes_match(input, scales, zero_points), InvalidArgument, );
  ET_KERNEL_CHECK(ctx, ::executorch::runtime::resize_tensor(out, input.sizes()) == ::executorch::runtime::Error::Ok,
                  InvalidArgument, );
  ET_KERNEL_CHECK(ctx, out.numel() == input.numel() && quant_min >= -128 && quant_max <= 127 && quant_min <= quant_max,
                  InvalidArgument, );
  const int64_t tokens = leading_size(input), token_size = input.size(input.dim() - 1);
  const float* x = input.const_data_ptr<float>();
  const double* scale = scales.const_data_ptr<double>();
  const int64_t* zero_point = zero_points.const_data_ptr<int64_t>();
  int8_t* q = out.mutable_data_ptr<int8_t>();
  for_each_token(tokens, token_size, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float inv_scale = 1.0f / static_cast<float>(scale[t]);
      quantize_token(x + t * token_size, token_size, inv_scale, static_cast<float>(static_cast<int32_t>(zero_point[t])),
                     static_cast<float>(quant_min), static_cast<float>(quant_max), q + t * token_size);
    }
  });
}

// Kernel keys: per tensor argument (results included) its dtype (6 float, 7 double, 4 int64,
// 1 int8) and dim order.
constexpr char kChooseKey[] = "v1/6;0,1,2,3|7;0,1,2,3|4;0,1,2,3";
constexpr char kQuantizeKey[] = "v1/6;0,1,2,3|7;0,1,2,3|4;0,1,2,3|1;0,1,2,3|1;0,1,2,3";

const ::executorch::runtime::Kernel kKernels[] = {
    ::executorch::runtime::Kernel("quantized_decomposed::choose_qparams_per_token_asymmetric.out", kChooseKey,
                                choose_qparams_per_token_asymmetric_boxed),
    ::executorch::runtime::Kernel("quantized_decomposed::quantize_per_token.out", kQuantizeKey, quantize_per_token_boxed),
};
const auto registration = ::executorch::runtime::register_kernels(kKernels);

}  // namespace
}  // namespace torch::executor::native
