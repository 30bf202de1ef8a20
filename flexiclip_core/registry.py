"""Name → implementation registries, so configs select swappable parts by string name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from flexiclip_core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named set of implementations of one interface (priors, deformers, renderers...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def values(self) -> list[T]:
        """Every entry, in registration order."""
        return list(self._entries.values())

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a dummy entry clean up with it)."""
        del self._entries[name]

    def __contains__(self, name: str) -> bool:
        return name in self._entries
