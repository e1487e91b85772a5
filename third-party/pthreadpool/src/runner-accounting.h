// LOCAL ADDITION (xnnpack toolkit): the hooks pthreads.c calls (pthreadpool_runner_accounting.h).
// A start of 0 means accounting was off when the job or the work began: nothing is added.
#ifndef PTHREADPOOL_SRC_RUNNER_ACCOUNTING_H_
#define PTHREADPOOL_SRC_RUNNER_ACCOUNTING_H_

#include <stdint.h>

#include "threadpool-common.h"

PTHREADPOOL_INTERNAL uint64_t pthreadpool_runner_accounting_start(void);
PTHREADPOOL_INTERNAL void pthreadpool_runner_accounting_job_done(uint64_t start_ns);
PTHREADPOOL_INTERNAL void pthreadpool_runner_accounting_work_done(uint64_t start_ns);

#endif  // PTHREADPOOL_SRC_RUNNER_ACCOUNTING_H_
