// One decode step of a Llama-style model in one parallel region: XNNPACK's 4-bit GEMMs in slices
// per thread with the norms, activation quantization, rotary embedding, KV cache and attention
// between them, the threads meeting at spin barriers instead of joining the pool after every
// operator (decode_region.c says how). Used by xnnpack_decode_probe (runtime/decode_probe) and
// by the ExecuTorch backend DecodeRegionBackend (decode_region_backend.cpp).
//
// The weights: the fp32 token embedding [vocab][dim] (optional: a caller may embed the tokens
// itself), every fp32 norm (per layer attention then feed-forward, then the output norm), and
// the linears, per layer q, k, v, o, w1, w3, w2 and then the output projection, each int4 values
// (two a byte, the even input in the low nibble, value - 8; [n][k/2]) then bf16 scales
// ([n][k/block]). The norms and linears are read only while the region is made: the region
// copies the norms and XNNPACK packs its own copy of each linear, so a caller can free each as
// soon as it is added (the backend does: the weights are never resident twice). The weights
// block of a file (the probe's) is the norms then every linear in that order.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "xnnpack_operator_api.h"  // runtime/gemm_probe: pthreadpool_t

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int32_t dim, hidden, n_layers, n_heads, vocab, block, max_seq;
} decode_region_dims_t;

#define DECODE_REGION_MAX_THREADS 64
#define DECODE_REGION_LINEARS_PER_LAYER 7  // q, k, v, o, w1, w3, w2

typedef struct decode_region decode_region_t;

// NULL where the sizes fit, else why not.
const char* decode_region_check_dims(const decode_region_dims_t* dims);
// The size of the weights block (norms, then every linear) for these sizes.
size_t decode_region_weights_bytes(const decode_region_dims_t* dims);
// The size of the embedding table, vocab x dim fp32.
size_t decode_region_embedding_bytes(const decode_region_dims_t* dims);
// The size of the norms, (2 n_layers + 1) x dim fp32.
size_t decode_region_norms_bytes(const decode_region_dims_t* dims);
// The size of one linear (decode_region_add_linear).
size_t decode_region_linear_bytes(const decode_region_dims_t* dims, int32_t layer, int index);

// The region without its linears, for `threads` threads (the pool's, or 1): `norms`, the
// (2 n_layers + 1) x dim fp32 norms, are copied. `embedding`: the table decode_region_forward
// reads token rows from (kept alive by the caller), or NULL where only decode_region_forward_rows
// is called. NULL and *error set where it cannot be made.
decode_region_t* decode_region_create(const decode_region_dims_t* dims, const float* embedding, const float* norms,
                                      size_t threads, const char** error);
// Linear `index` (0..6: q, k, v, o, w1, w3, w2) of layer `layer`, or the output projection
// (layer n_layers, index 0): decode_region_linear_bytes of int4 values then bf16 scales (2-byte
// aligned), packed here; the caller may free `bytes` after. Each once; the region runs when all
// are added. 0 and *error set where XNNPACK refuses it.
int decode_region_add_linear(decode_region_t* region, int32_t layer, int index, const uint8_t* bytes,
                             const char** error);
// decode_region_create, then every linear from a weights block (decode_region_weights_bytes,
// 4-byte aligned).
decode_region_t* decode_region_create_from_block(const decode_region_dims_t* dims, const float* embedding,
                                                 const uint8_t* block, size_t threads, const char** error);

// The KV cache, fp32 [n_layers][max_seq][dim] each; set before the first step.
void decode_region_set_caches(decode_region_t* region, float* k_cache, float* v_cache);
// `count` tokens at positions position ... position + count - 1 (cache rows 0..position-1
// already written): writes their cache rows and the last token's logits. A prompt (count > 1)
// runs its GEMMs over all its rows at once (the operators are reshaped when count changes).
// `pool`: a pool of the region's thread count, or NULL with one thread. 0 where the positions
// run past max_seq, an XNNPACK operator failed, the region has no embedding table, or not
// every linear was added.
int decode_region_forward(decode_region_t* region, pthreadpool_t pool, const int32_t* tokens, size_t count,
                          size_t position);
// decode_region_forward of `count` rows already embedded, fp32 [count][dim].
int decode_region_forward_rows(decode_region_t* region, pthreadpool_t pool, const float* rows, size_t count,
                               size_t position);
// decode_region_forward of one token.
int decode_region_step(decode_region_t* region, pthreadpool_t pool, int32_t token, size_t position);
// The last call's logits, [vocab].
const float* decode_region_logits(const decode_region_t* region);
void decode_region_destroy(decode_region_t* region);

#ifdef __cplusplus
}
#endif
