"""The memory-bandwidth limit of token generation: how fast this machine streams bytes, and how
many bytes each engine must read per decoded token.

One decode step of a dense decoder reads every weight it multiplies once (the token embedding
is a gather: one row) plus the KV cache up to the current position, so

    decode tok/s  <=  sustained read bandwidth / bytes per token

and ``decode tok/s x bytes per token / bandwidth`` is how close an engine runs to that limit.

``read_bandwidth`` measures sustained read bandwidth with a small C loop (XOR of 64-bit words,
vectorised by the compiler, one pthread per thread over its share of one buffer), compiled on
first use with the system C compiler and cached; without a compiler it falls back to numpy's
``bitwise_or.reduce`` (slower: the result says which method ran). The buffer size matters: a
buffer that fits the last-level cache measures the cache, not DRAM, so the benchmark probes at
the size of the bytes each token reads (what decode really streams) and at a size well past the
last-level cache (DRAM).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MIB = 1 << 20

_SOURCE = r"""
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#define SPIN_PAUSE() __builtin_ia32_pause()
#else
#define SPIN_PAUSE() ((void)0)
#endif

typedef struct { const uint64_t* p; size_t n; int sweeps; int* ready; int* go; uint64_t acc; } job_t;

static void* run(void* arg) {
  job_t* j = (job_t*)arg;
  __atomic_add_fetch(j->ready, 1, __ATOMIC_ACQ_REL);
  while (!__atomic_load_n(j->go, __ATOMIC_ACQUIRE)) SPIN_PAUSE();  /* all start on one signal */
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  const uint64_t* p = j->p;
  for (int s = 0; s < j->sweeps; ++s) {
    size_t i = 0;
    for (; i + 8 <= j->n; i += 8) {
      a0 ^= p[i]; a1 ^= p[i + 1]; a2 ^= p[i + 2]; a3 ^= p[i + 3];
      a4 ^= p[i + 4]; a5 ^= p[i + 5]; a6 ^= p[i + 6]; a7 ^= p[i + 7];
    }
    for (; i < j->n; ++i) a0 ^= p[i];
    __asm__ volatile("" ::: "memory");  /* every sweep reads memory again: nothing folds them */
  }
  j->acc = a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
  return 0;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Reads buf[0..n) `sweeps` times per pass with `threads` threads; seconds[k] = wall time of pass
   k from the start signal, given once every thread is waiting for it, to the last thread's end.
   Returns 0 when a thread cannot be started (the caller falls back), else a nonzero sink. */
uint64_t read_passes(const uint64_t* buf, size_t n, int threads, int passes, int sweeps, double* seconds) {
  pthread_t ids[64];
  job_t jobs[64];
  uint64_t sink = 1;
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  if (sweeps < 1) sweeps = 1;
  for (int k = 0; k < passes; ++k) {
    int ready = 0, go = 0, started = 1;
    size_t chunk = n / threads;
    for (int t = 0; t < threads; ++t) {
      jobs[t] = (job_t){buf + t * chunk, t == threads - 1 ? n - t * chunk : chunk, sweeps, &ready, &go, 0};
      if (t && pthread_create(&ids[t], 0, run, &jobs[t]) == 0) ++started;
      else if (t) break;
    }
    if (started < threads) {  /* release the ones that started, then give up */
      __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
      for (int t = 1; t < started; ++t) pthread_join(ids[t], 0);
      return 0;
    }
    while (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) < threads - 1) SPIN_PAUSE();
    double start = now();
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    run(&jobs[0]);
    for (int t = 1; t < threads; ++t) pthread_join(ids[t], 0);
    seconds[k] = now() - start;
    for (int t = 0; t < threads; ++t) sink ^= jobs[t].acc;
  }
  return sink | 1;
}
"""


def _compiled_probe() -> ctypes.CDLL | None:
    """The C probe as a shared library (built once per source version), or None without a compiler."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        return None
    digest = hashlib.sha256(_SOURCE.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"bandwidth-probe-{os.getuid()}"
    library = folder / f"probe-{digest}.so"
    if not library.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / f"probe-{digest}.c"
        source.write_text(_SOURCE)
        partial = folder / f".probe-{digest}-{os.getpid()}.so"
        done = subprocess.run([compiler, "-O3", "-march=native", "-shared", "-fPIC", "-pthread", str(source),
                               "-o", str(partial)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            return None
        os.replace(partial, library)
    lib = ctypes.CDLL(str(library))
    lib.read_passes.restype = ctypes.c_uint64
    lib.read_passes.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                ctypes.POINTER(ctypes.c_double)]
    return lib


def _numpy_passes(buffer, threads: int, passes: int, sweeps: int) -> list[float]:
    import numpy as np

    parts = np.array_split(buffer, threads)

    def sweep(part):
        for _ in range(sweeps):
            np.bitwise_or.reduce(part)

    seconds = []
    with ThreadPoolExecutor(threads) as pool:  # numpy releases the GIL in the reduction
        for _ in range(passes):
            start = time.perf_counter()
            list(pool.map(sweep, parts))
            seconds.append(time.perf_counter() - start)
    return seconds


# A timed pass lasts at least this long: a pass of one sweep over a cache-sized buffer takes about
# a millisecond at two threads, where a thread that starts late or is descheduled for a moment
# moved single passes by a third (one run's rounds: 32 to 54 GB/s while decode held steady).
MIN_PASS_SECONDS = 0.02


HUGE_PAGE = 2 << 20


def _resident_buffer(words: int):
    """``words`` 64-bit words, written once (every page resident), in 2 MiB pages where the kernel
    gives them on request (madvise), as the native runner backs the weights it streams when
    asked (runtime/executor_runner/huge_pages.h): in 4 KiB pages a sweep pays a TLB miss per
    page. The buffer starts on a 2 MiB boundary, so only its last partial 2 MiB stays small."""
    import mmap

    import numpy as np

    nbytes = max(1, words) * 8
    region = mmap.mmap(-1, nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        region.madvise(mmap.MADV_HUGEPAGE)
    whole = np.frombuffer(region, dtype=np.uint8)  # keeps the mapping alive
    start = -whole.ctypes.data % HUGE_PAGE
    buffer = whole[start:start + nbytes].view(np.uint64)[:words]
    buffer.fill(0x5555555555555555)
    return buffer


def read_bandwidth(nbytes: int, threads: int, passes: int = 0, min_seconds: float = 0.3) -> dict:
    """Sustained read bandwidth streaming one ``nbytes`` buffer with ``threads`` threads.

    Returns ``{"gb_s", "gb_s_best", "bytes", "threads", "passes", "sweeps", "method"}``: ``gb_s``
    is the median over passes (1 GB = 1e9 bytes), after one untimed pass that faults the pages
    in; each pass sweeps the buffer ``sweeps`` times, enough to last :data:`MIN_PASS_SECONDS`.
    ``passes`` 0: as many as fit ``min_seconds`` (at least 5)."""
    import numpy as np

    if nbytes < 8 * threads or threads < 1:
        raise ValueError(f"a {nbytes}-byte buffer cannot be split over {threads} thread(s)")
    buffer = _resident_buffer(nbytes // 8)
    lib = _compiled_probe()
    if lib is not None:
        def timed(count: int, sweeps: int) -> list[float]:
            seconds = (ctypes.c_double * count)()
            if not lib.read_passes(buffer.ctypes.data, buffer.size, threads, count, sweeps, seconds):
                return _numpy_passes(buffer, threads, count, sweeps)  # a thread could not be started
            return list(seconds)
        method = "C loop (XOR of 64-bit words, -O3 -march=native), pthreads started together, 2 MiB pages requested"
    else:
        def timed(count: int, sweeps: int) -> list[float]:
            return _numpy_passes(buffer, threads, count, sweeps)
        method = "numpy bitwise_or.reduce, Python threads"
    sweeps, took = 1, min(timed(2, 1))  # the first pass warms the caches (the pages are resident)
    while took < MIN_PASS_SECONDS and sweeps < 1 << 16:  # short passes: thread start-up weighs in, so grow
        sweeps = max(2 * sweeps, int(np.ceil(sweeps * MIN_PASS_SECONDS / max(took, 1e-6))))
        took = min(timed(2, sweeps))
    count = passes or max(5, min(200, int(min_seconds / max(took, 1e-6))))
    seconds = sorted(timed(count, sweeps))
    median = seconds[len(seconds) // 2]
    read = buffer.nbytes * sweeps
    return {"gb_s": read / median / 1e9, "gb_s_best": read / seconds[0] / 1e9, "bytes": int(buffer.nbytes),
            "threads": threads, "passes": count, "sweeps": sweeps, "method": method}


def limit_tok_s(bandwidth_gb_s: float, bytes_per_token: float) -> float:
    """The decode rate at which reading ``bytes_per_token`` takes all of the bandwidth."""
    if bytes_per_token <= 0:
        raise ValueError("bytes per token must be positive")
    return bandwidth_gb_s * 1e9 / bytes_per_token


def fraction_of_limit(decode_tok_s: float, bandwidth_gb_s: float, bytes_per_token: float) -> float:
    """Decode speed as a fraction of the bandwidth limit (1.0: every byte at probe speed)."""
    return decode_tok_s / limit_tok_s(bandwidth_gb_s, bytes_per_token)


def last_level_cache_bytes() -> int | None:
    """The largest CPU cache (sysfs), or None where it cannot be read."""
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (index / "size").read_text().strip()
        except OSError:
            continue
        unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
        digits = text.rstrip("KMGkmg")
        if digits.isdigit():
            sizes.append(int(digits) * unit)
    return max(sizes) if sizes else None


def dram_probe_bytes() -> int:
    """A buffer well past the last-level cache: 4x its size, at least 1 GiB, at most 4 GiB."""
    cache = last_level_cache_bytes() or 0
    return int(min(max(4 * cache, 1 << 30), 4 << 30))


class BandwidthProbes:
    """The ``before_round`` hook: read bandwidth at each thread count before each round, at the
    size ExecuTorch 8da4w reads per token, weights and KV cache (a buffer that size sits where a
    step's bytes sit: the last-level cache when they fit; on a shared cache the rate falls as the
    size grows, so the weights alone would overstate it), once per thread count also past the
    last-level cache (DRAM)."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.working_set, self.rounds, self.dram = enabled, 64 << 20, {}, {}

    def size_for(self, accounting: dict) -> None:
        pick = accounting.get("8da4w") or next(iter(accounting.values()), None)
        if pick:
            self.working_set = max(1 << 20, int(pick["total"]))

    def __call__(self, round_index: int, threads: int) -> None:
        if not self.enabled:
            return
        self.rounds.setdefault(threads, []).append(read_bandwidth(self.working_set, threads))
        if threads not in self.dram:
            self.dram[threads] = read_bandwidth(dram_probe_bytes(), threads)

    def per_round(self) -> dict[int, list[float]]:
        """``{threads: [GB/s before round 0, round 1, ...]}``: what the limit verdict pairs with
        each round's decode."""
        return {n: [p["gb_s"] for p in probes] for n, probes in self.rounds.items()}

    def dram_gb_s(self) -> dict[int, float]:
        return {n: probe["gb_s"] for n, probe in self.dram.items()}

    def medians(self) -> dict[int, float]:
        from examples.common.stats import median

        return {n: median([p["gb_s"] for p in probes]) for n, probes in self.rounds.items()}

    def lines(self) -> list[str]:
        out = []
        for n, value in self.medians().items():
            dram = self.dram.get(n)
            out.append(f"read bandwidth, {n} thread(s): {value:.1f} GB/s over {self.working_set / 2**20:.0f} MiB "
                       f"(median of {len(self.rounds[n])} round(s))"
                       + (f"; {dram['gb_s']:.1f} GB/s over {dram['bytes'] / 2**30:.1f} GiB (past the last-level cache)"
                          if dram else ""))
        return out

    def as_json(self) -> dict:
        return {str(n): {"gb_s": value, "bytes": self.working_set,
                         "rounds_gb_s": self.per_round()[n], "method": self.rounds[n][0]["method"],
                         "dram_gb_s": (self.dram.get(n) or {}).get("gb_s"),
                         "dram_bytes": (self.dram.get(n) or {}).get("bytes")}
                for n, value in self.medians().items()}
