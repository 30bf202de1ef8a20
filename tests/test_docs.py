"""Code cites the documents in docs/ by section, and every cited section exists.

The design documents the project started from live outside the repository; code and tests cite
docs/<file>.md §N instead, the section numbers being stable, and no tracked file cites the outside
folder or its notes. These tests keep the citations and the headings in step: renumbering a
section or citing one that is not there fails here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OWN_DOCS = ("method", "render", "metrics", "pipeline")
CITATION = re.compile(r"docs/(?P<doc>[a-z_]+)\.md(?P<rest>[^\n]{0,40})")
SECTION = re.compile(r"§(\d+)(?:[–-]§?(\d+))?")
HEADING = re.compile(r"^## §(\d+)\b", re.MULTILINE)
BARE = re.compile(r"(?<![\w/])(?:spec/)?(method|render|metrics|pipeline)\.md\b")
OUTSIDE = re.compile(r"\.\./shared|shared/spec/|(?<![\w/.-])[a-z]+-notes(?:\.md)?\b")
"""A citation of text outside the repository: the shared design folder or its *-notes files."""
TEXT_SUFFIXES = {".py", ".md", ".sh", ".toml", ".yaml", ".yml", ".txt", ".cfg", ".json", ""}
PENDING_OUTSIDE: set[str] = set()
"""Files still citing outside text, fixed on another branch (issue 19 item 6): each must still
cite, so the entry is removed as soon as the fix lands."""


def python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.split() if (ROOT / name).is_file()]


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    paths = [ROOT / name for name in listed.stdout.splitlines()]
    return [path for path in paths if path.suffix in TEXT_SUFFIXES and path.is_file()]


def sections(doc: str) -> set[int]:
    return {int(number) for number in HEADING.findall((DOCS / f"{doc}.md").read_text())}


@pytest.mark.parametrize("doc", OWN_DOCS)
def test_sections_are_numbered_one_to_n_without_gaps(doc: str) -> None:
    numbers = [int(n) for n in HEADING.findall((DOCS / f"{doc}.md").read_text())]
    assert numbers == list(range(1, len(numbers) + 1)), f"docs/{doc}.md sections: {numbers}"


def test_every_cited_section_exists() -> None:
    known = {doc: sections(doc) for doc in OWN_DOCS}
    missing = []
    cited = 0
    for path in python_files():
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            doc = match["doc"]
            if doc not in known:
                continue  # documents owned elsewhere (priors.md) are checked by their owners
            found = SECTION.findall(match["rest"].split(")")[0])
            if not found:
                missing.append(f"{path.relative_to(ROOT)}: docs/{doc}.md without a section")
            for low, high in found:
                numbers = range(int(low), int(high or low) + 1)
                cited += 1
                missing += [f"{path.relative_to(ROOT)}: docs/{doc}.md §{n}" for n in numbers if n not in known[doc]]
    assert cited > 40, f"only {cited} citations found: did the citation format change?"
    assert not missing, "cited sections that do not exist:\n" + "\n".join(missing)


def test_code_cites_docs_in_the_repository_not_the_design_documents() -> None:
    bare = []
    for path in python_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(not line[: m.start()].endswith("docs/") for m in BARE.finditer(line)):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "cite docs/<file>.md §N:\n" + "\n".join(bare)


README = (ROOT / "README.md").read_text()


def test_the_readmes_output_files_are_the_ones_the_export_writes() -> None:
    # Issue 20: the README listed animation.webm where the file is video.webm.
    from flexiclip_core.export.profiles import OUTPUT_NAMES

    outputs = README.split("- **Outputs** (per clip):", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`((?:video|animation|poster)\.[a-z0-9]+)`", outputs))
    expected = {name for name in OUTPUT_NAMES.values() if "." in name}
    assert named == expected, f"README names {sorted(named - expected)}; the export writes {sorted(expected - named)}"
    assert "`frames/`" in outputs


def test_the_readmes_feature_claims_match_the_code() -> None:
    from flexiclip_cli.common import EXIT_BAD_INPUT, EXIT_INFRASTRUCTURE

    # The final renderer draws gradients for real (docs/render.md §11): no "mean stop colour" claim.
    assert "mean stop colour" not in README
    assert "drawn for real by the final renderer" in DOCS.joinpath("render" + ".md").read_text()
    # A worker that cannot write the root is infrastructure (the cluster test expects 3), not bad input.
    assert f"the run stops with exit status {EXIT_INFRASTRUCTURE} (the cluster's set-up" in README
    assert EXIT_BAD_INPUT == 2 and "and exits with status 2" in README
    assert "`_dataset.json`" in README and "dataset.json`" not in README.replace("`_dataset.json`", "")


def test_only_files_in_the_repository_are_cited() -> None:
    outside, still_pending = [], set()
    for path in tracked_text_files():
        name = str(path.relative_to(ROOT))
        if name == "tests/test_docs.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                if name in PENDING_OUTSIDE:
                    still_pending.add(name)
                else:
                    outside.append(f"{name}:{number}: {line.strip()}")
    assert not outside, "cite docs/<file>.md §N or state the fact; these cite text outside the repo:\n" + "\n".join(
        outside
    )
    assert still_pending == PENDING_OUTSIDE, f"fixed, drop from PENDING_OUTSIDE: {PENDING_OUTSIDE - still_pending}"


def test_outside_citations_are_recognised() -> None:
    for cited in ("see ../shared/spec/gpu-notes.md", "(stack-notes.md)", "(stack-notes: deltalake)", "gpu-notes.md"):
        assert OUTSIDE.search(cited), cited
    for fine in ("docs/pipeline.md §6", "release_notes", "catalogs/samples/README.md"):
        assert not OUTSIDE.search(fine), fine
