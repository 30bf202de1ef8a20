#!/usr/bin/env bash
# Applies the formatter and ruff's safe fixes to the whole tree, then lists what still needs a
# hand (line length of comments/docstrings, blind excepts without a stated reason, ...).
# Run once on a quiet tree (it touches most files), review `git diff`, run the tests, commit.
# Unsafe fixes are never applied: they can change behaviour (e.g. zip strictness, str enums).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}

"$BIN/ruff" check --fix --exit-zero --quiet . >/dev/null  # import order, pyupgrade, unused imports/noqa
"$BIN/ruff" format .                            # after the fixes, which may re-wrap lines
echo "--- left for a hand fix (ruff check):"
"$BIN/ruff" check --statistics . || true
echo "--- type check:"
"$BIN/mypy" || true
