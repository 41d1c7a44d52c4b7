"""The studio's REST API through FastAPI's TestClient: listings, submission checks, results,
events, cancellation, limits and the security guard."""

from __future__ import annotations


import numpy as np
import pytest
from fastapi.testclient import TestClient

from atelier.image import load_image
from atelier.server.app import StudioConfig, create_app

from tests.server.studio import BASE, png_bytes, submit, wait_for


@pytest.fixture
def client(tmp_path):
    """An app with no worker: jobs queue and stay queued."""
    with TestClient(create_app(StudioConfig(home=tmp_path, workers=0, max_queued=3)), base_url=BASE) as c:
        yield c


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """An app with one worker process (shared by this module's tests that run jobs)."""
    home = tmp_path_factory.mktemp("studio")
    with TestClient(create_app(StudioConfig(home=home, workers=1, threads=1)), base_url=BASE) as c:
        yield c


def test_listings(client):
    tasks = {t["name"]: t for t in client.get("/api/tasks").json()}
    assert {"edit", "upscale", "denoise", "stylize", "inpaint", "caption", "generate", "sample", "train",
            "compare"} <= set(tasks)
    scale = tasks["upscale"]["params"]["properties"]["scale"]
    assert scale["enum"] == [2, 3, 4] and scale["default"] == 4
    assert [i["name"] for i in tasks["inpaint"]["inputs"]] == ["image", "mask", "prompt"]
    assert client.get("/api/tasks/upscale").json()["name"] == "upscale"
    assert client.get("/api/tasks/upscal").status_code == 404
    ops = {o["name"]: o for o in client.get("/api/ops").json()}
    assert ops["gaussian_blur"]["params"]["sigma"]["exclusiveMinimum"] == 0
    assert ops["match_histogram"]["takes_files"]
    models = {m["name"] for m in client.get("/api/models").json()}
    assert {"sr-x4", "denoise"} <= models
    assert "digits" in {d["name"] for d in client.get("/api/datasets").json()}


@pytest.mark.parametrize(
    "task, params, files, fields, message",
    [
        ("upscal", {}, {"image": png_bytes()}, {}, "unknown task"),
        ("upscale", {"scale": 5}, {"image": png_bytes()}, {}, "scale must be one of 2, 3, 4"),
        ("upscale", {"sacle": 2}, {"image": png_bytes()}, {}, "no parameter 'sacle'"),
        ("upscale", {}, {}, {}, "needs the input image"),
        ("upscale", {}, {"image": b"not an image"}, {}, "not an image"),
        ("upscale", {}, {"image": png_bytes(), "mask": png_bytes()}, {}, "has no input 'mask'"),
        ("upscale", {"model": "../../etc/passwd"}, {"image": png_bytes()}, {}, None),
        ("edit", {"pipeline": "invert"}, {"image": png_bytes()}, {}, "unknown op 'invert'"),
        ("edit", {"pipeline": "match_histogram reference=/etc/passwd"}, {"image": png_bytes()}, {},
         "reads an image file"),
        ("edit", {"pipeline": "equalize"}, {"image": png_bytes()}, {"seed": "-1"}, "seed must be"),
        ("train", {"data": "../secret"}, {}, {}, "not a path"),
        ("train", {"settings": "rm -rf"}, {}, {}, "key=value"),
        ("generate", {}, {}, {}, "needs the input prompt"),
    ],
)
def test_bad_submissions_are_one_line_400s(client, task, params, files, fields, message):
    r = submit(client, task, params, files, **fields)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert "\n" not in detail
    if message is not None:
        assert message in detail


def test_params_must_be_a_json_object(client):
    r = client.post("/api/jobs", data={"task": "edit", "params": "{not json"},
                    files={"image": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 400 and "not JSON" in r.json()["detail"]


def test_queue_limit_is_429_and_cancel_resume(client):
    ids = [submit(client, "edit", {"pipeline": "equalize"}, {"image": png_bytes()}).json()["id"] for _ in range(3)]
    r = submit(client, "edit", {"pipeline": "equalize"}, {"image": png_bytes()})
    assert r.status_code == 429
    job = client.post(f"/api/jobs/{ids[0]}/cancel").json()
    assert job["status"] == "cancelled"
    assert client.post(f"/api/jobs/{ids[1]}/resume").status_code == 409  # queued: nothing to resume
    assert client.post(f"/api/jobs/{ids[0]}/resume").json()["status"] == "queued"
    listed = client.get("/api/jobs", params={"status": "queued"}).json()
    assert {j["id"] for j in listed} == set(ids)


def test_upload_limit(tmp_path):
    config = StudioConfig(home=tmp_path, workers=0, max_upload_bytes=2000)
    with TestClient(create_app(config), base_url=BASE) as c:
        big = png_bytes(64, 64)
        assert len(big) > 2000
        r = submit(c, "edit", {"pipeline": "equalize"}, {"image": big})
        assert r.status_code in (400, 413) and "larger" in r.json()["detail"] or "size" in r.json()["detail"]


def test_unknown_ids_and_names_are_404(client):
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/jobs/..%2F..%2Fetc").status_code == 404
    assert client.get("/api/runs/nope").status_code == 404
    assert client.get("/api/runs/x/samples/..%2Fconfig.json").status_code == 404


def test_edit_job_runs_and_its_result_is_served(live):
    source = png_bytes(30, 40, seed=3)
    r = submit(live, "edit", {"pipeline": "flip axis=horizontal"}, {"image": source})
    assert r.status_code == 202, r.text
    job = wait_for(live, r.json()["id"])
    assert job["status"] == "done", job["error"]
    out = live.get(f"/api/jobs/{job['id']}/outputs/image")
    assert out.headers["content-type"] == "image/png"
    assert out.headers["content-security-policy"].startswith("default-src 'self'")
    expected = load_image(source)[:, ::-1]
    np.testing.assert_array_equal(load_image(out.content), expected)
    before = live.get(f"/api/jobs/{job['id']}/inputs/image")
    np.testing.assert_array_equal(load_image(before.content), load_image(source))
    assert live.get(f"/api/jobs/{job['id']}/outputs/other").status_code == 404


def test_upscale_and_caption_jobs(live):
    up = submit(live, "upscale", {"scale": 2}, {"image": png_bytes(20, 24)}).json()
    cap = submit(live, "caption", {}, {"image": png_bytes(48, 48)}).json()
    cmp_ = submit(live, "compare", {}, {"image": png_bytes(), "reference": png_bytes()}).json()
    up, cap, cmp_ = (wait_for(live, j["id"]) for j in (up, cap, cmp_))
    assert up["status"] == "done", up["error"]
    assert up["result"]["outputs"][0]["width"] == 48
    assert cap["status"] == "done", cap["error"]
    assert cap["result"]["text"] and cap["result"]["data"]["words"]
    assert cmp_["result"]["data"]["mse"] == 0.0


def test_events_stream_ends_with_done(live):
    job = submit(live, "edit", {"pipeline": "equalize"}, {"image": png_bytes()}).json()
    events = []
    with live.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
    assert events[-1] == "done"


def test_training_job_streams_losses_and_samples_and_cancels(live):
    settings = "resolution=16 width=8 batch_size=8 log_every=1 checkpoint_every=3"
    job = submit(live, "train", {"model": "dcgan", "data": "digits", "steps": 100000, "settings": settings}).json()
    run = job["params"]["run"]
    assert run and run.startswith("dcgan-")
    kinds = {}
    with live.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
                kinds[kind] = kinds.get(kind, 0) + 1
                if kinds.get("log", 0) >= 3 and kinds.get("sample", 0) >= 1:
                    break
    assert live.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    done = wait_for(live, job["id"], timeout=30)
    assert done["status"] == "cancelled"
    detail = live.get(f"/api/runs/{run}").json()
    assert detail["step"] > 0 and len(detail["log"]) >= 3
    sample = live.get(f"/api/runs/{run}/samples/{detail['samples'][0]}")
    assert sample.headers["content-type"] == "image/png"
    # resumed: the same run continues from its checkpoint
    resumed = live.post(f"/api/jobs/{job['id']}/resume").json()
    assert resumed["status"] == "queued"
    live.post(f"/api/jobs/{job['id']}/cancel")
    wait_for(live, job["id"], timeout=30)


def test_guard_refuses_foreign_hosts_and_cross_site_posts(client):
    assert client.get("/api/health", headers={"host": "evil.example"}).status_code == 421
    r = submit(client, "edit", {"pipeline": "equalize"}, {"image": png_bytes()})
    job_id = r.json()["id"]
    assert client.post(f"/api/jobs/{job_id}/cancel", headers={"origin": "http://evil.example"}).status_code == 403
    assert client.post(f"/api/jobs/{job_id}/cancel", headers={"sec-fetch-site": "cross-site"}).status_code == 403
    assert client.post(f"/api/jobs/{job_id}/cancel", headers={"origin": BASE}).status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "atelier studio"


def test_token_required_beyond_loopback(tmp_path):
    config = StudioConfig(home=tmp_path, host="0.0.0.0", workers=0)
    app = create_app(config)
    assert config.token and len(config.token) >= 16
    with TestClient(app, base_url="http://studio.lan:7860") as c:
        assert c.get("/api/health").status_code == 401
        assert c.get("/api/health", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/health", headers={"authorization": f"Bearer {config.token}"}).status_code == 200
        page = c.get(f"/?token={config.token}")
        assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=Strict" in page.headers["set-cookie"]
        assert c.get("/api/health").status_code == 200  # the cookie now carries it


def test_a_job_past_its_time_limit_is_stopped(tmp_path):
    """A job that runs past ``job_timeout`` has its worker stopped and is marked failed; a new
    worker takes the next job."""
    config = StudioConfig(home=tmp_path, workers=1, threads=1, job_timeout=1.0)
    with TestClient(create_app(config), base_url=BASE) as c:
        slow = submit(c, "stylize", {"model": "optimize", "steps": 2000, "size": 128},
                      {"image": png_bytes(64, 64), "style": png_bytes(64, 64, seed=1)}).json()
        quick = submit(c, "edit", {"pipeline": "equalize"}, {"image": png_bytes()}).json()
        stopped = wait_for(c, slow["id"], timeout=60)
        assert stopped["status"] == "failed" and "time limit of 1 s" in stopped["error"]
        assert wait_for(c, quick["id"], timeout=60)["status"] == "done"
