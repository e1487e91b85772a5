"""//runtime/decode_probe: a whole decode step in one parallel region (CMake target of the same
name; examples/generation/decode_probe.py drives it)."""

def define_common_targets():
    native.cxx_binary(
        name = "xnnpack_decode_probe",
        srcs = ["xnnpack_decode_probe.c"],
        deps = [
            "//:executorch_backend_xnnpack",
            "//runtime/decode_region:decode_region",
            "//third-party/pthreadpool:pthreadpool",
        ],
        visibility = ["PUBLIC"],
    )
