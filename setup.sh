#!/usr/bin/env bash
# One-step, idempotent set-up: a virtual environment in .venv with the pinned packages,
# the system libraries the native runner needs, and the runner itself (cmake-out/).
# A second run with nothing changed only checks stamps and rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=.setup-stamp

say() { printf '[setup] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when the declared packages changed (the stamp holds pyproject's hash).
# SETUP_EXTRAS=compare-llm adds llama.cpp to the generation benchmark's peers (llama-cpp-python
# compiles llama.cpp: minutes; CI leaves it out).
want=$( { sha256sum pyproject.toml; echo "${SETUP_EXTRAS:-}"; } | sha256sum | cut -d' ' -f1)
# uv_install <extras>: the project and its extras through uv (pinned), with pip's own settings
# handed over (uv reads no pip configuration): the index URLs, find-links, constraint files, the
# certificate, each as pip install would take it (its [global], then [install], then PIP_*
# variables). A setting this cannot hand over (no-binary, pre, ...) leaves the install to pip, as
# does a failing uv. --index-strategy unsafe-best-match: every index's versions are candidates, as
# in pip (uv's default takes a package from the first index that has it).
UV_SETTINGS_PY='
import ast, sys
translated = {"index-url", "extra-index-url", "find-links", "constraint", "no-index", "cert"}
harmless = {"timeout", "default-timeout", "retries", "disable-pip-version-check", "progress-bar", "quiet",
            "verbose", "no-input", "root-user-action", "no-color", "cache-dir", "no-cache-dir"}
listed = [line.partition("=") for line in sys.stdin.read().splitlines() if "=" in line]
settings = {}
for section in ("global", "install", ":env:"):  # later wins, as in pip install
    for name, _, value in listed:
        where, _, key = name.rpartition(".")
        if where == section:
            settings[key] = ast.literal_eval(value)
if set(settings) - translated - harmless:
    sys.exit(1)
print("SSL_CERT_FILE=" + settings["cert"] if "cert" in settings else "")
if "index-url" in settings:
    print("--index-url", settings["index-url"], sep="\n")
for key in ("extra-index-url", "find-links", "constraint"):  # pip splits these at whitespace
    for item in settings.get(key, "").split():
        print("--" + key, item, sep="\n")
if settings.get("no-index", "").lower() in ("1", "true", "yes", "on"):
    print("--no-index")
'
uv_install() {
  local config settings
  local -a lines env=()
  # Without pip's settings uv would read another index (PyPI's torch is a CUDA build): no uv then.
  config=$("$VENV/bin/python" -m pip config list 2>/dev/null) || return 1
  settings=$(printf '%s\n' "$config" | "$PYTHON" -c "$UV_SETTINGS_PY") || return 1
  mapfile -t lines <<< "$settings"
  [ -z "${lines[0]}" ] || env+=("${lines[0]}")
  "$VENV/bin/python" -m pip install -q "uv==0.13.10" &&
    env "${env[@]}" "$VENV/bin/python" -m uv pip install -q --python "$VENV/bin/python" --index-strategy unsafe-best-match \
      "${lines[@]:1}" -e ".[$1]" &&
    "$VENV/bin/python" -m pip uninstall -q -y uv
}

if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  say "installing pinned packages (torch 2.13.0 CPU, executorch 1.5.1, openvino 2026.4.1, ...)"
  # The installer's log is shown only when it fails: on success its warnings are noise.
  log=$(mktemp)
  extras="build,test,compare,openvino,text,llm-peers,signing${SETUP_EXTRAS:+,$SETUP_EXTRAS}"
  # uv installs the same pins from the same indexes several times faster than pip (it unpacks
  # the wheels in parallel); where uv cannot be had or fails, pip installs them.
  if ! { uv_install "$extras" || { "$VENV/bin/python" -m pip install -q --upgrade pip &&
                                   "$VENV/bin/python" -m pip install -q --no-compile -e ".[$extras]"; }; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    say "error: installing the packages failed (log above)"; exit 1
  fi
  rm -f "$log"
  purelib=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  [ -d "$purelib" ] || { say "error: no site-packages folder in $VENV ($purelib)"; exit 1; }
  # torch ships one file for Python 3.12 only (py312_intrinsics): compileall's status then says 1.
  # The packages' own test folders (a quarter of the files) are never imported: left out.
  "$VENV/bin/python" -m compileall -q -j 0 -x '(py312_intrinsics|/site-packages/.*/tests?/)' "$purelib" >/dev/null 2>&1 ||
    say "warning: some installed modules did not byte-compile; they compile on first import"
  echo "$want" > "$STAMP"
else
  say "packages up to date"
fi

# The runner's system libraries (Debian packages), only when missing: gflags for its command
# line, nlohmann/json (header-only) for its JSON report and input manifests.
missing=()
[ -f /usr/include/gflags/gflags.h ] || missing+=(libgflags-dev)
[ -f /usr/include/nlohmann/json.hpp ] || missing+=(nlohmann-json3-dev)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- runner build (owner: runner) ---------------------------------------------------------
# cmake-out/: the runners; cmake-out-prof/: the same runners with ETDump profiling
# (-DEXECUTORCH_PROF_ENABLED=ON: xnn_executor_runner writes prof_result.bin,
# text_generation_runner --prof_result_path, read by step_profile). Both incremental on a second run.
if [ -f CMakeLists.txt ]; then
  PATH="$PWD/$VENV/bin:$PATH"
  build_runner() {  # build_runner <dir> <folder to seed a fresh one from, or ""> [cmake -D options...]
    local dir=$1 seed=$2; shift 2
    say "building the native runner ($dir/)"
    if [ ! -f "$dir/build.ninja" ]; then
      cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >"$dir.configure.log" 2>&1 \
        || { cat "$dir.configure.log" >&2; exit 1; }
      rm -f "$dir.configure.log"
      # The objects the two builds share compile once (tools/seed_build).
      [ -z "$seed" ] || "$VENV/bin/python" -m tools.seed_build "$seed" "$dir" >/dev/null ||
        say "warning: $dir could not reuse the objects of $seed; it compiles them all"
    elif [ $# -gt 0 ]; then  # a folder configured before: the options win over its cache
      cmake -S . -B "$dir" "$@" >/dev/null
    fi
    cmake --build "$dir" --parallel 2 >/dev/null || cmake --build "$dir" --parallel 1
  }
  build_runner cmake-out ""
  build_runner cmake-out-prof cmake-out -DEXECUTORCH_PROF_ENABLED=ON -DBUILD_TEXT_GENERATION_RUNNER=ON
fi
# --- end runner build ----------------------------------------------------------------------
say "done"
