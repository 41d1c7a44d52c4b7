"""Loading a task's model through the process's bounded cache (:data:`~atelier.tasks.model_cache.MODELS`).

A run folder's weights may change while a server runs (a training writes them), so the key
holds the weights file's path, modification time and size: new weights load anew.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from atelier.tasks.model_cache import MODELS


def _identity(source: Any) -> tuple:
    """Which weights file ``source`` names now, and its size and time: a shipped name is its
    file under the current ``WEIGHTS_ROOT``; missing weights key differently from present ones."""
    from atelier import pretrained

    path = pretrained.WEIGHTS_ROOT / source if source in pretrained.PRETRAINED else Path(str(source))
    weights = path / "model.safetensors" if path.is_dir() else path
    try:
        stat = weights.stat()
    except OSError:
        return (str(weights), None)
    return (str(weights), stat.st_mtime_ns, stat.st_size)


def cached_model(kind: str, source: Any, device: str, load: Callable[[], Any], *extra: Any) -> Any:
    """``load()``'s model, reused across calls for the same ``(kind, source, device, *extra)``."""
    return MODELS.get((kind, str(source), device, *extra, *_identity(source)), load)


def model_named(*keywords: str, param: str = "model") -> Callable[[Any, dict[str, Any]], None]:
    """A task's precheck: ``params[param]`` is one of ``keywords``, None, or a model the
    context can find (:meth:`~atelier.tasks.registry.TaskContext.model_source`)."""

    def check(ctx: Any, params: dict[str, Any]) -> None:
        value = params.get(param)
        if value is not None and value not in keywords:
            ctx.model_source(value)

    return check
