"""The run options are documented once, on `tasks.pool.PoolConfig`'s fields: the `nightly` flow's
Args repeat each field's docstring, `flexiclip run`'s help is its first sentence, and the three
agree on every default."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import typing
from pathlib import Path

import pytest

import tasks.pool
from flexiclip_cli.pipeline import run
from flows.nightly import nightly
from tasks.pool import PoolConfig

# PoolConfig field -> (flow parameter, `flexiclip run` parameter or None when the CLI leaves it out)
NAMES = {
    "workers": ("workers", "workers"),
    "gpus_per_worker": ("gpus_per_worker", "gpus_per_worker"),
    "cpus_per_worker": ("cpus_per_worker", None),
    "torch_threads": ("torch_threads", None),
    "clip_timeout_s": ("clip_timeout_s", "clip_timeout"),
    "max_retries": ("max_retries", "max_retries"),
    "start_timeout_s": ("worker_start_timeout_s", "worker_start_timeout"),
    "clips_per_worker": ("clips_per_worker", "clips_per_worker"),
    "max_failed_fraction": ("max_failed_fraction", "max_failed_fraction"),
}


def _flat(text: str) -> str:
    return " ".join(text.split())


def field_docs() -> dict[str, str]:
    """PoolConfig's field docstrings (the string right after each annotated field)."""
    tree = ast.parse(Path(tasks.pool.__file__).read_text(encoding="utf-8"))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PoolConfig").body
    docs = {}
    for field, after in zip(body, body[1:]):
        if isinstance(field, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docs[field.target.id] = _flat(after.value.value)  # type: ignore[union-attr]
    return docs


def flow_args() -> dict[str, str]:
    """The nightly docstring's Args section, name -> text."""
    doc = inspect.getdoc(nightly.fn) or ""
    section = doc.split("Args:", 1)[1]
    entries = re.findall(r"^    (\w+): (.*?)(?=^    \w+: |\Z)", section, flags=re.M | re.S)
    return {name: _flat(text) for name, text in entries}


def first_sentence(text: str) -> str:
    return text.split(". ", 1)[0].rstrip(".") + "."


def test_every_pool_option_is_mapped():
    assert set(NAMES) == {f.name for f in dataclasses.fields(PoolConfig)}
    assert set(field_docs()) == set(NAMES)


@pytest.mark.parametrize("field", sorted(NAMES))
def test_the_flow_docstring_repeats_the_field_docstring(field: str):
    flow_name, _ = NAMES[field]
    assert flow_args()[flow_name] == field_docs()[field]


@pytest.mark.parametrize("field", sorted(name for name, (_, cli) in NAMES.items() if cli))
def test_the_cli_help_is_the_field_docstrings_first_sentence(field: str):
    _, cli_name = NAMES[field]
    option = typing.get_type_hints(run, include_extras=True)[cli_name]
    help_text = next(m.help for m in option.__metadata__ if hasattr(m, "help"))
    assert help_text == first_sentence(field_docs()[field])


@pytest.mark.parametrize("field", sorted(NAMES))
def test_the_defaults_agree(field: str):
    flow_name, cli_name = NAMES[field]
    default = next(f.default for f in dataclasses.fields(PoolConfig) if f.name == field)
    assert inspect.signature(nightly.fn).parameters[flow_name].default == default
    if cli_name:
        assert inspect.signature(run).parameters[cli_name].default == default
