def define_common_targets():
    native.python_library(
        name = "common",
        srcs = native.glob(["**/*.py"]),
        deps = ["//:package_roots"],
        visibility = ["PUBLIC"],
    )
