#include "crash_guard.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <initializer_list>

namespace xnn_runner {
namespace {

char g_model_path[1024] = "the program";
char g_phase_buffers[2][128] = {"running", ""};
std::atomic<const char*> g_phase{g_phase_buffers[0]};
int g_next_phase_buffer = 1;
char g_hint[256] = "";
alignas(16) char g_alt_stack[64 * 1024];

void write_str(const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "fatal signal";
  }
}

void on_fatal_signal(int sig) {
  // Only async-signal-safe calls from here on.
  write_str("error: the ExecuTorch runtime crashed (");
  write_str(signal_name(sig));
  write_str(") while ");
  write_str(g_phase.load());
  write_str(" ");
  write_str(g_model_path);
  write_str("; the program is probably corrupt");
  write_str(g_hint);
  write_str("\n");
  _exit(kCrashExit);
}

void copy_bounded(char* dst, size_t cap, const char* src) {
  strncpy(dst, src, cap - 1);
  dst[cap - 1] = '\0';
}

}  // namespace

void install_crash_guard(const char* model_path) {
  copy_bounded(g_model_path, sizeof(g_model_path), model_path);
  stack_t ss{};
  ss.ss_sp = g_alt_stack;
  ss.ss_size = sizeof(g_alt_stack);
  ss.ss_flags = 0;
  sigaltstack(&ss, nullptr);
  struct sigaction sa{};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    sigaction(sig, &sa, nullptr);
  }
}

void set_crash_phase(const char* phase) {
  // Write the buffer no reader is pointed at, then publish it.
  char* next = g_phase_buffers[g_next_phase_buffer];
  copy_bounded(next, sizeof(g_phase_buffers[0]), phase);
  g_phase.store(next);
  g_next_phase_buffer ^= 1;
}

const char* crash_phase() { return g_phase.load(); }

void set_crash_hint(const char* hint) {
  copy_bounded(g_hint, sizeof(g_hint), hint);
}

}  // namespace xnn_runner
