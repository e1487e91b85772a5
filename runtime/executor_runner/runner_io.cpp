#include "runner_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>

namespace xnn_runner {

void fail(int code, const std::string& message) {
  std::string line;
  for (unsigned char c : message) {
    if (c >= 0x20 && c < 0x7f) {
      line += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      line += buf;
    }
  }
  line = "error: " + line + "\n";
  std::fflush(stdout);
  // _exit: other threads (the thread pool, the watchdog) may still be running, and a failed
  // allocation must not run destructors that allocate again.
  if (::write(STDERR_FILENO, line.data(), line.size()) < 0) {
  }
  _exit(code);
}

std::string& last_runtime_error() {
  static std::string line;
  return line;
}

std::string err_text(executorch::runtime::Error e) {
  std::string s = executorch::runtime::to_string(e);
  if (!last_runtime_error().empty()) s += ": " + last_runtime_error();
  last_runtime_error().clear();
  return s;
}

std::string dtype_name(ScalarType t) {
  switch (t) {
    case ScalarType::Float: return "float32";
    case ScalarType::Double: return "float64";
    case ScalarType::Half: return "float16";
    case ScalarType::BFloat16: return "bfloat16";
    case ScalarType::Byte: return "uint8";
    case ScalarType::Char: return "int8";
    case ScalarType::Short: return "int16";
    case ScalarType::Int: return "int32";
    case ScalarType::Long: return "int64";
    case ScalarType::Bool: return "bool";
    case ScalarType::UInt16: return "uint16";
    case ScalarType::UInt32: return "uint32";
    case ScalarType::UInt64: return "uint64";
    case ScalarType::QInt8: return "qint8";
    case ScalarType::QUInt8: return "quint8";
    case ScalarType::QInt32: return "qint32";
    default: return "unknown(" + std::to_string(static_cast<int>(t)) + ")";
  }
}

size_t dtype_size(ScalarType t) {
  switch (t) {
    case ScalarType::Bool:
    case ScalarType::Byte:
    case ScalarType::Char:
    case ScalarType::QInt8:
    case ScalarType::QUInt8:
      return 1;
    case ScalarType::Half:
    case ScalarType::BFloat16:
    case ScalarType::Short:
    case ScalarType::UInt16:
      return 2;
    case ScalarType::Float:
    case ScalarType::Int:
    case ScalarType::UInt32:
    case ScalarType::QInt32:
      return 4;
    case ScalarType::Double:
    case ScalarType::Long:
    case ScalarType::UInt64:
      return 8;
    default:
      return 0;
  }
}

namespace {
template <typename T>
double load_as_double(const void* data, size_t i) {
  T v;
  std::memcpy(&v, static_cast<const uint8_t*>(data) + i * sizeof(T), sizeof(T));
  return static_cast<double>(v);
}

double half_to_double(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(mant), -24);
  } else if (exp == 31) {
    v = mant ? NAN : INFINITY;
  } else {
    v = std::ldexp(static_cast<double>(mant | 0x400), exp - 25);
  }
  return sign ? -v : v;
}
}  // namespace

double element_as_double(const void* data, size_t i, ScalarType t) {
  switch (t) {
    case ScalarType::Float: return load_as_double<float>(data, i);
    case ScalarType::Double: return load_as_double<double>(data, i);
    case ScalarType::Byte:
    case ScalarType::QUInt8:
      return load_as_double<uint8_t>(data, i);
    case ScalarType::Char:
    case ScalarType::QInt8:
      return load_as_double<int8_t>(data, i);
    case ScalarType::Short: return load_as_double<int16_t>(data, i);
    case ScalarType::Int:
    case ScalarType::QInt32:
      return load_as_double<int32_t>(data, i);
    case ScalarType::Long: return load_as_double<int64_t>(data, i);
    case ScalarType::UInt16: return load_as_double<uint16_t>(data, i);
    case ScalarType::UInt32: return load_as_double<uint32_t>(data, i);
    case ScalarType::UInt64: return load_as_double<uint64_t>(data, i);
    case ScalarType::Bool: return static_cast<const uint8_t*>(data)[i] ? 1.0 : 0.0;
    case ScalarType::Half: {
      uint16_t h;
      std::memcpy(&h, static_cast<const uint8_t*>(data) + 2 * i, 2);
      return half_to_double(h);
    }
    case ScalarType::BFloat16: {
      uint16_t b;
      std::memcpy(&b, static_cast<const uint8_t*>(data) + 2 * i, 2);
      uint32_t bits = static_cast<uint32_t>(b) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    default:
      return NAN;
  }
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

bool read_file(const std::string& path, std::vector<uint8_t>& out, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = path + " is not a regular file";
    ::close(fd);
    return false;
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t r = ::read(fd, out.data() + done, out.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      error = "cannot read " + path + ": " + (r < 0 ? std::strerror(errno) : "unexpected end of file");
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  return true;
}

bool write_file_atomic(const std::string& path, const void* data, size_t size,
                       std::string& error) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  // A new file, never one that is there (a planted symlink or file would be written through).
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  const uint8_t* p = static_cast<const uint8_t*>(data);
  size_t left = size;
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      error = "cannot write " + path + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

size_t page_size() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

}  // namespace xnn_runner
