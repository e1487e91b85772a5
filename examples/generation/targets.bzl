def define_common_targets():
    native.python_library(
        name = "generation",
        srcs = native.glob(["**/*.py"]),
        deps = [
            "//:package_roots",
            "//examples/common:common",
            "//examples/export:export",
            "//examples/integrity:integrity",
            "//examples/models:models",
        ],
        visibility = ["PUBLIC"],
    )
