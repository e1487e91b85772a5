// The decode-step attention kernels of the vendored custom_sdpa (one_row_q_at_k,
// one_row_qk_at_v in third-party/executorch_llm_ops/.../op_sdpa_impl.h) and their int8 KV cache
// versions (one_row_int8_q_at_k, one_row_int8_qk_at_v) against a double-precision reference,
// over random sizes: every tail of the 16- and 64-float vector paths, padded strides,
// quantization parameters a stride apart, and beta 0 (output starts as NaN: it must be
// overwritten), 0.5 and 1. Also checks that nothing is written past the output, and the int8
// dispatch in _q_at_k_gemm / _qk_at_v_gemm as cpu_flash_attention calls it (a prefill block of
// query rows, one decode row), and a decode step's whole fp32 attention (OneRowAttention: scores,
// softmax with its own exp, weighted values, split into key ranges and combined) against
// softmax(q.k) @ v in double, grouped-query heads included. CMake target one_row_attention_check (built with the runners, compiled
// like the kernels); tests/test_llm_kernels.py runs it. Prints one line; non-zero exit on failure.
#include <executorch/extension/llm/custom_ops/op_sdpa_impl.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/core/memory_allocator.h>
#include <executorch/extension/threadpool/threadpool.h>
#include <executorch/runtime/platform/runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

using torch::executor::native::sdpa::impl::_q_at_k_gemm;
using torch::executor::native::sdpa::impl::_qk_at_v_gemm;
using torch::executor::native::sdpa::impl::MaybeQuantizedMatrixData;
using torch::executor::native::sdpa::impl::one_row_int8_q_at_k;
using torch::executor::native::sdpa::impl::one_row_int8_qk_at_v;
using torch::executor::native::sdpa::impl::one_row_q_at_k;
using torch::executor::native::sdpa::impl::one_row_attention_combine;
using torch::executor::native::sdpa::impl::one_row_attention_range;
using torch::executor::native::sdpa::impl::one_row_qk_at_v;
using torch::executor::native::sdpa::impl::one_row_scratch_floats;
using torch::executor::native::sdpa::impl::OneRowAttention;
using torch::executor::native::set_decode_attention_by_key_rows;

namespace {

constexpr float kGuard = 12345.0f;

// |got - exact| relative to the sum of the absolute products.
double relative_error(double got, double exact, double magnitude) {
  return std::fabs(got - exact) / (magnitude + 1e-30);
}

bool check_q_at_k(std::mt19937& gen, int64_t n, int64_t k, int64_t stride, double& worst) {
  std::uniform_real_distribution<float> value(-1, 1);
  std::vector<float> q(k), keys(n * stride), out(n + 1, NAN);
  for (float& x : q) x = value(gen);
  for (float& x : keys) x = value(gen);
  out[n] = kGuard;
  one_row_q_at_k(n, k, q.data(), keys.data(), stride, out.data());
  for (int64_t j = 0; j < n; ++j) {
    double exact = 0, magnitude = 0;
    for (int64_t d = 0; d < k; ++d) {
      exact += double(q[d]) * keys[j * stride + d];
      magnitude += std::fabs(double(q[d]) * keys[j * stride + d]);
    }
    worst = std::max(worst, relative_error(out[j], exact, magnitude));
  }
  return out[n] == kGuard;
}

bool check_qk_at_v(std::mt19937& gen, int64_t n, int64_t k, int64_t stride, float beta, double& worst) {
  std::uniform_real_distribution<float> value(-1, 1);
  std::vector<float> weights(k), values(k * stride), out(n + 1);
  for (float& x : weights) x = value(gen);
  for (float& x : values) x = value(gen);
  for (float& x : out) x = beta == 0.0f ? NAN : value(gen);
  out[n] = kGuard;
  const std::vector<float> before = out;
  one_row_qk_at_v(n, k, weights.data(), values.data(), stride, beta, out.data());
  for (int64_t d = 0; d < n; ++d) {
    double exact = beta == 0.0f ? 0.0 : double(beta) * before[d];
    double magnitude = std::fabs(exact);
    for (int64_t j = 0; j < k; ++j) {
      exact += double(weights[j]) * values[j * stride + d];
      magnitude += std::fabs(double(weights[j]) * values[j * stride + d]);
    }
    if (std::isnan(out[d])) return false;
    worst = std::max(worst, relative_error(out[d], exact, magnitude));
  }
  return out[n] == kGuard;
}

// An int8 tensor with one zero point and scale per row, the rows' parameters qparams_stride apart.
struct Quantized {
  std::vector<int8_t> values, zeros;
  std::vector<float> scales;
  double at(int64_t row, int64_t stride, int64_t qparams_stride, int64_t d) const {
    return double(scales[row * qparams_stride]) * (int(values[row * stride + d]) - int(zeros[row * qparams_stride]));
  }
};

Quantized random_quantized(std::mt19937& gen, int64_t rows, int64_t stride, int64_t qparams_stride) {
  std::uniform_int_distribution<int> byte(-128, 127);
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  Quantized t{std::vector<int8_t>(rows * stride), std::vector<int8_t>(rows * qparams_stride),
              std::vector<float>(rows * qparams_stride)};
  for (auto& x : t.values) x = static_cast<int8_t>(byte(gen));
  for (auto& x : t.zeros) x = static_cast<int8_t>(byte(gen));
  for (auto& x : t.scales) x = scale(gen);
  return t;
}

// Query row r . key row j in double, each row's parameters (q_params / key_params) apart, and the
// sum of the terms' magnitudes.
double exact_int8_score(const Quantized& q, int64_t r, int64_t q_stride, int64_t q_params, const Quantized& keys,
                        int64_t j, int64_t key_stride, int64_t key_params, int64_t head_size, double& magnitude) {
  double exact = 0;
  magnitude = 0;
  for (int64_t d = 0; d < head_size; ++d) {
    const double product = q.at(r, q_stride, q_params, d) * keys.at(j, key_stride, key_params, d);
    exact += product;
    magnitude += std::fabs(product);
  }
  return exact;
}

// start + sum over j of weights[j] * values[j][d] in double, and the sum of the terms' magnitudes.
double exact_int8_weighted_values(const std::vector<float>& weights, const Quantized& values, int64_t stride,
                                  int64_t qparams_stride, int64_t d, double start, double& magnitude) {
  double exact = start;
  magnitude = std::fabs(start);
  for (size_t j = 0; j < weights.size(); ++j) {
    const double product = double(weights[j]) * values.at(j, stride, qparams_stride, d);
    exact += product;
    magnitude += std::fabs(product);
  }
  return exact;
}

bool check_int8_q_at_k(std::mt19937& gen, int64_t n, int64_t k, int64_t stride, int64_t qparams_stride, double& worst) {
  const Quantized q = random_quantized(gen, 1, k, 1);
  const Quantized keys = random_quantized(gen, n, stride, qparams_stride);
  std::vector<float> out(n + 1, NAN);
  out[n] = kGuard;
  one_row_int8_q_at_k(n, k, q.values.data(), q.zeros[0], q.scales[0], keys.values.data(), stride, keys.zeros.data(),
                      keys.scales.data(), qparams_stride, out.data());
  for (int64_t j = 0; j < n; ++j) {
    double magnitude;
    const double exact = exact_int8_score(q, 0, k, 1, keys, j, stride, qparams_stride, k, magnitude);
    worst = std::max(worst, relative_error(out[j], exact, magnitude));
  }
  return out[n] == kGuard;
}

bool check_int8_qk_at_v(std::mt19937& gen, int64_t n, int64_t k, int64_t stride, int64_t qparams_stride, float beta,
                        double& worst) {
  std::uniform_real_distribution<float> value(-1, 1);
  std::vector<float> weights(k), out(n + 1);
  for (float& x : weights) x = value(gen);
  const Quantized values = random_quantized(gen, k, stride, qparams_stride);
  for (float& x : out) x = beta == 0.0f ? NAN : value(gen);
  out[n] = kGuard;
  const std::vector<float> before = out;
  one_row_int8_qk_at_v(n, k, weights.data(), values.values.data(), stride, values.zeros.data(), values.scales.data(),
                       qparams_stride, beta, out.data());
  for (int64_t d = 0; d < n; ++d) {
    double magnitude;
    const double start = beta == 0.0f ? 0.0 : double(beta) * before[d];
    const double exact = exact_int8_weighted_values(weights, values, stride, qparams_stride, d, start, magnitude);
    if (std::isnan(out[d])) return false;
    worst = std::max(worst, relative_error(out[d], exact, magnitude));
  }
  return out[n] == kGuard;
}

// _q_at_k_gemm over a block of int8 query rows (each with its own zero point and scale, rows
// q_stride apart) and _qk_at_v_gemm over one row, with MaybeQuantizedMatrixData built as
// cpu_flash_attention builds it.
bool check_int8_dispatch(std::mt19937& gen, int64_t q_rows, int64_t num_keys, int64_t head_size, double& worst) {
  const int64_t q_stride = head_size + 7, key_stride = head_size + 3, value_stride = head_size + 5;
  const int64_t qparams_stride = 2;
  const auto int8 = executorch::aten::ScalarType::Char;
  const Quantized q = random_quantized(gen, q_rows, q_stride, qparams_stride);
  const Quantized keys = random_quantized(gen, num_keys, key_stride, qparams_stride);
  std::vector<float> scores(q_rows * num_keys + 1, NAN);
  scores.back() = kGuard;
  _q_at_k_gemm<float>(q_rows, num_keys, head_size,
                      MaybeQuantizedMatrixData(q.values.data(), q.zeros.data(), q.scales.data(), q_rows, head_size,
                                               qparams_stride, int8),
                      q_stride,
                      MaybeQuantizedMatrixData(keys.values.data(), keys.zeros.data(), keys.scales.data(), num_keys,
                                               head_size, qparams_stride, int8),
                      key_stride, scores.data());
  for (int64_t r = 0; r < q_rows; ++r) {
    for (int64_t j = 0; j < num_keys; ++j) {
      double magnitude;
      const double exact =
          exact_int8_score(q, r, q_stride, qparams_stride, keys, j, key_stride, qparams_stride, head_size, magnitude);
      worst = std::max(worst, relative_error(scores[r * num_keys + j], exact, magnitude));
    }
  }
  const Quantized values = random_quantized(gen, num_keys, value_stride, qparams_stride);
  std::uniform_real_distribution<float> value(-1, 1);
  std::vector<float> weights(num_keys), out(head_size + 1);
  for (float& x : weights) x = value(gen);
  for (float& x : out) x = value(gen);
  out[head_size] = kGuard;
  const std::vector<float> before = out;
  _qk_at_v_gemm<float>(1, head_size, num_keys, weights.data(), num_keys,
                       MaybeQuantizedMatrixData(values.values.data(), values.zeros.data(), values.scales.data(),
                                                num_keys, head_size, qparams_stride, int8),
                       value_stride, out.data(), head_size, 1.0f, nullptr);
  for (int64_t d = 0; d < head_size; ++d) {
    double magnitude;
    const double exact =
        exact_int8_weighted_values(weights, values, value_stride, qparams_stride, d, before[d], magnitude);
    worst = std::max(worst, relative_error(out[d], exact, magnitude));
  }
  return scores.back() == kGuard && out[head_size] == kGuard;
}

// A decode step's attention (OneRowAttention: its keys split into `ranges` ranges, each range's
// part, then their combination) against softmax(scale * q.k) @ v in double, grouped-query
// heads (reps query heads per kv head), padded key/value/head strides, more ranges than keys
// included. The padding after each output head must stay untouched.
bool check_one_row_attention(std::mt19937& gen, int64_t heads, int64_t reps, int64_t head_size, int64_t num_keys,
                             int64_t ranges, double& worst) {
  std::uniform_real_distribution<float> value(-1, 1);
  const int64_t kv_heads = heads / reps;
  const int64_t q_stride_h = head_size + 3, out_stride_h = head_size + 2;
  const int64_t k_stride_h = head_size + 1, k_stride_n = kv_heads * k_stride_h + 5;
  const int64_t v_stride_h = head_size + 4, v_stride_n = kv_heads * v_stride_h + 7;
  std::vector<float> q(heads * q_stride_h), k(num_keys * k_stride_n), v(num_keys * v_stride_n);
  for (float& x : q) x = 3 * value(gen);  // peaked softmaxes too
  for (float& x : k) x = value(gen);
  for (float& x : v) x = value(gen);
  std::vector<float> out(heads * out_stride_h, kGuard);
  const float scale = 1.0f / std::sqrt(float(head_size));
  const OneRowAttention a{q.data(), q_stride_h, k.data(), k_stride_n, k_stride_h, v.data(), v_stride_n, v_stride_h,
                          out.data(), out_stride_h, heads, reps, head_size, num_keys, scale};
  std::vector<float> scratch(one_row_scratch_floats(a, ranges), NAN);
  for (int64_t c = ranges - 1; c >= 0; --c) one_row_attention_range(a, ranges, c, scratch.data());
  one_row_attention_combine(a, ranges, scratch.data());
  for (int64_t h = 0; h < heads; ++h) {
    const float* o = out.data() + h * out_stride_h;
    for (int64_t d = head_size; d < out_stride_h; ++d) {
      if (o[d] != kGuard) return false;
    }
    const int64_t g = h / reps;
    std::vector<double> w(num_keys);
    double max = -INFINITY, sum = 0;
    for (int64_t j = 0; j < num_keys; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < head_size; ++d) dot += double(q[h * q_stride_h + d]) * k[j * k_stride_n + g * k_stride_h + d];
      w[j] = dot * scale;
      max = std::max(max, w[j]);
    }
    for (double& x : w) sum += x = std::exp(x - max);
    for (int64_t d = 0; d < head_size; ++d) {
      double exact = 0, magnitude = 0;
      for (int64_t j = 0; j < num_keys; ++j) {
        const double term = w[j] / sum * v[j * v_stride_n + g * v_stride_h + d];
        exact += term;
        magnitude += std::fabs(term);
      }
      if (std::isnan(o[d])) return false;
      worst = std::max(worst, relative_error(o[d], exact, magnitude));
    }
  }
  return true;
}

// Sets the decode attention path for a scope and restores the one before on every exit.
class AttentionSwitch {
 public:
  explicit AttentionSwitch(bool by_key_rows)
      : before_(torch::executor::native::decode_attention_by_key_rows()) {
    set_decode_attention_by_key_rows(by_key_rows);
  }
  ~AttentionSwitch() { set_decode_attention_by_key_rows(before_); }
  AttentionSwitch(const AttentionSwitch&) = delete;
  AttentionSwitch& operator=(const AttentionSwitch&) = delete;

 private:
  bool before_;
};

int g_multi_key_cases = 0, g_same_both_ways = 0;  // dispatch cases with 2+ keys; those whose paths agreed exactly

// cpu_flash_attention as custom_sdpa calls it for a decode step (query [batch, 1, heads, head],
// KV cache [batch, max_seq, kv_heads, head], SeqDim::ONE, causal at start_pos): the dispatch to
// OneRowAttention (batch rows, grouped-query heads, the causal key count, a key range per thread)
// against softmax(q.k) @ v in double, as is the flash loop it replaces (the switch off); the
// switch on must give one_row_attention_step's floats exactly (the dispatch happened).
bool check_flash_dispatch(std::mt19937& gen, int64_t batch, int64_t heads, int64_t kv_heads, int64_t head_size,
                          int64_t max_seq, int64_t start_pos, double& worst) {
  using executorch::aten::ScalarType;
  using executorch::extension::from_blob;
  std::uniform_real_distribution<float> value(-1, 1);
  std::vector<float> q(batch * heads * head_size), k(batch * max_seq * kv_heads * head_size), v(k.size());
  for (float& x : q) x = 2 * value(gen);
  for (float& x : k) x = value(gen);
  for (float& x : v) x = value(gen);
  auto query = from_blob(q.data(), {int(batch), 1, int(heads), int(head_size)}, ScalarType::Float);
  auto keys = from_blob(k.data(), {int(batch), int(max_seq), int(kv_heads), int(head_size)}, ScalarType::Float);
  auto values = from_blob(v.data(), {int(batch), int(max_seq), int(kv_heads), int(head_size)}, ScalarType::Float);
  const int64_t num_keys = std::min(start_pos + 1, max_seq), reps = heads / kv_heads;
  static std::vector<uint8_t> temp(8 << 20);  // the kernels' scratch, as a method's temp allocator gives it
  std::vector<float> by_rows(q.size(), NAN), by_heads(q.size(), NAN), direct(q.size(), NAN);
  for (bool rows : {true, false}) {
    std::vector<float>& out = rows ? by_rows : by_heads;
    auto output = from_blob(out.data(), {int(batch), 1, int(heads), int(head_size)}, ScalarType::Float);
    executorch::runtime::MemoryAllocator allocator(static_cast<uint32_t>(temp.size()), temp.data());
    executorch::runtime::KernelRuntimeContext ctx(nullptr, &allocator);
    const AttentionSwitch path(rows);
    torch::executor::native::sdpa::impl::cpu_flash_attention<float, 32, 512>(
        ctx, *output, *query, *keys, *values, 0.0, true, {}, {}, {}, {}, {}, {}, {}, {},
        torch::executor::native::SeqDim::ONE, start_pos);
    if (ctx.failure_state() != executorch::runtime::Error::Ok) return false;
  }
  {  // the key-row path itself, called directly: the switch on must give exactly its output
    auto output = from_blob(direct.data(), {int(batch), 1, int(heads), int(head_size)}, ScalarType::Float);
    executorch::runtime::MemoryAllocator allocator(static_cast<uint32_t>(temp.size()), temp.data());
    executorch::runtime::KernelRuntimeContext ctx(nullptr, &allocator);
    const int64_t threads = ::executorch::extension::threadpool::get_threadpool()->get_thread_count();
    torch::executor::native::sdpa::impl::one_row_attention_step(
        ctx, *query, *keys, *values, *output,
        {heads * head_size, head_size, max_seq * kv_heads * head_size, kv_heads * head_size, head_size,
         max_seq * kv_heads * head_size, kv_heads * head_size, head_size, heads * head_size, head_size},
        batch, heads, reps, head_size, num_keys, float(1.0 / std::sqrt(double(head_size))), threads);
    if (std::memcmp(direct.data(), by_rows.data(), direct.size() * sizeof(float)) != 0) return false;
    if (num_keys >= 2) {  // the two paths sum in other orders: equal floats in every case would mean one path
      ++g_multi_key_cases;
      g_same_both_ways += std::memcmp(by_heads.data(), by_rows.data(), direct.size() * sizeof(float)) == 0;
    }
  }
  const double scale = 1.0 / std::sqrt(double(head_size));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const float* qh = q.data() + (b * heads + h) * head_size;
      auto at = [&](const std::vector<float>& t, int64_t j) {
        return t.data() + ((b * max_seq + j) * kv_heads + h / reps) * head_size;
      };
      std::vector<double> w(num_keys);
      double max = -INFINITY, sum = 0;
      for (int64_t j = 0; j < num_keys; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < head_size; ++d) dot += double(qh[d]) * at(k, j)[d];
        max = std::max(max, w[j] = dot * scale);
      }
      for (double& x : w) sum += x = std::exp(x - max);
      for (int64_t d = 0; d < head_size; ++d) {
        double exact = 0, magnitude = 0;
        for (int64_t j = 0; j < num_keys; ++j) {
          exact += w[j] / sum * at(v, j)[d];
          magnitude += std::fabs(w[j] / sum * at(v, j)[d]);
        }
        const int64_t i = (b * heads + h) * head_size + d;
        if (std::isnan(by_rows[i]) || std::isnan(by_heads[i])) return false;
        worst = std::max({worst, relative_error(by_rows[i], exact, magnitude),
                          relative_error(by_heads[i], exact, magnitude)});
      }
    }
  }
  return true;
}

}  // namespace

int main() {
  std::mt19937 gen(7);
  double worst = 0;
  const float betas[] = {0.0f, 0.5f, 1.0f};
  int cases = 0;
  std::vector<int64_t> widths;  // every small width, then a spread, and the usual head sizes
  for (int64_t n = 1; n <= 150; n += (n < 20 ? 1 : 7)) widths.push_back(n);
  widths.insert(widths.end(), {64, 128});
  for (int64_t n : widths) {
    for (int64_t k : {1, 3, 15, 16, 17, 48, 63, 64, 65, 80, 130}) {
      const int64_t stride = k + (n % 3) * 5;  // 0, 5 or 10 floats of padding per row
      if (!check_q_at_k(gen, n, k, stride, worst)) {
        std::printf("one_row_q_at_k wrote past its output (n=%lld k=%lld)\n", (long long)n, (long long)k);
        return 1;
      }
      const int64_t value_stride = n + (k % 3) * 5;
      if (!check_qk_at_v(gen, n, k, value_stride, betas[cases % 3], worst)) {
        std::printf("one_row_qk_at_v left NaN or wrote past its output (n=%lld k=%lld)\n", (long long)n, (long long)k);
        return 1;
      }
      const int64_t qparams_stride = 1 + n % 3;  // scales and zero points 1, 2 or 3 apart
      if (!check_int8_q_at_k(gen, n, k, stride, qparams_stride, worst)) {
        std::printf("one_row_int8_q_at_k wrote past its output (n=%lld k=%lld)\n", (long long)n, (long long)k);
        return 1;
      }
      if (!check_int8_qk_at_v(gen, n, k, value_stride, qparams_stride, betas[cases % 3], worst)) {
        std::printf("one_row_int8_qk_at_v left NaN or wrote past its output (n=%lld k=%lld)\n", (long long)n,
                    (long long)k);
        return 1;
      }
      ++cases;
    }
  }
  for (int64_t q_rows : {1, 5, 32}) {
    for (int64_t head_size : {16, 64, 100, 128}) {
      if (!check_int8_dispatch(gen, q_rows, 37 + q_rows, head_size, worst)) {
        std::printf("int8 dispatch wrote past its output (rows=%lld head=%lld)\n", (long long)q_rows,
                    (long long)head_size);
        return 1;
      }
      ++cases;
    }
  }
  // heads, reps (query heads per kv head), head size, keys, key ranges
  const int64_t attention_cases[][5] = {{1, 1, 16, 1, 1},    {12, 1, 64, 1, 1},    {12, 1, 64, 3, 2},
                                        {12, 1, 64, 4, 4},   {12, 1, 64, 130, 1},  {12, 1, 64, 131, 2},
                                        {12, 1, 64, 131, 3}, {32, 4, 64, 77, 1},   {32, 4, 64, 77, 2},
                                        {32, 4, 64, 78, 5},  {6, 2, 48, 9, 2},     {4, 4, 17, 33, 3},
                                        {8, 2, 130, 21, 2},  {2, 1, 1, 5, 8},      {3, 3, 100, 257, 4}};
  for (const auto& c : attention_cases) {
    if (!check_one_row_attention(gen, c[0], c[1], c[2], c[3], c[4], worst)) {
      std::printf("one-row attention left NaN or wrote past a head (heads=%lld reps=%lld head=%lld keys=%lld "
                  "ranges=%lld)\n",
                  (long long)c[0], (long long)c[1], (long long)c[2], (long long)c[3], (long long)c[4]);
      return 1;
    }
    ++cases;
  }
  executorch::runtime::runtime_init();
  // batch, heads, kv heads, head size, cache length, position: one and two key ranges, a
  // position past the cache (all keys), grouped-query heads, two batch rows
  const int64_t dispatch_cases[][6] = {{1, 12, 12, 64, 192, 0},  {1, 12, 12, 64, 192, 100}, {2, 8, 2, 64, 96, 70},
                                       {2, 6, 3, 16, 40, 39},    {1, 4, 4, 32, 64, 200},   {3, 32, 8, 64, 300, 257}};
  for (const auto& c : dispatch_cases) {
    if (!check_flash_dispatch(gen, c[0], c[1], c[2], c[3], c[4], c[5], worst)) {
      std::printf("cpu_flash_attention's decode dispatch failed, left NaN or did not take the key-row path "
                  "(batch=%lld heads=%lld kv=%lld)\n", (long long)c[0], (long long)c[1], (long long)c[2]);
      return 1;
    }
    ++cases;
  }
  if (g_multi_key_cases > 0 && g_same_both_ways == g_multi_key_cases) {
    std::printf("--decode_attention's switch changed nothing: both paths gave the same floats\n");
    return 1;
  }
  std::printf("%d cases, worst relative error %.3g\n", cases, worst);
  return worst < 1e-5 ? 0 : 1;
}
