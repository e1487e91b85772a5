"""Static checker for the repo's Buck2 files (no buck2 binary needed): `python -m tools.buck2_check`."""

from .checker import Checker, check_repo
from .config import TARGET_RELEASE, buildfile_names, parse_buckconfig
from .model import Finding

__all__ = ["TARGET_RELEASE", "Checker", "Finding", "buildfile_names", "check_repo", "parse_buckconfig"]
