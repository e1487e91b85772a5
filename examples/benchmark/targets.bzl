def define_common_targets():
    native.python_library(
        name = "benchmark",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/common:common",
            "//examples/evaluation:evaluation",
            "//examples/export:export",
            "//examples/generation:generation",
            "//examples/integrity:integrity",
            "//examples/models:models",
            "//examples/quantization:quantization",
            "//examples/runner:runner",
            "//runtime/profiler:profiler",
        ],
        visibility = ["PUBLIC"],
    )

