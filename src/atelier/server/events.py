"""The studio's Server-Sent Events: one stream per job, read from the queue.

Example
-------
>>> sse_message("progress", {"done": 1}, 7)
{'event': 'progress', 'id': '7', 'data': '{"done": 1}'}
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from atelier.server.queue import FINAL, JobQueue

__all__ = ["job_events", "sse_message"]


def sse_message(event: str, data: Any, version: int) -> dict[str, str]:
    """One event as sse-starlette sends it: its name, the job version as id, JSON data."""
    return {"event": event, "id": str(version), "data": json.dumps(data)}


async def job_events(request: Request, queue: JobQueue, job_id: str, after: int, poll: float = 0.1):
    """Server-Sent Events of one job: ``progress`` (the job, at each change), ``log`` and
    ``sample`` (training), then ``done`` or ``error``; ends on the final state or when the
    client goes. The id is the job's version: a reconnecting page resumes after it."""
    last = after
    while not await request.is_disconnected():
        job, events = await run_in_threadpool(lambda: (queue.get(job_id), queue.events(job_id, last)))
        if job is None:
            return
        for version, kind, data in events:
            yield sse_message(kind, data, version)
        if job.version > last:
            last = job.version
            if job.status in FINAL:
                yield sse_message("done" if job.status == "done" else "error", job.public(), job.version)
                return
            yield sse_message("progress", job.public(), job.version)
        await asyncio.sleep(poll)

