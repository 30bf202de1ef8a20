"""The warnings of one parse: every approximation or skipped feature, once per element."""

from __future__ import annotations

import logging

from flexiclip_core.clipart import ParseWarning
from flexiclip_core.svg._xml import Element

logger = logging.getLogger(__name__)

MAX_WARNINGS = 200
"""Warnings kept per file; one ``warnings-truncated`` marks the rest as dropped."""


class WarningLog:
    """Collects `ParseWarning`s in the order they arise, each (code, element) pair once."""

    def __init__(self, clip: str) -> None:
        self.clip = clip
        self.warnings: list[ParseWarning] = []
        self._keys: set[tuple[str, str]] = set()

    def warn(self, code: str, message: str, element: Element | None = None) -> None:
        self.warn_text(code, message, element.describe() if element is not None else "")

    def warn_text(self, code: str, message: str, where: str) -> None:
        key = (code, where)
        if key in self._keys:
            return
        self._keys.add(key)
        if len(self.warnings) == MAX_WARNINGS:
            self.warnings.append(ParseWarning("warnings-truncated", f"more than {MAX_WARNINGS} warnings; rest dropped"))
        if len(self.warnings) > MAX_WARNINGS:
            return
        logger.debug("clip %r: %s %s: %s", self.clip, where, code, message)
        self.warnings.append(ParseWarning(code, message, where))
