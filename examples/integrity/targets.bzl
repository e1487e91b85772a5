def define_common_targets():
    native.python_library(
        name = "integrity",
        srcs = native.glob(["**/*.py"]),
        deps = ["//:package_roots", "//examples/common:common"],
        visibility = ["PUBLIC"],
    )
