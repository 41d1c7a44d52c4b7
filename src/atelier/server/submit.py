"""Accepting a job: the whole submission is checked (task, parameters, every input decoded
through ``load_image``) before anything is queued; inputs are stored under the job's id."""

from __future__ import annotations

import json
from typing import Any

from atelier.errors import AtelierError, InvalidArgument
from atelier.server.queue import JobQueue, QueueFull
from atelier.server.storage import Storage

__all__ = ["accept_submission"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def accept_submission(queue: JobQueue, storage: Storage, config: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Check a submission in full (task, parameters, every input decoded), store the inputs as
    PNG under a new job id, then queue it. Runs in a thread: decoding is not the event loop's."""
    import uuid

    from atelier.image import load_image, save_image, write_atomic
    from atelier.tasks.registry import get_task

    name = fields.get("task")
    if not isinstance(name, str):
        raise InvalidArgument("give the task to run (field task)")
    spec = get_task(name)
    raw = fields.get("params") or "{}"
    if not isinstance(raw, str):
        raise InvalidArgument("params must be a JSON object (a text field)")
    try:
        params = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"params is not JSON: {exc}") from None
    from atelier.tasks.registry import TaskContext

    params = spec.validate(params, TaskContext(allow_paths=False, work_dir=storage.home))
    seed_text = fields.get("seed") or "0"
    if not isinstance(seed_text, str) or not seed_text.isdigit() or int(seed_text) >= 2**31:
        raise InvalidArgument(f"seed must be a whole number in [0, 2^31), got {seed_text!r}")
    known = {i.name: i for i in spec.inputs}
    extra = [k for k in fields if k not in ("task", "params", "seed") and k not in known]
    if extra:
        raise InvalidArgument(f"task {name} has no input {extra[0]!r} (inputs: {', '.join(known) or 'none'})")
    job_id = uuid.uuid4().hex[:16]
    images: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    for input_name, input_spec in known.items():
        value = fields.get(input_name)
        if value in (None, ""):
            if input_spec.required:
                raise InvalidArgument(f"task {name} needs the input {input_name} ({input_spec.kind})")
            continue
        if input_spec.kind == "text":
            if not isinstance(value, str):
                raise InvalidArgument(f"input {input_name} must be text, not a file")
            inputs[input_name] = {"text": value}
            continue
        if isinstance(value, str):
            raise InvalidArgument(f"input {input_name} must be an image file")
        data = value.file.read(config.max_upload_bytes + 1)
        if len(data) > config.max_upload_bytes:
            raise InvalidArgument(f"input {input_name} is larger than {config.max_upload_bytes} bytes")
        try:
            images[input_name] = (load_image(data, max_pixels=config.max_pixels, max_bytes=config.max_upload_bytes), data)
        except AtelierError as exc:
            raise InvalidArgument(f"input {input_name}: {exc}") from None
    if spec.long and "run" in params and params["run"] is None:
        params["run"] = f"{params.get('model', name)}-{job_id}"  # fixed now: a resumed job continues it
    for input_name, (image, data) in images.items():
        path = storage.input_path(job_id, f"{input_name}.png", create=True)
        if data.startswith(_PNG_SIGNATURE):  # checked above by decoding it: keep the bytes as sent
            write_atomic(path, data)
        else:  # other formats are stored as the PNG of what was decoded
            save_image(path, image, overwrite=True)
        inputs[input_name] = {"file": path.name}
    timeout = config.train_timeout if spec.long else config.job_timeout
    try:
        job = queue.submit(name, params, inputs, seed=int(seed_text), long=spec.long, timeout=timeout, job_id=job_id)
    except QueueFull:
        import shutil

        shutil.rmtree(storage.home / "jobs" / job_id, ignore_errors=True)
        raise
    return job.public()
