"""`catalogs.storage.map_in_threads`: the SVG reads and media checks of a plan, batched on threads."""

from __future__ import annotations

import threading

from catalogs.storage import map_in_threads


def test_every_item_once_in_order_in_batches_on_the_threads():
    seen: list[tuple[int, int]] = []

    def square(item: int) -> int:
        seen.append((item, threading.get_ident()))
        return item * item

    # 103 items, 4 threads × 4 batches each: batches of ceil(103 / 16) = 7 items, the last of 5.
    assert map_in_threads(square, list(range(103)), 4) == [item * item for item in range(103)]
    assert sorted(item for item, _ in seen) == list(range(103))
    by_batch = {start: {ident for item, ident in seen if start <= item < start + 7} for start in range(0, 103, 7)}
    assert all(len(idents) == 1 for idents in by_batch.values())  # a batch runs on one thread
    assert map_in_threads(square, [3], 8) == [9] and map_in_threads(square, [], 8) == []
