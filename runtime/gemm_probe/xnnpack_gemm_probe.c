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
// bf16 scales, as the program file holds them) and each pass's milliseconds per sweep.
// examples/generation/gemm_probe.py sets the shapes from a model and sets the figures beside the
// read-bandwidth probe over the same bytes. Random weights: only the time means anything.

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xnnpack_operator_api.h"

#define MAX_LAYERS 4096
#define EXTRA_QUANTIZATION_PARAMS 16  // XNNPACK reads past the rows' parameters (XNN_EXTRA_QUANTIZATION_PARAMS)

typedef struct {
  size_t n, k;
  xnn_operator_t op;
  float* output;
} layer_t;

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int fail(const char* message) {
  fprintf(stderr, "error: %s\n", message);
  return 2;
}

static int parse_shapes(const char* text, layer_t* layers, size_t* count) {
  *count = 0;
  for (const char* p = text; *p;) {
    char* end;
    unsigned long n = strtoul(p, &end, 10);
    if (end == p || *end != 'x') return 0;
    p = end + 1;
    unsigned long k = strtoul(p, &end, 10);
    if (end == p || (*end && *end != ',') || n == 0 || k == 0 || n > (1ul << 20) || k > (1ul << 20)) return 0;
    if (*count == MAX_LAYERS) return 0;
    layers[(*count)++] = (layer_t){.n = n, .k = k};
    p = *end ? end + 1 : end;
  }
  return *count > 0;
}

// Random int4 weights and bf16 scales near 1/64: values only matter to keep the sums finite.
static int create_layer(layer_t* layer, size_t block, pthreadpool_t pool) {
  size_t bytes = layer->n * layer->k / 2, scales = layer->n * (layer->k / block);
  unsigned char* kernel = malloc(bytes);
  uint16_t* scale = malloc(scales * sizeof(uint16_t));
  layer->output = malloc(layer->n * sizeof(float));
  if (!kernel || !scale || !layer->output) return 0;
  for (size_t i = 0; i < bytes; ++i) kernel[i] = (unsigned char) rand();
  for (size_t i = 0; i < scales; ++i) scale[i] = 0x3c80;  // bf16 1/64
  enum xnn_status status = xnn_create_fully_connected_nc_qdu8_f32_qb4w(
      layer->k, layer->n, layer->k, layer->n, block, /*kernel_zero_point=*/8, scale, kernel, NULL,
      -1e30f, 1e30f, 0, NULL, &layer->op);
  free(kernel);  // XNNPACK packs its own copy
  free(scale);
  size_t workspace = 0;
  return status == xnn_status_success &&
         xnn_reshape_fully_connected_nc_qdu8_f32_qb4w(layer->op, 1, &workspace, pool) == xnn_status_success &&
         workspace == 0;
}

int main(int argc, char** argv) {
  static layer_t layers[MAX_LAYERS];
  const char* shapes = NULL;
  long block_size = 32, threads = 1, passes = 7;
  double min_seconds = 0.05;
  static struct option options[] = {{"shapes", required_argument, 0, 's'}, {"block_size", required_argument, 0, 'b'},
                                    {"threads", required_argument, 0, 't'}, {"passes", required_argument, 0, 'p'},
                                    {"min_seconds", required_argument, 0, 'm'}, {0, 0, 0, 0}};
  for (int c; (c = getopt_long(argc, argv, "", options, NULL)) != -1;) {
    if (c == 's') shapes = optarg;
    else if (c == 'b') block_size = strtol(optarg, NULL, 10);
    else if (c == 't') threads = strtol(optarg, NULL, 10);
    else if (c == 'p') passes = strtol(optarg, NULL, 10);
    else if (c == 'm') min_seconds = strtod(optarg, NULL);
    else return fail("usage: xnnpack_gemm_probe --shapes NxK[,NxK...] [--block_size B] [--threads T] [--passes P]");
  }
  size_t count = 0;
  if (!shapes || !parse_shapes(shapes, layers, &count)) return fail("--shapes takes NxK[,NxK...] (positive sizes)");
  if (block_size < 0 || threads < 1 || threads > 256 || passes < 1 || passes > 1000 || !(min_seconds > 0 && min_seconds < 60))
    return fail("--block_size >= 0, --threads 1..256, --passes 1..1000, --min_seconds in (0, 60)");
  if (xnn_initialize(NULL) != xnn_status_success) return fail("XNNPACK did not initialize (CPU not supported?)");
  pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t) threads) : NULL;

  size_t max_k = 0;
  double weight_bytes = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t block = block_size ? (size_t) block_size : layers[i].k;
    if (layers[i].k % block || block % 32 || layers[i].k % 2)
      return fail("every K must be a multiple of --block_size, itself a multiple of 32");
    if (!create_layer(&layers[i], block, pool))
      return fail("XNNPACK refused a 4-bit fully connected operator (no qdu8 x qb4w kernel on this CPU?)");
    weight_bytes += layers[i].n * layers[i].k / 2.0 + layers[i].n * (layers[i].k / block) * 2.0;
    if (layers[i].k > max_k) max_k = layers[i].k;
  }
  unsigned char* input = malloc(max_k + 64);
  struct xnn_quantization_params quantization[1 + EXTRA_QUANTIZATION_PARAMS] = {{128, 1.0f / 64}};
  for (size_t i = 0; i < max_k + 64; ++i) input[i] = (unsigned char) rand();
  for (size_t i = 0; i < count; ++i)
    if (xnn_setup_fully_connected_nc_qdu8_f32_qb4w(layers[i].op, (const int8_t*) input, layers[i].output, NULL,
                                                   quantization) != xnn_status_success)
      return fail("XNNPACK refused to set up an operator");

  printf("{\"threads\": %ld, \"block_size\": %ld, \"layers\": %zu, \"weight_bytes\": %.0f, \"ms_per_sweep\": [",
         threads, block_size, count, weight_bytes);
  for (long pass = -1; pass < passes; ++pass) {  // pass -1 warms the caches and the pool
    long sweeps = 0;
    double start = now_seconds(), elapsed;
    do {
      for (size_t i = 0; i < count; ++i)
        if (xnn_run_operator(layers[i].op, pool) != xnn_status_success) return fail("an operator failed to run");
      ++sweeps;
    } while ((elapsed = now_seconds() - start) < min_seconds);
    if (pass >= 0) printf("%s%.6f", pass ? ", " : "", 1e3 * elapsed / sweeps);
  }
  printf("]}\n");
  for (size_t i = 0; i < count; ++i) {
    xnn_delete_operator(layers[i].op);
    free(layers[i].output);
  }
  free(input);
  if (pool) pthreadpool_destroy(pool);
  return 0;
}
