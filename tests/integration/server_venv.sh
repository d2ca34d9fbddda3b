#!/usr/bin/env bash
# Create (once) a virtualenv holding one print server for the integration tests.
#
# Print servers pin their own tornado, pydantic, etc., so each gets a venv of its own and
# never touches the project's. Idempotent: a venv that finished installing (marker file)
# and still imports the module is left alone; a half-made one is rebuilt from scratch.
#
# Usage: server_venv.sh VENV_DIR PIP_SPEC IMPORT_NAME MIN_PY MAX_PY
#   e.g. server_venv.sh .venv-octoprint "octoprint>=1.10,<1.12" octoprint 3.8 3.12
# Env:   SERVER_PYTHON  interpreter to use instead of searching PATH.
# Exit:  0 ready, 2 usage, 3 no suitable Python, 4 pip could not install the package.
set -euo pipefail

[ $# -eq 5 ] || { echo "usage: $0 VENV PIP_SPEC IMPORT_NAME MIN_PY MAX_PY" >&2; exit 2; }
venv="$1"; spec="$2"; module="$3"; min_py="$4"; max_py="$5"
marker="$venv/.dosecraft-ready"

if [ -f "$marker" ] && "$venv/bin/python" -c "import $module" 2>/dev/null; then
    echo "ready: $venv"
    exit 0
fi

version_ok='import sys, venv, ensurepip
lo, hi = (tuple(map(int, v.split("."))) for v in sys.argv[1:3])
sys.exit(not (lo <= sys.version_info[:2] <= hi))'

pick_python() {
    local c minor
    local candidates=("${SERVER_PYTHON:-}")
    for minor in 13 12 11 10 9 8; do candidates+=("python3.$minor"); done
    candidates+=(python3 /usr/bin/python3)
    for c in "${candidates[@]}"; do
        [ -n "$c" ] || continue
        command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c "$version_ok" "$min_py" "$max_py" 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

py="$(pick_python)" || {
    echo "no Python $min_py..$max_py with venv and ensurepip found for $spec" >&2; exit 3; }
echo "creating $venv for $spec with $py ($("$py" --version 2>&1))"
rm -rf "$venv"
"$py" -m venv "$venv"
# A venv inside the work tree must never be committed; git honours a .gitignore in it.
echo '*' > "$venv/.gitignore"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
log="$venv/pip-install.log"
"${pip[@]}" install --upgrade pip wheel >"$log" 2>&1 || true
if ! "${pip[@]}" install "$spec" >>"$log" 2>&1 \
        || ! "$venv/bin/python" -c "import $module" 2>>"$log"; then
    echo "pip could not install $spec; last lines of $log:" >&2
    grep -v "^WARNING: Location" "$log" | tail -n 20 >&2
    exit 4
fi
touch "$marker"
echo "ready: $venv"
