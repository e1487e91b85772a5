// decode_region::step.out: a whole Llama-style model as one ExecuTorch kernel, each token one
// parallel region (decode_region.h), for programs examples/generation/decode_region_export.py
// writes.
//
//   step.out(Tensor tokens, Tensor input_pos, Tensor weights, Tensor(a!) k_cache,
//            Tensor(b!) v_cache, int[] dims, *, Tensor(c!) out) -> Tensor(c!)
//
// tokens int64 [1, seq] at positions input_pos[0] ..., weights the uint8 block decode_region.h
// describes, the caches fp32 [n_layers, max_seq, dim] (the program's mutable buffers), dims the
// seven sizes of decode_region_dims_t; out: the last token's logits, fp32 [1, vocab]. A prompt
// runs in one call, its GEMMs over all its rows.
//
// The region (XNNPACK's operators over their packed copy of the weights) is made on the first
// call for a weights block and thread count, and kept while the process lives; it also reads the
// block itself (embedding, norms), which stays mapped as long as the program is loaded. A block
// is known again by its address, sizes and a sample of its bytes, so a program loaded later at
// the same address gets a region of its own. Its threads spin at barriers: it runs on at most as
// many as the process has CPUs (and DECODE_REGION_MAX_THREADS), whatever the pool's size.

#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/kernel/kernel_includes.h>
#include <executorch/runtime/kernel/operator_registry.h>

#include <sched.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "decode_region.h"
#include "wheel_threadpool.h"

namespace {

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::runtime::EValue;
using executorch::runtime::KernelRuntimeContext;
using executorch::runtime::Span;

// 64 words spread over the block past the embedding (the norms and linears, which making the
// region read, so their pages are resident), mixed with their offsets: a block at the same
// address with other bytes (another program) is another block. The embedding's pages are left
// alone: a step reads one row of it.
uint64_t sample_of(const uint8_t* data, size_t size, const decode_region_dims_t& d) {
  const size_t from = static_cast<size_t>(d.vocab) * d.dim * sizeof(float), span = size - from;
  uint64_t sum = size;
  for (size_t i = 0; i < 64 && span >= 8; ++i) {
    const size_t at = from + (span - 8) * i / 63;
    uint64_t word;
    std::memcpy(&word, data + at, 8);
    sum = (sum ^ word) * 0x100000001b3ull + at;
  }
  return sum;
}

struct Made {
  const uint8_t* weights;
  uint64_t sample;
  decode_region_dims_t dims;
  size_t threads;
  decode_region_t* region;
};

std::mutex regions_mutex;  // held while a region is found, made or run: callers share its buffers

// One region per weights block, sizes and thread count, made on first use (regions_mutex held).
decode_region_t* region_for(const decode_region_dims_t& dims, const uint8_t* weights, size_t size, size_t threads,
                            const char** error) {
  static std::vector<Made> made;
  const uint64_t sample = sample_of(weights, size, dims);
  for (const Made& m : made)
    if (m.weights == weights && m.sample == sample && std::memcmp(&m.dims, &dims, sizeof dims) == 0 &&
        m.threads == threads)
      return m.region;
  if (xnn_initialize(nullptr) != xnn_status_success) return *error = "XNNPACK did not initialize", nullptr;
  decode_region_t* region = decode_region_create(&dims, weights, threads, error);
  if (region) made.push_back({weights, sample, dims, threads, region});
  return region;
}

// The pool's threads, at most the CPUs this process may run on and the region's bound.
size_t region_threads(size_t pool_threads) {
  cpu_set_t set;
  size_t cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<size_t>(CPU_COUNT(&set)) : 1;
  size_t threads = pool_threads < cpus ? pool_threads : cpus;
  return threads < DECODE_REGION_MAX_THREADS ? (threads ? threads : 1) : DECODE_REGION_MAX_THREADS;
}

// The argument checks; nullptr where they pass, else what is wrong.
const char* check_arguments(const Tensor& tokens, const Tensor& input_pos, const Tensor& weights, const Tensor& k_cache,
                            const Tensor& v_cache, const decode_region_dims_t& d, const Tensor& out) {
  if (const char* error = decode_region_check_dims(&d)) return error;
  const size_t cache = static_cast<size_t>(d.n_layers) * d.max_seq * d.dim;
  if (tokens.scalar_type() != ScalarType::Long || tokens.dim() != 2 || tokens.size(0) != 1 || tokens.size(1) < 1)
    return "tokens must be int64 [1, seq]";
  if (input_pos.scalar_type() != ScalarType::Long || input_pos.numel() != 1) return "input_pos must be int64 [1]";
  if (weights.scalar_type() != ScalarType::Byte || weights.nbytes() != decode_region_data_bytes(&d))
    return "the weights block's size is not what dims say";
  if (reinterpret_cast<uintptr_t>(weights.const_data_ptr<uint8_t>()) % alignof(float))
    return "the weights block is not 4-byte aligned";
  if (k_cache.scalar_type() != ScalarType::Float || v_cache.scalar_type() != ScalarType::Float ||
      static_cast<size_t>(k_cache.numel()) != cache || static_cast<size_t>(v_cache.numel()) != cache)
    return "the caches must be fp32 [n_layers, max_seq, dim]";
  if (out.scalar_type() != ScalarType::Float || out.numel() != d.vocab) return "out must be fp32 [1, vocab]";
  const int64_t start = input_pos.const_data_ptr<int64_t>()[0];
  if (start < 0 || start > d.max_seq || tokens.size(1) > d.max_seq - start) return "the tokens' positions run past max_seq";
  const int64_t* ids = tokens.const_data_ptr<int64_t>();
  for (ssize_t i = 0; i < tokens.size(1); ++i)
    if (ids[i] < 0 || ids[i] >= d.vocab) return "a token id is outside the vocabulary";
  return nullptr;
}

// stack: tokens, input_pos, weights, k_cache, v_cache, dims, out, and the returned out.
void step_boxed(KernelRuntimeContext& ctx, Span<EValue*> stack) {
  ::executorch::runtime::internal::EventTracerProfileOpScope scope(ctx.internal_event_tracer(),
                                                                   "decode_region::step.out");
  ET_KERNEL_CHECK_MSG(ctx, stack.size() == 8, InvalidArgument, , "expected 8 values on the stack, got %zu",
                      stack.size());
  const Tensor& tokens = stack[0]->toTensor();
  const Tensor& input_pos = stack[1]->toTensor();
  const Tensor& weights = stack[2]->toTensor();
  Tensor& k_cache = stack[3]->toTensor();
  Tensor& v_cache = stack[4]->toTensor();
  const auto sizes = stack[5]->toIntList();
  Tensor& out = stack[6]->toTensor();
  ET_KERNEL_CHECK_MSG(ctx, sizes.size() == 7, InvalidArgument, , "dims must hold 7 sizes, got %zu", sizes.size());
  decode_region_dims_t d;
  int32_t* fields[] = {&d.dim, &d.hidden, &d.n_layers, &d.n_heads, &d.vocab, &d.block, &d.max_seq};
  for (size_t i = 0; i < 7; ++i) {
    ET_KERNEL_CHECK_MSG(ctx, sizes[i] > 0 && sizes[i] <= INT32_MAX, InvalidArgument, , "dims[%zu] is out of range", i);
    *fields[i] = static_cast<int32_t>(sizes[i]);
  }
  const char* error = check_arguments(tokens, input_pos, weights, k_cache, v_cache, d, out);
  ET_KERNEL_CHECK_MSG(ctx, error == nullptr, InvalidArgument, , "decode_region::step: %s", error);

  auto* pool = ::executorch::extension::threadpool::get_threadpool();
  const size_t threads = region_threads(pool ? pool->get_thread_count() : 1);
  pthreadpool_t pthreads = threads > 1 ? ::executorch::extension::threadpool::get_pthreadpool() : nullptr;
  std::lock_guard<std::mutex> lock(regions_mutex);
  decode_region_t* region = region_for(d, weights.const_data_ptr<uint8_t>(), weights.nbytes(), threads, &error);
  ET_KERNEL_CHECK_MSG(ctx, region != nullptr, Internal, , "decode_region::step: %s", error);
  decode_region_set_caches(region, k_cache.mutable_data_ptr<float>(), v_cache.mutable_data_ptr<float>());
  const int64_t start = input_pos.const_data_ptr<int64_t>()[0];
  const int64_t* ids = tokens.const_data_ptr<int64_t>();
  static std::vector<int32_t> narrow;  // kept between calls (regions_mutex held): no allocation a token
  narrow.assign(ids, ids + tokens.size(1));  // checked: every id is below vocab
  ET_KERNEL_CHECK_MSG(ctx, decode_region_forward(region, pthreads, narrow.data(), narrow.size(), start), Internal, ,
                      "decode_region::step: an XNNPACK operator failed");
  std::memcpy(out.mutable_data_ptr<float>(), decode_region_logits(region), d.vocab * sizeof(float));
}

const ::executorch::runtime::Kernel kKernels[] = {
    ::executorch::runtime::Kernel("decode_region::step.out", step_boxed),
};
const auto registration = ::executorch::runtime::register_kernels(kKernels);

}  // namespace
