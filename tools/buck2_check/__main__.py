"""python -m tools.buck2_check [--root DIR] [-c section.key=value ...] [--release R | --attrs FILE]

Prints one finding per line and exits 1 when there is any, 0 when the repo is clean,
2 on bad usage (one `error: ...` line)."""

from __future__ import annotations

import json
from pathlib import Path

from absl import flags

from examples.common import cli

from .checker import Checker
from .config import TARGET_RELEASE, rule_attrs_path

flags.DEFINE_string("root", ".", "Repository root.")
flags.DEFINE_multi_string("config", [], "buckconfig override section.key=value, as `buck2 -c` (repeatable).",
                          short_name="c")
flags.DEFINE_string("release", TARGET_RELEASE, "Prelude attribute list (tools/buck2_check/data) to validate against.")
flags.DEFINE_string("attrs", None, "Path to a prelude_rule_attrs_*.json (overrides --release).")
FLAGS = flags.FLAGS


def parse_overrides(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise cli.UsageError(f"-c expects section.key=value, got `{item}`")
        overrides[key.strip()] = value.strip()
    return overrides


def main(argv) -> int:
    if len(argv) > 1:
        raise cli.UsageError(f"unexpected argument `{argv[1]}`")
    overrides = parse_overrides(FLAGS.config)
    root = Path(FLAGS.root)
    if not root.is_dir():
        raise cli.UsageError(f"{root} is not a directory")
    rule_attrs = None
    if FLAGS.attrs or FLAGS.release != TARGET_RELEASE:
        p = Path(FLAGS.attrs) if FLAGS.attrs else rule_attrs_path(FLAGS.release)
        if not p.is_file():
            raise cli.UsageError(f"no attribute list {p}")
        try:
            rule_attrs = json.loads(p.read_text())
        except ValueError as e:
            raise cli.UsageError(f"{p} is not JSON: {e}") from None
    checker = Checker(root, overrides, rule_attrs, FLAGS.release)
    # With -c overrides, report that configuration only (semantic checks assume defaults).
    findings = checker.run(semantic=not overrides)
    for f in findings:
        print(f)
    n = len(checker.packages)
    if findings:
        raise cli.CliError(f"buck2_check: {len(findings)} finding(s) in {n} package(s)")
    print(f"buck2_check: OK, {n} package(s), {len(checker.targets)} target(s) (prelude {FLAGS.release})")
    return 0


if __name__ == "__main__":
    cli.run(main)
