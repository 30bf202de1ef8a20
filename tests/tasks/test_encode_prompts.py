"""One text encoding per run (issue 22): the driver encodes every prompt before the workers
start, and workers that get the run's embeddings never load the text encoder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from catalogs.input import read_catalog, read_svg_bytes
from flexiclip_core.animate import prepare_clip
from tasks.plan import base_config, build_jobs
from tasks.steps import encode_prompts, with_prompt_embeddings
from tasks.worker import ClipWorker
from tests.flows.harness import sample_rows, write_catalog

CLIPS = ["human", "animal", "plant", "object", "two_characters", "layers"]


@pytest.fixture
def text_model_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every UMT5 load, by where it happened (from_pretrained: what a worker or the driver does)."""
    from transformers import UMT5EncoderModel

    loads: list[str] = []
    original = UMT5EncoderModel.from_pretrained.__func__

    def counted(cls, *args, **kwargs):
        loads.append(str(args[0]) if args else "?")
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(UMT5EncoderModel, "from_pretrained", classmethod(counted))
    return loads


def six_rows(tmp_path: Path):
    rows = sample_rows(tmp_path / "in", CLIPS)
    for index, row in enumerate(rows):
        row["prompt"] = f"prompt number {index}: {row['prompt']}"  # six different prompts
        row["config"] = json.dumps({})
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", rows)
    config = base_config("aniclipart", overrides={"render.size": 64, "iterations": 1})
    valid, errors = read_catalog(str(catalog), validate_config=config.with_overrides)
    assert not errors and len({row.prompt for row in valid}) == 6
    return valid, config


def test_a_run_of_six_prompts_loads_the_text_encoder_once_and_its_workers_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text_model_loads: list[str]
) -> None:
    monkeypatch.setenv("FLEXICLIP_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    rows, config = six_rows(tmp_path)
    bank = encode_prompts.fn("wan-tiny", rows)
    assert len(text_model_loads) == 1  # six prompts and the empty negative: one load, one batch
    assert set(bank.embeddings) == {row.prompt for row in rows} | {""}
    # The driver's disk cache is gone: whatever the workers find, they found in the run's bank.
    shutil.rmtree(tmp_path / "cache" / "text-embeddings")

    plan = build_jobs(
        rows,
        [],
        run_id="text-once",
        config=config,
        prior_name="wan-tiny",
        code_version="0+test",
        read_svg=read_svg_bytes,
    )
    jobs = with_prompt_embeddings(plan.jobs, bank)
    assert all(set(job.text.embeddings) == {job.prompt, ""} for job in jobs)  # each job carries only its own text
    workers = [ClipWorker("wan-tiny", str(tmp_path / "out"), torch_threads=1) for _ in range(2)]
    assert all(worker.setup_error is None for worker in workers), [w.setup_error for w in workers]
    for index, job in enumerate(jobs):
        worker = workers[index % 2]  # two workers, three clips each
        clip = prepare_clip(worker._request(job), worker.prior, job.config, device="cpu")
        expected = bank.embeddings[job.prompt]
        torch.testing.assert_close(clip.animator.text.conditional[0, : expected.shape[0]], expected)
    assert len(text_model_loads) == 1, text_model_loads  # the workers never loaded UMT5
    assert [worker.prior.text_encoder_loads for worker in workers] == [0, 0]

    # A job without the run's text makes the worker load UMT5 (the cache is empty): the count bites.
    alone = ClipWorker("wan-tiny", str(tmp_path / "out"), torch_threads=1)
    prepare_clip(alone._request(plan.jobs[0]), alone.prior, plan.jobs[0].config, device="cpu")
    assert alone.prior.text_encoder_loads == 1 and len(text_model_loads) == 2


def test_a_bank_of_another_text_model_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flexiclip_core.guidance import PromptBank, load_prior

    monkeypatch.setenv("FLEXICLIP_CACHE", str(tmp_path / "cache"))
    prior = load_prior("tiny", device="cpu")
    foreign = PromptBank("someone-else", {"a cat": torch.zeros(77, 32)})
    assert prior.provide_text_embeddings(foreign) == 0
    assert not torch.equal(prior.encode_text(["a cat"]).conditional[0], torch.zeros(77, 32))
    own = PromptBank(prior.prompt_encoder.model_key, {"a cat": torch.ones(77, 32)})
    assert prior.provide_text_embeddings(own) == 1
    assert torch.equal(prior.encode_text(["a cat"]).conditional[0], torch.ones(77, 32))


def test_a_prior_without_a_text_encoder_gets_no_bank(tmp_path: Path) -> None:
    rows, _ = six_rows(tmp_path)
    assert encode_prompts.fn("analytic-gaussian", rows) is None
    assert encode_prompts.fn("tiny", []) is None
    assert with_prompt_embeddings([], None) == []
