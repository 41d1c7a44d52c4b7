"""Atomic writes: temporary names atelier recognises, stale ones cleaned, no lost races,
clear one-line errors for unwritable outputs."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from atelier.errors import AtelierError, CannotWrite, OutputExists
from atelier.image import (
    _HOST,
    _TEMP_RE,
    _temp_name,
    load_image,
    remove_stale_temp_files,
    save_image,
    write_atomic,
)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_names_are_recognisable():
    name = _temp_name("photo.png")
    found = _TEMP_RE.fullmatch(name)
    assert found and found.group("name") == "photo.png"
    assert int(found.group("pid")) == os.getpid() and found.group("host") == _HOST
    assert len(os.fsencode(_temp_name("é" * 250))) < 255


def test_remove_stale_temp_files(tmp_path):
    dead = tmp_path / f".a.png.atelier-{_dead_pid()}-{_HOST}-0123abcd.tmp"
    alive = tmp_path / f".b.png.atelier-{os.getpid()}-{_HOST}-0123abcd.tmp"
    other_host = tmp_path / ".c.png.atelier-1-ffffffff-0123abcd.tmp"
    old_other_host = tmp_path / ".d.png.atelier-1-ffffffff-0123abcd.tmp"
    foreign = tmp_path / ".e.png.1234abcd.tmp"  # not atelier's name: never touched
    for p in (dead, alive, other_host, old_other_host, foreign):
        p.write_bytes(b"x")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(old_other_host, (day_ago, day_ago))
    os.utime(foreign, (day_ago, day_ago))
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted([dead, old_other_host])
    assert alive.exists() and other_host.exists() and foreign.exists()
    assert remove_stale_temp_files(tmp_path / "missing") == []


def test_save_cleans_stale_temp_files_once_per_folder(tmp_path):
    dead = tmp_path / f".a.png.atelier-{_dead_pid()}-{_HOST}-0123abcd.tmp"
    dead.write_bytes(b"x")
    save_image(tmp_path / "b.png", np.zeros((2, 2), np.uint8))
    assert not dead.exists()
    dead.write_bytes(b"x")
    save_image(tmp_path / "c.png", np.zeros((2, 2), np.uint8))
    assert dead.exists()  # the folder was cleaned already in this process
    assert sorted(p.name for p in tmp_path.iterdir()) == [dead.name, "b.png", "c.png"]


def test_sigkill_leftover_is_removed_by_the_next_run(tmp_path):
    """A writer killed mid-write leaves its temporary file; the next process removes it."""
    code = (
        "import os, signal, atelier.image as m\n"
        "real = os.fsync\n"
        "def die(fd): os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.fsync = die\n"
        f"m.write_atomic({str(tmp_path / 'a.bin')!r}, b'x' * 1000)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    left = [p for p in tmp_path.iterdir()]
    assert len(left) == 1 and _TEMP_RE.fullmatch(left[0].name)
    subprocess.run(
        [sys.executable, "-c", f"import atelier.image as m; m.write_atomic({str(tmp_path / 'b.bin')!r}, b'y')"],
        check=True,
    )
    assert [p.name for p in tmp_path.iterdir()] == ["b.bin"]


def test_racing_writers_exactly_one_wins(tmp_path):
    """Without overwrite, two writers racing for one name: one wins, the other gets
    OutputExists, and the winner's file is never replaced."""
    for round_ in range(20):
        path = tmp_path / f"r{round_}.png"
        barrier = threading.Barrier(4)
        results = {}

        def write(i):
            barrier.wait()
            try:
                save_image(path, np.full((8, 8), i, np.uint8))
                results[i] = "ok"
            except OutputExists:
                results[i] = "exists"

        threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for i, r in results.items() if r == "ok"]
        assert len(winners) == 1 and len(results) == 4
        assert load_image(path)[0, 0] == winners[0]
    assert all(not p.name.startswith(".") for p in tmp_path.iterdir())


def test_racing_processes_exactly_one_wins(tmp_path):
    path = tmp_path / "p.png"
    code = (
        "import sys, time, numpy as np\n"
        "from atelier.image import save_image\n"
        "from atelier.errors import OutputExists\n"
        "start = float(sys.argv[2])\n"
        "time.sleep(max(0.0, start - time.time() - 0.02))\n"
        "while time.time() < start: pass\n"
        "try:\n"
        "    save_image(sys.argv[1], np.full((64, 64), int(sys.argv[3]), np.uint8)); print('ok')\n"
        "except OutputExists: print('exists')\n"
    )
    start = time.time() + 3.0
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), str(start), str(i)], stdout=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    outs = [p.communicate()[0].strip() for p in procs]
    assert sorted(outs) == ["exists", "exists", "ok"]
    assert load_image(path)[0, 0] == outs.index("ok")


def test_overwrite_replaces(tmp_path):
    write_atomic(tmp_path / "a.bin", b"1")
    write_atomic(tmp_path / "a.bin", b"2")
    assert (tmp_path / "a.bin").read_bytes() == b"2"
    with pytest.raises(OutputExists):
        write_atomic(tmp_path / "a.bin", b"3", overwrite=False)
    assert (tmp_path / "a.bin").read_bytes() == b"2"


def test_write_without_hard_links_falls_back(tmp_path, monkeypatch):
    import errno

    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    write_atomic(tmp_path / "a.bin", b"1", overwrite=False)
    assert (tmp_path / "a.bin").read_bytes() == b"1"
    with pytest.raises(OutputExists):
        write_atomic(tmp_path / "a.bin", b"2", overwrite=False)
    assert (tmp_path / "a.bin").read_bytes() == b"1"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_parent_is_a_file(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(CannotWrite, match=r"photo\.jpg is a file, not a folder"):
        save_image(tmp_path / "photo.jpg" / "x.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(CannotWrite, match=r"photo\.jpg is a file, not a folder"):
        write_atomic(tmp_path / "photo.jpg" / "deeper" / "x.bin", b"x")


def test_output_is_a_folder(tmp_path):
    (tmp_path / "x.png").mkdir()
    with pytest.raises(OutputExists, match="folder"):
        save_image(tmp_path / "x.png", np.zeros((2, 2), np.uint8), overwrite=True)
    with pytest.raises(OutputExists, match="folder"):
        write_atomic(tmp_path / "x.png", b"x")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(CannotWrite, match="cannot write .*a.png: Permission denied"):
            save_image(folder / "a.png", np.zeros((2, 2), np.uint8))
        with pytest.raises(CannotWrite, match="cannot create the folder"):
            save_image(folder / "sub" / "a.png", np.zeros((2, 2), np.uint8))
    finally:
        folder.chmod(0o755)
    assert list(folder.iterdir()) == []


def test_disk_full_is_one_line(tmp_path, monkeypatch):
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CannotWrite, match="No space left on device") as info:
        write_atomic(tmp_path / "a.bin", b"x")
    assert isinstance(info.value, AtelierError) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_permission_denied_is_one_line(tmp_path, monkeypatch):
    """(Root ignores folder permissions, so the refusal is simulated.)"""
    import errno

    real_open = os.open

    def denied(path, flags, mode=0o777, **kw):
        if ".atelier-" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(CannotWrite, match=r"cannot write .*a\.png: Permission denied$"):
        save_image(tmp_path / "a.png", np.zeros((2, 2), np.uint8))
    assert list(tmp_path.iterdir()) == []
