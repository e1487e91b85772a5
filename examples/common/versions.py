"""Installed package versions (provenance for reports and program cards)."""

from __future__ import annotations

from importlib import metadata


def package_versions(names) -> dict[str, str | None]:
    """``{name: version}``; ``None`` for a package that is not installed."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
