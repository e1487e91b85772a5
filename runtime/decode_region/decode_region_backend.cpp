// DecodeRegionBackend: a Llama-style model's layers as one ExecuTorch delegate, each token one
// parallel region (decode_region.h), for programs examples/generation/decode_region_export.py
// writes.
//
// The processed blob: a 64-byte header ("DREGION1", the seven int32 sizes of
// decode_region_dims_t, zeros), then the fp32 norms. Each linear is named data of the program,
// "decode_region.<layer>.<index>" (decode_region_add_linear's numbering: the output projection is
// layer n_layers, index 0), its int4 values then bf16 scales. The embedding stays a constant of
// the program, gathered outside. The delegate call: (hidden fp32 [1, seq, dim], input_pos int64
// [1]) -> logits fp32 [1, vocab] of the last row.
//
// Why a backend and not a kernel over a constant: init() makes the region (XNNPACK packs each
// linear) and frees what it read as it goes, as the XNNPACK delegate does with its named data.
// The packing happens at load, not in the first token's time, and each linear is resident twice
// only while it is packed, so the weights stay resident once, packed. The KV cache is the
// delegate's own, fp32 [n_layers][max_seq][dim] each, allocated at init; a generation from
// position 0 overwrites what an earlier one left.
//
// The region spins its threads at barriers, so it runs on at most the CPUs this process may use
// (and DECODE_REGION_MAX_THREADS), fixed at init: a pool resized after load is refused.

#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/named_data_map.h>

#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "decode_region.h"
#include "wheel_threadpool.h"

namespace {

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::runtime::ArrayRef;
using executorch::runtime::BackendExecutionContext;
using executorch::runtime::BackendInitContext;
using executorch::runtime::BackendInterface;
using executorch::runtime::CompileSpec;
using executorch::runtime::DelegateHandle;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::FreeableBuffer;
using executorch::runtime::NamedDataMap;
using executorch::runtime::Result;
using executorch::runtime::Span;

constexpr char kMagic[8] = {'D', 'R', 'E', 'G', 'I', 'O', 'N', '1'};
constexpr size_t kHeaderBytes = 64;

struct Handle {
  decode_region_dims_t dims;
  size_t pool_threads;  // the pool's at init
  size_t threads;       // the region's: at most the pool's and the usable CPUs'

  decode_region_t* region;
  float *k_cache, *v_cache;
};

void destroy_handle(Handle* h) {
  decode_region_destroy(h->region);
  std::free(h->k_cache), std::free(h->v_cache);
  delete h;
}

size_t pool_threads() {
  auto* pool = ::executorch::extension::threadpool::get_threadpool();
  return pool ? pool->get_thread_count() : 1;
}

// The pool's threads, at most the CPUs this process may run on and the region's bound.
size_t region_threads() {
  size_t threads = pool_threads();
  cpu_set_t set;
  const size_t cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<size_t>(CPU_COUNT(&set)) : 1;
  threads = threads < cpus ? threads : cpus;
  return threads < DECODE_REGION_MAX_THREADS ? (threads ? threads : 1) : DECODE_REGION_MAX_THREADS;
}

// The header's sizes; nullptr where the blob holds them and the norms, else why not.
const char* read_header(const FreeableBuffer& blob, decode_region_dims_t* d) {
  const auto* bytes = static_cast<const uint8_t*>(blob.data());
  if (blob.size() < kHeaderBytes || std::memcmp(bytes, kMagic, sizeof kMagic)) return "the blob has no DREGION1 header";
  std::memcpy(d, bytes + sizeof kMagic, sizeof *d);
  if (const char* error = decode_region_check_dims(d)) return error;
  if (blob.size() != kHeaderBytes + decode_region_norms_bytes(d))
    return "the blob's size is not what its sizes say";
  if (reinterpret_cast<uintptr_t>(bytes) % alignof(float)) return "the blob is not 4-byte aligned";
  return nullptr;
}

// Every linear from the program's named data, each freed once packed; Error::Ok, else logged.
Error add_linears(decode_region_t* region, const decode_region_dims_t& d, const NamedDataMap* data) {
  ET_CHECK_OR_RETURN_ERROR(data != nullptr, InvalidProgram, "DecodeRegionBackend: the program has no named data");
  for (int32_t layer = 0; layer <= d.n_layers; ++layer)
    for (int index = 0; index < (layer < d.n_layers ? DECODE_REGION_LINEARS_PER_LAYER : 1); ++index) {
      char key[48];
      std::snprintf(key, sizeof key, "decode_region.%d.%d", static_cast<int>(layer), index);
      auto bytes = data->get_data(key);
      ET_CHECK_OR_RETURN_ERROR(bytes.ok(), InvalidProgram, "DecodeRegionBackend: no named data %s (error 0x%x)", key,
                               static_cast<unsigned>(bytes.error()));
      const size_t expected = decode_region_linear_bytes(&d, layer, index);
      ET_CHECK_OR_RETURN_ERROR(bytes->size() == expected, InvalidProgram,
                               "DecodeRegionBackend: named data %s holds %zu bytes, its sizes say %zu", key,
                               bytes->size(), expected);
      ET_CHECK_OR_RETURN_ERROR(reinterpret_cast<uintptr_t>(bytes->data()) % alignof(uint16_t) == 0, InvalidProgram,
                               "DecodeRegionBackend: named data %s is not 2-byte aligned", key);
      const char* error = nullptr;
      const int added = decode_region_add_linear(region, layer, index, static_cast<const uint8_t*>(bytes->data()), &error);
      bytes->Free();  // XNNPACK holds its packed copy: the next linear is read only after this one went
      ET_CHECK_OR_RETURN_ERROR(added, NotSupported, "DecodeRegionBackend: %s: %s", key, error);
    }
  return Error::Ok;
}

class DecodeRegionBackend final : public BackendInterface {
 public:
  bool is_available() const override { return true; }

  Result<DelegateHandle*> init(BackendInitContext& context, FreeableBuffer* processed,
                               ArrayRef<CompileSpec>) const override {
    decode_region_dims_t d;
    const char* error = read_header(*processed, &d);
    ET_CHECK_OR_RETURN_ERROR(error == nullptr, DelegateInvalidCompatibility, "DecodeRegionBackend: %s", error);
    ET_CHECK_OR_RETURN_ERROR(xnn_initialize(nullptr) == xnn_status_success, Internal,
                             "DecodeRegionBackend: XNNPACK did not initialize");
    auto* h = new (std::nothrow) Handle{d, pool_threads(), region_threads(), nullptr, nullptr, nullptr};
    ET_CHECK_OR_RETURN_ERROR(h != nullptr, MemoryAllocationFailed, "DecodeRegionBackend: out of memory");
    const auto* norms = reinterpret_cast<const float*>(static_cast<const uint8_t*>(processed->data()) + kHeaderBytes);
    h->region = decode_region_create(&d, /*embedding=*/nullptr, norms, h->threads, &error);
    processed->Free();  // the region copied the norms
    Error status = Error::Ok;
    if (!h->region) {
      ET_LOG(Error, "DecodeRegionBackend: %s", error);
      status = Error::MemoryAllocationFailed;  // sizes were checked: what is left is memory
    } else if ((status = add_linears(h->region, d, context.get_named_data_map())) == Error::Ok) {
      const size_t cache = static_cast<size_t>(d.n_layers) * d.max_seq * d.dim;
      h->k_cache = static_cast<float*>(std::calloc(cache, sizeof(float)));
      h->v_cache = static_cast<float*>(std::calloc(cache, sizeof(float)));
      if (!h->k_cache || !h->v_cache) {
        ET_LOG(Error, "DecodeRegionBackend: out of memory for the KV cache");
        status = Error::MemoryAllocationFailed;
      }
    }
    if (status != Error::Ok) {
      destroy_handle(h);
      return status;
    }
    decode_region_set_caches(h->region, h->k_cache, h->v_cache);
    return h;
  }

  Error execute(BackendExecutionContext&, DelegateHandle* handle, Span<EValue*> args) const override {
    auto* h = static_cast<Handle*>(handle);
    ET_CHECK_OR_RETURN_ERROR(args.size() == 3 && args[0]->isTensor() && args[1]->isTensor() && args[2]->isTensor(),
                             InvalidArgument, "DecodeRegionBackend: expected (hidden, input_pos) -> logits");
    const Tensor& hidden = args[0]->toTensor();
    const Tensor& input_pos = args[1]->toTensor();
    Tensor& logits = args[2]->toTensor();
    if (const char* error = check_arguments(h->dims, hidden, input_pos, logits)) {
      ET_LOG(Error, "DecodeRegionBackend: %s", error);
      return Error::InvalidArgument;
    }
    // A region of 2 threads on a pool of 1 would wait at its first barrier for good.
    ET_CHECK_OR_RETURN_ERROR(pool_threads() == h->pool_threads, InvalidState,
                             "DecodeRegionBackend: the thread pool changed size since the program was loaded");
    pthreadpool_t pool = h->threads > 1 ? ::executorch::extension::threadpool::get_pthreadpool() : nullptr;
    const int64_t position = input_pos.const_data_ptr<int64_t>()[0];
    ET_CHECK_OR_RETURN_ERROR(decode_region_forward_rows(h->region, pool, hidden.const_data_ptr<float>(),
                                                        hidden.size(1), static_cast<size_t>(position)),
                             Internal, "DecodeRegionBackend: an XNNPACK operator failed");
    std::memcpy(logits.mutable_data_ptr<float>(), decode_region_logits(h->region), h->dims.vocab * sizeof(float));
    return Error::Ok;
  }

  void destroy(DelegateHandle* handle) const override {
    if (handle) destroy_handle(static_cast<Handle*>(handle));
  }

 private:
  // nullptr where the call's tensors fit the region, else what is wrong.
  static const char* check_arguments(const decode_region_dims_t& d, const Tensor& hidden, const Tensor& input_pos,
                                     const Tensor& logits) {
    if (hidden.scalar_type() != ScalarType::Float || hidden.dim() != 3 || hidden.size(0) != 1 || hidden.size(1) < 1 ||
        hidden.size(2) != d.dim)
      return "hidden must be fp32 [1, seq, dim]";
    if (input_pos.scalar_type() != ScalarType::Long || input_pos.numel() != 1) return "input_pos must be int64 [1]";
    if (logits.scalar_type() != ScalarType::Float || logits.numel() != d.vocab) return "logits must be fp32 [1, vocab]";
    const int64_t start = input_pos.const_data_ptr<int64_t>()[0];
    if (start < 0 || start > d.max_seq || hidden.size(1) > d.max_seq - start) return "the positions run past max_seq";
    return nullptr;
  }
};

DecodeRegionBackend backend;
const auto registered = executorch::runtime::register_backend({"DecodeRegionBackend", &backend});

}  // namespace
