// What both probe binaries (xnnpack_gemm_probe, xnnpack_decode_probe) share: a monotonic clock
// and the one error line.
#pragma once

#include <stdio.h>
#include <time.h>

static inline double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// One "error: ..." line on stderr; returns the exit code (2 bad input, 1 the measurement failed).
static inline int fail(int code, const char* message) {
  fprintf(stderr, "error: %s\n", message);
  return code;
}
