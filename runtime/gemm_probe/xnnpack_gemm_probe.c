// XNNPACK's 4-bit GEMM alone, at one row (a decode step), over a model's linear layers.
//
//   xnnpack_gemm_probe --shapes 768x768,2048x768;768x2048,... --block_size 32 --threads 1
//                      [--schedule per_operator|one_region] [--passes 7] [--min_seconds 0.05]
//
// Each NxK shape becomes the operator XNNPACK's subgraph creates for a dynamically quantized
// linear with int4 weights in blocks of --block_size (0: one block per row, the per-channel
// program) and bf16 scales: xnn_create_fully_connected_nc_qdu8_f32_qb4w, from the wheel's
// libexecutorch_backend_xnnpack.so, with the runners' thread pool. A sweep runs every operator
// once, as a decode step multiplies every weight once; a pass repeats sweeps for at least
// --min_seconds. Prints one JSON object: the weight bytes a sweep reads (int4 values and
// bf16 scales, as the program file holds them), each pass's milliseconds per sweep, and the
// sum of the last outputs beside the sum they must have (the product was computed).
//
// --schedule says how the threads share a sweep:
//  per_operator  each operator is one parallel job of the pool, joined before the next starts
//                (what a program's delegate does: a join per operator);
//  one_region    one parallel job per sweep: each thread owns a slice of every operator's output
//                rows (its own operator, run single-threaded) and the threads meet at a spin
//                barrier where the shapes list has a ';' (a dependency: the next operators read
//                every row of the previous ones), e.g. after q/k/v, after o, after w1/w3, after w2.
//                What a decode step with one parallel region per block could reach.
// examples/generation/gemm_probe.py sets the shapes from a model and sets the figures beside the
// read-bandwidth probe over the same bytes. Random weights: only the time means anything.

#include <errno.h>
#include <stdatomic.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe_cli.h"
#include "spin_barrier.h"
#include "xnnpack_operator_api.h"

#ifndef PROBE_XNNPACK_BUILD  // CMake: "wheel", or "source+amx" with -DEXECUTORCH_SOURCE_DIR
#define PROBE_XNNPACK_BUILD "wheel"
#endif
#define MAX_LAYERS 4096
#define MAX_THREADS 256
// Output rows per XNNPACK tile of this kernel family: a thread's slice is whole tiles.
#define SLICE_ROWS 16
// XNNPACK reads past the row's parameters: at least its XNN_EXTRA_QUANTIZATION_PARAMS (15).
#define EXTRA_QUANTIZATION_PARAMS 16
#define USAGE "usage: xnnpack_gemm_probe --shapes NxK[,|;NxK...] [--block_size B] [--threads T] " \
              "[--schedule per_operator|one_region] [--passes P] [--min_seconds S]"

typedef struct {
  size_t n, k;
  int barrier_after;  // one_region: the threads meet after this operator (a ';' follows it)
  size_t slices;  // operators: 1 (per_operator), or one per thread holding rows (one_region)
  xnn_operator_t ops[MAX_THREADS];
  size_t row0[MAX_THREADS];  // the first output row of each slice
  float* output;
  double expected_sum;  // what the outputs must add up to (see create_layer)
} layer_t;

// A whole decimal number in [low, high], or -1.
static long parse_long(const char* text, long low, long high) {
  char* end;
  errno = 0;
  long value = strtol(text, &end, 10);
  return (end == text || *end || errno || value < low || value > high) ? -1 : value;
}

static int parse_shapes(const char* text, layer_t* layers, size_t* count) {
  *count = 0;
  for (const char* p = text;;) {
    char* end;
    errno = 0;
    unsigned long n = strtoul(p, &end, 10);
    if (end == p || *end != 'x') return 0;
    p = end + 1;
    unsigned long k = strtoul(p, &end, 10);
    if (end == p || (*end && *end != ',' && *end != ';') || errno || n == 0 || k == 0 || n > (1ul << 20) ||
        k > (1ul << 20))
      return 0;
    if (*count == MAX_LAYERS) return 0;
    layers[(*count)++] = (layer_t){.n = n, .k = k, .barrier_after = *end == ';'};
    if (!*end) return 1;
    p = end + 1;  // a separator: another shape must follow
  }
}

// One operator over output rows [row0, row1) of the layer's weights (and scales), writing those
// rows of the layer's output; reshaped for one row with `pool` (NULL: run on the calling thread).
static xnn_operator_t create_slice(const layer_t* layer, size_t block, const unsigned char* kernel,
                                   const uint16_t* scale, size_t row0, size_t row1, pthreadpool_t pool) {
  xnn_operator_t op = NULL;
  size_t workspace = 0, rows = row1 - row0;
  if (xnn_create_fully_connected_nc_qdu8_f32_qb4w(
          layer->k, rows, layer->k, rows, block, /*kernel_zero_point=*/8, scale + row0 * (layer->k / block),
          kernel + row0 * layer->k / 2, NULL, -1e30f, 1e30f, 0, NULL, &op) != xnn_status_success)
    return NULL;
  if (xnn_reshape_fully_connected_nc_qdu8_f32_qb4w(op, 1, &workspace, pool) != xnn_status_success || workspace) {
    xnn_delete_operator(op);
    return NULL;
  }
  return op;
}

// Random int4 weights, every scale 1/64 (bf16), input bytes all 129 with zero point 128 and
// scale 1/64: each output is sum_k (w - 8) / 4096, exact in float, so the outputs' sum checks
// that XNNPACK ran the product these declarations describe. `slices` > 1: one operator per
// thread over whole tiles of rows (a thread with no rows left gets none).
static int create_layer(layer_t* layer, size_t block, size_t slices, pthreadpool_t pool) {
  size_t bytes = layer->n * layer->k / 2, scales = layer->n * (layer->k / block);
  unsigned char* kernel = malloc(bytes);
  uint16_t* scale = malloc(scales * sizeof(uint16_t));
  layer->output = calloc(layer->n, sizeof(float));
  if (!kernel || !scale || !layer->output) {
    free(kernel);
    free(scale);
    return fail(1, "out of memory for the weights"), 0;
  }
  long long nibble_sum = 0;
  for (size_t i = 0; i < bytes; ++i) {
    kernel[i] = (unsigned char) rand();
    nibble_sum += (kernel[i] & 15) + (kernel[i] >> 4) - 16;
  }
  layer->expected_sum = nibble_sum / 4096.0;
  for (size_t i = 0; i < scales; ++i) scale[i] = 0x3c80;  // bf16 1/64
  size_t per_slice = (layer->n + slices - 1) / slices;
  per_slice = slices == 1 ? layer->n : (per_slice + SLICE_ROWS - 1) / SLICE_ROWS * SLICE_ROWS;
  int ok = 1;
  layer->slices = slices;
  for (size_t t = 0; t < slices; ++t) {
    size_t row0 = t * per_slice < layer->n ? t * per_slice : layer->n;
    size_t row1 = row0 + per_slice < layer->n ? row0 + per_slice : layer->n;
    layer->row0[t] = row0;
    layer->ops[t] = row1 > row0 ? create_slice(layer, block, kernel, scale, row0, row1, pool) : NULL;
    if (row1 > row0 && !layer->ops[t]) ok = 0;
  }
  free(kernel);  // XNNPACK packs its own copy
  free(scale);
  if (!ok) return fail(1, "XNNPACK refused a 4-bit fully connected operator (no qdu8 x qb4w kernel on this CPU?)"), 0;
  return 1;
}

typedef struct {
  layer_t* layers;
  size_t count;
  barrier_t barrier;
  atomic_int failed;
} region_t;

// One thread's share of a sweep: its slice of every operator, meeting the others at each ';'.
static void region_task(void* context, size_t thread) {
  region_t* region = context;
  unsigned local_sense = atomic_load(&region->barrier.sense);
  for (size_t i = 0; i < region->count; ++i) {
    xnn_operator_t op = region->layers[i].ops[thread];
    if (op && xnn_run_operator(op, NULL) != xnn_status_success) atomic_store(&region->failed, 1);
    if (region->layers[i].barrier_after && i + 1 < region->count) barrier_wait(&region->barrier, &local_sense);
  }
}

// One sweep: every operator once. 0 where an operator failed.
static int sweep(layer_t* layers, size_t count, int one_region, region_t* region, pthreadpool_t pool) {
  if (one_region) {
    pthreadpool_parallelize_1d(pool, region_task, region, region->barrier.parties, 0);
    return !atomic_load(&region->failed);
  }
  for (size_t i = 0; i < count; ++i)
    if (xnn_run_operator(layers[i].ops[0], pool) != xnn_status_success) return 0;
  return 1;
}

typedef struct {
  const char* shapes;
  long block_size, threads, passes;
  int one_region;
  double min_seconds;
} options_t;

static int parse_options(int argc, char** argv, options_t* o) {
  static struct option long_options[] = {{"shapes", required_argument, 0, 's'}, {"block_size", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'}, {"passes", required_argument, 0, 'p'},
                                         {"min_seconds", required_argument, 0, 'm'},
                                         {"schedule", required_argument, 0, 'c'}, {0, 0, 0, 0}};
  *o = (options_t){NULL, 32, 1, 7, 0, 0.05};
  opterr = 0;  // one error line: ours
  for (int c; (c = getopt_long(argc, argv, "", long_options, NULL)) != -1;) {
    char* end;
    if (c == 's') o->shapes = optarg;
    else if (c == 'b' && (o->block_size = parse_long(optarg, 0, 1 << 20)) >= 0) continue;
    else if (c == 't' && (o->threads = parse_long(optarg, 1, MAX_THREADS)) >= 0) continue;
    else if (c == 'p' && (o->passes = parse_long(optarg, 1, 1000)) >= 0) continue;
    else if (c == 'm' && (o->min_seconds = strtod(optarg, &end), end != optarg && !*end) && o->min_seconds > 0 &&
             o->min_seconds < 60) continue;
    else if (c == 'c' && (!strcmp(optarg, "per_operator") || !strcmp(optarg, "one_region")))
      o->one_region = !strcmp(optarg, "one_region");
    else return 0;
  }
  return optind == argc && o->shapes;
}

// Passes of sweeps, printed as milliseconds per sweep; pass -1 warms the caches and the pool.
static int timed_passes(layer_t* layers, size_t count, const options_t* o, region_t* region, pthreadpool_t pool) {
  for (long pass = -1; pass < o->passes; ++pass) {
    if (pass == o->passes - 1)  // the sums are then the last timed pass's own outputs
      for (size_t i = 0; i < count; ++i) memset(layers[i].output, 0, layers[i].n * sizeof(float));
    long sweeps = 0;
    double start = now_seconds(), elapsed;
    do {
      if (!sweep(layers, count, o->one_region, region, pool)) return fail(1, "an operator failed to run"), 0;
      ++sweeps;
    } while ((elapsed = now_seconds() - start) < o->min_seconds);
    if (pass >= 0) printf("%s%.9g", pass ? ", " : "", 1e3 * elapsed / sweeps);
  }
  return 1;
}

// Every operator's input (one quantized row, shared) and output rows.
static int setup_layers(layer_t* layers, size_t count, const unsigned char* input) {
  static const struct xnn_quantization_params quantization[1 + EXTRA_QUANTIZATION_PARAMS] = {{128, 1.0f / 64}};
  for (size_t i = 0; i < count; ++i)
    for (size_t t = 0; t < layers[i].slices; ++t)
      if (layers[i].ops[t] &&
          xnn_setup_fully_connected_nc_qdu8_f32_qb4w(layers[i].ops[t], (const int8_t*) input,
                                                     layers[i].output + layers[i].row0[t], NULL,
                                                     quantization) != xnn_status_success)
        return fail(1, "XNNPACK refused to set up an operator"), 0;
  return 1;
}

int main(int argc, char** argv) {
  static layer_t layers[MAX_LAYERS];
  options_t o;
  size_t count = 0;
  if (!parse_options(argc, argv, &o))
    return fail(2, USAGE " (--block_size >= 0, --threads 1..256, --passes 1..1000, --min_seconds in (0, 60))");
  if (!parse_shapes(o.shapes, layers, &count))
    return fail(2, "--shapes takes NxK[,|;NxK...]: positive sizes up to 2^20, at most 4096 shapes");
  for (size_t i = 0; i < count; ++i) {
    size_t block = o.block_size ? (size_t) o.block_size : layers[i].k;
    if (layers[i].k % block || block % 32)
      return fail(2, "every K must be a multiple of --block_size, itself a multiple of 32");
  }
  if (xnn_initialize(NULL) != xnn_status_success) return fail(1, "XNNPACK did not initialize (CPU not supported?)");
  pthreadpool_t pool = NULL;
  if (o.threads > 1 && !(pool = pthreadpool_create((size_t) o.threads))) return fail(1, "no thread pool");

  size_t max_k = 0, slices = o.one_region ? (size_t) o.threads : 1;
  double weight_bytes = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t block = o.block_size ? (size_t) o.block_size : layers[i].k;
    if (!create_layer(&layers[i], block, slices, o.one_region ? NULL : pool)) return 1;
    weight_bytes += layers[i].n * layers[i].k / 2.0 + layers[i].n * (layers[i].k / block) * 2.0;
    if (layers[i].k > max_k) max_k = layers[i].k;
  }
  unsigned char* input = malloc(max_k + 64);
  if (!input) return fail(1, "out of memory for the input");
  memset(input, 129, max_k + 64);
  if (!setup_layers(layers, count, input)) return 1;
  region_t region = {.layers = layers, .count = count, .barrier = {.parties = slices}};

  printf("{\"xnnpack_build\": \"%s\", \"threads\": %ld, \"schedule\": \"%s\", \"block_size\": %ld, \"layers\": %zu, "
         "\"weight_bytes\": %.0f, \"ms_per_sweep\": [", PROBE_XNNPACK_BUILD, o.threads,
         o.one_region ? "one_region" : "per_operator", o.block_size, count, weight_bytes);
  if (!timed_passes(layers, count, &o, &region, pool)) return 1;
  double output_sum = 0, expected_sum = 0;
  for (size_t i = 0; i < count; ++i) {
    for (size_t j = 0; j < layers[i].n; ++j) output_sum += layers[i].output[j];
    expected_sum += layers[i].expected_sum;
  }
  printf("], \"output_sum\": %.17g, \"expected_sum\": %.17g}\n", output_sum, expected_sum);
  for (size_t i = 0; i < count; ++i) {
    for (size_t t = 0; t < layers[i].slices; ++t)
      if (layers[i].ops[t]) xnn_delete_operator(layers[i].ops[t]);
    free(layers[i].output);
  }
  free(input);
  if (pool) pthreadpool_destroy(pool);
  return 0;
}
