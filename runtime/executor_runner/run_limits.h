// Bounds on one run: the CPUs it may use, how long it may take, how much memory it may map.
#pragma once

#include <string>
#include <vector>

#include "exit_codes.h"

namespace xnn_runner {

// Pins the process to `num_threads` of the CPUs it is allowed (the lowest-numbered ones);
// 0 keeps them all. Returns the CPUs the process may run on afterwards. Must run before any
// thread is created: Linux affinity is per thread and only new threads inherit it, so a
// thread pool started earlier would keep its workers on every CPU.
std::vector<int> pin_to_cpus(int num_threads);

// Starts a watchdog thread that, `timeout_s` seconds from now, prints one error line naming
// the current phase and ends the process with kTimeoutExit. 0 = no watchdog.
void start_watchdog(double timeout_s, const std::string& model_path);

// Limits the address space (RLIMIT_AS) to what the process maps now plus `max_memory_mb`
// MiB, and makes operator new failures end the run with one error line and kMemoryExit
// instead of an exception that the runtime's code may not unwind. 0 = no limit (the new
// handler is installed either way). Returns the limit in bytes (0 when none).
unsigned long long apply_memory_limit(long max_memory_mb, const std::string& model_path);

// Ends the run because an allocation failed: one error line, kMemoryExit.
[[noreturn]] void fail_out_of_memory(const std::string& what);

// Whether a runtime error message (or ExecuTorch error) says an allocation failed.
bool looks_like_allocation_failure(const std::string& runtime_message);

// Peak resident set size in KiB. VmHWM from /proc/self/status is this process image's own
// high-water mark; getrusage's ru_maxrss is the fallback, but Linux carries it over from the
// parent across fork+exec (a runner started from a big Python process would report the
// parent's peak).
long peak_rss_kib();

// Current resident set size (VmRSS) in KiB; 0 when unknown.
long current_rss_kib();

// The process's CPU time (user + system, all threads) in ms.
double process_cpu_ms();

}  // namespace xnn_runner
