"""Peers that are not atelier dependencies (Real-ESRGAN's ncnn build, CBM3D's ``bm3d``):
import them, pip-installing them into the running interpreter first when allowed, and their
versions for the JSON. A benchmark reports why a peer is missing and goes on.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from typing import Sequence


def ensure_installed(packages: Sequence[str], modules: Sequence[str], allow_install: bool,
                     label: str) -> tuple[bool, str]:
    """(available, how): import ``modules``, pip-installing ``packages`` first when allowed;
    ``label`` names them in the messages."""
    def importable() -> bool:
        try:
            for name in modules:
                importlib.import_module(name)
            return True
        except ImportError:
            return False

    if importable():
        return True, "already installed"
    if not allow_install:
        return False, f"{label} not installed (--no-install)"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"pip install {label} failed: {exc}"
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()
                 and not ln.startswith("WARNING: Location")]
        return False, f"pip install {label} failed: {lines[-1] if lines else f'exit {done.returncode}'}"
    importlib.invalidate_caches()
    return (True, "installed by this run (pip)") if importable() else (False, f"pip ran but importing {label} fails")


def versions(packages: Sequence[str]) -> dict[str, str]:
    """Installed version of each package, "absent" when missing."""
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out
