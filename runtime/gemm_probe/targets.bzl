"""//runtime/gemm_probe: XNNPACK's 4-bit GEMM at one row over a model's linears (CMake target of
the same name; examples/generation/gemm_probe.py drives it)."""

def define_common_targets():
    native.cxx_binary(
        name = "xnnpack_gemm_probe",
        srcs = ["xnnpack_gemm_probe.c"],
        headers = ["xnnpack_operator_api.h"],
        deps = [
            "//:executorch_backend_xnnpack",
            "//third-party/pthreadpool:pthreadpool",
        ],
        visibility = ["PUBLIC"],
    )
