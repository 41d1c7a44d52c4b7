"""``atelier ops``: every registered op with its parameters, types and defaults."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from atelier.ops import list_ops
from atelier.ops.registry import ParamSpec


def _default(p: ParamSpec) -> str:
    if p.required:
        return "required"
    if isinstance(p.default, tuple):
        return ",".join(map(str, p.default))
    return str(p.default).lower() if p.default is None else str(p.default)


def ops(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List every op: category, parameters (type, default, range) and what it does."""
    specs = list_ops()
    if as_json:
        data = [
            {
                "name": s.name,
                "category": s.category,
                "summary": s.summary,
                "params": [
                    {
                        "name": p.name,
                        "type": p.type_name,
                        "default": None if p.required else _default(p),
                        "range": str(p.range) if p.range else None,
                        "help": p.help,
                    }
                    for p in s.params
                ],
            }
            for s in specs
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(show_lines=False)
    for col in ("op", "category", "parameters", "what it does"):
        table.add_column(col, overflow="fold")
    for s in specs:
        params = "\n".join(
            f"{p.name}: {p.type_name} = {_default(p)}" + (f" in {p.range}" if p.range else "")
            for p in s.params
        )
        table.add_row(s.name, s.category, params or "-", s.summary.replace("``", ""))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("ops")(ops)
