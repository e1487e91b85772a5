// A whole decode step of a Llama-style model in one parallel region: what a fused decode
// operator could reach, before anyone builds one into a program.
//
//   xnnpack_decode_probe --weights FILE --threads T (--positions P0:P1 [--passes 5]
//                        [--min_seconds 0.05] | --tokens T0,T1,... [--prompt K] --logits_out FILE)
//
// The step itself is runtime/decode_region (decode_region.h says what it does); this times it
// over random weights and checks its numbers (examples/generation/decode_probe.py writes the
// weights file, holds a numpy reference of the math, and sets the time beside the read-bandwidth
// probe). The file: "TGSTEP1\n", the seven int32 sizes of decode_region_dims_t, the fp32
// embedding, then the weights block decode_region.h describes.
//
// --positions P0:P1 times steps at positions P0 ... P1-1 (a cache filled with random values
// before): a pass runs that window once per sweep, sweeps for at least --min_seconds; prints
// one JSON object with milliseconds per step per pass. --tokens runs the given tokens from
// position 0, the first K (--prompt, default 1) in one call, then one at a time, and writes the
// logits of each call (float32, little-endian) to --logits_out.

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode_region.h"
#include "probe_cli.h"  // runtime/gemm_probe

#ifndef PROBE_XNNPACK_BUILD
#define PROBE_XNNPACK_BUILD "wheel"
#endif
#define MAGIC "TGSTEP1\n"
#define USAGE "usage: xnnpack_decode_probe --weights FILE --threads T (--positions P0:P1 [--passes P] " \
              "[--min_seconds S] | --tokens T0,T1,... [--prompt K] --logits_out FILE)"

// The whole file in memory (its size checked against the sizes it declares).
static uint8_t* read_weights(const char* path, decode_region_dims_t* d, const char** error) {
  FILE* f = fopen(path, "rb");
  char magic[sizeof(MAGIC) - 1];
  uint8_t* data = NULL;
  *error = "cannot read the weights file";
  if (!f) return NULL;
  if (fread(magic, 1, sizeof magic, f) != sizeof magic || memcmp(magic, MAGIC, sizeof magic) ||
      fread(d, sizeof *d, 1, f) != 1)
    *error = "the weights file does not start with the probe's header (examples/generation/decode_probe.py writes it)";
  else if ((*error = decode_region_check_dims(d)) == NULL) {
    size_t rest = decode_region_embedding_bytes(d) + decode_region_weights_bytes(d), total = rest + sizeof magic + sizeof *d;
    long end = (fseek(f, 0, SEEK_END), ftell(f));
    if (end < 0 || (size_t) end != total) *error = "the weights file's size is not what its header says";
    else if (!(data = malloc(rest))) *error = "out of memory for the weights";
    else if (fseek(f, (long) (sizeof magic + sizeof *d), SEEK_SET) || fread(data, 1, rest, f) != rest) {
      free(data), data = NULL;
      *error = "cannot read the weights file";
    }
  }
  fclose(f);
  return data;
}

// ------------------------------------------------------------------ the two modes

typedef struct {
  const char *weights, *tokens, *logits_out;
  long threads, passes, first, end, prompt;  // --positions first:end
  int timing_given, prompt_given;            // --passes / --min_seconds; --prompt
  double min_seconds;
} options_t;

static long parse_long(const char* text, char** end, long low, long high) {
  errno = 0;
  long value = strtol(text, end, 10);
  return (*end == text || errno || value < low || value > high) ? -1 : value;
}

static int parse_options(int argc, char** argv, options_t* o) {
  static struct option long_options[] = {
      {"weights", required_argument, 0, 'w'}, {"threads", required_argument, 0, 't'},
      {"positions", required_argument, 0, 'p'}, {"passes", required_argument, 0, 'n'},
      {"min_seconds", required_argument, 0, 'm'}, {"tokens", required_argument, 0, 'k'},
      {"logits_out", required_argument, 0, 'o'}, {"prompt", required_argument, 0, 'r'}, {0, 0, 0, 0}};
  *o = (options_t){.threads = 1, .passes = 5, .first = -1, .min_seconds = 0.05, .prompt = 1};
  opterr = 0;  // one error line: ours
  for (int c; (c = getopt_long(argc, argv, "", long_options, NULL)) != -1;) {
    char* end;
    if (c == 'w') o->weights = optarg;
    else if (c == 'k') o->tokens = optarg;
    else if (c == 'o') o->logits_out = optarg;
    else if (c == 't' && (o->threads = parse_long(optarg, &end, 1, DECODE_REGION_MAX_THREADS)) > 0 && !*end) continue;
    else if (c == 'n' && (o->passes = parse_long(optarg, &end, 1, 1000)) > 0 && !*end) o->timing_given = 1;
    else if (c == 'r' && (o->prompt = parse_long(optarg, &end, 1, 1 << 16)) > 0 && !*end) o->prompt_given = 1;
    else if (c == 'p' && (o->first = parse_long(optarg, &end, 0, 1 << 16)) >= 0 && *end == ':' &&
             (o->end = parse_long(end + 1, &end, o->first + 1, 1 << 16)) > 0 && !*end) continue;
    else if (c == 'm' && (o->min_seconds = strtod(optarg, &end), end != optarg && !*end) && o->min_seconds > 0 &&
             o->min_seconds < 60) o->timing_given = 1;
    else return 0;
  }
  int timing = o->first >= 0, logits = o->tokens && o->logits_out;
  return optind == argc && o->weights && timing != logits && !(timing && o->prompt_given) &&
         !(logits && o->timing_given);  // no flag of the other mode
}

typedef struct {
  decode_region_t* region;
  decode_region_dims_t d;
  pthreadpool_t pool;
  size_t threads;
} probe_t;

// Passes over the positions window, printed as milliseconds per step; pass -1 warms up.
static int timed_passes(const probe_t* p, const options_t* o) {
  for (long pass = -1; pass < o->passes; ++pass) {
    long steps = 0;
    double start = now_seconds(), elapsed;
    do {
      for (long pos = o->first; pos < o->end; ++pos, ++steps)
        if (!decode_region_step(p->region, p->pool, (int32_t) ((pos * 7919) % p->d.vocab), (size_t) pos))
          return fail(1, "an operator failed to run"), 0;
    } while ((elapsed = now_seconds() - start) < o->min_seconds);
    if (pass >= 0) printf("%s%.9g", pass ? ", " : "", 1e3 * elapsed / steps);
  }
  return 1;
}

// Bytes a step reads besides the KV cache: every linear's int4 values and bf16 scales, the
// norms and one embedding row.
static double weight_bytes(const decode_region_dims_t* d) {
  return (double) decode_region_weights_bytes(d) + (double) d->dim * sizeof(float);
}

static int time_steps(const probe_t* p, float* k_cache, float* v_cache, const options_t* o) {
  if (o->end > p->d.max_seq) return fail(2, "--positions must end at most at the weights file's max_seq");
  srand(1);
  size_t cache = (size_t) p->d.n_layers * p->d.max_seq * p->d.dim;
  for (size_t j = 0; j < cache; ++j) {
    k_cache[j] = (float) rand() / RAND_MAX - 0.5f;
    v_cache[j] = (float) rand() / RAND_MAX - 0.5f;
  }
  printf("{\"xnnpack_build\": \"%s\", \"threads\": %zu, \"positions\": [%ld, %ld], \"weight_bytes\": %.0f, "
         "\"ms_per_step\": [", PROBE_XNNPACK_BUILD, p->threads, o->first, o->end, weight_bytes(&p->d));
  if (!timed_passes(p, o)) return 1;
  printf("]}\n");
  return 0;
}

// --tokens as ids; NULL (and *count 0) where one is not an id below the vocabulary or there are
// more than max_seq.
static int32_t* parse_tokens(const char* text, const decode_region_dims_t* d, size_t* count) {
  int32_t* ids = malloc((size_t) d->max_seq * sizeof(int32_t));
  *count = 0;
  for (const char* c = text; ids && *c;) {
    char* end;
    long token = parse_long(c, &end, 0, d->vocab - 1);
    if (token < 0 || (*end && *end != ',') || *count == (size_t) d->max_seq) return free(ids), *count = 0, NULL;
    ids[(*count)++] = (int32_t) token;
    c = *end ? end + 1 : end;
  }
  return ids;
}

static int logits_for_tokens(const probe_t* p, const options_t* o) {
  size_t count;
  int32_t* ids = parse_tokens(o->tokens, &p->d, &count);
  if (!ids || !count || (size_t) o->prompt > count)
    return free(ids), fail(2, "--tokens takes 1 to max_seq token ids below the vocabulary size, comma-separated, "
                              "at least --prompt of them");
  FILE* out = fopen(o->logits_out, "wb");
  if (!out) return free(ids), fail(2, "cannot write --logits_out");
  int code = 0;
  for (size_t position = 0; position < count && !code;) {
    size_t run = position ? 1 : (size_t) o->prompt;
    if (!decode_region_forward(p->region, p->pool, ids + position, run, position)) code = fail(1, "an operator failed to run");
    else if (fwrite(decode_region_logits(p->region), sizeof(float), p->d.vocab, out) != (size_t) p->d.vocab)
      code = fail(1, "cannot write --logits_out");
    position += run;
  }
  free(ids);
  return fclose(out) && !code ? fail(1, "cannot write --logits_out") : code;
}

int main(int argc, char** argv) {
  options_t o;
  if (!parse_options(argc, argv, &o))
    return fail(2, USAGE " (--threads 1..64, --passes 1..1000, --min_seconds in (0, 60), 0 <= P0 < P1)");
  const char* error;
  probe_t p = {.threads = (size_t) o.threads};
  uint8_t* data = read_weights(o.weights, &p.d, &error);
  if (!data) return fail(2, error);
  if (xnn_initialize(NULL) != xnn_status_success) return fail(1, "XNNPACK did not initialize (CPU not supported?)");
  if (o.threads > 1 && !(p.pool = pthreadpool_create(p.threads))) return fail(1, "no thread pool");
  if (!(p.region = decode_region_create_from_block(&p.d, (const float*) data, data + decode_region_embedding_bytes(&p.d),
                                                   p.threads, &error))) return fail(1, error);
  size_t cache = (size_t) p.d.n_layers * p.d.max_seq * p.d.dim;
  float *k_cache = calloc(cache, sizeof(float)), *v_cache = calloc(cache, sizeof(float));
  if (!k_cache || !v_cache) return fail(1, "out of memory for the KV cache");
  decode_region_set_caches(p.region, k_cache, v_cache);
  int code = o.tokens ? logits_for_tokens(&p, &o) : time_steps(&p, k_cache, v_cache, &o);
  decode_region_destroy(p.region);
  if (p.pool) pthreadpool_destroy(p.pool);
  free(k_cache), free(v_cache), free(data);
  return code;
}
