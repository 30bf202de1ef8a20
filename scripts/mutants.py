#!/usr/bin/env python3
"""`make mutants`: apply each named mutation of the method's critical lines and check a test kills it.

The mutations live in tests/mutants.toml (name, what, file, find, replace, tests). Each one is
located by its exact source snippet, which must occur exactly once in the named file; when it
does not (the file moved, the line changed), the run stops before testing anything and names
the files where the snippet now occurs, so the list is fixed instead of silently skipped.

Nothing in the working tree is ever modified: the tracked and untracked-but-not-ignored files
are copied into a temporary directory, each mutant is written into that copy, its tests run
there (PYTHONPATH points at the copy, checked before the first mutant), and the file is
restored from memory before the next one. The copy is deleted on exit, Ctrl-C included.

Before any mutant, all listed tests run once, in one pytest run, on the unmutated copy: a test
that already fails would "kill" every mutant and prove nothing.

Exit status: 0 every mutant killed; 1 some survived (or the baseline failed); 2 the list is
broken (snippet missing or ambiguous, replacement does not import, no test collected).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LIST = REPO / "tests" / "mutants.toml"
# --full: a listed test of the make test-full tier (corpus_full, cluster, robustness) runs too,
# instead of being skipped into a survivor.
PYTEST_FLAGS = ("-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--timeout=900", "--full")


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]


class MutantListError(Exception):
    """The mutation list does not match the source tree."""


def load_mutants(path: Path) -> list[Mutant]:
    data = tomllib.loads(path.read_text())
    mutants = []
    for index, entry in enumerate(data.get("mutant", [])):
        missing = {"name", "what", "file", "find", "replace", "tests"} - set(entry)
        if missing:
            raise MutantListError(f"{path.name}: mutant #{index + 1} lacks {', '.join(sorted(missing))}")
        if entry["find"] == entry["replace"]:
            raise MutantListError(f"{path.name}: mutant {entry['name']!r} replaces its snippet with itself")
        mutants.append(
            Mutant(entry["name"], entry["what"], entry["file"], entry["find"], entry["replace"], tuple(entry["tests"]))
        )
    names = [m.name for m in mutants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MutantListError(f"{path.name}: duplicate mutant names {duplicates}")
    if not mutants:
        raise MutantListError(f"{path.name}: no [[mutant]] entries")
    return mutants


def project_files(root: Path) -> list[str]:
    """Tracked files plus untracked files git does not ignore (new work is mutated too)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({name for name in listing.split("\0") if name and (root / name).is_file()})


def where_snippet_is(root: Path, files: list[str], snippet: str) -> list[str]:
    """Source files (tests excluded: they quote snippets) that contain ``snippet``."""
    return [
        name
        for name in files
        if name.endswith(".py")
        and not name.startswith("tests/")
        and snippet in (root / name).read_text(errors="replace")
    ]


def check_snippets(root: Path, files: list[str], mutants: list[Mutant]) -> list[str]:
    """Problems with the list (empty when every snippet occurs exactly once in its file)."""
    problems = []
    for mutant in mutants:
        path = root / mutant.file
        if not path.is_file():
            elsewhere = where_snippet_is(root, files, mutant.find)
            hint = (
                f"; the snippet is now in {', '.join(elsewhere)}"
                if elsewhere
                else "; the snippet is nowhere in the tree"
            )
            problems.append(f"{mutant.name}: file {mutant.file} does not exist{hint}")
            continue
        count = path.read_text().count(mutant.find)
        if count != 1:
            elsewhere = [f for f in where_snippet_is(root, files, mutant.find) if f != mutant.file]
            hint = f"; it occurs in {', '.join(elsewhere)}" if elsewhere else ""
            problems.append(f"{mutant.name}: snippet occurs {count}× in {mutant.file} (must be exactly once){hint}")
    return problems


def baseline_selection(mutants: list[Mutant]) -> tuple[str, ...]:
    """One pytest selection covering every mutant's tests (a superset: -k applies to all files).

    Paths and node ids are passed as they are; the -k expressions are OR'ed together with the
    module and test names of the selections that have none, so those stay whole.
    """
    paths: dict[str, None] = {}
    keywords: dict[str, None] = {}
    for mutant in mutants:
        args = list(mutant.tests)
        expression = None
        if "-k" in args:
            index = args.index("-k")
            expression = args[index + 1]
            del args[index : index + 2]
        for arg in args:
            paths[arg] = None
            if expression is None:
                # A whole file (or node) selection: keep it whole under the combined -k.
                stem = Path(arg.split("::")[0]).stem
                keywords[arg.split("::")[-1] if "::" in arg else stem] = None
        if expression is not None:
            keywords[f"({expression})"] = None
    return (*paths, "-k", " or ".join(keywords))


def copy_tree(root: Path, files: list[str], destination: Path) -> None:
    for name in files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)


@dataclass
class Outcome:
    status: str  # killed | survived | timeout | error
    seconds: float
    detail: str


def run_pytest(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[int | None, str, float]:
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", *PYTEST_FLAGS, *tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        output = (
            (expired.stdout or b"").decode(errors="replace")
            if isinstance(expired.stdout, bytes)
            else (expired.stdout or "")
        )
        return None, output, time.perf_counter() - started
    return completed.returncode, completed.stdout + completed.stderr, time.perf_counter() - started


def first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" - ")[0]
    match = re.search(r"^E\s+.*$", output, re.MULTILINE)
    return match.group(0).strip() if match else output.strip().splitlines()[-1] if output.strip() else ""


def run_mutant(copy: Path, mutant: Mutant, timeout: float) -> Outcome:
    path = copy / mutant.file
    original = path.read_text()
    path.write_text(original.replace(mutant.find, mutant.replace, 1))
    try:
        code, output, seconds = run_pytest(copy, mutant.tests, timeout)
    finally:
        path.write_text(original)
    if code is None:
        return Outcome("timeout", seconds, f"tests ran past {timeout:.0f} s (counted as killed)")
    if code == 0:
        return Outcome("survived", seconds, "all listed tests passed on the mutated code")
    if code == 1:
        return Outcome("killed", seconds, first_failure(output))
    # 2: collection error / interrupted, 5: no tests collected, others: pytest itself broke.
    return Outcome("error", seconds, f"pytest exit {code}: {first_failure(output)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST, help="mutation list (TOML)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    parser.add_argument("--check", action="store_true", help="only check that every snippet is found")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the listed tests")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per mutant (default 900)")
    args = parser.parse_args(argv)

    try:
        mutants = load_mutants(args.list)
    except (MutantListError, tomllib.TOMLDecodeError, OSError) as exc:
        print(f"mutants: {exc}", file=sys.stderr)
        return 2
    if args.only:
        unknown = sorted(set(args.only) - {m.name for m in mutants})
        if unknown:
            print(f"mutants: unknown names {unknown} (known: {', '.join(m.name for m in mutants)})", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m.name in args.only]
    files = project_files(REPO)
    problems = check_snippets(REPO, files, mutants)
    if problems:
        print(f"mutants: the list no longer matches the source; fix {args.list}:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    if args.check:
        print(f"mutants: all {len(mutants)} snippets found exactly once")
        return 0

    # Ctrl-C, kill and a closed terminal all unwind through the finally below (the copy is
    # deleted, the running pytest is killed by subprocess.run); SIGINT is re-armed because a
    # shell starts background jobs with it ignored.
    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)

    started = time.perf_counter()
    copy = Path(tempfile.mkdtemp(prefix="flexiclip-mutants-"))
    try:
        copy_tree(REPO, files, copy)
        probe = subprocess.run(
            [sys.executable, "-c", "import flexiclip_core, sys; sys.stdout.write(flexiclip_core.__file__)"],
            cwd=copy,
            env=dict(os.environ, PYTHONPATH=str(copy)),
            capture_output=True,
            text=True,
        )
        if not probe.stdout.startswith(str(copy)):
            print(
                f"mutants: the copy's flexiclip_core is not the one imported ({probe.stdout or probe.stderr})",
                file=sys.stderr,
            )
            return 2
        if not args.no_baseline:
            tests = baseline_selection(mutants)
            code, output, seconds = run_pytest(copy, tests, args.timeout * 2)
            print(f"baseline (unmutated, every listed test in one run): exit {code} in {seconds:.0f} s", flush=True)
            if code != 0:
                print(output[-4000:], file=sys.stderr)
                print("mutants: the listed tests fail without any mutation; fix them first", file=sys.stderr)
                return 1
        outcomes: dict[str, Outcome] = {}
        width = max(len(m.name) for m in mutants)
        for mutant in mutants:
            outcome = run_mutant(copy, mutant, args.timeout)
            outcomes[mutant.name] = outcome
            print(f"{mutant.name:<{width}}  {outcome.status:<8} {outcome.seconds:6.1f} s  {outcome.detail}", flush=True)
    except KeyboardInterrupt:
        print("\nmutants: interrupted; the working tree was never modified, the copy is deleted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(copy, ignore_errors=True)

    counts = {
        status: sum(o.status == status for o in outcomes.values())
        for status in ("killed", "timeout", "survived", "error")
    }
    total = time.perf_counter() - started
    print(
        f"\n{len(outcomes)} mutants: {counts['killed'] + counts['timeout']} killed"
        f" ({counts['timeout']} by timeout), {counts['survived']} survived, {counts['error']} errors"
        f" in {total:.0f} s"
    )
    for name, outcome in outcomes.items():
        if outcome.status in ("survived", "error"):
            mutant = next(m for m in mutants if m.name == name)
            print(f"  {outcome.status.upper()}: {name} — {mutant.what} ({mutant.file})")
    if counts["error"]:
        return 2
    return 1 if counts["survived"] else 0


if __name__ == "__main__":
    sys.exit(main())
