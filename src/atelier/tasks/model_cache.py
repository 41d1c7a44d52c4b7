"""A small bounded cache of loaded models, so repeated calls (a batch, a studio worker) reuse
weights instead of reading them again.

Keys say what was loaded and where (``("sr", "sr-x4", 4, "cpu")``); the least recently used
entry goes when the cache is full. A loader that fails leaves the cache as it was (IOPaint's
model manager keeps the old model when a switch fails). Thread-safe.

Example
-------
>>> cache = ModelCache(max_items=2)
>>> cache.get(("a",), lambda: "model a")
'model a'
>>> cache.get(("a",), lambda: "never called")
'model a'
>>> _ = cache.get(("b",), lambda: "b"); _ = cache.get(("c",), lambda: "c")
>>> cache.keys()
[('b',), ('c',)]
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

__all__ = ["ModelCache", "MODELS"]


class ModelCache:
    """Least-recently-used cache of at most ``max_items`` loaded models."""

    def __init__(self, max_items: int = 4) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The model under ``key``, loading it with ``load()`` on a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        model = load()  # outside the lock: loading is slow, and a failure changes nothing
        with self._lock:
            self._items[key] = model
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return model

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


#: The process's cache, shared by the registered tasks.
MODELS = ModelCache()
