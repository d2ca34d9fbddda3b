#!/usr/bin/env bash
# Create (once) <repo>/.venv-moonraker with Moonraker (Klipper's API server, from PyPI) for
# the integration tests. Idempotent. Usage: moonraker_env.sh [VENV_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
exec bash "$here/server_venv.sh" "${1:-$repo/.venv-moonraker}" \
    "${MOONRAKER_SPEC:-moonraker>=0.9}" moonraker 3.10 3.13
