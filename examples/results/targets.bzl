def define_common_targets():
    native.python_library(
        name = "results",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/common:common",
        ],
        visibility = ["PUBLIC"],
    )
