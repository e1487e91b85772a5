// Crash guard: turns a fatal signal raised inside the ExecuTorch runtime (corrupt programs can
// make it dereference bad pointers or abort) into one line on stderr and exit code 3.
#pragma once

#include "exit_codes.h"

namespace xnn_runner {

// Installs handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (on an alternate stack,
// so a stack overflow is reported too).
void install_crash_guard(const char* model_path);

// What the runner is doing now ("loading", "initializing method 'forward' of", "executing");
// named in the crash, timeout and out-of-memory lines. The text is copied into one of two
// buffers and published with an atomic pointer, so the watchdog thread and signal handlers
// read a complete string. Set from the main thread only.
void set_crash_phase(const char* phase);
const char* crash_phase();

// Extra text appended to the crash line (e.g. the profiling build's fixed ETDump buffer size).
void set_crash_hint(const char* hint);

}  // namespace xnn_runner
