"""//runtime/gemm_probe: XNNPACK's 4-bit GEMM at one row over a model's linears (CMake target of
the same name; examples/generation/gemm_probe.py drives it)."""

def define_common_targets():
    # The XNNPACK operator-API declarations both probes call, their clock and error line, and the
    # spin barrier of one parallel region (runtime/decode_region's too).
    native.cxx_library(
        name = "xnnpack_operator_api",
        exported_headers = ["probe_cli.h", "spin_barrier.h", "xnnpack_operator_api.h"],
        header_namespace = "",
        visibility = ["PUBLIC"],
    )
    native.cxx_binary(
        name = "xnnpack_gemm_probe",
        srcs = ["xnnpack_gemm_probe.c"],
        deps = [
            ":xnnpack_operator_api",
            "//:executorch_backend_xnnpack",
            "//third-party/pthreadpool:pthreadpool",
        ],
        visibility = ["PUBLIC"],
    )
