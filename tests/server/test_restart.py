"""A real server process, killed with SIGKILL in the middle of its queue and started again on
the same home: every accepted job completes exactly once, none is lost."""

from __future__ import annotations

import time

import httpx

from tests.server.studio import png_bytes, submit, wait_for


def test_sigkill_mid_queue_loses_nothing_and_runs_nothing_twice(server_factory, tmp_path):
    server = server_factory(tmp_path / "home", workers=1).start()
    client = httpx.Client(base_url=server.url, timeout=10)
    ids = []
    for i in range(6):
        r = submit(client, "edit", {"pipeline": "gaussian_blur sigma=2 | equalize"}, {"image": png_bytes(64, 64, seed=i)})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    long = submit(client, "train", {"model": "dcgan", "data": "digits", "steps": 100000,
                                    "settings": "resolution=16 width=8 batch_size=8 log_every=1 checkpoint_every=2"})
    ids.append(long.json()["id"])
    # kill while jobs are still queued (the worker takes a few seconds to start)
    time.sleep(0.5)
    server.kill()
    with httpx.Client(base_url=server.url, timeout=1) as c:
        try:
            c.get("/api/health")
            raise AssertionError("the server still answers after SIGKILL")
        except httpx.HTTPError:
            pass

    server.start()
    client = httpx.Client(base_url=server.url, timeout=10)
    jobs = [wait_for(client, i, timeout=90, states=("done", "failed", "interrupted", "cancelled")) for i in ids[:-1]]
    assert [j["status"] for j in jobs] == ["done"] * 6, [j["error"] for j in jobs]
    # the training job either had not started (then it runs now) or was cut (then it waits, resumable)
    train = client.get(f"/api/jobs/{ids[-1]}").json()
    if train["status"] == "interrupted":
        assert client.post(f"/api/jobs/{ids[-1]}/resume").json()["status"] == "queued"
    client.post(f"/api/jobs/{ids[-1]}/cancel")
    wait_for(client, ids[-1], timeout=30)
    server.kill()

    from atelier.server.queue import JobQueue

    queue = JobQueue(tmp_path / "home" / "studio.db")
    assert [queue.get(i).completions for i in ids[:-1]] == [1] * 6


def test_training_cut_by_a_restart_is_interrupted_and_resumes_exactly(server_factory, tmp_path):
    server = server_factory(tmp_path / "home", workers=1).start()
    client = httpx.Client(base_url=server.url, timeout=10)
    settings = "resolution=16 width=8 batch_size=8 log_every=1 checkpoint_every=2"
    job = submit(client, "train", {"model": "dcgan", "data": "digits", "steps": 100000, "settings": settings}).json()
    end = time.monotonic() + 60
    while time.monotonic() < end:  # until it has a checkpoint
        runs = client.get("/api/runs").json()
        if runs and runs[0]["step"] >= 2:
            break
        time.sleep(0.2)
    server.kill()
    server.start()
    client = httpx.Client(base_url=server.url, timeout=10)
    cut = client.get(f"/api/jobs/{job['id']}").json()
    assert cut["status"] == "interrupted"
    step = client.get("/api/runs").json()[0]["step"]
    assert client.post(f"/api/jobs/{job['id']}/resume").json()["status"] == "queued"
    end = time.monotonic() + 60
    first = None
    while time.monotonic() < end:
        now = client.get(f"/api/jobs/{job['id']}").json()
        if now["status"] == "running" and now["progress"]["total"] > 0:
            first = now["progress"]["done"]  # the run's first report is the step it resumed at
            break
        time.sleep(0.05)
    assert first is not None and first >= step  # it went on from the checkpoint, not from 0
    client.post(f"/api/jobs/{job['id']}/cancel")
    assert wait_for(client, job["id"], timeout=30)["status"] == "cancelled"
