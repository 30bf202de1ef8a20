"""The mutation list (tests/mutants.toml) still matches the code, and its runner fails loudly.

`make mutants` itself is slow and not part of `make test`; this check is instant and catches a
moved or edited line the day it happens, naming where its snippet went.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("mutants_runner", REPO / "scripts" / "mutants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_every_listed_snippet_is_found_exactly_once(runner, capsys):
    assert runner.main(["--check"]) == 0, capsys.readouterr().err


def test_the_list_names_the_methods_critical_lines(runner):
    names = {m.name for m in runner.load_mutants(runner.DEFAULT_LIST)}
    assert {
        "cfg-sign-flipped",
        "sds-weight-alpha-bar",
        "flow-score-term-detached",
        "residual-starts-at-identity",
        "attention-not-causal",
        "poisson-divergence-sign",
        "skeleton-weight-dropped",
        "vae-not-frozen",
        "timesteps-exclude-t-max",
    } <= names


def test_a_moved_snippet_stops_the_run_and_says_where_it_went(runner, tmp_path, capsys):
    listing = tmp_path / "mutants.toml"
    listing.write_text(
        '[[mutant]]\nname = "moved"\nwhat = "x"\nfile = "flexiclip_core/optimize.py"\n'
        'find = "guided = epsilon_unconditional + config.guidance_scale"\nreplace = "guided = 0"\n'
        'tests = ["tests/flexiclip_core/guidance/test_sds.py"]\n'
    )
    assert runner.main(["--list", str(listing)]) == 2
    err = capsys.readouterr().err
    assert "occurs 0× in flexiclip_core/optimize.py" in err and "flexiclip_core/guidance/sds.py" in err


def test_a_missing_file_stops_the_run(runner, tmp_path, capsys):
    listing = tmp_path / "mutants.toml"
    listing.write_text(
        '[[mutant]]\nname = "gone"\nwhat = "x"\nfile = "flexiclip_core/no_such_file.py"\n'
        'find = "a snippet that is nowhere at all"\nreplace = "b"\ntests = ["tests"]\n'
    )
    assert runner.main(["--list", str(listing)]) == 2
    assert "does not exist; the snippet is nowhere in the tree" in capsys.readouterr().err
