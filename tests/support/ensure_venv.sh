#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its dev extras.
# Skips the install when the stamp file is newer than pyproject.toml.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE/../.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
STAMP="$VENV/.installed"

if [[ ! -x "$VENV/bin/pip" ]]; then
    # Missing, or half-made (venv without ensurepip leaves no pip): (re)create it.
    if ! "$PYTHON" -m venv --clear "$VENV"; then
        # Debian ships venv's ensurepip in a separate package.
        echo "==> python3 -m venv failed; installing python3-venv with apt-get"
        source "$HERE/apt.sh"
        apt_install python3-venv
        "$PYTHON" -m venv --clear "$VENV"
    fi
fi

if [[ -f "$STAMP" && "$STAMP" -nt pyproject.toml ]]; then
    exit 0
fi
echo "==> installing the project and its dev dependencies into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
touch "$STAMP"
