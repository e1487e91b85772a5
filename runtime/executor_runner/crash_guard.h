// Crash guard: turns a fatal signal raised inside the ExecuTorch runtime (corrupt programs can
// make it dereference bad pointers or abort) into one line on stderr and exit code 3.
#pragma once

namespace xnn_runner {

// Exit code used when a fatal signal was caught.
constexpr int kCrashExitCode = 3;

// Installs handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (on an alternate stack,
// so a stack overflow is reported too).
void install_crash_guard(const char* model_path);

// What the runner is doing now ("loading", "initializing method 'forward' of", "executing");
// named in the crash line. Not thread-safe by design: set from the main thread only.
void set_crash_phase(const char* phase);

// Extra text appended to the crash line (e.g. the profiling build's fixed ETDump buffer size).
void set_crash_hint(const char* hint);

}  // namespace xnn_runner
