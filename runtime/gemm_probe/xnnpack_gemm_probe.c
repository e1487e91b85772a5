// XNNPACK's 4-bit GEMM alone, at one row (a decode step), over a model's linear layers.
//
//   xnnpack_gemm_probe --shapes 768x768,2048x768,... --block_size 32 --threads 1 [--passes 7] [--min_seconds 0.05]
//
// Each NxK shape becomes the operator XNNPACK's subgraph creates for a dynamically quantized
// linear with int4 weights in blocks of --block_size (0: one block per row, the per-channel
// program) and bf16 scales: xnn_create_fully_connected_nc_qdu8_f32_qb4w, from the wheel's
// libexecutorch_backend_xnnpack.so, with the runners' thread pool. A sweep runs every operator
// once, as a decode step multiplies every weight once; a pass repeats sweeps for at least
// --min_seconds. Prints one JSON object: the weight bytes a sweep reads (int4 values and
// bf16 scales, as the program file holds them), each pass's milliseconds per sweep, and the
// sum of the last outputs beside the sum they must have (the product was computed).
// examples/generation/gemm_probe.py sets the shapes from a model and sets the figures beside the
// read-bandwidth probe over the same bytes. Random weights: only the time means anything.

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xnnpack_operator_api.h"

#ifndef PROBE_XNNPACK_BUILD  // CMake: "wheel", or "source+amx" with -DEXECUTORCH_SOURCE_DIR
#define PROBE_XNNPACK_BUILD "wheel"
#endif
#define MAX_LAYERS 4096
// XNNPACK reads past the row's parameters: at least its XNN_EXTRA_QUANTIZATION_PARAMS (15).
#define EXTRA_QUANTIZATION_PARAMS 16
#define USAGE "usage: xnnpack_gemm_probe --shapes NxK[,NxK...] [--block_size B] [--threads T] [--passes P] [--min_seconds S]"

typedef struct {
  size_t n, k;
  xnn_operator_t op;
  float* output;
  double expected_sum;  // what the outputs must add up to (see create_layer)
} layer_t;

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// Exit codes: 2 bad input, 1 the measurement failed.
static int fail(int code, const char* message) {
  fprintf(stderr, "error: %s\n", message);
  return code;
}

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
    if (end == p || (*end && *end != ',') || errno || n == 0 || k == 0 || n > (1ul << 20) || k > (1ul << 20)) return 0;
    if (*count == MAX_LAYERS) return 0;
    layers[(*count)++] = (layer_t){.n = n, .k = k};
    if (!*end) return 1;
    p = end + 1;  // a comma: another shape must follow
  }
}

// Random int4 weights, every scale 1/64 (bf16), input bytes all 129 with zero point 128 and
// scale 1/64: each output is sum_k (w - 8) / 4096, exact in float, so the outputs' sum checks
// that XNNPACK ran the product these declarations describe.
static int create_layer(layer_t* layer, size_t block, pthreadpool_t pool) {
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
  enum xnn_status status = xnn_create_fully_connected_nc_qdu8_f32_qb4w(
      layer->k, layer->n, layer->k, layer->n, block, /*kernel_zero_point=*/8, scale, kernel, NULL,
      -1e30f, 1e30f, 0, NULL, &layer->op);
  free(kernel);  // XNNPACK packs its own copy
  free(scale);
  size_t workspace = 0;
  if (status != xnn_status_success ||
      xnn_reshape_fully_connected_nc_qdu8_f32_qb4w(layer->op, 1, &workspace, pool) != xnn_status_success ||
      workspace != 0)
    return fail(1, "XNNPACK refused a 4-bit fully connected operator (no qdu8 x qb4w kernel on this CPU?)"), 0;
  return 1;
}

typedef struct {
  const char* shapes;
  long block_size, threads, passes;
  double min_seconds;
} options_t;

static int parse_options(int argc, char** argv, options_t* o) {
  static struct option long_options[] = {{"shapes", required_argument, 0, 's'}, {"block_size", required_argument, 0, 'b'},
                                         {"threads", required_argument, 0, 't'}, {"passes", required_argument, 0, 'p'},
                                         {"min_seconds", required_argument, 0, 'm'}, {0, 0, 0, 0}};
  *o = (options_t){NULL, 32, 1, 7, 0.05};
  opterr = 0;  // one error line: ours
  for (int c; (c = getopt_long(argc, argv, "", long_options, NULL)) != -1;) {
    char* end;
    if (c == 's') o->shapes = optarg;
    else if (c == 'b' && (o->block_size = parse_long(optarg, 0, 1 << 20)) >= 0) continue;
    else if (c == 't' && (o->threads = parse_long(optarg, 1, 256)) >= 0) continue;
    else if (c == 'p' && (o->passes = parse_long(optarg, 1, 1000)) >= 0) continue;
    else if (c == 'm' && (o->min_seconds = strtod(optarg, &end), end != optarg && !*end) && o->min_seconds > 0 &&
             o->min_seconds < 60) continue;
    else return 0;
  }
  return optind == argc && o->shapes;
}

int main(int argc, char** argv) {
  static layer_t layers[MAX_LAYERS];
  options_t o;
  size_t count = 0;
  if (!parse_options(argc, argv, &o))
    return fail(2, USAGE " (--block_size >= 0, --threads 1..256, --passes 1..1000, --min_seconds in (0, 60))");
  if (!parse_shapes(o.shapes, layers, &count))
    return fail(2, "--shapes takes NxK[,NxK...]: positive sizes up to 2^20, at most 4096 shapes");
  for (size_t i = 0; i < count; ++i) {
    size_t block = o.block_size ? (size_t) o.block_size : layers[i].k;
    if (layers[i].k % block || block % 32)
      return fail(2, "every K must be a multiple of --block_size, itself a multiple of 32");
  }
  if (xnn_initialize(NULL) != xnn_status_success) return fail(1, "XNNPACK did not initialize (CPU not supported?)");
  pthreadpool_t pool = NULL;
  if (o.threads > 1 && !(pool = pthreadpool_create((size_t) o.threads))) return fail(1, "no thread pool");

  size_t max_k = 0;
  double weight_bytes = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t block = o.block_size ? (size_t) o.block_size : layers[i].k;
    if (!create_layer(&layers[i], block, pool)) return 1;
    weight_bytes += layers[i].n * layers[i].k / 2.0 + layers[i].n * (layers[i].k / block) * 2.0;
    if (layers[i].k > max_k) max_k = layers[i].k;
  }
  unsigned char* input = malloc(max_k + 64);
  if (!input) return fail(1, "out of memory for the input");
  memset(input, 129, max_k + 64);
  struct xnn_quantization_params quantization[1 + EXTRA_QUANTIZATION_PARAMS] = {{128, 1.0f / 64}};
  for (size_t i = 0; i < count; ++i)
    if (xnn_setup_fully_connected_nc_qdu8_f32_qb4w(layers[i].op, (const int8_t*) input, layers[i].output, NULL,
                                                   quantization) != xnn_status_success)
      return fail(1, "XNNPACK refused to set up an operator");

  printf("{\"xnnpack_build\": \"%s\", \"threads\": %ld, \"block_size\": %ld, \"layers\": %zu, "
         "\"weight_bytes\": %.0f, \"ms_per_sweep\": [", PROBE_XNNPACK_BUILD, o.threads, o.block_size, count, weight_bytes);
  for (long pass = -1; pass < o.passes; ++pass) {  // pass -1 warms the caches and the pool
    if (pass == o.passes - 1)  // the sums below are then the last timed pass's own outputs
      for (size_t i = 0; i < count; ++i) memset(layers[i].output, 0, layers[i].n * sizeof(float));
    long sweeps = 0;
    double start = now_seconds(), elapsed;
    do {
      for (size_t i = 0; i < count; ++i)
        if (xnn_run_operator(layers[i].op, pool) != xnn_status_success) return fail(1, "an operator failed to run");
      ++sweeps;
    } while ((elapsed = now_seconds() - start) < o.min_seconds);
    if (pass >= 0) printf("%s%.9g", pass ? ", " : "", 1e3 * elapsed / sweeps);
  }
  double output_sum = 0, expected_sum = 0;
  for (size_t i = 0; i < count; ++i) {
    for (size_t j = 0; j < layers[i].n; ++j) output_sum += layers[i].output[j];
    expected_sum += layers[i].expected_sum;
  }
  printf("], \"output_sum\": %.17g, \"expected_sum\": %.17g}\n", output_sum, expected_sum);
  for (size_t i = 0; i < count; ++i) {
    xnn_delete_operator(layers[i].op);
    free(layers[i].output);
  }
  free(input);
  if (pool) pthreadpool_destroy(pool);
  return 0;
}
