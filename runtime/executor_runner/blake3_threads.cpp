// BLAKE3 on several cores without oneTBB: BLAKE3 is a tree hash, and its C library splits a
// large input into two subtrees through one hook, blake3_compress_subtree_wide_join_tbb, when
// compiled with BLAKE3_USE_TBB. This is that hook on std::thread: the left subtree runs on a
// new thread while this one hashes the right, as long as both halves are big enough to pay for
// a thread and a core is free. The digest is the same either way (the tree shape is fixed).
// Why: the runner hashes every carded program before loading it, on the path to its first
// result (mv2 fp32, 14 MB: about 4.4 ms on one AVX2 core). Two hardware threads of one core
// gain little (the hash keeps the vector units busy); separate cores split the time.
#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

extern "C" {
#include "blake3_impl.h"
}

namespace {

// Below this many bytes per side, a thread costs more than it saves.
constexpr size_t kMinParallelBytes = 1 << 20;

// Threads started and not yet joined, across the whole recursion.
std::atomic<unsigned> g_extra_threads{0};

// One thread per CPU this process may run on, this one included: the runner pins itself to
// --num_threads CPUs first, and a hash must not use cores the run was not given.
unsigned allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return static_cast<unsigned>(CPU_COUNT(&set));
}

bool claim_thread() {
  static const unsigned limit = allowed_cpus() > 1 ? allowed_cpus() - 1 : 0;
  unsigned n = g_extra_threads.load();
  while (n < limit) {
    if (g_extra_threads.compare_exchange_weak(n, n + 1)) return true;
  }
  return false;
}

}  // namespace

extern "C" void blake3_compress_subtree_wide_join_tbb(const uint32_t key[8], uint8_t flags, bool use_threads,
                                                      const uint8_t* l_input, size_t l_input_len,
                                                      uint64_t l_chunk_counter, uint8_t* l_cvs, size_t* l_n,
                                                      const uint8_t* r_input, size_t r_input_len,
                                                      uint64_t r_chunk_counter, uint8_t* r_cvs, size_t* r_n) noexcept {
  auto left = [=] {
    *l_n = blake3_compress_subtree_wide(l_input, l_input_len, key, l_chunk_counter, flags, l_cvs, use_threads);
  };
  auto right = [=] {
    *r_n = blake3_compress_subtree_wide(r_input, r_input_len, key, r_chunk_counter, flags, r_cvs, use_threads);
  };
  if (use_threads && r_input_len >= kMinParallelBytes && claim_thread()) {
    std::thread worker(left);
    right();
    worker.join();
    g_extra_threads.fetch_sub(1);
    return;
  }
  left();
  right();
}
