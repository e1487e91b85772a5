// One decode step of a Llama-style model in one parallel region (see decode_region.h).
//
// A program's decode step joins its thread pool after every XNNPACK operator and runs the work
// between the GEMMs (norms, activation quantization, rotary embedding, cache update, residuals)
// on one thread while the others wait. Here one pool job runs the whole step: each thread owns
// a slice of every linear's output rows (whole 16-row tiles; its own XNNPACK operator, run
// single-threaded, the same qdu8 x qb4w operator as xnnpack_gemm_probe), attends over its own
// chunks of 16 cached keys for every head (split-K; the chunks' parts are combined in chunk
// order), and computes the small vector work itself, redundantly, into its own buffers (cheaper
// than meeting the others for 768 floats). The threads meet at a spin barrier five times a
// layer: after q/k/v, after attention, after o, after w1/w3 and after w2, where the next part
// reads every row of the previous one.
//
// The math (examples/generation/decode_region.py holds a numpy reference of it): RMSNorm
// (eps 1e-5), per-row asymmetric uint8 activations (zero point and scale from the row's
// min/max with 0), int4 weights in blocks with bf16 scales (zero point 8), rotary embedding on
// adjacent pairs (theta 10000), causal attention over an fp32 KV cache, SwiGLU feed-forward,
// output projection. Outputs do not depend on the thread count (each value is computed by one
// thread, in the same order): tests/test_decode_probe.py holds 1 and 2 threads equal.
//

#include "decode_region.h"
#include "spin_barrier.h"  // runtime/gemm_probe

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS DECODE_REGION_MAX_THREADS
#define SLICE_ROWS 16                 // output rows per XNNPACK tile of this kernel family
#define EXTRA_QUANTIZATION_PARAMS 16  // XNNPACK reads past a row's parameters
#define INPUT_PADDING 64              // and past the end of a quantized row
#define CHUNK_KEYS 16  // keys a thread attends to at a time (a multiple of 16 lanes: exactly one)
#define MAX_CHUNKS ((1 << 16) / CHUNK_KEYS + 16)

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VECTOR_CLONES
#endif

// 16 floats in registers (GCC/Clang vector extensions); loads and stores through the unaligned type.
typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
#define LOAD(p) (*(const v16u*) (p))
#define STORE(p, v) (*(v16u*) (p) = (v))

typedef decode_region_dims_t dims_t;

typedef struct {
  size_t n, k;
  xnn_operator_t ops[MAX_THREADS];  // thread t's slice of the rows (NULL: none left for it)
  size_t row0[MAX_THREADS];
  float* output;  // [rows][n], shared: each thread writes its columns (the layers' linears of a kind share one)
} linear_t;

enum { WQ, WK, WV, WO, W1, W3, W2, LINEARS_PER_LAYER };
_Static_assert(LINEARS_PER_LAYER == DECODE_REGION_LINEARS_PER_LAYER, "decode_region.h's count");
static int is_wide(int index) { return index == W1 || index == W3; }  // n = hidden

typedef struct {
  const float *attn_norm, *ffn_norm;
  linear_t linears[LINEARS_PER_LAYER];
  float *k_cache, *v_cache;  // [max_seq][dim]
} layer_t;

// One thread's own activations: the residual stream and what it quantizes.
typedef struct {
  // x, xn: [rows][dim], h: [rows][hidden]; q: a token's query; attention: its attention output;
  // scores: [heads][CHUNK_KEYS], or a prompt's [max_seq + 16] per head.
  float *x, *xn, *h, *q, *attention, *scores;
  v16* partial;                                 // [heads][CHUNK_KEYS]: q.k in lanes
  uint8_t* qrow;                        // [rows][k]: the next linears' quantized input
  struct xnn_quantization_params* qp;  // [max_seq + EXTRA_QUANTIZATION_PARAMS]: per row
  unsigned sense;
} lane_t;

struct decode_region {
  dims_t d;
  const float* embedding;  // [vocab][dim], or NULL (rows come embedded)
  float *norms, *out_norm;  // the block's, copied: [n_layers][2][dim], then [dim]
  float *rope;  // [max_seq][head_dim / 2][cos, sin]
  layer_t* layers;
  linear_t output;
  float* outputs[LINEARS_PER_LAYER];  // what the layers' linears of each kind write, [max_seq][n]
  float* logits;                      // the output projection's, [vocab]
  float* prompt_attention;            // [max_seq][dim]: a prompt's attention output, heads by thread
  // Shared attention parts, chunk by chunk: weighted values [chunk][dim], max and sum of exps
  // [head][chunk_stride].
  float *chunk_out, *chunk_max, *chunk_sum;
  size_t chunk_stride;
  size_t threads;
  lane_t lanes[MAX_THREADS];
  barrier_t barrier;
  size_t position, rows;  // the first token's position; tokens this call (the operators' batch)
  const int32_t* tokens;  // this call's, or NULL with
  const float* rows_in;   // its rows, embedded
  atomic_int failed;
  size_t linears_added;  // the region runs once all are (n_layers x LINEARS_PER_LAYER + 1)
};
typedef struct decode_region model_t;

// ------------------------------------------------------------------ vector math (lengths: multiples of 16)

static inline __attribute__((always_inline)) v16 splat(float value) { return (v16){0} + value; }
static inline __attribute__((always_inline)) v16 blend(v16i mask, v16 a, v16 b) { return (v16) (((v16i) a & mask) | ((v16i) b & ~mask)); }
static inline __attribute__((always_inline)) float sum16(v16 v) {
  float s = 0;
  for (int i = 0; i < 16; ++i) s += v[i];
  return s;
}

// e^x for x in [-87, 87] (clamped), Cephes' expf polynomial (about 1 ulp).
static inline __attribute__((always_inline)) v16 exp16(v16 x) {
  x = blend(x < splat(-87.0f), splat(-87.0f), blend(x > splat(87.0f), splat(87.0f), x));
  v16 y = x * 1.44269504088896341f;
  v16i k = __builtin_convertvector(y + blend(y < splat(0.0f), splat(-0.5f), splat(0.5f)), v16i);
  v16 kf = __builtin_convertvector(k, v16);
  v16 r = x - kf * 0.693359375f + kf * 2.12194440e-4f;
  v16 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * (v16) ((k + 127) << 23);
}

// out = x / sqrt(mean(x^2) + 1e-5) * weight
VECTOR_CLONES static void rms_norm(const float* x, const float* weight, float* out, size_t n) {
  v16 acc = {0};
  for (size_t i = 0; i < n; i += 16) acc += LOAD(x + i) * LOAD(x + i);
  float inv = 1.0f / sqrtf(sum16(acc) / (float) n + 1e-5f);
  for (size_t i = 0; i < n; i += 16) STORE(out + i, LOAD(x + i) * inv * LOAD(weight + i));
}

// uint8 values with the row's zero point and scale (min and max widened to include 0).
VECTOR_CLONES static void quantize_row(const float* x, size_t n, uint8_t* q, struct xnn_quantization_params* qp) {
  v16 lo = {0}, hi = {0};
  for (size_t i = 0; i < n; i += 16) {
    v16 v = LOAD(x + i);
    lo = blend(v < lo, v, lo);
    hi = blend(v > hi, v, hi);
  }
  float min = 0, max = 0;
  for (int i = 0; i < 16; ++i) min = lo[i] < min ? lo[i] : min, max = hi[i] > max ? hi[i] : max;
  float scale = max > min ? (max - min) / 255.0f : 1.0f, inv = 1.0f / scale;
  float zero_point = rintf(-min * inv);
  zero_point = zero_point < 0 ? 0 : zero_point > 255 ? 255 : zero_point;
  for (size_t i = 0; i < n; ++i) {
    float v = rintf(x[i] * inv) + zero_point;
    q[i] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
  }
  *qp = (struct xnn_quantization_params){(int32_t) zero_point, scale};
}

// Every row quantized, each with its own parameters (and the last row's repeated past the end,
// where XNNPACK reads).
static void quantize_rows(const float* x, size_t rows, size_t n, uint8_t* q, struct xnn_quantization_params* qp) {
  for (size_t r = 0; r < rows; ++r) quantize_row(x + r * n, n, q + r * n, qp + r);
  for (size_t i = 0; i < EXTRA_QUANTIZATION_PARAMS; ++i) qp[rows + i] = qp[rows - 1];
}

static void rms_norm_rows(const float* x, const float* weight, float* out, size_t rows, size_t n) {
  for (size_t r = 0; r < rows; ++r) rms_norm(x + r * n, weight, out + r * n, n);
}

// out = silu(a) * b
VECTOR_CLONES static void swiglu(const float* a, const float* b, float* out, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    v16 v = LOAD(a + i);
    STORE(out + i, v / (1.0f + exp16(-v)) * LOAD(b + i));
  }
}

VECTOR_CLONES static void add_to(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; i += 16) STORE(x + i, LOAD(x + i) + LOAD(y + i));
}

// Rotary embedding of one head's adjacent pairs at the table's position.
static void rotate(float* head, const float* table, size_t head_dim) {
  for (size_t i = 0; i < head_dim / 2; ++i) {
    float a = head[2 * i], b = head[2 * i + 1], c = table[2 * i], s = table[2 * i + 1];
    head[2 * i] = a * c - b * s;
    head[2 * i + 1] = a * s + b * c;
  }
}

// q.k for one key row, left in 16 lanes: 64 floats at a time as a tree of four products.
static inline __attribute__((always_inline)) v16 dot_lanes(const float* q, const float* k, size_t n) {
  v16 acc = {0};
  size_t i = 0;
  for (; i + 64 <= n; i += 64)
    acc += (LOAD(q + i) * LOAD(k + i) + LOAD(q + i + 16) * LOAD(k + i + 16)) +
           (LOAD(q + i + 32) * LOAD(k + i + 32) + LOAD(q + i + 48) * LOAD(k + i + 48));
  for (; i < n; i += 16) acc += LOAD(q + i) * LOAD(k + i);
  return acc;
}

// Lane u of the result: the sum of p[u]'s lanes (16 sums in 15 vector additions: each level
// halves the lanes per sum and doubles the sums per vector).
static inline __attribute__((always_inline)) v16 sum_lanes_of_16(const v16* p) {
  v16 a[8], b[4], c[2];
  for (int i = 0; i < 8; ++i)
    a[i] = __builtin_shufflevector(p[2 * i], p[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
           __builtin_shufflevector(p[2 * i], p[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  for (int i = 0; i < 4; ++i)
    b[i] = __builtin_shufflevector(a[2 * i], a[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           __builtin_shufflevector(a[2 * i], a[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  for (int i = 0; i < 2; ++i)
    c[i] = __builtin_shufflevector(b[2 * i], b[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
           __builtin_shufflevector(b[2 * i], b[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  return __builtin_shufflevector(c[0], c[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(c[0], c[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// ------------------------------------------------------------------ one step, one region

static void run_slice(model_t* m, const linear_t* linear, size_t thread) {
  if (linear->ops[thread] && xnn_run_operator(linear->ops[thread], NULL) != xnn_status_success)
    atomic_store(&m->failed, 1);
}

// A prompt's attention, one head of one row over keys 0..last: softmax(q.k / sqrt(hd)) . v, rows
// `stride` floats apart; scores has room for last + 16.
VECTOR_CLONES static void attend_head(const float* q, const float* keys, const float* values, size_t stride,
                                      size_t last, size_t head_dim, float* scores, float* out) {
  float scale = 1.0f / sqrtf((float) head_dim), max = -INFINITY;
  for (size_t j = 0; j <= last; ++j) {
    scores[j] = sum16(dot_lanes(q, keys + j * stride, head_dim)) * scale;
    max = scores[j] > max ? scores[j] : max;
  }
  size_t padded = (last + 16) / 16 * 16;
  for (size_t j = last + 1; j < padded; ++j) scores[j] = -INFINITY;
  v16 total = {0};
  for (size_t j = 0; j < padded; j += 16) {
    v16 e = blend(LOAD(scores + j) == splat(-INFINITY), splat(0.0f), exp16(LOAD(scores + j) - max));
    STORE(scores + j, e);
    total += e;
  }
  float inverse = 1.0f / sum16(total);
  for (size_t i = 0; i < head_dim; i += 16) {
    v16 acc = {0};
    for (size_t j = 0; j <= last; ++j) acc += scores[j] * LOAD(values + j * stride + i);
    STORE(out + i, acc * inverse);
  }
}

// A prompt's attention (rows > 1), split by heads: the thread rotates its heads' q and k in
// every row, writes its heads' part of each row's cache entry, and attends causally; no other
// thread reads what it writes before the next barrier.
static void attention_prompt(model_t* m, layer_t* layer, size_t thread, lane_t* lane) {
  size_t dim = m->d.dim, heads = m->d.n_heads, head_dim = dim / heads;
  float *q = layer->linears[WQ].output, *k = layer->linears[WK].output, *v = layer->linears[WV].output;
  for (size_t h = thread * heads / m->threads; h < (thread + 1) * heads / m->threads; ++h) {
    size_t at = h * head_dim;
    for (size_t r = 0; r < m->rows; ++r) {
      size_t pos = m->position + r;
      const float* table = m->rope + pos * head_dim;
      rotate(q + r * dim + at, table, head_dim);
      rotate(k + r * dim + at, table, head_dim);
      memcpy(layer->k_cache + pos * dim + at, k + r * dim + at, head_dim * sizeof(float));
      memcpy(layer->v_cache + pos * dim + at, v + r * dim + at, head_dim * sizeof(float));
    }
    for (size_t r = 0; r < m->rows; ++r)
      attend_head(q + r * dim + at, layer->k_cache + at, layer->v_cache + at, dim, m->position + r, head_dim,
                  lane->scores, m->prompt_attention + r * dim + at);
  }
}

// Attention by chunks of 16 keys (split-K, as flash decoding): each thread reads whole cache
// rows in order for every head (a head's 256-byte slice of each row, one head at a time, is what
// the prefetchers do not follow), keeps each chunk's max, sum of exps and unnormalized weighted
// values per head, and every thread then combines the chunks in order, so the result does not
// depend on how many threads took chunks.
static inline __attribute__((always_inline)) void attend_chunk(const model_t* m, const layer_t* layer, const float* q,
                                                               size_t chunk, float* scores, v16* partial) {
  size_t dim = m->d.dim, heads = m->d.n_heads, head_dim = dim / heads, first = chunk * CHUNK_KEYS;
  size_t count = m->position + 1 - first < CHUNK_KEYS ? m->position + 1 - first : CHUNK_KEYS;
  float scale = 1.0f / sqrtf((float) head_dim), *out = m->chunk_out + chunk * dim;
  for (size_t u = 0; u < CHUNK_KEYS; ++u)  // whole key rows in order, every head
    for (size_t h = 0; h < heads; ++h)
      partial[h * CHUNK_KEYS + u] = u < count ? dot_lanes(q + h * head_dim, layer->k_cache + (first + u) * dim +
                                                          h * head_dim, head_dim) : (v16){0};
  v16 lanes = {0};
  for (size_t u = 0; u < CHUNK_KEYS; ++u) lanes[u] = u < count ? 0.0f : -INFINITY;
  for (size_t h = 0; h < heads; ++h) {
    v16 s = sum_lanes_of_16(partial + h * CHUNK_KEYS) * scale + lanes;
    float max = s[0];
    for (int i = 1; i < 16; ++i) max = s[i] > max ? s[i] : max;
    v16 e = blend(s == splat(-INFINITY), splat(0.0f), exp16(s - max));
    STORE(scores + h * CHUNK_KEYS, e);
    m->chunk_max[h * m->chunk_stride + chunk] = max;
    m->chunk_sum[h * m->chunk_stride + chunk] = sum16(e);
  }
  memset(out, 0, dim * sizeof(float));
  for (size_t u = 0; u < count; ++u)
    for (size_t h = 0; h < heads; ++h) {
      const float* row = layer->v_cache + (first + u) * dim + h * head_dim;
      float weight = scores[h * CHUNK_KEYS + u];
      for (size_t i = 0; i < head_dim; i += 16) STORE(out + h * head_dim + i, LOAD(out + h * head_dim + i) + weight * LOAD(row + i));
    }
}

// Every thread: the chunks' parts combined per head, in chunk order, into `out`.
VECTOR_CLONES static void combine_chunks(const model_t* m, float* out) {
  size_t dim = m->d.dim, heads = m->d.n_heads, head_dim = dim / heads, chunks = m->position / CHUNK_KEYS + 1;
  float weights[MAX_CHUNKS];
  for (size_t h = 0; h < heads; ++h) {
    const float *max = m->chunk_max + h * m->chunk_stride, *sum = m->chunk_sum + h * m->chunk_stride;
    float top = max[0], total = 0;
    for (size_t c = 1; c < chunks; ++c) top = max[c] > top ? max[c] : top;
    for (size_t c = 0; c < chunks; c += 16) {
      v16 w = exp16(LOAD(max + c) - top);
      for (size_t i = 0; i < 16 && c + i < chunks; ++i) weights[c + i] = w[i], total += w[i] * sum[c + i];
    }
    for (size_t i = 0; i < head_dim; i += 16) {
      v16 acc = {0};
      for (size_t c = 0; c < chunks; ++c) acc += weights[c] * LOAD(m->chunk_out + c * dim + h * head_dim + i);
      STORE(out + h * head_dim + i, acc / total);
    }
  }
}

// The thread's chunks of keys (contiguous; the one holding this position also rotates k and
// writes the cache row), after rotating its own copy of q.
VECTOR_CLONES static void attention_chunks(model_t* m, layer_t* layer, size_t thread, lane_t* lane) {
  size_t dim = m->d.dim, heads = m->d.n_heads, head_dim = dim / heads, pos = m->position;
  size_t chunks = pos / CHUNK_KEYS + 1, c0 = thread * chunks / m->threads, c1 = (thread + 1) * chunks / m->threads;
  if (c0 == c1) return;
  const float* table = m->rope + pos * head_dim;
  memcpy(lane->q, layer->linears[WQ].output, dim * sizeof(float));
  for (size_t h = 0; h < heads; ++h) rotate(lane->q + h * head_dim, table, head_dim);
  if (c1 == chunks) {  // the last chunk reads this position's row: its thread writes it
    float* k = layer->linears[WK].output;
    for (size_t h = 0; h < heads; ++h) rotate(k + h * head_dim, table, head_dim);
    memcpy(layer->k_cache + pos * dim, k, dim * sizeof(float));
    memcpy(layer->v_cache + pos * dim, layer->linears[WV].output, dim * sizeof(float));
  }
  for (size_t c = c0; c < c1; ++c) attend_chunk(m, layer, lane->q, c, lane->scores, lane->partial);
}

// One layer over the call's rows. A token attends by chunks of keys; a prompt by heads.
static void block(model_t* m, layer_t* layer, size_t thread, lane_t* lane) {
  size_t dim = m->d.dim, hidden = m->d.hidden, rows = m->rows;
  linear_t* l = layer->linears;
  rms_norm_rows(lane->x, layer->attn_norm, lane->xn, rows, dim);
  quantize_rows(lane->xn, rows, dim, lane->qrow, lane->qp);
  run_slice(m, &l[WQ], thread), run_slice(m, &l[WK], thread), run_slice(m, &l[WV], thread);
  barrier_wait(&m->barrier, &lane->sense);
  if (rows == 1) attention_chunks(m, layer, thread, lane);
  else attention_prompt(m, layer, thread, lane);
  barrier_wait(&m->barrier, &lane->sense);
  if (rows == 1) combine_chunks(m, lane->attention);
  quantize_rows(rows == 1 ? lane->attention : m->prompt_attention, rows, dim, lane->qrow, lane->qp);
  run_slice(m, &l[WO], thread);
  barrier_wait(&m->barrier, &lane->sense);
  add_to(lane->x, l[WO].output, rows * dim);
  rms_norm_rows(lane->x, layer->ffn_norm, lane->xn, rows, dim);
  quantize_rows(lane->xn, rows, dim, lane->qrow, lane->qp);
  run_slice(m, &l[W1], thread), run_slice(m, &l[W3], thread);
  barrier_wait(&m->barrier, &lane->sense);
  swiglu(l[W1].output, l[W3].output, lane->h, rows * hidden);
  quantize_rows(lane->h, rows, hidden, lane->qrow, lane->qp);
  run_slice(m, &l[W2], thread);
  barrier_wait(&m->barrier, &lane->sense);
  add_to(lane->x, l[W2].output, rows * dim);
}

// One thread's share of a step (a pool job, or the caller alone with one thread).
static void step_task(void* context, size_t thread) {
  model_t* m = context;
  lane_t* lane = &m->lanes[thread];
  size_t dim = m->d.dim, last = (m->rows - 1) * dim;
  for (size_t r = 0; r < m->rows; ++r)
    memcpy(lane->x + r * dim, m->tokens ? m->embedding + (size_t) m->tokens[r] * dim : m->rows_in + r * dim,
           dim * sizeof(float));
  for (int32_t i = 0; i < m->d.n_layers; ++i) block(m, &m->layers[i], thread, lane);
  rms_norm(lane->x + last, m->out_norm, lane->xn, dim);  // logits of the last row only
  quantize_rows(lane->xn, 1, dim, lane->qrow, lane->qp);
  run_slice(m, &m->output, thread);
}

// The layers' operators for `rows` input rows (the output projection stays at one). On failure
// some operators may be reshaped and others not: rows 0 makes the next call reshape them all.
static int reshape_rows(model_t* m, size_t rows) {
  m->rows = 0;
  for (int32_t i = 0; i < m->d.n_layers; ++i)
    for (int j = 0; j < LINEARS_PER_LAYER; ++j) {
      linear_t* linear = &m->layers[i].linears[j];
      for (size_t t = 0; t < m->threads; ++t) {
        size_t workspace = 0;
        if (!linear->ops[t]) continue;
        if (xnn_reshape_fully_connected_nc_qdu8_f32_qb4w(linear->ops[t], rows, &workspace, NULL) != xnn_status_success ||
            workspace ||
            xnn_setup_fully_connected_nc_qdu8_f32_qb4w(linear->ops[t], (const int8_t*) m->lanes[t].qrow,
                                                       linear->output + linear->row0[t], NULL,
                                                       m->lanes[t].qp) != xnn_status_success)
          return 0;
      }
    }
  m->rows = rows;
  return 1;
}

static int run(model_t* m, pthreadpool_t pool, const int32_t* tokens, const float* rows, size_t count,
               size_t position) {
  if (count == 0 || position > (size_t) m->d.max_seq || count > (size_t) m->d.max_seq - position ||
      m->linears_added != (size_t) m->d.n_layers * LINEARS_PER_LAYER + 1)
    return 0;
  atomic_store(&m->failed, 0);  // a failed call's operators are still whole: the next one may run
  if (count != m->rows && !reshape_rows(m, count)) return 0;
  m->tokens = tokens, m->rows_in = rows, m->position = position;
  if (pool) pthreadpool_parallelize_1d(pool, step_task, m, m->threads, 0);
  else step_task(m, 0);
  return !atomic_load(&m->failed);
}

int decode_region_forward(decode_region_t* m, pthreadpool_t pool, const int32_t* tokens, size_t count,
                          size_t position) {
  return m->embedding ? run(m, pool, tokens, NULL, count, position) : 0;
}

int decode_region_forward_rows(decode_region_t* m, pthreadpool_t pool, const float* rows, size_t count,
                               size_t position) {
  return run(m, pool, NULL, rows, count, position);
}

int decode_region_step(decode_region_t* m, pthreadpool_t pool, int32_t token, size_t position) {
  return decode_region_forward(m, pool, &token, 1, position);
}

// ------------------------------------------------------------------ loading

// One operator over output rows [row0, row1), reshaped for one row, run on the calling thread.
static xnn_operator_t create_slice(const linear_t* linear, size_t block, const uint8_t* kernel, const uint16_t* scale,
                                   size_t row0, size_t row1) {
  xnn_operator_t op = NULL;
  size_t workspace = 0, rows = row1 - row0;
  if (xnn_create_fully_connected_nc_qdu8_f32_qb4w(linear->k, rows, linear->k, linear->n, block, /*kernel_zero_point=*/8,
                                                  scale + row0 * (linear->k / block), kernel + row0 * linear->k / 2,
                                                  NULL, -INFINITY, INFINITY, 0, NULL, &op) != xnn_status_success)
    return NULL;
  if (xnn_reshape_fully_connected_nc_qdu8_f32_qb4w(op, 1, &workspace, NULL) != xnn_status_success || workspace) {
    xnn_delete_operator(op);
    return NULL;
  }
  return op;
}

// A linear's slices (one per thread, whole tiles of rows) over its int4 values and bf16 scales at
// `bytes` (XNNPACK packs its own copy), each set up to read its thread's quantized row.
static int create_linear(model_t* m, linear_t* linear, size_t n, size_t k, float* output, const uint8_t* bytes) {
  const uint8_t* kernel = bytes;
  const uint16_t* scale = (const uint16_t*) (kernel + n * k / 2);
  linear->n = n, linear->k = k, linear->output = output;
  size_t per_slice = (n + m->threads - 1) / m->threads;
  per_slice = (per_slice + SLICE_ROWS - 1) / SLICE_ROWS * SLICE_ROWS;
  for (size_t t = 0; t < m->threads; ++t) {
    size_t row0 = t * per_slice < n ? t * per_slice : n, row1 = row0 + per_slice < n ? row0 + per_slice : n;
    linear->row0[t] = row0;
    linear->ops[t] = NULL;
    if (row1 == row0) continue;
    if (!(linear->ops[t] = create_slice(linear, m->d.block, kernel, scale, row0, row1))) return 0;
    if (xnn_setup_fully_connected_nc_qdu8_f32_qb4w(linear->ops[t], (const int8_t*) m->lanes[t].qrow,
                                                   linear->output + row0, NULL, m->lanes[t].qp) != xnn_status_success)
      return 0;
  }
  return 1;
}

static int create_lanes(model_t* m) {
  size_t widest = (size_t) (m->d.hidden > m->d.dim ? m->d.hidden : m->d.dim), rows = m->d.max_seq;
  size_t scores = (size_t) m->d.n_heads * CHUNK_KEYS > rows + 16 ? (size_t) m->d.n_heads * CHUNK_KEYS : rows + 16;
  for (size_t t = 0; t < m->threads; ++t) {
    lane_t* lane = &m->lanes[t];
    lane->x = calloc(rows * m->d.dim, sizeof(float));
    lane->xn = calloc(rows * m->d.dim, sizeof(float));
    lane->h = calloc(rows * m->d.hidden, sizeof(float));
    lane->q = calloc(m->d.dim, sizeof(float));
    lane->attention = calloc(m->d.dim, sizeof(float));
    lane->scores = calloc(scores, sizeof(float));
    lane->partial = aligned_alloc(sizeof(v16), m->d.n_heads * CHUNK_KEYS * sizeof(v16));
    lane->qrow = calloc(rows * widest + INPUT_PADDING, 1);
    lane->qp = calloc(rows + EXTRA_QUANTIZATION_PARAMS, sizeof(struct xnn_quantization_params));
    if (!lane->x || !lane->xn || !lane->h || !lane->q || !lane->attention || !lane->scores || !lane->partial ||
        !lane->qrow || !lane->qp)
      return 0;
  }
  return 1;
}

// Linear `index` of `layer` (the output projection: layer n_layers, index 0): n outputs, k inputs.
static void linear_shape(const dims_t* d, int32_t layer, int index, size_t* n, size_t* k) {
  int output = layer == d->n_layers;
  *n = output ? (size_t) d->vocab : is_wide(index) ? (size_t) d->hidden : (size_t) d->dim;
  *k = !output && index == W2 ? (size_t) d->hidden : (size_t) d->dim;
}

size_t decode_region_norms_bytes(const dims_t* d) { return (2 * (size_t) d->n_layers + 1) * d->dim * sizeof(float); }

size_t decode_region_linear_bytes(const dims_t* d, int32_t layer, int index) {
  size_t n, k;
  linear_shape(d, layer, index, &n, &k);
  return n * k / 2 + n * (k / d->block) * 2;
}

size_t decode_region_weights_bytes(const dims_t* d) {
  size_t total = decode_region_norms_bytes(d);
  for (int32_t i = 0; i <= d->n_layers; ++i)
    for (int j = 0; j < (i < d->n_layers ? LINEARS_PER_LAYER : 1); ++j) total += decode_region_linear_bytes(d, i, j);
  return total;
}

size_t decode_region_embedding_bytes(const dims_t* d) { return (size_t) d->vocab * d->dim * sizeof(float); }

const char* decode_region_check_dims(const dims_t* d) {
  if (d->dim <= 0 || d->hidden <= 0 || d->n_layers <= 0 || d->n_heads <= 0 || d->vocab <= 0 || d->block <= 0 ||
      d->max_seq <= 0 || d->dim > 1 << 16 || d->hidden > 1 << 18 || d->n_layers > 1024 || d->vocab > 1 << 20 ||
      d->max_seq > 1 << 16)
    return "the sizes are out of range";
  if (d->block % 32 || d->dim % d->block || d->hidden % d->block || d->dim % d->n_heads ||
      (d->dim / d->n_heads) % 16 || d->hidden % 16)
    return "the sizes do not fit: blocks of a multiple of 32 dividing dim and hidden, head width a multiple of 16";
  return NULL;
}

// Rotary tables: cos and sin of position x theta^(-2i / head_dim), computed in double.
static float* rope_table(const dims_t* d) {
  size_t head_dim = d->dim / d->n_heads;
  float* table = malloc((size_t) d->max_seq * head_dim * sizeof(float));
  for (size_t p = 0; table && p < (size_t) d->max_seq; ++p)
    for (size_t i = 0; i < head_dim / 2; ++i) {
      double angle = p * pow(10000.0, -2.0 * i / head_dim);
      table[p * head_dim + 2 * i] = (float) cos(angle);
      table[p * head_dim + 2 * i + 1] = (float) sin(angle);
    }
  return table;
}

// The buffers and the norms (copied): every fp32 norm, per layer attention then feed-forward,
// then the output norm. The linears come later (decode_region_add_linear).
static const char* create_model(model_t* m, const float* norms) {
  const dims_t* d = &m->d;
  size_t dim = d->dim, hidden = d->hidden;
  if (!(m->norms = malloc(decode_region_norms_bytes(d)))) return "out of memory";
  memcpy(m->norms, norms, decode_region_norms_bytes(d));
  m->out_norm = m->norms + 2 * dim * d->n_layers;
  m->layers = calloc(d->n_layers, sizeof(layer_t));
  size_t chunks = d->max_seq / CHUNK_KEYS + 1;
  m->chunk_stride = (chunks + 15) / 16 * 16;  // combine_chunks reads whole vectors of 16
  m->chunk_out = calloc(chunks * dim, sizeof(float));
  m->chunk_max = calloc(d->n_heads * m->chunk_stride, sizeof(float));
  m->chunk_sum = calloc(d->n_heads * m->chunk_stride, sizeof(float));
  m->rope = rope_table(d);
  m->prompt_attention = calloc((size_t) d->max_seq * dim, sizeof(float));
  m->logits = calloc(d->vocab + 16, sizeof(float));
  int allocated = 1;
  for (int j = 0; j < LINEARS_PER_LAYER; ++j)  // the layers' linears of a kind share one output
    allocated &= !!(m->outputs[j] = calloc((size_t) d->max_seq * (is_wide(j) ? hidden : dim) + 16, sizeof(float)));
  if (!allocated || !m->layers || !m->chunk_out || !m->chunk_max || !m->chunk_sum || !m->rope ||
      !m->prompt_attention || !m->logits || !create_lanes(m))
    return "out of memory";
  for (int32_t i = 0; i < d->n_layers; ++i)
    m->layers[i].attn_norm = m->norms + 2 * i * dim, m->layers[i].ffn_norm = m->norms + (2 * i + 1) * dim;
  m->rows = 1;  // create_slice reshapes every operator for one row
  return NULL;
}

int decode_region_add_linear(decode_region_t* m, int32_t layer, int index, const uint8_t* bytes, const char** error) {
  const dims_t* d = &m->d;
  int output = layer == d->n_layers && index == 0;
  if (layer < 0 || layer > d->n_layers || index < 0 || index >= LINEARS_PER_LAYER || (layer == d->n_layers && !output))
    return *error = "no such linear", 0;
  linear_t* linear = output ? &m->output : &m->layers[layer].linears[index];
  if (linear->k) return *error = "that linear was added already", 0;
  size_t n, k;
  linear_shape(d, layer, index, &n, &k);
  if (!create_linear(m, linear, n, k, output ? m->logits : m->outputs[index], bytes))
    return *error = "XNNPACK refused a 4-bit fully connected operator (no qdu8 x qb4w kernel on this CPU?)", 0;
  m->linears_added += 1;
  return 1;
}

decode_region_t* decode_region_create_from_block(const dims_t* dims, const float* embedding, const uint8_t* block,
                                                 size_t threads, const char** error) {
  decode_region_t* m = decode_region_create(dims, embedding, (const float*) block, threads, error);
  const uint8_t* cursor = block + decode_region_norms_bytes(dims);
  for (int32_t i = 0; m && i <= dims->n_layers; ++i)
    for (int j = 0; j < (i < dims->n_layers ? LINEARS_PER_LAYER : 1); ++j) {
      if (!decode_region_add_linear(m, i, j, cursor, error)) {
        decode_region_destroy(m);
        return NULL;
      }
      cursor += decode_region_linear_bytes(dims, i, j);
    }
  return m;
}

decode_region_t* decode_region_create(const dims_t* dims, const float* embedding, const float* norms, size_t threads,
                                      const char** error) {
  if ((*error = decode_region_check_dims(dims))) return NULL;
  if (threads < 1 || threads > MAX_THREADS) return *error = "the thread count is out of range", NULL;
  decode_region_t* m = calloc(1, sizeof *m);
  if (!m) return *error = "out of memory", NULL;
  m->d = *dims;
  m->embedding = embedding;
  m->threads = threads;
  m->barrier.parties = threads;
  if ((*error = create_model(m, norms))) {
    decode_region_destroy(m);
    return NULL;
  }
  return m;
}

void decode_region_set_caches(decode_region_t* m, float* k_cache, float* v_cache) {
  size_t per_layer = (size_t) m->d.max_seq * m->d.dim;
  for (int32_t i = 0; i < m->d.n_layers; ++i)
    m->layers[i].k_cache = k_cache + i * per_layer, m->layers[i].v_cache = v_cache + i * per_layer;
}

const float* decode_region_logits(const decode_region_t* m) { return m->logits; }

static void free_linear(linear_t* linear, size_t threads) {
  for (size_t t = 0; t < threads; ++t)
    if (linear->ops[t]) xnn_delete_operator(linear->ops[t]);
}

void decode_region_destroy(decode_region_t* m) {
  if (!m) return;
  for (int32_t i = 0; m->layers && i < m->d.n_layers; ++i)
    for (int j = 0; j < LINEARS_PER_LAYER; ++j) free_linear(&m->layers[i].linears[j], m->threads);
  free_linear(&m->output, m->threads);
  for (size_t t = 0; t < m->threads; ++t) {
    lane_t* lane = &m->lanes[t];
    free(lane->x), free(lane->xn), free(lane->h), free(lane->q), free(lane->attention), free(lane->scores);
    free(lane->partial), free(lane->qrow), free(lane->qp);
  }
  for (int j = 0; j < LINEARS_PER_LAYER; ++j) free(m->outputs[j]);
  free(m->layers), free(m->chunk_out), free(m->chunk_max), free(m->chunk_sum), free(m->rope);
  free(m->prompt_attention), free(m->logits), free(m->norms), free(m);
}
