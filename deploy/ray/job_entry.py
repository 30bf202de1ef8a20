"""The entrypoint of a flexiclip job submitted with `ray job submit` (deploy/ray/submit.py).

It runs on the cluster's head, as the job's driver, in the job's working directory (the checkout
Ray uploaded). It checks the pins, says where its code and its Python come from, then replaces
itself with ``python -m flexiclip_cli run ARGS`` (the `flexiclip` command). The job's status is
that command's: exit 0 succeeded, anything else failed (docs/pipeline.md §5 lists the codes).

**The pins.** Every line of ``requirements.txt`` beside this file must match the version installed
in this Python (a local build label such as ``+cpu`` aside). A mismatch stops the job before
anything starts, exit 2, with one line naming every package that differs: a cluster whose image
has drifted from the pins would otherwise animate with other code than the one tested.

Usage (inside the job): ``python deploy/ray/job_entry.py CATALOG --output ROOT [run options]``.
"""

from __future__ import annotations

import os
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)")


def read_pins(path: Path = REQUIREMENTS) -> dict[str, str]:
    """name → pinned version of every ``name[extras]==version`` line (comments and blanks skipped)."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = _PIN.match(text)
        if match is None:
            raise ValueError(f"{path}:{number}: {text!r} is not pinned as name==version")
        pins[match.group(1)] = match.group(2)
    return pins


def mismatches(pins: dict[str, str]) -> list[str]:
    """``name pinned X, installed Y`` (or ``not installed``) for each pin this Python does not meet."""
    found: list[str] = []
    for name, pinned in pins.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            found.append(f"{name} pinned {pinned}, not installed")
            continue
        if installed.split("+", 1)[0] != pinned:
            found.append(f"{name} pinned {pinned}, installed {installed}")
    return found


def main(argv: list[str]) -> int:
    wrong = mismatches(read_pins())
    if wrong:
        print(f"error: this Python does not match {REQUIREMENTS.name}: {'; '.join(wrong)}", file=sys.stderr)
        return 2
    import flexiclip_cli

    code = Path(flexiclip_cli.__file__).resolve().parents[1]
    print(f"flexiclip job: pins ok, python {sys.executable}, code {code}, working dir {os.getcwd()}", flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "flexiclip_cli", "run", *argv])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
