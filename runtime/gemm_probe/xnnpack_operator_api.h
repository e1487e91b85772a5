// The few XNNPACK operator-API declarations xnnpack_gemm_probe calls. The executorch 1.5.1
// wheel exports these symbols from lib/libexecutorch_backend_xnnpack.so but ships no XNNPACK
// header, so they are copied here.
//
// From github.com/google/XNNPACK at 92a7ad501b9516f9fecae119e0146dd1f58e54c1 (the XNNPACK
// submodule of ExecuTorch's main branch when 1.5 was versioned): include/xnnpack.h and
// src/xnnpack/internal.h. Copyright 2019-2025 Google LLC, BSD-3-Clause (XNNPACK's LICENSE).
// Local changes: only the declarations below are kept; enum xnn_status keeps its first value.

#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pthreadpool* pthreadpool_t;
typedef struct xnn_operator* xnn_operator_t;
typedef struct xnn_weights_cache* xnn_weights_cache_t;
struct xnn_allocator;

enum xnn_status { xnn_status_success = 0 };

struct xnn_quantization_params {
  int32_t zero_point;
  float scale;
};

enum xnn_status xnn_initialize(const struct xnn_allocator* allocator);
enum xnn_status xnn_run_operator(xnn_operator_t op, pthreadpool_t threadpool);
enum xnn_status xnn_delete_operator(xnn_operator_t op);

// The operator XNNPACK's subgraph creates for a dynamically quantized (int8 activations)
// fully connected layer with blockwise int4 weights and bf16 scales on x86 (src/subgraph/fully-connected.c).
enum xnn_status xnn_create_fully_connected_nc_qdu8_f32_qb4w(
    size_t input_channels, size_t output_channels, size_t input_stride,
    size_t output_stride, size_t block_size, uint8_t kernel_zero_point,
    const uint16_t* kernel_scale, const void* kernel, const float* bias,
    float output_min, float output_max, uint32_t flags,
    xnn_weights_cache_t weights_cache, xnn_operator_t* fully_connected_op_out);
enum xnn_status xnn_reshape_fully_connected_nc_qdu8_f32_qb4w(
    xnn_operator_t fully_connected_op, size_t batch_size,
    size_t* workspace_size, pthreadpool_t threadpool);
enum xnn_status xnn_setup_fully_connected_nc_qdu8_f32_qb4w(
    xnn_operator_t fully_connected_op, const int8_t* input, float* output,
    void* workspace, const struct xnn_quantization_params* quantization_params);

// pthreadpool (third-party/pthreadpool, the runners' pool)
pthreadpool_t pthreadpool_create(size_t threads_count);
void pthreadpool_destroy(pthreadpool_t threadpool);
typedef void (*pthreadpool_task_1d_t)(void* context, size_t i);
void pthreadpool_parallelize_1d(pthreadpool_t threadpool, pthreadpool_task_1d_t function, void* context,
                                size_t range, uint32_t flags);

#ifdef __cplusplus
}
#endif
