// Backs the memory a loaded program streams (the delegate's packed weights, the KV cache) with
// 2 MiB pages.
//
// Why: a decode step streams every packed weight once. In 4 KiB pages that is a TLB miss every
// 64 cache lines, and glibc hands the delegate's large allocations out in 4 KiB pages when the
// kernel's transparent huge pages are in "madvise" mode (the common default). Measured on
// stories110m: decode 0-14 % faster (most runs 4-14 %), within the host's noise in half the
// runs, for tens of ms more load time (results/intel-f6-m167-s1-amx/generation/NOTES.md, "2 MiB pages"); so it is opt-in.
#pragma once

#include <cstddef>
#include <string>

namespace xnn_runner {

struct HugePageReport {
  bool attempted = false;   // false: turned off, or every collapse failed with EINVAL (no MADV_COLLAPSE)
  size_t candidate_bytes = 0;  // fully resident 2 MiB ranges of large anonymous mappings
  size_t collapsed_bytes = 0;  // of those, what the kernel now backs with 2 MiB pages
  size_t huge_page_bytes = 0;  // the kernel's huge page: 2 MiB on x86-64 (hpage_pmd_size)
  double ms = 0;
  std::string error;           // why nothing was attempted or the first failure, "" if none
};

// Asks the kernel (madvise MADV_COLLAPSE, Linux 6.1+) to move every aligned huge-page range (2 MiB
// on x86-64; the kernel's hpage_pmd_size) of this process's private anonymous mappings (heap and
// malloc's mmap chunks) whose small pages are all resident and its own into one huge page. Only
// those: collapsing a partly resident range, or one of pages read but never written (the shared
// zero page), would give it memory it does not use and grow the resident set. Call it once the
// program is loaded (the delegate packs its weights then); it copies what it collapses, so it
// costs a few ms per 100 MiB.
HugePageReport back_resident_memory_with_huge_pages();

// The process's anonymous memory in 2 MiB pages now (AnonHugePages of /proc/self/smaps_rollup),
// in KiB; -1 when unknown. What the kernel says, not what was asked for.
long anon_huge_pages_kib();

// "54 MiB of 56 MiB in 2 MiB pages (12 ms)" or why none.
std::string describe(const HugePageReport& report);

}  // namespace xnn_runner
