def define_common_targets():
    native.python_library(
        name = "tune",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/benchmark:benchmark",
            "//examples/common:common",
            "//examples/evaluation:evaluation",
            "//examples/generation:generation",
            "//examples/integrity:integrity",
            "//examples/models:models",
            "//examples/quantization:quantization",
            "//examples/runner:runner",
        ],
        visibility = ["PUBLIC"],
    )
