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

// Starts the watchdog thread: `timeout_s` seconds from now (0 = never) it prints one error line
// naming the current phase and ends the process with kTimeoutExit; and whenever the resident
// memory (VmRSS, polled every 20 ms) passes the bound set with set_rss_bound_kib, one error line
// and kMemoryExit.
void start_watchdog(double timeout_s, const std::string& model_path);

// The resident-memory bound the watchdog enforces, in KiB; 0 = none.
void set_rss_bound_kib(long kib);

// Sets the watchdog's resident-memory bound from --max_memory_mb, counted from the resident
// memory at apply_memory_limit: N > 0 allows N MiB more; 0 none; below 0 (the default) allows
// kDefaultBoundFactor times what the program needs (`need_bytes`: its file, which the loader
// reads, plus its planned memory) plus kDefaultBoundSlackMib, never more than the memory
// available now. Generous, because delegates pack weights and keep workspaces; a bound, because a
// corrupt or hostile program must end with exit 6, not take the machine. Returns the MiB allowed
// (0 = unbounded). Call again when the need is better known.
constexpr long kDefaultBoundFactor = 4;
constexpr long kDefaultBoundSlackMib = 256;
long bound_memory(long max_memory_mb, unsigned long long need_bytes);

// Records the resident memory now (bound_memory counts from it). With `max_memory_mb` > 0 also
// limits the address space (RLIMIT_AS) to what the process maps now plus `max_memory_mb` MiB, and makes operator new failures end the run with one error line and kMemoryExit
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

// The process's context switches so far, all threads: a thread-pool worker that sleeps between
// parallel operators shows up as voluntary ones.
struct ContextSwitches {
  long voluntary = 0;
  long involuntary = 0;
};
ContextSwitches process_context_switches();
ContextSwitches operator-(const ContextSwitches& later, const ContextSwitches& earlier);

}  // namespace xnn_runner
