"""setup.sh's package install: uv with pip's own settings handed over, pip where uv fails.

The function runs against a stand-in ``.venv/bin/python`` that answers ``pip config list`` with
a fixed configuration and records every command it is given, so no package is installed."""

from __future__ import annotations

import re
import subprocess
import sys

PIP_CONFIG = """global.cert='/certs/ca.crt'
global.extra-index-url='file:///index/one\\nfile:///index/two'
global.find-links='/wheels'
global.constraint='/etc/constraints.txt'
global.index-url='https://file.example/simple'
install.index-url='https://install.example/simple'
:env:.find-links='/wheels'
:env:.cert='/env/ca.crt'
:env:.default-timeout='180'
"""

STAND_IN = """#!/usr/bin/env bash
echo "SSL_CERT_FILE=${SSL_CERT_FILE:-} $*" >> "$(dirname "$0")/calls"
case "$*" in
  "-m pip config list") [ -z "${CONFIG_FAILS:-}" ] || exit 1; printf '%s' "$PIP_CONFIG" ;;
  "-m uv pip install"*) exit "${UV_EXIT:-0}" ;;
esac
"""


def _uv_install(repo_root, tmp_path, uv_exit: int, config_fails: bool = False,
                pip_config: str = PIP_CONFIG) -> tuple[int, list[str]]:
    setup = (repo_root / "setup.sh").read_text()
    function = re.search(r"^# uv_install <extras>.*?^uv_install\(\) \{\n.*?^\}\n", setup, re.S | re.M)
    assert function, "setup.sh has no uv_install function"
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(STAND_IN)
    python.chmod(0o755)
    script = f"set -euo pipefail\nVENV=.venv\nPYTHON={sys.executable}\n{function.group(0)}\nuv_install 'test,text'\n"
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "PIP_CONFIG": pip_config, "UV_EXIT": str(uv_exit),
                               **({"CONFIG_FAILS": "1"} if config_fails else {})})
    return done.returncode, (tmp_path / ".venv" / "bin" / "calls").read_text().splitlines()


def test_uv_gets_pips_indexes_links_constraints_and_certificate(repo_root, tmp_path):
    returncode, calls = _uv_install(repo_root, tmp_path, uv_exit=0)
    assert returncode == 0
    (uv,) = [call for call in calls if " -m uv pip install" in call]
    assert uv.startswith("SSL_CERT_FILE=/env/ca.crt ")  # PIP_CERT over the file, as in pip
    flags = uv.split(" -m uv pip install ", 1)[1]
    assert flags.count("--index-url") == 1 and "--index-url https://install.example/simple" in flags  # [install]
    for expected in ("--index-strategy unsafe-best-match", "--extra-index-url file:///index/one",
                     "--extra-index-url file:///index/two", "--find-links /wheels",
                     "--constraint /etc/constraints.txt", "-e .[test,text]"):
        assert expected in flags, (expected, flags)
    assert flags.count("--find-links") == 1  # the same setting from a file and the environment
    assert "timeout" not in flags  # settings uv has no flag for stay out
    assert calls[-1].endswith("-m pip uninstall -q -y uv")  # the venv holds what pip would install


def test_a_failing_uv_leaves_the_install_to_pip(repo_root, tmp_path):
    returncode, calls = _uv_install(repo_root, tmp_path, uv_exit=1)
    assert returncode != 0  # setup.sh then runs pip install
    assert not any("pip uninstall" in call for call in calls)
    setup = (repo_root / "setup.sh").read_text()
    assert re.search(r'uv_install "\$extras" \|\| \{[^}]*-m pip install -q --no-compile -e "\.\[\$extras\]"', setup)


def test_without_pips_settings_uv_is_not_used(repo_root, tmp_path):
    """pip config list failing: uv would read PyPI alone (whose torch is a CUDA build), so pip installs."""
    returncode, calls = _uv_install(repo_root, tmp_path, uv_exit=0, config_fails=True)
    assert returncode != 0
    assert not any(" -m uv " in call or "install -q uv" in call for call in calls), calls


def test_a_setting_uv_cannot_take_leaves_the_install_to_pip(repo_root, tmp_path):
    """pip's no-binary (say) has no uv flag here: handing over the rest would install something else."""
    returncode, calls = _uv_install(repo_root, tmp_path, uv_exit=0,
                                    pip_config=PIP_CONFIG + "global.no-binary=':all:'\n")
    assert returncode != 0
    assert not any(" -m uv " in call for call in calls), calls
