// A sense-reversing spin barrier for the threads of one parallel region (xnnpack_gemm_probe's
// one_region schedule, runtime/decode_region): one pool job each, all running at once as long
// as there are no more threads than CPUs (the callers keep it so: a thread would otherwise spin
// while the one it waits for has no CPU).
#pragma once

#include <stdatomic.h>
#include <stddef.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SPIN_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define SPIN_PAUSE() __asm__ __volatile__("yield")
#else
#define SPIN_PAUSE() ((void) 0)
#endif

typedef struct {
  atomic_size_t arrived;
  atomic_uint sense;
  size_t parties;
} barrier_t;

// Each thread keeps its own sense, starting from the barrier's.
static inline void barrier_wait(barrier_t* barrier, unsigned* local_sense) {
  if (barrier->parties == 1) return;
  unsigned sense = *local_sense = !*local_sense;
  if (atomic_fetch_add(&barrier->arrived, 1) + 1 == barrier->parties) {
    atomic_store(&barrier->arrived, 0);
    atomic_store(&barrier->sense, sense);
  } else {
    while (atomic_load_explicit(&barrier->sense, memory_order_acquire) != sense) SPIN_PAUSE();
  }
}
