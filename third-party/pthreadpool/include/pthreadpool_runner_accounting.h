// LOCAL ADDITION (xnnpack toolkit): where a process's parallel time goes.
//
// Off unless pthreadpool_runner_accounting_enable(true) is called. While on, every job that
// pthreadpool_parallelize hands to the workers adds its wall time (the calling thread's, from
// the call to the last worker done) and every thread's time inside the job's function. A
// runner reads two snapshots around a phase: time outside the jobs ran on one thread while
// the others waited, and busy / (wall x threads) says how well a job's threads were used.
// A pool of one thread runs every task inline: no jobs are counted.
#ifndef PTHREADPOOL_RUNNER_ACCOUNTING_H_
#define PTHREADPOOL_RUNNER_ACCOUNTING_H_

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pthreadpool_runner_accounting {
  uint64_t jobs;     // jobs handed to the pool's threads
  uint64_t wall_ns;  // their wall time, summed
  uint64_t busy_ns;  // every thread's time inside the jobs' functions, summed
};

void pthreadpool_runner_accounting_enable(bool enabled);
struct pthreadpool_runner_accounting pthreadpool_runner_accounting_read(void);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // PTHREADPOOL_RUNNER_ACCOUNTING_H_
