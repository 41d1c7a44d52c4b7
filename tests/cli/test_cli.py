"""The `atelier` command end to end: edit, ops, compare, info, and the one-line error rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from atelier.cli.main import run
from atelier.image import load_image, save_image
from tests.test_image import bomb_png


def atelier(*args: str) -> int:
    """Run the CLI in-process; return its exit code."""
    try:
        run([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def photos(tmp_path, astronaut) -> Path:
    """A folder tree of 3 photos: a.png, sub/b.jpg, sub/deeper/c.png."""
    root = tmp_path / "photos"
    save_image(root / "a.png", astronaut)
    save_image(root / "sub" / "b.jpg", astronaut[::-1])
    save_image(root / "sub" / "deeper" / "c.png", astronaut[:, ::-1])
    return root


def test_edit_one_file(tmp_path, photos, astronaut):
    out = tmp_path / "out.png"
    assert atelier("edit", photos / "a.png", "-o", out, "rotate angle=90 | flip axis=horizontal") == 0
    np.testing.assert_array_equal(load_image(out), np.rot90(astronaut)[:, ::-1])


def test_edit_folder_keeps_tree_and_format(tmp_path, photos):
    out = tmp_path / "out"
    assert atelier("edit", photos, "-o", out, "flip axis=vertical", "--format", "png", "-j", "2") == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["a.png", "sub/b.png", "sub/deeper/c.png"]


def test_edit_glob(tmp_path, photos):
    out = tmp_path / "out"
    assert atelier("edit", str(photos / "sub" / "**" / "*.png"), "-o", out, "flip") == 0
    assert [p.name for p in out.iterdir()] == ["c.png"]


def test_edit_bad_file_in_batch_is_skipped(tmp_path, photos, capsys):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    assert atelier("edit", photos, "-o", out, "flip", "-j", "1") == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and "3 of 4 images" in err
    assert not (out / "broken.png").exists()
    assert len(list(out.rglob("*.*"))) == 3


@pytest.mark.parametrize(
    "pipeline,message",
    [
        ("sparkle", "unknown op 'sparkle'"),
        ("rotate angle=abc", "cannot read 'abc'"),
        ("flip axis=diagonal", "must be one of"),
        ("rotate nope=1", "no parameter 'nope'"),
        ("flip |", "empty stage"),
    ],
)
def test_edit_bad_pipeline_is_one_line_exit_2(tmp_path, photos, capsys, pipeline, message):
    out = tmp_path / "out.png"
    assert atelier("edit", photos / "a.png", "-o", out, pipeline) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not out.exists()


def test_edit_out_of_range_parameter(tmp_path, photos, capsys):
    out = tmp_path / "out.png"
    assert atelier("edit", photos / "a.png", "-o", out, "gaussian_blur sigma=-1") == 2
    assert "sigma" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("kind", ["empty", "truncated", "text", "bomb"])
def test_edit_bad_single_input_exit_2_no_output(tmp_path, photos, capsys, kind):
    src = tmp_path / f"bad_{kind}.png"
    good = (photos / "a.png").read_bytes()
    src.write_bytes({"empty": b"", "truncated": good[: len(good) // 3], "text": b"hello", "bomb": bomb_png()}[kind])
    out = tmp_path / "out.png"
    assert atelier("edit", src, "-o", out, "flip") == 2
    assert src.name in capsys.readouterr().err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files


def test_edit_refuses_to_overwrite(tmp_path, photos, capsys):
    src = photos / "a.png"
    before = src.read_bytes()
    assert atelier("edit", src, "-o", src, "flip") == 2
    assert "is an input" in capsys.readouterr().err
    assert src.read_bytes() == before
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    assert atelier("edit", src, "-o", out, "flip") == 2
    assert out.read_bytes() == b"keep me"
    assert atelier("edit", src, "-o", out, "flip", "--overwrite") == 0
    assert load_image(out).shape[2] == 3


def test_edit_missing_input(tmp_path, capsys):
    assert atelier("edit", tmp_path / "none.png", "-o", tmp_path / "o.png", "flip") == 2
    assert "no such file" in capsys.readouterr().err


def test_ops_lists_registry(capsys):
    from atelier.ops import list_ops

    assert atelier("ops", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [o["name"] for o in listed] == [s.name for s in list_ops()]
    rotate = next(o for o in listed if o["name"] == "rotate")
    assert any(p["name"] == "angle" and p["type"] == "float" for p in rotate["params"])
    assert atelier("ops") == 0
    assert "gaussian_blur" in capsys.readouterr().out


def test_compare_files_and_folders(tmp_path, photos, capsys):
    assert atelier("compare", photos / "a.png", photos / "a.png", "--json") == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["psnr"] == "inf" and row["ssim"] == pytest.approx(1.0)
    other = tmp_path / "other"
    assert atelier("edit", photos, "-o", other, "gaussian_blur sigma=1") == 0
    capsys.readouterr()
    code = atelier(
        "compare", photos, other, "--metrics", "psnr,ssim,mse", "--channel", "y", "--crop", "4", "--json"
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["a.png", "sub/b.jpg", "sub/deeper/c.png", "mean"]
    assert 20 < rows[-1]["psnr"] < 60 and 0 < rows[-1]["ssim"] < 1
    assert atelier("compare", photos / "a.png", other / "a.png") == 0
    assert "psnr" in capsys.readouterr().out


def test_compare_errors(tmp_path, photos, astronaut, capsys):
    save_image(tmp_path / "small.png", astronaut[:10, :10])
    assert atelier("compare", photos / "a.png", tmp_path / "small.png") == 2
    assert atelier("compare", photos / "a.png", photos / "a.png", "--metrics", "lpips") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error:") for line in err)


def test_info(tmp_path, capsys):
    save_image(tmp_path / "g.png", np.zeros((3, 5), np.uint16))
    assert atelier("info", tmp_path / "g.png", "--json") == 0
    meta = json.loads(capsys.readouterr().out)
    assert (meta["width"], meta["height"], meta["bit_depth"], meta["format"]) == (5, 3, 16, "PNG")
    assert atelier("info", tmp_path / "g.png") == 0
    assert "5x3" in capsys.readouterr().out
    assert atelier("info", tmp_path / "missing.png") == 2


def test_console_script_installed():
    """The installed `atelier` entry point runs in a fresh process."""
    exe = Path(sys.executable).with_name("atelier")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "atelier"]
    result = subprocess.run(cmd + ["info", "/nonexistent.png"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: /nonexistent.png: no such file"
    assert "Traceback" not in result.stderr


def test_edit_keeps_16bit_and_alpha(tmp_path):
    deep = np.random.default_rng(0).integers(0, 65535, (20, 30, 3), endpoint=True).astype(np.uint16)
    save_image(tmp_path / "deep.png", deep)
    assert atelier("edit", tmp_path / "deep.png", "-o", tmp_path / "deep_out.png", "flip") == 0
    out = load_image(tmp_path / "deep_out.png")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, deep[:, ::-1])
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 3] = np.arange(30, dtype=np.uint8)[None, :] * 8
    save_image(tmp_path / "rgba.png", rgba)
    assert atelier("edit", tmp_path / "rgba.png", "-o", tmp_path / "rgba_out.png", "brightness amount=0.5") == 0
    out = load_image(tmp_path / "rgba_out.png")
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    assert atelier("edit", tmp_path / "rgba.png", "-o", tmp_path / "flat.jpg", "flip") == 0
    assert load_image(tmp_path / "flat.jpg").shape == (20, 30, 3)


def test_edit_one_pixel_image(tmp_path):
    save_image(tmp_path / "one.png", np.array([[[10, 20, 30]]], np.uint8))
    assert atelier("edit", tmp_path / "one.png", "-o", tmp_path / "o.png", "unsharp threshold=2 | rotate angle=45") == 0
    assert load_image(tmp_path / "o.png").ndim == 3


def test_allocator_tuning_on_glibc():
    import platform

    from atelier.cli.memory import tune_allocator

    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert tune_allocator() is expected
    assert tune_allocator() is expected  # idempotent


@pytest.mark.parametrize(
    "args,message",
    [
        (["edit", "a.png", "flip"], "Missing option '--output'"),
        (["edit", "a.png", "-o", "b.png", "flip", "--quality", "0"], "--quality"),
        (["sparkle"], "No such command"),
        (["compare", "a.png"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys, args, message):
    assert atelier(*args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_help_exits_0(capsys):
    assert atelier("--help") == 0
    assert "edit" in capsys.readouterr().out
