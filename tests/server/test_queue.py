"""The job queue: claims are atomic, stale attempts change nothing, recovery after a crash."""

from __future__ import annotations

import threading

import pytest

from atelier.server.queue import JobQueue, QueueFull


@pytest.fixture
def queue(tmp_path):
    return JobQueue(tmp_path / "jobs.db", max_queued=50)


def test_claims_in_submission_order(queue):
    ids = [queue.submit("edit", {}, {}).id for _ in range(3)]
    assert [queue.claim("w").id for _ in range(3)] == ids
    assert queue.claim("w") is None


def test_concurrent_claims_never_share_a_job(tmp_path):
    """Eight threads, each with its own connection, claim 40 jobs: each job exactly once."""
    queue = JobQueue(tmp_path / "jobs.db", max_queued=100)
    ids = {queue.submit("edit", {}, {}).id for _ in range(40)}
    got, lock = [], threading.Lock()

    def worker(name):
        q = JobQueue(tmp_path / "jobs.db")
        while (job := q.claim(name)) is not None:
            with lock:
                got.append(job.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(ids)


def test_full_queue_refuses(tmp_path):
    queue = JobQueue(tmp_path / "jobs.db", max_queued=2)
    queue.submit("edit", {}, {})
    queue.submit("edit", {}, {})
    with pytest.raises(QueueFull):
        queue.submit("edit", {}, {})
    queue.claim("w")  # a running job no longer waits
    queue.submit("edit", {}, {})


def test_stale_attempt_cannot_finish(queue):
    job = queue.submit("edit", {}, {})
    first = queue.claim("w1")
    assert queue.recover() == 1  # the server restarted: the job waits again
    second = queue.claim("w2")
    assert second.attempt == first.attempt + 1
    assert not queue.finish(job.id, first.attempt, {"outputs": []})
    assert not queue.progress(job.id, first.attempt, 1, 2)
    assert queue.finish(job.id, second.attempt, {"outputs": []})
    assert queue.get(job.id).completions == 1


def test_recover_interrupts_long_jobs_and_resume_requeues(queue):
    train = queue.submit("train", {"run": "r"}, {}, long=True)
    edit = queue.submit("edit", {}, {})
    queue.claim("w")
    queue.claim("w")
    assert queue.recover() == 2
    assert queue.get(train.id).status == "interrupted"
    assert queue.get(edit.id).status == "queued"
    assert queue.requeue(train.id).status == "queued"
    assert queue.requeue(edit.id).status == "queued"  # unchanged: it was not interrupted


def test_cancel_queued_and_running(queue):
    waiting = queue.submit("edit", {}, {})
    running = queue.submit("edit", {}, {})
    queue.claim("w")  # takes `waiting` (the oldest)
    assert queue.cancel(running.id).status == "cancelled"
    job = queue.cancel(waiting.id)
    assert job.status == "running" and job.cancel_at is not None
    assert queue.progress(waiting.id, job.attempt, 1, 2) is False  # the worker is told to stop


def test_events_are_versioned(queue):
    job = queue.submit("train", {}, {}, long=True)
    claimed = queue.claim("w")
    assert queue.add_event(job.id, claimed.attempt, "log", {"step": 1, "loss": 0.5})
    assert queue.add_event(job.id, claimed.attempt, "log", {"step": 2, "loss": 0.4})
    events = queue.events(job.id)
    assert [e[2]["step"] for e in events] == [1, 2]
    assert queue.events(job.id, after=events[0][0]) == events[1:]
