// Small helpers for the runner: dtype names and sizes, element access for printing,
// whole-file reads, atomic writes and JSON string escaping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <executorch/runtime/core/exec_aten/exec_aten.h>

namespace xnn_runner {

using executorch::aten::ScalarType;

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

std::string json_escape(const std::string& s);

// Formats a double for JSON/text: finite values with %.6g-ish precision, nan/inf as null in
// JSON (json=true) or as "nan"/"inf" in text.
std::string format_number(double v, bool json);

}  // namespace xnn_runner
