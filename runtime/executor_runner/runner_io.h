// Small helpers for the runner: the one-line error exit, dtype names and sizes, element
// access for printing, whole-file reads and atomic writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <executorch/runtime/core/error.h>
#include <executorch/runtime/core/exec_aten/exec_aten.h>

namespace xnn_runner {

using executorch::aten::ScalarType;

// Prints `error: <message>` as one printable-ASCII line on stderr (names read from a corrupt
// program can hold any bytes) and ends the process with `code` (see exit_codes.h).
[[noreturn]] void fail(int code, const std::string& message);

// The last error line the ExecuTorch runtime logged (set by the runner's log sink).
std::string& last_runtime_error();

// "<ExecuTorch error name>: <last runtime error line>"; clears the remembered line.
std::string err_text(executorch::runtime::Error e);

// The runner's own big buffers (inputs, planned memory) come from malloc, not operator new:
// a failed allocation is then a null pointer the caller reports with what it was for,
// rather than a call to the new handler (see run_limits.h).
struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using Bytes = std::unique_ptr<uint8_t[], FreeDeleter>;
inline Bytes allocate_bytes(size_t n) { return Bytes(static_cast<uint8_t*>(std::malloc(n ? n : 1))); }

// torch-style dtype name ("float32", "int64", "bool", ...); "unknown(<n>)" otherwise.
std::string dtype_name(ScalarType t);

// Bytes per element; 0 for types the runner does not know.
size_t dtype_size(ScalarType t);

// Element `index` of a buffer of dtype `t`, as a double (for printing and statistics).
double element_as_double(const void* data, size_t index, ScalarType t);

// "[1, 3, 224, 224]"
std::string format_shape(const std::vector<int64_t>& shape);

// Reads a whole file; on failure returns false and sets `error` (one line, no newline).
bool read_file(const std::string& path, std::vector<uint8_t>& out, std::string& error);

// Writes `size` bytes to `path` through a temporary file in the same directory and rename(2),
// so readers never see a partial file.
bool write_file_atomic(const std::string& path, const void* data, size_t size,
                       std::string& error);

// Formats a double for the text summary: %.9g, "nan" / "inf" / "-inf".
std::string format_number(double v);

// This machine's page size (bytes).
size_t page_size();

}  // namespace xnn_runner
