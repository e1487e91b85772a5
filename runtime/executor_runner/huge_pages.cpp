#include "huge_pages.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1 (uapi asm-generic/mman-common.h)
#endif

namespace xnn_runner {
namespace {

constexpr uint64_t kPagemapPresent = uint64_t{1} << 63;
// Mapped by this process alone. A page read but never written maps the shared zero page:
// present, not exclusive; collapsing a range of those would give it 2 MiB of real memory.
constexpr uint64_t kPagemapExclusive = uint64_t{1} << 56;

struct Range {
  uintptr_t begin, end;
};

// The kernel's huge page (a PMD's span): 2 MiB on x86-64 and on arm64 with 4 KiB pages, 32 or
// 512 MiB with arm64's 16 or 64 KiB pages; 2 MiB where the kernel does not say.
uintptr_t huge_page_bytes() {
  std::ifstream size("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
  unsigned long long bytes = 0;
  return size >> bytes && bytes > 0 && (bytes & (bytes - 1)) == 0 ? static_cast<uintptr_t>(bytes) : uintptr_t{2} << 20;
}

// Private anonymous read-write mappings (the heap and malloc's mmap chunks) holding at least one
// whole aligned huge page's range, from /proc/self/maps.
std::vector<Range> anonymous_mappings(uintptr_t huge) {
  std::vector<Range> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string span, perms, offset, dev, path;
    unsigned long inode = 0;
    fields >> span >> perms >> offset >> dev >> inode;
    std::getline(fields >> std::ws, path);
    if (perms != "rw-p" || inode != 0 || !(path.empty() || path == "[heap]")) continue;
    uintptr_t begin = 0, end = 0;
    if (std::sscanf(span.c_str(), "%lx-%lx", &begin, &end) != 2) continue;
    begin = (begin + huge - 1) & ~(huge - 1);
    end &= ~(huge - 1);
    if (end > begin) out.push_back({begin, end});
  }
  return out;
}

// Whether all small pages of the huge page's range at `begin` are resident and this process's own
// (/proc/self/pagemap); `entries` holds one pagemap entry per small page of the range.
bool fully_resident(int pagemap, uintptr_t begin, long page_size, std::vector<uint64_t>& entries) {
  const off_t at = static_cast<off_t>(begin / page_size * sizeof(uint64_t));
  const ssize_t want = static_cast<ssize_t>(entries.size() * sizeof(uint64_t));
  if (pread(pagemap, entries.data(), want, at) != want) return false;
  for (uint64_t e : entries) {
    if (!(e & kPagemapPresent) || !(e & kPagemapExclusive)) return false;
  }
  return true;
}

}  // namespace

HugePageReport back_resident_memory_with_huge_pages() {
  HugePageReport r;
  const auto start = std::chrono::steady_clock::now();
  const long page_size = sysconf(_SC_PAGESIZE);
  const int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) {
    r.error = std::string("cannot read /proc/self/pagemap: ") + std::strerror(errno);
    return r;
  }
  const uintptr_t huge = huge_page_bytes();
  r.huge_page_bytes = huge;
  std::vector<uint64_t> entries(huge / page_size);
  size_t tried = 0, invalid = 0;
  for (const Range& m : anonymous_mappings(huge)) {
    for (uintptr_t p = m.begin; p < m.end; p += huge) {
      if (!fully_resident(pagemap, p, page_size, entries)) continue;
      r.candidate_bytes += huge;
      ++tried;
      if (madvise(reinterpret_cast<void*>(p), huge, MADV_COLLAPSE) == 0) {
        r.collapsed_bytes += huge;
        continue;
      }
      // EINVAL for one range (marked MADV_NOHUGEPAGE, say) leaves the others to try; EINVAL
      // for every range is a kernel without MADV_COLLAPSE (before 6.1) or without THP.
      invalid += errno == EINVAL;
      if (r.error.empty()) r.error = std::string("madvise(MADV_COLLAPSE): ") + std::strerror(errno);
    }
  }
  close(pagemap);
  r.attempted = tried == 0 || invalid < tried;
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return r;
}

long anon_huge_pages_kib() {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string key;
  long kib = 0;
  while (rollup >> key) {
    if (key == "AnonHugePages:" && rollup >> kib) return kib;
    rollup.ignore(1 << 12, '\n');
  }
  return -1;
}

std::string describe(const HugePageReport& r) {
  if (!r.attempted) return "4 KiB pages (" + (r.error.empty() ? std::string("off") : r.error) + ")";
  char text[160];
  std::snprintf(text, sizeof text, "%zu MiB of %zu MiB in %zu MiB pages (%.1f ms)", r.collapsed_bytes >> 20,
                r.candidate_bytes >> 20, r.huge_page_bytes >> 20, r.ms);
  return text + (r.error.empty() ? std::string() : "; " + r.error);
}

}  // namespace xnn_runner
