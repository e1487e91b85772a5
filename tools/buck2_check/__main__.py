"""CLI: python -m tools.buck2_check [--root DIR] [-c section.key=value ...] [--release R]

Prints one finding per line and exits 1 when there is any, 0 when the repo is clean,
2 on bad usage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .checker import DATA_DIR, TARGET_RELEASE, Checker


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.buck2_check", description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=".", help="repository root (default: .)")
    ap.add_argument("-c", "--config", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="buckconfig override, as `buck2 -c` (repeatable)")
    ap.add_argument("--release", default=TARGET_RELEASE,
                    help=f"prelude attribute list to validate against (default {TARGET_RELEASE})")
    ap.add_argument("--attrs", help="path to a prelude_rule_attrs_*.json (overrides --release)")
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            print(f"error: -c expects section.key=value, got `{item}`", file=sys.stderr)
            return 2
        overrides[key.strip()] = value.strip()
    root = Path(args.root)
    if not (root / ".buckconfig").is_file() and not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 2
    rule_attrs = None
    if args.attrs or args.release != TARGET_RELEASE:
        import json
        p = Path(args.attrs) if args.attrs else DATA_DIR / f"prelude_rule_attrs_{args.release}.json"
        if not p.is_file():
            print(f"error: no attribute list {p}", file=sys.stderr)
            return 2
        rule_attrs = json.loads(p.read_text())
    checker = Checker(root, overrides, rule_attrs, args.release)
    # With -c overrides, report that configuration only (semantic checks assume defaults).
    findings = checker.run(semantic=not overrides)
    for f in findings:
        print(f)
    n = len(checker.packages)
    if findings:
        print(f"buck2_check: {len(findings)} finding(s) in {n} package(s)", file=sys.stderr)
        return 1
    print(f"buck2_check: OK, {n} package(s), {len(checker.targets)} target(s) "
          f"(prelude {args.release})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
