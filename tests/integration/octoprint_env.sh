#!/usr/bin/env bash
# Create (once) <repo>/.venv-octoprint with OctoPrint 1.10/1.11 for the integration tests.
# Idempotent; safe to run by hand. Usage: octoprint_env.sh [VENV_DIR]
# OctoPrint supports Python >=3.7,<3.13 and is never installed into the project venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
exec bash "$here/server_venv.sh" "${1:-$repo/.venv-octoprint}" \
    "${OCTOPRINT_SPEC:-octoprint>=1.10,<1.12}" octoprint 3.8 3.12
