def define_common_targets():
    native.python_library(
        name = "runner",
        srcs = native.glob(["**/*.py"]),
        deps = ["//:package_roots", "//examples/common:common", "//examples/integrity:integrity",
                "//examples/quantization:quantization"],
        visibility = ["PUBLIC"],
    )
