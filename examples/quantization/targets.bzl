def define_common_targets():
    native.python_library(
        name = "quantization",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/common:common",
            "//examples/models:models",
        ],
        visibility = ["PUBLIC"],
    )
