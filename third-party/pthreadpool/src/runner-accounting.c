// LOCAL ADDITION (xnnpack toolkit): see include/pthreadpool_runner_accounting.h.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdatomic.h>
#include <time.h>

#include "pthreadpool_runner_accounting.h"
#include "runner-accounting.h"

static atomic_bool accounting_enabled;
static atomic_uint_fast64_t accounted_jobs, accounted_wall_ns, accounted_busy_ns;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void pthreadpool_runner_accounting_enable(bool enabled) {
  atomic_store_explicit(&accounting_enabled, enabled, memory_order_relaxed);
}

struct pthreadpool_runner_accounting pthreadpool_runner_accounting_read(void) {
  struct pthreadpool_runner_accounting a;
  a.jobs = atomic_load_explicit(&accounted_jobs, memory_order_relaxed);
  a.wall_ns = atomic_load_explicit(&accounted_wall_ns, memory_order_relaxed);
  a.busy_ns = atomic_load_explicit(&accounted_busy_ns, memory_order_relaxed);
  return a;
}

uint64_t pthreadpool_runner_accounting_start(void) {
  return atomic_load_explicit(&accounting_enabled, memory_order_relaxed) ? now_ns() : 0;
}

void pthreadpool_runner_accounting_job_done(uint64_t start_ns) {
  if (start_ns == 0) return;
  atomic_fetch_add_explicit(&accounted_jobs, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&accounted_wall_ns, now_ns() - start_ns, memory_order_relaxed);
}

void pthreadpool_runner_accounting_work_done(uint64_t start_ns) {
  if (start_ns == 0) return;
  atomic_fetch_add_explicit(&accounted_busy_ns, now_ns() - start_ns, memory_order_relaxed);
}
