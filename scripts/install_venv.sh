#!/usr/bin/env bash
# Create or update the project's virtual environment (make install): torch pinned to the CPU build
# (constraints.txt), the project editable with its test and lint extras.
#
# The install goes through uv (pinned below) when it can be had: one parallel resolve, download and
# install, bytecode compiled as pip does, so the first test run does not pay for it. On this 2-core
# machine that takes about 2.5 min against about 5 with pip, and resolves the same versions (checked
# with `pip freeze`). uv does not read pip's configuration, so pip's index settings (pip.conf and
# PIP_* variables: index-url, extra-index-url, find-links, constraint) are handed to it, and its
# index strategy is pip's (the best version across all indexes). Where uv cannot be installed, pip
# does the same install.
#
# Usage: scripts/install_venv.sh PYTHON VENV
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
venv=${2:-.venv}
UV_VERSION=0.13.9
# deploy/ray/requirements.txt (the runtime pins that tests/deploy holds equal to this venv) constrains
# the install too: a new release on the registry (huggingface_hub 2.5.0 and typer 0.29.3 on
# 2026-12-07) must not move the test venv away from them.
PROJECT=('torch==2.13.0' -c constraints.txt -c deploy/ray/requirements.txt -e '.[test,lint]')

test -x "$venv/bin/python" || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

pip_setting() { # the values pip uses for one option, from its config files and PIP_* variables
    "${pip[@]}" config list 2>/dev/null | sed -n "s/^[^.]*\.$1='\(.*\)'\$/\1/p" | tr ' ' '\n' | awk 'NF && !seen[$0]++'
}

if "${pip[@]}" install -q "uv==$UV_VERSION"; then
    args=()
    while read -r value; do args+=(--index-url "$value"); done < <(pip_setting index-url)
    while read -r value; do args+=(--extra-index-url "$value"); done < <(pip_setting extra-index-url)
    while read -r value; do args+=(--find-links "$value"); done < <(pip_setting find-links)
    while read -r value; do args+=(-c "$value"); done < <(pip_setting constraint)
    "$venv/bin/uv" pip install -q --python "$venv/bin/python" --compile-bytecode \
        --index-strategy unsafe-best-match "${args[@]}" "${PROJECT[@]}"
else
    echo "uv==$UV_VERSION could not be installed: installing with pip (slower)" >&2
    "${pip[@]}" install -q 'torch==2.13.0'
    "${pip[@]}" install -q "${PROJECT[@]}"
fi
