def define_common_targets():
    native.python_library(
        name = "evaluation",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/common:common",
            "//examples/integrity:integrity",
            "//examples/models:models",
        ],
        visibility = ["PUBLIC"],
    )
