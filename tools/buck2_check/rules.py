"""Rule calls against the prelude's attribute lists: unknown attributes, default_only ones
that buck2 refuses to set, missing required ones."""

from __future__ import annotations

# Attributes buck2 itself adds to every rule.
COMMON_ATTRS = {
    "name", "visibility", "within_view", "metadata", "tests", "modifiers",
    "target_compatible_with", "compatible_with", "exec_compatible_with",
    "default_target_platform",
}
# Attributes whose string values are source files of the package.
SOURCE_ATTRS = {
    "srcs", "headers", "exported_headers", "raw_headers", "resources", "main",
    "shared_lib", "static_lib", "static_pic_lib", "header_dirs", "type_stubs",
}
# Attributes whose values are target labels.
DEP_ATTRS = {
    "deps", "exported_deps", "actual", "preload_deps", "executable_deps",
    "link_group_deps", "tests", "exe", "repl_only_deps",
}


def rule_call_problems(label: str, rule_desc: str, spec: dict, kwargs: dict) -> list[str]:
    """Why buck2 would reject this call of a rule whose attributes are `spec`."""
    out = []
    for k in kwargs:
        if k in COMMON_ATTRS:
            continue
        if k.startswith("_") or k not in spec:
            out.append(f"{label}: {rule_desc} has no attribute `{k}`")
        elif spec[k].get("default_only"):
            out.append(f"{label}: `{k}` is default_only in {rule_desc}; setting it is an error in buck2")
    for k, v in spec.items():
        if v.get("required") and not v.get("default_only") and not k.startswith("_") and k not in kwargs:
            out.append(f"{label}: {rule_desc} requires attribute `{k}`")
    return out
