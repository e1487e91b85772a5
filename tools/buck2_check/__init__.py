"""Static checker for the repo's Buck2 files (no buck2 binary needed): `python -m tools.buck2_check`."""

from .checker import TARGET_RELEASE, Checker, Finding, check_repo, parse_buckconfig

__all__ = ["TARGET_RELEASE", "Checker", "Finding", "check_repo", "parse_buckconfig"]
