"""The .buckconfig (Buck's INI dialect), the build-file names it selects, and the prelude
rule attribute lists the checker validates against."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

TARGET_RELEASE = "2026-08-22"
DATA_DIR = Path(__file__).resolve().parent / "data"


def parse_buckconfig(text: str) -> dict:
    """Buck's INI dialect: [section], key = value, indented or backslash continuation lines."""
    cfg: dict[str, dict[str, str]] = {}
    section = None
    last_key = None
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if pending:
            line = pending + " " + line.strip()
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        m = re.match(r"^\[([^\]]+)\]$", stripped)
        if m:
            section = m.group(1).strip()
            cfg.setdefault(section, {})
            last_key = None
            continue
        if section is None:
            continue
        if "=" in stripped:
            k, v = stripped.split("=", 1)
            last_key = k.strip()
            cfg[section][last_key] = v.strip()
        elif last_key and raw[:1].isspace():
            cfg[section][last_key] += " " + stripped
    return cfg


def split_list(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,\s]+", value or "") if v.strip()]


def buildfile_names(cfg: dict) -> list[str]:
    """buck2 semantics: name_v2 wins outright; else each `name` entry N gives N.v2, N;
    else the default BUCK.v2, BUCK. In a directory the first existing name is the build file."""
    bf = cfg.get("buildfile", {})
    if "name_v2" in bf:
        return split_list(bf["name_v2"])
    if "name" in bf:
        out = []
        for n in split_list(bf["name"]):
            out += [n + ".v2", n]
        return out
    return ["BUCK.v2", "BUCK"]


@functools.lru_cache(maxsize=4)
def _read_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def rule_attrs_path(release: str) -> Path:
    return DATA_DIR / f"prelude_rule_attrs_{release}.json"


def load_rule_attrs(release: str = TARGET_RELEASE, path: Path | None = None) -> dict:
    return _read_json(str(path or rule_attrs_path(release)))


def load_toolchain_attrs() -> dict:
    d = dict(_read_json(str(DATA_DIR / "toolchain_rule_attrs.json")))
    d.pop("_comment", None)
    return d
