"""User mistakes on the released commands: each is one ``error:`` line, exit code 2, and
nothing written (issue 11). Also the basics that were missing: --version, -h, `atelier
weights`, progress lines when stderr is not a terminal, the denoiser's estimated sigma."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from atelier.image import save_image
from atelier.models import build_model, save_model
from tests.cli.test_cli import atelier


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (to prove nothing was written or changed)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _one_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def work(tmp_path, astronaut, monkeypatch):
    """A working folder (the cwd) with photo.jpg, b.jpg, photos/{a,c}.png and a tiny generator run."""
    monkeypatch.chdir(tmp_path)
    small = astronaut[:32, :40]
    save_image(tmp_path / "photo.jpg", small)
    save_image(tmp_path / "b.jpg", small[::-1])
    save_image(tmp_path / "photos" / "a.png", small)
    save_image(tmp_path / "photos" / "c.png", small[:, ::-1])
    torch.manual_seed(0)
    save_model(build_model("dcgan", {"resolution": 16, "width": 8, "latent_dim": 8}), tmp_path / "run")
    return tmp_path


# ----------------------------------------------------------------------------- 1. parent is a file

PARENT_IS_FILE = {
    "edit": ["edit", "photo.jpg", "-o", "photo.jpg/x.png", "equalize"],
    "upscale": ["upscale", "photo.jpg", "-o", "photo.jpg/x.png"],
    "denoise": ["denoise", "photo.jpg", "-o", "photo.jpg/x.png"],
    "inpaint": ["inpaint", "photo.jpg", "--box", "2,2,8,8", "-o", "photo.jpg/x.png"],
    "stylize": ["stylize", "photo.jpg", "--model", "style-scream", "-o", "photo.jpg/x.png"],
    "sample": ["sample", "run", "-n", "2", "-o", "photo.jpg/s.png"],
    "sample --each": ["sample", "run", "-n", "2", "--each", "photo.jpg/samples"],
    "edit folder": ["edit", "photos", "-o", "photo.jpg/out", "equalize"],
}


@pytest.mark.parametrize("case", list(PARENT_IS_FILE))
def test_output_under_a_file(work, capsys, case):
    before = _tree(work)
    assert atelier(*PARENT_IS_FILE[case]) == 2
    _one_error(capsys, "cannot write to photo.jpg/", "photo.jpg is a file, not a folder")
    assert _tree(work) == before


# ----------------------------------------------------------------------------- 2. devices

DEVICE_COMMANDS = {
    "upscale": ["upscale", "photo.jpg", "-o", "x.png"],
    "denoise": ["denoise", "photo.jpg", "-o", "x.png"],
    "stylize --model": ["stylize", "photo.jpg", "--model", "style-scream", "-o", "x.png"],
    "stylize --style": ["stylize", "photo.jpg", "--style", "b.jpg", "--steps", "1", "-o", "x.png"],
    "inpaint": ["inpaint", "photo.jpg", "--box", "2,2,8,8", "--method", "inpaint", "-o", "x.png"],
    "sample": ["sample", "run", "-n", "2", "-o", "x.png"],
    "evaluate": ["evaluate", "run", "--data", "digits", "-n", "2"],
    "evaluate sr": ["evaluate", "sr", "--data", "photos"],
}


@pytest.mark.parametrize("case", list(DEVICE_COMMANDS))
def test_unknown_device(work, capsys, case):
    before = _tree(work)
    assert atelier(*DEVICE_COMMANDS[case], "--device", "tpu") == 2
    _one_error(capsys, "unknown device 'tpu'", "use auto, cpu, cuda")
    assert _tree(work) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("case", list(DEVICE_COMMANDS))
def test_cuda_without_a_gpu_says_so(work, capsys, case):
    """Not 'cannot load the shipped weights ... re-export it' (the old, wrong advice)."""
    before = _tree(work)
    assert atelier(*DEVICE_COMMANDS[case], "--device", "cuda") == 2
    line = _one_error(capsys, "no CUDA GPU is available")
    assert "safetensors" not in line and "re-export" not in line
    assert _tree(work) == before


def test_device_default_and_help_are_the_same_everywhere():
    from atelier.cli.main import app
    from atelier.devices import DEVICE_HELP

    seen = 0
    for command in app.registered_commands:
        import inspect

        for param in inspect.signature(command.callback).parameters.values():
            info = param.default
            if getattr(info, "param_decls", None) and "--device" in info.param_decls:
                assert info.default == "auto", command.callback.__name__
                assert DEVICE_HELP in info.help, command.callback.__name__
                seen += 1
    assert seen >= 6  # upscale, denoise, stylize, inpaint, sample, evaluate


# ----------------------------------------------------------------------------- 3. file or folder

FILE_OR_FOLDER = {
    "gif": (["edit", "photo.jpg", "-o", "x.gif", "equalize"], "atelier cannot write GIF files"),
    "unknown suffix": (["edit", "photo.jpg", "-o", "x.txt", "equalize"], ".txt is not an image format"),
    "several inputs": (["edit", "photo.jpg", "b.jpg", "-o", "one.png", "equalize"],
                       "output one.png names a file, but 2 images would be written; give a folder"),
    "folder input": (["edit", "photos", "-o", "new.png", "equalize"],
                     "output new.png names a file, but 2 images would be written; give a folder"),
    "glob input": (["edit", "photos/*.png", "-o", "new.webp", "equalize"], "names a file"),
    "folder to gif": (["edit", "photos", "-o", "new.gif", "equalize"], "names a file"),
    "--format gif": (["edit", "photos", "-o", "out", "--format", "gif", "equalize"],
                     "format gif: atelier cannot write GIF files"),
    "--format disagrees": (["edit", "photo.jpg", "-o", "x.png", "--format", "jpg", "equalize"],
                           "output x.png and format jpg disagree"),
    "upscale gif": (["upscale", "photo.jpg", "-o", "x.gif"], "atelier cannot write GIF files"),
    "upscale several": (["upscale", "photo.jpg", "b.jpg", "-o", "one.png"], "names a file"),
    "denoise folder": (["denoise", "photos", "-o", "new.png"], "names a file"),
    "stylize gif": (["stylize", "photo.jpg", "--model", "style-scream", "-o", "x.gif"], "cannot write GIF"),
    "inpaint no suffix": (["inpaint", "photo.jpg", "--box", "2,2,8,8", "-o", "out"], "give a file name ending in"),
    "sample gif": (["sample", "run", "-n", "2", "-o", "grid.gif"], "cannot write GIF"),
}


@pytest.mark.parametrize("case", list(FILE_OR_FOLDER))
def test_output_names_the_wrong_kind(work, capsys, case):
    args, message = FILE_OR_FOLDER[case]
    before = _tree(work)
    assert atelier(*args) == 2
    _one_error(capsys, message)
    assert _tree(work) == before
    assert not [p for p in work.iterdir() if p.is_dir() and p.name not in ("photos", "run")]


def test_right_outputs_still_work(work, capsys):
    assert atelier("edit", "photo.jpg", "b.jpg", "-o", "out", "equalize") == 0
    assert sorted(p.name for p in (work / "out").iterdir()) == ["b.jpg", "photo.jpg"]
    assert atelier("edit", "photos", "-o", "out.v2", "equalize", "--format", "webp") == 0
    assert sorted(p.name for p in (work / "out.v2").iterdir()) == ["a.webp", "c.webp"]
    assert atelier("edit", "photo.jpg", "-o", "single/", "equalize") == 0
    assert (work / "single" / "photo.jpg").is_file()
    assert atelier("edit", "photo.jpg", "-o", "x.jpeg", "--format", "jpg", "equalize") == 0


# ----------------------------------------------------------------------------- 4. wording


def test_data_that_is_a_file(work, capsys):
    assert atelier("evaluate", "sr", "--data", "photo.jpg") == 2
    _one_error(capsys, "data photo.jpg is a file", "folder of images")
    from atelier.data import make_dataset
    from atelier.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="photo.jpg is a file; data takes a folder of images, an IDX file pair or a dataset name"):
        make_dataset("photo.jpg", size=32)


@pytest.mark.parametrize(
    "option,value,message",
    [("--optimizer", "sgd", "--optimizer must be lbfgs or adam, got 'sgd'"),
     ("--init", "zeros", "--init must be content or noise, got 'zeros'")],
)
def test_gatys_options_have_their_own_messages(work, capsys, option, value, message):
    assert atelier("stylize", "photo.jpg", "--style", "b.jpg", option, value, "-o", "x.png") == 2
    line = _one_error(capsys, message)
    assert ("init" in line) != ("optimizer" in line)
    assert not (work / "x.png").exists()


def test_edit_help_says_threads(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    assert atelier("edit", "--help") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "one thread each" in out and "process" not in out


def test_every_op_parameter_has_help(capsys):
    assert atelier("ops", "--json") == 0
    ops = json.loads(capsys.readouterr().out)
    empty = [f"{o['name']}.{p['name']}" for o in ops for p in o["params"] if not p["help"].strip()]
    assert empty == []


def test_evaluate_against_names_each_set_with_its_size(work, capsys, monkeypatch):
    """--data A (100 images) against --against B (300): each count beside its own set."""
    import atelier.tasks.evaluate as ev

    seen = {}

    def fake_real(data, against, **kw):
        seen.update(data=data, against=against)
        return ev.EvaluationResult({"fid": 1.0}, "toy", n_fake=300, n_real=100)

    monkeypatch.setattr(ev, "evaluate_real", fake_real)
    monkeypatch.setenv("COLUMNS", "300")
    assert atelier("evaluate", "--data", "digits", "--split", "0:100", "--against", "shapes",
                   "--metrics", "fid") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert seen == {"data": "digits", "against": "shapes"}
    assert "digits[0:100] (100 images) against shapes (300 images)" in out


# ----------------------------------------------------------------------------- 5. basics


def test_version(capsys):
    from importlib.metadata import version

    assert atelier("--version") == 0
    assert capsys.readouterr().out.strip() == f"atelier {version('atelier')}"


def test_dash_h_on_every_command(capsys):
    from atelier.cli.main import app

    assert atelier("-h") == 0
    assert "Usage" in capsys.readouterr().out
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert {"edit", "upscale", "weights", "train", "sample"} <= set(names)
    for name in names:
        assert atelier(name, "-h") == 0, name
        assert "Usage" in capsys.readouterr().out, name


def test_weights_lists_every_shipped_model(capsys):
    from atelier.pretrained import PRETRAINED

    assert atelier("weights", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(PRETRAINED)
    for r in rows:
        assert r["task"] and r["summary"] and r["use"].startswith("atelier ")
        if r["installed"]:
            assert 0 < r["size_mb"] < 50 and r["parameters"] > 1000
    assert atelier("weights") == 0
    assert "sr-x4" in capsys.readouterr().out


def test_progress_lines_when_not_a_terminal(capsys, monkeypatch):
    """Piped (stderr is not a TTY): plain lines, label, count, percent, rate and ETA."""
    import atelier.cli.progress as progress

    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0.0)
    with progress.progress_bar("upscaling", total=4) as advance:
        for _ in range(4):
            advance()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("upscaling: 1/4 (25 %), ") and "ETA" in lines[0]
    assert lines[-1].startswith("upscaling: 4/4 (100 %)")
    monkeypatch.setenv("RANK", "1")  # torchrun's other ranks stay quiet
    with progress.progress_bar("training", total=2) as advance:
        advance(2)
    assert capsys.readouterr().err == ""


def test_progress_is_quiet_for_short_piped_runs(capsys):
    from atelier.cli.progress import progress_bar

    with progress_bar("editing", total=3) as advance:
        advance(3)
    assert capsys.readouterr().err == ""


def test_denoise_auto_says_the_estimated_sigma(work, capsys):
    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 20, (40, 48, 3)), 0, 255).astype(np.uint8)
    save_image(work / "noisy.png", noisy)
    save_model(build_model("dncnn", {"width": 4, "depth": 3, "noise_map": True}), work / "dn")
    assert atelier("denoise", "noisy.png", "-o", "clean.png", "--model", "dn") == 0
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "estimated noise sigma" in line)
    assert line.startswith("noisy.png: estimated noise sigma ")
    assert abs(float(line.rsplit(" ", 1)[1]) - 20) < 2
    assert atelier("denoise", "noisy.png", "-o", "c2.png", "--model", "dn", "--sigma", "20") == 0
    assert "estimated" not in capsys.readouterr().err


def test_denoise_api_returns_the_estimate():
    from atelier.tasks.restore import denoise, estimate_noise_sigma

    rng = np.random.default_rng(1)
    noisy = np.clip(128 + rng.normal(0, 15, (32, 32, 3)), 0, 255).astype(np.uint8)
    out, sigma = denoise(noisy, "auto", model="nlm", return_sigma=True)
    assert out.shape == noisy.shape and sigma == pytest.approx(estimate_noise_sigma(noisy))
    assert denoise(noisy, 10, model="nlm", return_sigma=True)[1] == 10.0


def test_batch_names_a_bad_file_once(work, capsys):
    (work / "photos" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert atelier("edit", "photos", "-o", "out", "flip", "-j", "1") == 1
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "broken.png" in line)
    assert line.startswith("skipped photos/broken.png: ") and line.count("broken.png") == 1
    assert "2 of 3 images written to out" in err


def test_single_bad_file_is_one_error_line(work, capsys):
    (work / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert atelier("edit", "broken.png", "-o", "out.png", "flip") == 2
    line = _one_error(capsys, "broken.png")
    assert line.count("broken.png") == 1
    assert not (work / "out.png").exists()
