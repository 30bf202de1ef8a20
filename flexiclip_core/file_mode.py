"""The mode of every file flexiclip publishes (media, exports, the gallery page): one home for
that decision, in a module that imports nothing heavy, so the catalog's readers and the CLI's
catalog commands do not import torch through the exporters."""

from __future__ import annotations

import os

__all__ = ["FILE_MODE", "process_umask", "published_file_mode"]

FILE_MODE = 0o666
"""Published files get the mode an ordinary ``open`` would give them: 0o666 less the umask."""


def process_umask() -> int:
    """The process umask: from /proc on Linux, else by setting it and setting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def published_file_mode() -> int:
    """The mode of every file the exporters and the pipeline publish: ``FILE_MODE`` less the
    process umask (0o644 under 022, 0o664 under 002, 0o600 under 077). The one home of that
    decision: `atomic_write`, the catalog's media store and the gallery page use it."""
    return FILE_MODE & ~process_umask()
