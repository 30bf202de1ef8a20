"""Planning: input rows → jobs / failed rows; skip what succeeded, adopt what was staged, --force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catalogs.input import read_catalog, read_svg_bytes
from catalogs.output import idempotency_key
from catalogs.rows import MediaRef, Status
from tasks.jobs import request_hash
from tasks.plan import base_config, build_jobs, select_work
from tests.flows.harness import sample_rows, write_catalog


def plan_for(tmp_path: Path, rows: list[dict], **kwargs):
    catalog = write_catalog(tmp_path / "in" / "catalog.parquet", rows)
    config = base_config("flexiclip", iterations=2)
    valid, errors = read_catalog(str(catalog), validate_config=config.with_overrides)
    return build_jobs(
        valid,
        errors,
        run_id="run-1",
        config=config,
        prior_name="tiny",
        code_version="0+test",
        read_svg=read_svg_bytes,
        **kwargs,
    )


def test_other_weights_under_the_same_prior_name_are_another_result(tmp_path: Path):
    rows = sample_rows(tmp_path / "in", ["plant"])
    (old,) = plan_for(tmp_path, rows, prior_key="modelscope@0123456789abcdef").jobs
    (new,) = plan_for(tmp_path, rows, prior_key="modelscope@fedcba9876543210").jobs
    (by_name,) = plan_for(tmp_path, rows).jobs
    assert len({old.idempotency_key, new.idempotency_key, by_name.idempotency_key}) == 3
    assert old.prior == new.prior == "tiny"  # the row shows the prior's name; the key holds its weights
    assert old.idempotency_key == idempotency_key(
        old.svg_sha256, old.prompt, old.config_hash, "modelscope@0123456789abcdef", 1000, "0+test"
    )


def test_every_input_row_becomes_a_job_or_a_failed_row_with_a_reason(tmp_path: Path):
    rows = sample_rows(tmp_path / "in", ["human", "plant"])
    rows += [
        {"clip_id": "../x", "svg_uri": "plant.svg", "prompt": "escape"},
        {"clip_id": "twin", "svg_uri": "plant.svg", "prompt": "a"},
        {"clip_id": "twin", "svg_uri": "plant.svg", "prompt": "b"},
        {"clip_id": "gone", "svg_uri": "missing.svg", "prompt": "nothing there"},
        {"clip_id": "badcfg", "svg_uri": "plant.svg", "prompt": "x", "config": '{"iterations": "many"}'},
    ]
    plan = plan_for(tmp_path, rows)
    assert plan.row_count == len(rows)
    assert [job.clip_id for job in plan.jobs] == ["human", "plant"]
    failed = {index: row for index, row in plan.failed}
    assert set(failed) == {2, 3, 4, 5, 6}
    assert all(row.status is Status.FAILED and row.error_message for row in failed.values())
    assert failed[2].clip_id == "row-2" and "unsafe" in failed[2].error_message
    assert failed[3].error_type == failed[4].error_type == "duplicate_clip_id"
    assert failed[5].error_type == "SvgSourceError" and "no such file" in failed[5].error_message
    assert failed[6].error_type == "invalid_config" and "iterations" in failed[6].error_message
    assert "\n" not in "".join(row.error_message for row in failed.values())


def test_key_follows_svg_prompt_config_prior_seed_and_rig(tmp_path: Path):
    rows = sample_rows(tmp_path / "in", ["plant"])
    rows.append({**rows[0], "clip_id": "plant-seeded", "seed": 7})
    rows.append({**rows[0], "clip_id": "plant-small", "config": '{"render": {"size": 64}}'})
    rows.append({**rows[0], "clip_id": "plant-1024", "export": '{"size": 1024, "formats": ["lottie", "webm"]}'})
    rows.append({**rows[0], "clip_id": "plant-default-export", "export": '{"size": 512}'})
    plan = plan_for(tmp_path, rows)
    plain, seeded, small, large, default_export = plan.jobs
    svg_sha = plain.svg_sha256
    assert plain.idempotency_key == idempotency_key(svg_sha, plain.prompt, plain.config_hash, "tiny", 1000, "0+test")
    assert seeded.seed == 7 and seeded.idempotency_key != plain.idempotency_key
    assert small.config.render.size == 64 and small.config_hash != plain.config_hash
    # Another export changes the published media, so it is another result; the defaults spelt out are not.
    assert large.export.size == 1024 and large.export.formats == ("lottie", "webm")
    assert large.config_hash != plain.config_hash and large.idempotency_key != plain.idempotency_key
    assert default_export.export is None and default_export.config_hash == plain.config_hash
    config = plain.config
    with_rig = request_hash(
        config, keypoints=np.zeros((2, 2)), skeleton=np.array([[0, 1]]), layers=None, negative_prompt=None
    )
    assert (
        request_hash(config, keypoints=None, skeleton=None, layers=None, negative_prompt=None) == config.config_hash()
    )
    assert with_rig != config.config_hash()


def test_select_work_skips_succeeded_adopts_staged_and_force_redoes(tmp_path: Path):
    plan = plan_for(tmp_path, sample_rows(tmp_path / "in", ["human", "plant", "object"]))
    human, plant, obj = plan.jobs
    previous = obj.row(
        Status.SUCCEEDED,
        media={"video": MediaRef("/root/media/ab/ab.mp4", "ab"), "gif": MediaRef("/root/media/cd/cd.gif", "cd")},
        prior_licence="Apache-2.0",
    )
    staged_row = human.row(Status.SUCCEEDED, run_id="killed-run", media={"video": MediaRef("/v.mp4", None)})
    staged = {human.idempotency_key: staged_row, plant.idempotency_key: plant.row(Status.FAILED)}
    selected = select_work(plan, succeeded={obj.idempotency_key: previous}, staged=staged, force=False)
    assert [job.clip_id for job in selected.jobs] == ["plant"]  # a staged failure is retried
    ((index, adopted),) = selected.adopted
    assert index == human.row_index and adopted.media["video"].uri == "/v.mp4" and adopted.run_id == "run-1"
    ((index, skipped),) = selected.skipped
    assert index == obj.row_index and skipped.status is Status.SKIPPED
    assert skipped.media == previous.media and skipped.to_record()["gif_uri"] == "/root/media/cd/cd.gif"
    assert skipped.prior_licence == "Apache-2.0"  # the licence of the prior that made the media it points at
    assert selected.row_count == 3
    forced = select_work(plan, succeeded={obj.idempotency_key: previous}, staged=staged, force=True)
    assert [job.clip_id for job in forced.jobs] == ["human", "plant", "object"]


def test_run_level_overrides_are_validated():
    from flexiclip_core.errors import ConfigError

    assert base_config("aniclipart", iterations=3, overrides={"render.size": 64}).render.size == 64
    with pytest.raises(ConfigError):
        base_config("flexiclip", overrides={"no_such_field": 1})
    with pytest.raises(ConfigError):
        base_config("not-a-method")


def test_a_success_whose_media_are_gone_is_reanimated_with_the_reason(tmp_path: Path):
    from catalogs.output import OutputCatalog
    from catalogs.rows import MEDIA_KINDS
    from tasks.plan import plan_work

    rows = sample_rows(tmp_path / "in", ["human", "plant"])
    catalog_path = write_catalog(tmp_path / "in" / "catalog.parquet", rows)
    config = base_config("flexiclip", iterations=2)
    valid, errors = read_catalog(str(catalog_path), validate_config=config.with_overrides)
    output = OutputCatalog(tmp_path / "out")

    def plan():
        return plan_work(
            valid,
            errors,
            run_id="run-2",
            config=config,
            prior_name="tiny",
            code_version="0+test",
            output_catalog=output,
            read_svg=read_svg_bytes,
            force=False,
        )

    succeeded = []
    for job in plan().jobs:
        media = {}
        # 'plant' was exported without the optional formats: kinds a row does not reference are
        # never looked for, so it is skipped all the same.
        left_out = {"webm", "webp", "apng", "lottie"} if job.clip_id == "plant" else set()
        for kind in (kind for kind in MEDIA_KINDS if kind.name not in left_out):
            path = tmp_path / f"{job.clip_id}{kind.suffix}"
            path.write_bytes(f"{job.clip_id} {kind.name}".encode())
            media[kind.name] = MediaRef(*output.put_media(path, kind.suffix))
        succeeded.append(job.row(Status.SUCCEEDED, media=media, host="node-a", gpu_name="cpu"))
    output.commit(succeeded, run_id="run-1")
    assert [job.clip_id for job in plan().jobs] == []  # everything present: both skipped

    gone = succeeded[1].media["video"].uri
    Path(gone).unlink()
    again = plan()
    (job,) = again.jobs
    assert job.clip_id == "plant" and [row.clip_id for _, row in again.skipped] == ["human"]
    (note,) = job.notes
    assert "re-animated" in note and "run-1" in note and f"video {gone}" in note
    assert job.row(Status.SUCCEEDED).warnings[0] == note  # the row says why
    ((_, skipped),) = again.skipped
    assert skipped.host == "node-a" and skipped.media == succeeded[0].media  # provenance of the maker


def test_the_artworks_licence_and_attribution_reach_every_row_of_the_clip(tmp_path: Path):
    # Issue 20: a dataset builder must ship the drawing's licence and credit; they come from the
    # input catalog and go into the job's succeeded, failed and skipped rows (not into the key).
    from tasks.jobs import skipped_row

    rows = sample_rows(tmp_path / "in", ["plant", "human"])
    rows[0].update(licence="CC0-1.0", attribution="Jane Doe, openclipart.org/detail/1")
    rows.append({"clip_id": "gone", "svg_uri": "missing.svg", "prompt": "x", "licence": "CC-BY-4.0"})
    plan = plan_for(tmp_path, rows)
    plant, human = plan.jobs
    assert (plant.artwork_licence, plant.artwork_attribution) == ("CC0-1.0", "Jane Doe, openclipart.org/detail/1")
    assert (human.artwork_licence, human.artwork_attribution) == (None, None)
    succeeded = plant.row(Status.SUCCEEDED)
    failed = plant.failed("RigError", "no rig")
    skipped = skipped_row(plant, succeeded)
    for row in (succeeded, failed, skipped):
        assert (row.artwork_licence, row.artwork_attribution) == ("CC0-1.0", "Jane Doe, openclipart.org/detail/1")
        assert row.to_record()["artwork_licence"] == "CC0-1.0"
    ((_, unreadable),) = plan.failed
    assert unreadable.artwork_licence == "CC-BY-4.0"
    # The licence does not change the result, so it is not part of the key.
    unlicensed = plan_for(tmp_path, [{**rows[0], "licence": None, "attribution": None}]).jobs[0]
    assert unlicensed.idempotency_key == plant.idempotency_key


def test_request_hash_follows_every_rig_input_alone():
    # Each extra of the config hash, changed alone, is another result; the plain config hashes as itself.
    from flexiclip_core.export import ExportConfig

    config = base_config("flexiclip", iterations=2)
    plain = {"keypoints": None, "skeleton": None, "layers": None, "negative_prompt": None, "export": None}
    variants = {
        "keypoints": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "skeleton": np.array([[0, 1]]),
        "layers": [{"name": "arm", "groups": ["g"], "keypoints": [0]}],
        "negative_prompt": "blurry",
        "export": ExportConfig(size=1024),
    }
    assert request_hash(config, **plain) == config.config_hash()
    hashes = {name: request_hash(config, **{**plain, name: value}) for name, value in variants.items()}
    assert len(set(hashes.values())) == len(variants) and config.config_hash() not in hashes.values()
    # Keypoints are hashed at 1e-6 px: float noise below that is the same result.
    noisy = variants["keypoints"] + 1e-9
    assert request_hash(config, **{**plain, "keypoints": noisy}) == hashes["keypoints"]


def test_rows_that_share_a_seed_and_negative_prompt_share_one_config_hash_and_no_more(tmp_path: Path):
    # The planner computes the config and hash once per (seed, negative prompt) for rows that set
    # nothing else; each job must still carry exactly what `request_hash` gives for its own row.
    base = sample_rows(tmp_path / "in", ["plant"])[0]
    variants = [(None, None), (7, None), (None, "blurry"), (7, "blurry"), (None, None), (7, "blurry")]
    rows = [
        {**base, "clip_id": f"plant-{index}", **({} if seed is None else {"seed": seed}), "negative_prompt": negative}
        for index, (seed, negative) in enumerate(variants)
    ]
    jobs = plan_for(tmp_path, rows).jobs
    assert [job.seed for job in jobs] == [1000, 7, 1000, 7, 1000, 7]
    for job, (_, negative) in zip(jobs, variants):
        assert job.negative_prompt == negative
        assert job.config_hash == request_hash(
            job.config, keypoints=None, skeleton=None, layers=None, negative_prompt=negative
        )
    assert len({job.config_hash for job in jobs}) == 4
    assert jobs[0].config_hash == jobs[4].config_hash and jobs[3].config_hash == jobs[5].config_hash


def test_a_setting_added_at_its_old_behaviour_keeps_every_presets_hash():
    from flexiclip_core.config import PRESETS

    # The hashes of 2026-12-07 (main at abfb1dc, before `trajectory.degree` existed). A change here
    # re-animates every clip of that preset once: make it on purpose and say so in docs/method.md §12.
    assert {name: config.config_hash() for name, config in PRESETS.items()} == {
        "flexiclip": "892c38f255e57531",
        "aniclipart": "4383efb9ab140966",
        "flexiclip-no-temporal": "569ddc740bab7130",
        "flexiclip-no-flow": "38e605983bdf6478",
        # Changed on purpose twice (docs/method.md §12, §13): 2026-12-07, branch gradpaint, the
        # preset paints gradients per pixel (1555613d847e0f10); 2026-12-07, fifth session, degree-6
        # trajectories with the roughness penalty λ = 1e-3. Undo either and it is that preset again.
        "video-fit": "1b2bbe23aeb18a54",
    }
    cubic_flat = {"trajectory.degree": 3, "video_fit.trajectory_roughness": 0.0, "render.paint_gradients": False}
    assert PRESETS["video-fit"].with_overrides(cubic_flat).config_hash() == "a37cdda8c99e5a75"
    cubic = PRESETS["video-fit"].with_overrides({"trajectory.degree": 3, "video_fit.trajectory_roughness": 0.0})
    assert cubic.config_hash() == "1555613d847e0f10"
    # Any other degree is another result.
    assert cubic.with_overrides({"trajectory.degree": 6}).config_hash() != cubic.config_hash()
    assert cubic.with_overrides({"trajectory.degree": 3}).config_hash() == cubic.config_hash()
    # So is the training renderer's per-pixel gradient paint, off in the flexiclip presets.
    flexiclip = PRESETS["flexiclip"]
    assert flexiclip.with_overrides({"render.paint_gradients": False}).config_hash() == flexiclip.config_hash()
    assert flexiclip.with_overrides({"render.paint_gradients": True}).config_hash() != flexiclip.config_hash()
    # And the roughness penalty of video-fit's least-squares trajectory fits (0: the old fit).
    assert cubic.with_overrides({"video_fit.trajectory_roughness": 0.0}).config_hash() == cubic.config_hash()
    assert cubic.with_overrides({"video_fit.trajectory_roughness": 1e-3}).config_hash() != cubic.config_hash()
