"""What one clip of a run is (`ClipJob`) and the output-catalog rows a run writes for it.

Pure Python (no Prefect, no Ray): the planner builds jobs on the driver, the Ray actors turn a
job into a row, and the flow turns invalid input rows and already-done clips into rows too.
Every row is a `catalogs.rows.OutputRow` (docs/pipeline.md §3).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from catalogs.rows import FIT_METRIC_COLUMNS, OutputRow, Status, one_line

if TYPE_CHECKING:
    from catalogs.input import ReferenceInput
    from flexiclip_core.export import ExportConfig
    from flexiclip_core.guidance.text import PromptBank
    from flexiclip_core.optimize import AnimationConfig


SUPPLIED_REFERENCE = "supplied"
"""``reference_source`` of a reference video the input catalog names (as
`flexiclip_core.videofit.SUPPLIED`)."""
USER_SUPPLIED_LICENCE = "user-supplied"
"""``reference_licence`` of a supplied reference whose row gives none (as the core's default)."""
GENERATED_REFERENCE = "generated"
"""Prefix of ``reference_source`` (``generated:<generator>``), of the row's ``prior`` column
(``reference:generated:<generator>``, `tasks.plan.generated_key`) and of the idempotency key's
prior part (``reference:generated:<result_key>``, the generator's weights and sampling identity,
`tasks.plan.generated_prior_key`) of a reference the worker's generator samples."""


@dataclass(frozen=True)
class GeneratedReference:
    """A generated reference as the worker made (or found) it: its provenance for the row."""

    generator: str
    """Registry name of the generator (``wan-vace``, ``wan-vace-tiny``)."""
    result_key: str
    """The generator's `GeneratorSpec.result_key` (weights fingerprint + sampling hash)."""
    licence: str
    """Licence of the generator's weights (the reference's licence)."""
    seed: int
    """Seed of the fitted candidate."""
    candidates: tuple[tuple[int, str], ...]
    """(seed, content-addressed media uri) of every candidate of the clip, in seed order."""


@dataclass(frozen=True, eq=False)
class ClipJob:
    """One clip to animate in one run, with everything that identifies its result."""

    run_id: str
    """The flow run this job belongs to."""
    row_index: int
    """Position of the clip's row in the input catalog."""
    clip_id: str
    """The clip's id (validated, safe as a file name)."""
    svg_uri: str
    """Where the SVG came from."""
    svg_bytes: bytes
    """The SVG itself, read once by the planner (its hash is part of the key)."""
    svg_sha256: str
    """sha256 of ``svg_bytes``."""
    prompt: str
    """Motion prompt."""
    negative_prompt: str | None
    """Negative prompt, or None."""
    keypoints: np.ndarray | None
    """[K, 2] keypoints in SVG user units, or None for the automatic rig."""
    skeleton: np.ndarray | None
    """[B, 2] bones (keypoint index pairs), or None."""
    layers: list[dict] | None
    """Layer specs, or None."""
    config: AnimationConfig
    """The effective animation config (method preset + run overrides + row overrides + seed)."""
    config_hash: str
    """Hash of everything besides SVG, prompt, prior and seed that decides the result."""
    prior: str
    """Name of the prior that animates it (model id + revision, or the tiny test prior)."""
    code_version: str
    """Version of the code that animates it."""
    idempotency_key: str
    """Key of the result: a succeeded row with this key means the work is done."""
    tags: list[str] = field(default_factory=list)
    """The row's tags."""
    notes: tuple[str, ...] = ()
    """Why this job runs although its key succeeded before (e.g. that run's media are gone);
    every row of the job starts its warnings with them."""
    export: ExportConfig | None = None
    """The row's export config (None: the defaults); part of ``config_hash`` when set."""
    artwork_licence: str | None = None
    """The drawing's licence from the input catalog (not part of the key: it does not change the result)."""
    artwork_attribution: str | None = None
    """Whom the drawing credits, from the input catalog."""
    text: PromptBank | None = None
    """The embeddings of its prompt and negative prompt, made once by the run before its workers
    started (`tasks.steps.encode_prompts`); None: the worker's prior encodes them itself."""
    reference: ReferenceInput | None = None
    """The supplied reference video of a ``video-fit`` job (its bytes and content hash, read by
    the planner, or generated on the worker); None for the other methods."""
    reference_seed: int | None = None
    """The input's ``reference_seed``: the generated candidate to fit (None: the first)."""
    generated: GeneratedReference | None = None
    """Set by the worker once it generated (or found) the reference of a generated job."""

    @property
    def generator(self) -> str | None:
        """The generator that samples this job's reference: a video-fit job without a supplied one."""
        if self.config.objective != "video-fit" or (self.reference is not None and self.generated is None):
            return None
        return self.config.video_fit.generator

    def candidate_seeds(self) -> list[int]:
        """Seeds of the clip's candidates (``reference_candidates`` from the row's seed), plus the
        picked ``reference_seed`` when it is not one of them."""
        from flexiclip_core.videofit.generate import candidate_seeds

        seeds = candidate_seeds(self.seed, int(self.config.video_fit.reference_candidates))
        return seeds if self.reference_seed is None or self.reference_seed in seeds else [*seeds, self.reference_seed]

    def fitted_seed(self) -> int:
        """The seed of the candidate that is fitted: ``reference_seed``, else the first."""
        return self.candidate_seeds()[0] if self.reference_seed is None else int(self.reference_seed)

    @property
    def seed(self) -> int:
        return int(self.config.seed)

    def row(self, status: Status, **fields: Any) -> OutputRow:
        """A row of this job with ``status``: the job's identity columns plus ``fields``."""
        identity: dict[str, Any] = {
            "run_id": self.run_id,
            "clip_id": self.clip_id,
            "svg_sha256": self.svg_sha256,
            "prompt": self.prompt,
            "method": self.config.method,
            "config_hash": self.config_hash,
            "prior": self.prior,
            "seed": self.seed,
            "code_version": self.code_version,
            "idempotency_key": self.idempotency_key,
            "iterations": int(self.config.iterations),
            "artwork_licence": self.artwork_licence,
            "artwork_attribution": self.artwork_attribution,
            **self.reference_identity(),
        }
        warnings = (*self.notes, *fields.pop("warnings", ()))
        return OutputRow(status=status, warnings=warnings, **{**identity, **fields})

    def reference_identity(self) -> dict[str, Any]:
        """The reference columns known before the fit (every row of a video-fit job has them)."""
        reference = self.reference
        generator = self.generator
        if generator is not None:
            generated = self.generated
            return {
                "reference_sha256": None if reference is None else reference.sha256,
                "reference_source": f"{GENERATED_REFERENCE}:{generator}",
                "reference_licence": None if generated is None else generated.licence,
                "reference_seed": self.fitted_seed(),
                "reference_candidates": None
                if generated is None
                else json.dumps([{"seed": seed, "uri": uri} for seed, uri in generated.candidates]),
            }
        if reference is None:
            return {}
        return {
            "reference_input_uri": reference.uri,
            "reference_sha256": reference.sha256,
            "reference_source": SUPPLIED_REFERENCE,
            "reference_licence": reference.licence or USER_SUPPLIED_LICENCE,
        }

    def failed(self, error_type: str, message: str, *, started_at: datetime | None = None, **fields: Any) -> OutputRow:
        """A ``failed`` row of this job (see `failed_row`)."""
        return failed_row(self.row(Status.FAILED, **fields), error_type, message, started_at=started_at)


def request_hash(
    config: AnimationConfig,
    *,
    keypoints: np.ndarray | None,
    skeleton: np.ndarray | None,
    layers: list[dict] | None,
    negative_prompt: str | None,
    export: ExportConfig | None = None,
    reference_sha256: str | None = None,
    reference_seed: int | None = None,
) -> str:
    """The ``config_hash`` column: the animation config's hash, extended by the row's rig inputs.

    Keypoints, skeleton, layers, the negative prompt and a non-default export config change the
    result as much as the config does, so a row that sets any of them hashes them in (16 hex
    digits, like `config_hash()`); so does a video-fit job's reference (``reference_sha256``, its
    content hash: the same file under another name is the same result, a changed file is not),
    and a generated reference's picked candidate (``reference_seed``; the generator's name and
    ``reference_candidates`` are in the config already).
    """
    base = config.config_hash()
    extras = {
        "keypoints": None if keypoints is None else np.asarray(keypoints, dtype=np.float64).round(6).tolist(),
        "skeleton": None if skeleton is None else np.asarray(skeleton, dtype=np.int64).tolist(),
        "layers": layers,
        "negative_prompt": negative_prompt,
        "export": None if export is None else export.to_dict(),
        "reference": reference_sha256,
    }
    if reference_seed is not None:  # only when set: existing keys do not move
        extras["reference_seed"] = int(reference_seed)
    if all(value is None for value in extras.values()):
        return base
    canonical = json.dumps({"config": base, **extras}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def utc_now() -> datetime:
    return datetime.now(UTC)


def failed_row(row: OutputRow, error_type: str, message: str, *, started_at: datetime | None = None) -> OutputRow:
    """``row`` as a ``failed`` row: ``error_type`` is the exception class (or validation kind),
    ``message`` its one line; started now unless ``started_at`` says otherwise."""
    now = utc_now()
    return row.replace(
        status=Status.FAILED,
        error_type=error_type,
        error_message=one_line(message),
        started_at=started_at or now,
        finished_at=now,
    )


def skipped_row(job: ClipJob, previous: OutputRow) -> OutputRow:
    """A ``skipped`` row for a job whose key already succeeded: points at the existing media."""
    now = utc_now()
    # Provenance is the earlier run's: the row says which host, GPU and node made the media.
    return job.row(
        Status.SKIPPED,
        media=previous.media,
        prior_is_trained=previous.prior_is_trained,
        prior_licence=previous.prior_licence,
        host=previous.host,
        gpu_name=previous.gpu_name,
        ray_node_id=previous.ray_node_id,
        reference_video_uri=previous.reference_video_uri,
        reference_candidates=previous.reference_candidates,
        reference_licence=previous.reference_licence,
        reference_sha256=previous.reference_sha256,
        **{column: getattr(previous, column) for column in FIT_METRIC_COLUMNS},
        started_at=now,
        finished_at=now,
    )


def invalid_input_row(run_id: str, row_index: int, clip_id: str | None, error_type: str, message: str) -> OutputRow:
    """A ``failed`` row for an input row that did not validate (no job could be built)."""
    base = OutputRow(run_id=run_id, clip_id=clip_id if clip_id else f"row-{row_index}", status=Status.FAILED)
    return failed_row(base, error_type, message)
