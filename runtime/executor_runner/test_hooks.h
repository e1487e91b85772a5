// Hooks for tests only, inert unless their environment variable is set.
#pragma once

namespace xnn_runner {

// XNN_RUNNER_TEST_PAUSE=<fifo>: block between the card check and the runtime's first read of
// the program until a byte arrives on that FIFO. Lets a test rewrite the program in place at
// the worst moment (tests/test_check_to_use.py) and prove the runtime never computes with bytes
// that were not checked; a FIFO nobody writes holds the run until --timeout_s ends it.
// XNN_RUNNER_TEST_CRASH=1: raise SIGSEGV there instead, for the crash guard's exit code (3).
// XNN_RUNNER_TEST_ALLOCATE_MB=N: take and hold N MiB there, as a runaway runtime would (exit 6).
void pause_after_check_for_tests();

// XNN_RUNNER_TEST_PAUSE_LAST=<fifo>: the same, after the last load and before the file is
// checked once more for changes (ProgramLoader::finish).
void pause_before_final_check_for_tests();

// XNN_RUNNER_TEST_PAUSE_RUN=<fifo>: the same, after that last check and before the first
// execution: what is read after it (constants checked on use) meets a file rewritten there.
// XNN_RUNNER_TEST_CRASH=bus: read past the end of a mapped file there (a SIGBUS that is not a
// chunk checked on use: it must reach the crash guard, checked_on_use.h).
void pause_before_first_run_for_tests();

// XNN_RUNNER_TEST_SYS_DEV_BLOCK=<folder>: where the verify cache looks up whether a block device
// is removable (<folder>/<major>:<minor>/removable) instead of /sys/dev/block: a test cannot plug
// in a removable drive, but it can say the program's device is one.
const char* sys_dev_block_for_tests();

// XNN_RUNNER_TEST_NO_USERFAULTFD=1: act as a kernel that refuses userfaultfd, so constants with
// chunk digests are read and checked whole (checked_on_use.h) as they are on such machines.
bool userfaultfd_refused_for_tests();

// XNN_RUNNER_TEST_FRESH_MS=<ms>: the verify cache's "too fresh to remember" window, shorter
// than its 2 s, so tests of cache hits need not sleep 2 s per file (tests/test_integrity.py
// keeps the real window). A longer or unreadable value leaves the default.
long long fresh_window_ns_for_tests(long long default_ns);

// XNN_RUNNER_TEST_LOGITS=<file>: text_generation_runner appends every step's last-position
// logits there as raw float32, so a test can hold the native attention kernels to the Python
// runtime's logits (greedy tokens alone miss small numeric errors).
void record_logits_for_tests(const float* logits, long vocab);

// XNN_RUNNER_TEST_POOL_GAPS=<n>: text_generation_runner runs n parallel no-op operators on its
// thread pool, each followed by 100 us of main-thread work (as a portable operator between two
// parallel ones in a decode step), and prints to stderr
// "test hook: pool gap probe: <v> voluntary and <i> involuntary context switches over <n> gaps".
// A pool whose idle workers sleep within 100 us (the wheel's pthreadpool) switches at least
// once per gap; the runner's own (threadpool_binding.h) only when another process preempts it.
// The probe pins the main thread and the worker to one CPU each for the rest of the run
// (2 threads, 2 CPUs needed). At most 100000.
void probe_pool_gaps_for_tests();

}  // namespace xnn_runner
