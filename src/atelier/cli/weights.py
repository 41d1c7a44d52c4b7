"""``atelier weights``: the pretrained weights shipped in the package and what each is for.

Example
-------
$ atelier weights
$ atelier weights --json
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table


def _best(best: dict | None) -> str:
    if not best:
        return "-"
    if "val_psnr" in best:
        ref = next((best[k] for k in ("val_bicubic", "val_noisy", "val_telea") if k in best), None)
        base = {"val_bicubic": "bicubic", "val_noisy": "noisy", "val_telea": "telea"}
        name = next((base[k] for k in base if k in best), None)
        vgg = f", VGG distance {best['val_vgg']:.3f}" if "val_vgg" in best else ""
        return f"{best['val_psnr']:.2f} dB" + (f" ({name} {ref:.2f})" if name else "") + vgg
    if "val_cider_d" in best:
        return f"CIDEr-D {best['val_cider_d']:.3f}"
    if "val_loss" in best:
        return f"loss {best['val_loss']:.4g}"
    return "-"


def weights(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the shipped weights: name, task, size on disk, parameters and what each is for."""
    from atelier.pretrained import PRETRAINED, describe_pretrained

    rows = [describe_pretrained(name) for name in PRETRAINED]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table()
    for col, justify in (("name", "left"), ("task", "left"), ("size", "right"), ("parameters", "right"),
                         ("validation", "right"), ("what it is for / how to use it", "left")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in rows:
        size = f"{r['size_mb']:.1f} MB" if r["installed"] else "not installed"
        params = f"{r['parameters'] / 1e6:.2f} M" if r["parameters"] is not None else "-"
        table.add_row(r["name"], r["task"], size, params, _best(r["best"]), f"{r['summary']}\n{r['use']}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("weights")(weights)
