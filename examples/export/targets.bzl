def define_common_targets():
    native.python_library(
        name = "export",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/common:common",
            "//examples/integrity:integrity",
            "//examples/models:models",
            "//examples/quantization:quantization",
            "//runtime/profiler:profiler",
        ],
        visibility = ["PUBLIC"],
    )

