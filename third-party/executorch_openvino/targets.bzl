"""//third-party/executorch_openvino: ExecuTorch's OpenVINO delegate runtime, as CMakeLists.txt's
executorch_openvino_backend builds it, in place of the wheel's libexecutorch_backend_openvino.so.

It has no build-time OpenVINO dependency: it dlopens libopenvino_c.so (OPENVINO_LIB_PATH) on
first use.
"""

def define_common_targets():
    native.cxx_library(
        name = "openvino_backend",
        srcs = ["executorch/backends/openvino/runtime/OpenvinoBackend.cpp"],
        headers = [
            "executorch/backends/openvino/runtime/OpenvinoApi.h",
            "executorch/backends/openvino/runtime/OpenvinoBackend.h",
        ],
        exported_headers = ["executorch/backends/openvino/runtime/OpenvinoHost.h"],
        header_namespace = "",
        compiler_flags = ["-frtti", "-fexceptions"],
        exported_linker_flags = ["-ldl"],
        # The delegate registers itself from a static initializer.
        link_whole = True,
        deps = ["//:executorch"],
        visibility = ["PUBLIC"],
    )
