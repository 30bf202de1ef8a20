"""Which prior a run uses: the one home of the ``auto`` policy (docs/priors.md).

``auto`` never silently picks a non-commercial model: Wan (Apache-2.0) when it is configured
(``FLEXICLIP_WAN_MODEL`` or a cached snapshot) — an incomplete Wan folder is an error, not a
reason to fall back; else ModelScope (CC-BY-NC-4.0) when its weights are on this machine, with a
warning naming its licence; else the tiny test prior, with the reason. The pipeline's preflight
(`tasks.preflight.resolve_prior`) and a worker handed ``auto`` both ask `choose_prior`; nothing
is loaded here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flexiclip_core.errors import ConfigError, PriorUnavailable
from flexiclip_core.guidance.base import PRIORS
from flexiclip_core.guidance.modelscope import MODELSCOPE_LICENCE, resolve_modelscope_directory
from flexiclip_core.guidance.wan import resolve_wan_directory, wan_configured

log = logging.getLogger(__name__)

AUTO_PRIOR = "auto"
"""Prior spec meaning: Wan when configured; else ModelScope (said so loudly) if its weights are
local; else the tiny test prior."""


@dataclass(frozen=True)
class PriorChoice:
    """The prior a run uses, decided once before any worker loads it."""

    spec: str
    """What the workers load: "tiny", "wan", "modelscope", "modelscope:PATH", ... (never "auto")."""
    fallback_reason: str | None
    """Why ``auto`` fell back to the tiny prior (None when it did not)."""


def choose_prior(spec: str) -> PriorChoice:
    """Decide the prior ``spec`` names (``auto`` by the policy above) and check its weights exist.

    Raises `ConfigError` for an unknown name and `PriorUnavailable` for an explicit prior (or a
    configured Wan under ``auto``) whose weights are absent or incomplete.
    """
    if spec == AUTO_PRIOR:
        if wan_configured():
            try:
                resolve_wan_directory(None)
            except PriorUnavailable as exc:
                raise PriorUnavailable(
                    f"prior auto: Wan is configured but unusable, and auto never falls back to "
                    f"the non-commercial ModelScope: {exc}"
                ) from exc
            return PriorChoice("wan", None)
        try:
            resolve_modelscope_directory(None)
        except PriorUnavailable as exc:
            return PriorChoice("tiny", str(exc))
        log.warning(
            "prior auto: no commercially usable prior is configured (set FLEXICLIP_WAN_MODEL for Wan2.1, "
            "Apache-2.0); using ModelScope, licensed %s: outputs for non-commercial use only",
            MODELSCOPE_LICENCE,
        )
        return PriorChoice("modelscope", None)
    name, _, argument = spec.partition(":")
    if name not in PRIORS:
        raise ConfigError(
            f"prior {spec!r}: unknown; use {AUTO_PRIOR}, {', '.join(sorted(PRIORS.names()))} "
            "(modelscope:PATH or wan:PATH for a weights folder)"
        )
    resolvers = {"modelscope": resolve_modelscope_directory, "wan": resolve_wan_directory}
    if name in resolvers:
        resolvers[name](argument or None)
    return PriorChoice(spec, None)
