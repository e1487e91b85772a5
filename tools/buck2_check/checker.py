"""Static Buck2 checker: evaluates the repo's build files and .bzl files in Buck2's dialects
(starlark_eval), then runs the checks of layout, references, test packing and semantics over
the recorded targets. Targeted Buck2 release: see config.TARGET_RELEASE."""

from __future__ import annotations

from pathlib import Path

from . import layout, packing, references, semantics
from .config import TARGET_RELEASE, load_rule_attrs, load_toolchain_attrs
from .model import Finding, RepoState
from .starlark_eval import Evaluator, describe


class Checker(RepoState):
    def __init__(self, root: str | Path, config_overrides: dict | None = None,
                 rule_attrs: dict | None = None, release: str = TARGET_RELEASE):
        super().__init__(Path(root).resolve(), dict(config_overrides or {}))
        self.release = release
        self.rule_attrs = rule_attrs if rule_attrs is not None else load_rule_attrs(release)
        self.evaluator = Evaluator(self, self.rule_attrs, load_toolchain_attrs())

    def sub_eval(self, overrides: dict) -> "Checker":
        """The same repo evaluated again with extra -c settings."""
        c = Checker(self.root, {**self.overrides, **overrides}, self.rule_attrs, self.release)
        c.cfg, c.buildfiles, c.cells, c.packages = self.cfg, self.buildfiles, self.cells, self.packages
        c.evaluator.evaluate_packages()
        return c

    def runner_sources(self) -> list[str] | None:
        rel = f"{semantics.RUNNER_PKG}/sources.bzl"
        if not (self.root / rel).is_file():
            return None
        try:
            srcs = list(self.evaluator.bzl_value(rel, "RUNNER_SRCS"))
        except Exception as e:  # noqa: BLE001 - any evaluation error is a finding
            self.add(rel, f"cannot read RUNNER_SRCS: {describe(e)}")
            return None
        try:  # sources the runner shares with text_generation_runner (optional list)
            srcs += list(self.evaluator.bzl_value(rel, "RUNNER_SHARED_SRCS"))
        except Exception:  # noqa: BLE001 - absent: the runner has no shared sources
            pass
        return srcs

    def run(self, semantic: bool = True) -> list[Finding]:
        layout.check_buckconfig(self)
        if not self.buildfiles:
            return self.findings
        layout.discover(self)
        self.evaluator.evaluate_packages()
        self.evaluator.evaluate_all_bzl()
        references.check_targets(self)
        layout.check_toolchains(self)
        layout.check_tests_covered(self)
        layout.check_python_covered(self)
        packing.check_packing(self)
        if semantic:
            semantics.check_runner_sources(self, self.runner_sources())
            semantics.check_readme(self)
            semantics.check_profiling(self, self.sub_eval)
        return self.findings


def check_repo(root, overrides=None, release=TARGET_RELEASE, rule_attrs=None,
               semantic=True) -> list[Finding]:
    return Checker(root, overrides, rule_attrs, release).run(semantic=semantic)
