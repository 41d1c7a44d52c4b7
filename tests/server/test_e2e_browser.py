"""The studio's web page end to end: a real server process, driven by Chromium (Playwright).

Upload -> edit -> before/after; a mask painted with the mouse -> inpaint; a short training with
its live loss chart; queued jobs that survive a SIGKILL of the server and finish in the page.
Screenshots of each state (1280x800, and one at 390x844) go to ``$ATELIER_E2E_ARTIFACTS`` when
set, else to the test's ``tmp_path``.

Needs the Python package ``playwright`` and Debian's Chromium at /usr/bin/chromium (Playwright's
own browser download is not used); the module is skipped without them.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import pytest

from tests.server.studio import ServerProcess, png_bytes, submit, wait_for

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt install chromium)", allow_module_level=True)

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TRAIN_SETTINGS = "resolution=16 width=8 batch_size=8 log_every=5 checkpoint_every=10"


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """One server (1 worker) for the tests that do not restart it."""
    server = ServerProcess(tmp_path_factory.mktemp("studio") / "home", workers=1).start()
    yield server
    server.kill(group=True)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Page:
    """A page of the studio with its console problems collected (CSP violations, exceptions)."""

    def __init__(self, browser, base: str, artifacts: Path, viewport=DESKTOP):
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.base = base
        self.artifacts = artifacts
        self.problems: list[str] = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"exception: {exc}"))
        self.page.on("console", self._console)

    def _console(self, message) -> None:
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "Uncaught" in text):
            self.problems.append(text)

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.base}/{fragment}")
        self.page.wait_for_selector("body.ready")

    def shot(self, name: str, full_page: bool = False) -> Path:
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def wait_job(self, status: str = "done", timeout: float = 90_000) -> str:
        """The shown job's id once it reaches ``status`` (fails on another final status)."""
        self.page.wait_for_function(
            "s => ['done','failed','cancelled','interrupted'].includes(document.querySelector('#job').dataset.status)",
            arg=status, timeout=timeout)
        panel = self.page.locator("#job")
        got = panel.get_attribute("data-status")
        assert got == status, f"job ended {got}: {self.page.locator('.job-error').text_content()}"
        return panel.get_attribute("data-job-id")

    def close(self) -> None:
        self.context.close()
        assert not self.problems, self.problems


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("ATELIER_E2E_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser, studio, artifacts):
    p = Page(browser, studio.url, artifacts)
    yield p
    p.close()


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut) -> Path:
    """A 128x96 photo (scikit-image's astronaut) as a PNG file."""
    from atelier.image import encode_image

    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    path.write_bytes(encode_image(astronaut, "png"))
    return path


def natural_width(page, selector: str) -> int:
    loc = page.locator(selector).first
    loc.wait_for(state="visible")
    page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=loc.element_handle())
    return loc.evaluate("el => el.naturalWidth")


# ---------------------------------------------------------------------------------------- tests
def test_upload_edit_and_compare(page, photo):
    pg = page.page
    page.open("#task=edit")
    pipeline = pg.locator('[data-param="pipeline"] input')
    error = pg.locator("#form-error")
    pipeline.fill("nosuchop")
    pipeline.press("Enter")  # no image yet: the page says so, the server is not asked
    assert "add an image" in error.text_content()
    # drop the file on the drop zone, as a drag from the desktop would
    pg.evaluate("""async ({b64, name}) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: 'image/png'}));
        const zone = document.querySelector('[data-input="image"] .drop');
        for (const type of ['dragenter', 'dragover', 'drop'])
            zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", {"b64": base64.b64encode(photo.read_bytes()).decode(), "name": photo.name})
    assert natural_width(pg, '[data-input="image"] .drop-preview') == 128
    pipeline.press("Enter")  # the server refuses the unknown op: its one-line message shows
    pg.wait_for_function("() => document.querySelector('#form-error').textContent.includes('nosuchop')")
    assert error.is_visible()
    pipeline.fill("")
    # pick ops from the op picker, then submit from the keyboard (Enter in the pipeline field)
    pg.locator(".ops-picker summary").click()
    pg.locator(".ops-picker .chip", has_text="equalize").click()
    pg.locator(".ops-picker .chip", has_text="unsharp").click()
    assert pipeline.input_value() == "equalize | unsharp"
    page.shot("edit-form")
    pipeline.press("Enter")
    job_id = page.wait_job("done")
    assert error.is_hidden()
    assert natural_width(pg, "#job .compare-after") == 128
    assert natural_width(pg, "#job .compare-before img") == 128
    # the slider moves with the keyboard
    slider = pg.locator("#job .compare-range")
    slider.focus()
    for _ in range(10):
        slider.press("ArrowLeft")
    assert pg.locator("#job .compare").evaluate("el => el.style.getPropertyValue('--pos')") == "45%"
    # the job is in the history, done, with a download link
    card = pg.locator(f'#jobs-list [data-job-id="{job_id}"]')
    card.wait_for()
    assert card.get_attribute("data-status") == "done"
    assert card.locator("a[download]").first.get_attribute("href") == f"/api/jobs/{job_id}/outputs/image"
    page.shot("edit-result")
    job = httpx.get(f"{page.base}/api/jobs/{job_id}").json()
    assert job["params"] == {"pipeline": "equalize | unsharp"}


def test_inpaint_with_a_painted_mask(page, photo):
    pg = page.page
    page.open("#task=inpaint")
    pg.locator("#in-image").set_input_files(str(photo))
    pg.locator('[data-param="method"] select').select_option(label="telea")
    canvas = pg.locator("#mask-canvas")
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    # one horizontal stroke across the middle, from 30 % to 70 % of the width
    y = box["y"] + box["height"] * 0.5
    pg.mouse.move(box["x"] + box["width"] * 0.3, y)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * 0.7, y, steps=12)
    pg.mouse.up()
    coverage = float(canvas.get_attribute("data-coverage"))
    assert 0.01 < coverage < 0.6
    # undo and redo the stroke: the undo button works
    pg.get_by_role("button", name="Undo", exact=True).click()
    assert float(canvas.get_attribute("data-coverage")) == 0
    pg.mouse.move(box["x"] + box["width"] * 0.3, y)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * 0.7, y, steps=12)
    pg.mouse.up()
    page.shot("inpaint-mask")
    pg.locator("#submit").click()
    job_id = page.wait_job("done")
    assert natural_width(pg, "#job .compare-after") == 128
    page.shot("inpaint-result")

    from atelier.image import load_image

    data = httpx.get(f"{page.base}/api/jobs/{job_id}/inputs/mask").content
    mask = load_image(data)
    assert mask.shape[:2] == (96, 128)
    on = (mask[..., -1] if mask.ndim == 3 and mask.shape[2] == 4 else mask.reshape(96, 128, -1).max(axis=2)) > 127
    assert on[48, 40:88].all(), "the stroke's pixels are not in the mask"
    assert not on[:20].any() and not on[-20:].any(), "the mask has pixels far from the stroke"
    assert not on[:, :25].any() and not on[:, -25:].any()
    # an opaque RGB reading of the mask says the same (white where painted, black elsewhere)
    grey = mask[..., :3].max(axis=2) if mask.ndim == 3 else mask
    assert ((grey > 127) == on).all()

    # the same page on a phone: one column, nothing wider than the screen
    pg.set_viewport_size(PHONE)
    pg.wait_for_timeout(300)
    assert pg.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    page.shot("inpaint-result-phone", full_page=True)


def test_training_dashboard_plots_the_loss(page):
    pg = page.page
    page.open("#task=train")
    pg.locator('[data-param="model"] select').select_option(label="vae")
    pg.locator('[data-param="data"] input').fill("digits")
    pg.locator('[data-param="steps"] input').fill("20")
    pg.locator('[data-param="settings"] input').fill(TRAIN_SETTINGS)
    pg.locator("#submit").click()
    pg.wait_for_selector("#job .chart-canvas")
    pg.wait_for_function("() => Number(document.querySelector('#job .chart-canvas').dataset.points) > 1", timeout=90_000)
    series = pg.locator("#job .chart-canvas").get_attribute("data-series").split(",")
    assert series and "step" not in series and "images_per_s" not in series
    job_id = page.wait_job("done", timeout=120_000)
    assert int(pg.locator("#job .chart-canvas").get_attribute("data-points")) >= 4  # steps 5, 10, 15, 20
    assert natural_width(pg, "#job .sample-img") > 0
    page.shot("train-done")
    job = httpx.get(f"{page.base}/api/jobs/{job_id}").json()
    run = job["result"]["data"]["run"]
    # the run is listed, and opening it shows its whole curve again
    pg.get_by_role("tab", name="Training runs", exact=True).click()
    pg.locator(f'#runs-list [data-run="{run}"] button').click()
    pg.wait_for_function("() => Number(document.querySelector('#job .chart-canvas')?.dataset.points) >= 4")
    page.shot("train-run")


def test_queued_jobs_survive_a_server_restart(browser, server_factory, artifacts, tmp_path):
    server = server_factory(tmp_path / "home", workers=1).start()
    page = Page(browser, server.url, artifacts)
    pg = page.page
    page.open("#task=edit")
    client = httpx.Client(base_url=server.url, timeout=10)
    train = submit(client, "train", {"model": "dcgan", "data": "digits", "steps": 100000, "settings": TRAIN_SETTINGS}).json()
    edits = [submit(client, "edit", {"pipeline": "gaussian_blur sigma=2 | equalize"}, {"image": png_bytes(48, 64, seed=i)}).json()["id"]
             for i in range(3)]
    wait_for(client, train["id"], timeout=60, states=("running",))  # the worker holds it: the edits wait
    pg.locator(f'#jobs-list [data-job-id="{edits[0]}"]').wait_for()
    pg.locator(f'#jobs-list [data-job-id="{train["id"]}"] button.job-open').click()
    pg.wait_for_selector('#job[data-status="running"]')
    assert all(client.get(f"/api/jobs/{i}").json()["status"] == "queued" for i in edits)
    page.shot("restart-before")

    server.kill()
    pg.wait_for_selector("#server-status.offline", timeout=20_000)
    page.shot("restart-offline")
    server.start()
    for job_id in edits:  # the page's list shows them finished, without a reload
        pg.wait_for_selector(f'#jobs-list [data-job-id="{job_id}"][data-status="done"]', timeout=90_000)
    pg.wait_for_selector(f'#jobs-list [data-job-id="{train["id"]}"][data-status="interrupted"]')
    pg.wait_for_selector('#job[data-status="interrupted"]')
    assert pg.locator("#server-status").get_attribute("class") == "server-status"
    page.shot("restart-after")
    # resume the cut training from the page, then cancel it there
    pg.get_by_role("button", name="Resume training", exact=True).click()
    pg.wait_for_selector('#job[data-status="running"]', timeout=60_000)
    pg.get_by_role("button", name="Cancel", exact=True).click()
    pg.wait_for_selector('#job[data-status="cancelled"]', timeout=30_000)
    page.close()
    server.kill()

    from atelier.server.queue import JobQueue

    queue = JobQueue(tmp_path / "home" / "studio.db")
    assert [queue.get(i).completions for i in edits] == [1, 1, 1]


def test_page_assets_pass_the_content_security_policy(studio):
    """No inline script or style in the page (the CSP forbids them), and every asset it names exists."""
    import re

    html = httpx.get(studio.url + "/").text
    assert "<script>" not in html and " style=" not in html and "<style" not in html
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert httpx.get(studio.url + asset).status_code == 200, asset
    static = Path(__file__).resolve().parents[2] / "src" / "atelier" / "server" / "static"
    for js in static.glob("*.js"):
        text = js.read_text()
        assert "setAttribute(\"style\"" not in text and "innerHTML" not in text and "eval(" not in text, js.name


class TokenServer(ServerProcess):
    """A server that needs a token (its health check sends it)."""

    def __init__(self, home: Path, token: str):
        super().__init__(home, workers=0, extra=("--token", token))
        self.token = token

    def start(self, timeout: float = 60.0) -> "TokenServer":
        import subprocess
        import sys
        import time

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "atelier.server", "--home", str(self.home), "--port", str(self.port),
             "--workers", "0", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc.poll() is None, "the server exited"
            try:
                if httpx.get(self.url + "/api/health", headers={"authorization": f"Bearer {self.token}"},
                             timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not answer in time")


def test_token_cookie_carries_fetches_and_events(browser, artifacts, tmp_path):
    """Opened as /?token=..., the page works on the cookie alone (fetch, upload, EventSource) and
    takes the token out of the address bar."""
    token = "e2e-token-0123456789abcdef"
    server = TokenServer(tmp_path / "home", token).start()
    try:
        page = Page(browser, server.url, artifacts)
        pg = page.page
        streams = []
        pg.on("response", lambda r: streams.append(r.status) if "/events" in r.url else None)
        assert pg.goto(server.url + "/").status == 401  # no token, no page
        page.open(f"?token={token}#task=compare")
        assert "token" not in pg.url and pg.url.endswith("#task=compare")
        pg.locator("#in-image").set_input_files(str(_png(tmp_path / "a.png", 1)))
        pg.locator("#in-reference").set_input_files(str(_png(tmp_path / "b.png", 2)))
        pg.locator("#submit").click()
        pg.wait_for_selector('#job[data-status="queued"]')  # no worker: it waits, and says so
        assert "Waiting" in pg.locator("#job .stage").text_content()
        pg.get_by_role("button", name="Cancel", exact=True).click()  # a POST on the cookie
        pg.wait_for_selector('#job[data-status="cancelled"]')
        assert streams and all(status == 200 for status in streams), streams  # the event stream too
        page.close()
    finally:
        server.kill(group=True)


def _png(path: Path, seed: int) -> Path:
    path.write_bytes(png_bytes(24, 32, seed=seed))
    return path
