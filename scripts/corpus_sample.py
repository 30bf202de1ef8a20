"""Choose the fixed corpus sample `make test` runs the corpus tests on (tests/data/corpus_sample.txt).

The corpus tests (parse against CairoSVG and resvg, training against final renderer,
rig/mesh/bind, SVG round trip) run over all of openclipart people/ + animals/ (716 files) in
`make test-full`. `make test` runs them on this committed sample instead, stratified so that
every class of file the whole run would meet is in it:

- every category folder (people/stickmen, animals/mammals/bears, ...): `PER_CATEGORY` files;
- every feature class in `FEATURES` (gradients, clip paths, symbols drawn by `<use>` (the
  corpus has no nested `<svg>`), strokes, text, patterns, ...), detected on the file's bytes:
  `PER_FEATURE` files;
- the `LARGEST` largest files by size and the `LARGEST` with the most elements.

Within a stratum files are taken in the order of the sha256 of their relative path: stable,
and spread over the stratum rather than its alphabetically first files. Strata are filled in the
order above, and a file already chosen counts for every stratum it belongs to. Each line of the
output names the file and why it is there.

    scripts/corpus_sample.py            # rewrite tests/data/corpus_sample.txt
    scripts/corpus_sample.py --check    # exit 1 if the committed list is not what this chooses
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PATH = REPO_ROOT / "tests" / "data" / "corpus_sample.txt"
FOLDERS = ("people", "animals")
"""The corpus folders the corpus tests cover."""
PER_CATEGORY = 1
PER_FEATURE = 3
LARGEST = 3


def _tag(name: str) -> re.Pattern[bytes]:
    """An element start tag, with or without a namespace prefix (``<svg:clipPath``)."""
    return re.compile(rb"<(?:[\w.-]+:)?" + name.encode() + rb"[\s/>]")


FEATURES: dict[str, re.Pattern[bytes]] = {
    "linear-gradient": _tag("linearGradient"),
    "radial-gradient": _tag("radialGradient"),
    "gradient-href": re.compile(rb"<(?:[\w.-]+:)?(?:linear|radial)Gradient\b[^>]*\s(?:xlink:)?href\s*="),
    "gradient-transform": re.compile(rb"gradientTransform\s*="),
    "gradient-user-space": re.compile(rb"gradientUnits\s*=\s*[\"']userSpaceOnUse"),
    "clip-path": _tag("clipPath"),
    "mask": _tag("mask"),
    "filter": _tag("filter"),
    "pattern": _tag("pattern"),
    "nested-viewport": re.compile(rb"<(?:[\w.-]+:)?svg[\s/>][\s\S]*<(?:[\w.-]+:)?svg[\s/>]"),
    "symbol": _tag("symbol"),
    "use": _tag("use"),
    "text": _tag("text"),
    "image": _tag("image"),
    "style-sheet": _tag("style"),
    "stroke": re.compile(rb"stroke\s*(?:=\s*[\"']|:)\s*(?!none)[#a-zA-Z]"),
    "dashed-stroke": re.compile(rb"stroke-dasharray\s*(?:=\s*[\"']|:)\s*[0-9.]"),
    "opacity": re.compile(rb"(?<![\w-])(?:fill-|stroke-)?opacity\s*(?:=\s*[\"']|:)\s*0?\.\d"),
    "even-odd": re.compile(rb"evenodd"),
    "basic-shapes": re.compile(rb"<(?:[\w.-]+:)?(?:circle|ellipse|rect|polygon|polyline|line)[\s/>]"),
    "no-viewbox": re.compile(rb"\A(?![\s\S]*<(?:[\w.-]+:)?svg\b[^>]*\sviewBox\s*=)"),
    "no-namespace-root": re.compile(rb"<svg(?=[\s>/])(?![^>]*\sxmlns\s*=)"),
    "doctype-entity": re.compile(rb"<!ENTITY"),
}
"""Feature classes: a regex that finds the feature in the file's bytes."""

ELEMENT = re.compile(rb"<[A-Za-z]")


@dataclass(frozen=True)
class CorpusFile:
    relative: str
    size_bytes: int
    element_count: int
    features: frozenset[str]

    @property
    def category(self) -> str:
        return self.relative.rpartition("/")[0]

    @property
    def order(self) -> str:
        return hashlib.sha256(self.relative.encode()).hexdigest()


def default_root() -> Path:
    return REPO_ROOT / ".cache" / "openclipart" / "usr" / "share" / "openclipart" / "svg"


def scan(root: Path, folders: Iterable[str] = FOLDERS) -> list[CorpusFile]:
    """Every .svg under ``folders``, in path order; a byte-for-byte copy of an earlier file (the
    corpus files some drawings under two categories) is left out."""
    files, seen = [], set()
    for folder in folders:
        for path in sorted((root / folder).rglob("*.svg")):
            data = path.read_bytes()
            digest = hashlib.sha256(data).digest()
            if digest in seen:
                continue
            seen.add(digest)
            features = frozenset(name for name, pattern in FEATURES.items() if pattern.search(data))
            relative = path.relative_to(root).as_posix()
            files.append(CorpusFile(relative, len(data), len(ELEMENT.findall(data)), features))
    return files


def choose(files: list[CorpusFile]) -> dict[str, list[str]]:
    """relative path → the strata it was chosen for (sorted by path)."""
    chosen: dict[str, list[str]] = {}
    by_hash = sorted(files, key=lambda f: f.order)

    def fill(stratum: str, members: list[CorpusFile], wanted: int) -> None:
        have = sum(1 for f in members if f.relative in chosen)
        for member in members:
            if member.relative in chosen:
                chosen[member.relative].append(stratum)
        for member in members:
            if have >= wanted:
                return
            if member.relative not in chosen:
                chosen[member.relative] = [stratum]
                have += 1

    for category in sorted({f.category for f in files}):
        fill(f"category {category}", [f for f in by_hash if f.category == category], PER_CATEGORY)
    for feature in FEATURES:
        fill(feature, [f for f in by_hash if feature in f.features], PER_FEATURE)
    fill("largest", sorted(files, key=lambda f: (-f.size_bytes, f.relative))[:LARGEST], LARGEST)
    fill("most-elements", sorted(files, key=lambda f: (-f.element_count, f.relative))[:LARGEST], LARGEST)
    return dict(sorted(chosen.items()))


def render(chosen: dict[str, list[str]], files: list[CorpusFile]) -> str:
    present = {feature for f in files for feature in f.features}
    absent = [feature for feature in FEATURES if feature not in present]
    header = [
        "# The openclipart files `make test` runs the corpus tests on (people/ + animals/ in full: make test-full).",
        "# Written by scripts/corpus_sample.py (it says how the files are chosen); do not edit by hand.",
        f"# {len(files)} distinct files scanned; feature classes no file has: {', '.join(absent) or 'none'}.",
        "# path relative to .cache/openclipart/usr/share/openclipart/svg  # the strata it stands for",
    ]
    width = max(len(name) for name in chosen)
    return "\n".join(header + [f"{name.ljust(width)}  # {', '.join(why)}" for name, why in chosen.items()]) + "\n"


def read_sample(path: Path = SAMPLE_PATH) -> list[str]:
    """The relative paths listed in a sample file (comments dropped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="the openclipart svg folder")
    parser.add_argument("--out", type=Path, default=SAMPLE_PATH)
    parser.add_argument("--check", action="store_true", help="fail if --out differs from the choice")
    args = parser.parse_args(argv)
    files = scan(args.root or default_root())
    text = render(choose(files), files)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            sys.stderr.write(f"{args.out} is not what scripts/corpus_sample.py chooses: rerun it\n")
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(f"{len(read_sample(args.out))} files written to {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
