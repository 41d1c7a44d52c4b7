"""The demo: a tour of the toolkit on bundled photos, as an HTML contact sheet (``make run``).

``run_demo(DIR)`` writes the example files into ``DIR/examples/``
(:mod:`atelier.tasks.demo_examples`: the inputs of every README command), runs each card of
:mod:`atelier.tasks.demo_cards` on them (upscaling, denoising, styles, inpainting, samples of
any shipped generative model, classic edits) and writes ``DIR/index.html``: each card's
images with their pixel sizes and PSNR / SSIM where there is a reference, its run time, and
the command lines that reproduce its images from inside ``DIR/examples``. Nothing is
downloaded.

Example
-------
>>> import tempfile
>>> cards = run_demo(tempfile.mkdtemp(), limit=1)
>>> cards[0].commands[0]
'atelier upscale small.png -o bicubic-x4.png --model bicubic'
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Callable

from atelier.errors import OutputExists
from atelier.image import write_atomic
from atelier.tasks.demo_cards import CardContext, DemoCard, all_cards
from atelier.tasks.demo_examples import write_examples

__all__ = ["EXAMPLES_DIR", "DemoCard", "count_cards", "render_contact_sheet", "run_demo"]

EXAMPLES_DIR = "examples"


def count_cards(out_dir: str | Path = ".") -> int:
    """How many cards :func:`run_demo` will make (for a progress bar)."""
    out = Path(out_dir)
    return len(list(all_cards(CardContext(out, out / EXAMPLES_DIR))))


def run_demo(
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    limit: int | None = None,
    on_card: Callable[[DemoCard], None] | None = None,
) -> list[DemoCard]:
    """Write the examples, run the cards (the first ``limit``), write ``index.html``.

    An existing demo (its ``index.html`` or any example file) is kept, raising
    ``OutputExists`` before anything is written, unless ``overwrite``.
    """
    out = Path(out_dir)
    index = out / "index.html"
    if index.exists() and not overwrite:
        raise OutputExists(f"{index} exists; pass overwrite=True to replace the demo")
    start = time.perf_counter()
    write_examples(out / EXAMPLES_DIR, overwrite=overwrite)
    cards = []
    for make in list(all_cards(CardContext(out, out / EXAMPLES_DIR)))[:limit]:
        card = make()
        cards.append(card)
        if on_card is not None:
            on_card(card)
    write_atomic(index, render_contact_sheet(cards, time.perf_counter() - start).encode("utf-8"))
    return cards


def _panel(p, widest: int) -> str:
    share = 100 * p.width / widest
    score = f"<br>{html.escape(p.score)}" if p.score else ""
    return (
        f'<div class="panel"><img src="{html.escape(p.image)}" alt="{html.escape(p.label)}" '
        f'style="width:{share:.1f}%"><div class="label"><b>{html.escape(p.label)}</b> · '
        f"{p.width} x {p.height} px{score}</div></div>"
    )


def _card(c: DemoCard) -> str:
    widest = max(p.width for p in c.panels)
    panels = "".join(_panel(p, widest) for p in c.panels)
    commands = html.escape("\n".join(c.commands))
    wide = ' class="wide"' if len(c.panels) > 2 else ""
    return f"""<figure id="{c.key}"{wide}>
  <h2>{html.escape(c.title)}</h2>
  <p>{html.escape(c.about)}</p>
  <div class="panels" style="grid-template-columns: repeat({len(c.panels)}, 1fr)">{panels}</div>
  <div class="cmd"><button onclick="copy(this)">copy</button><pre>{commands}</pre></div>
  <figcaption>{c.seconds:.2f} s in this run</figcaption>
</figure>"""


def render_contact_sheet(cards: list[DemoCard], seconds: float | None = None) -> str:
    """A self-contained HTML page: one card per tool, its images, scores and commands."""
    items = "\n".join(_card(c) for c in cards)
    toc = " · ".join(f'<a href="#{c.key}">{html.escape(c.title.split(":")[0])}</a>' for c in cards)
    took = f" The whole demo took {seconds:.0f} s." if seconds is not None else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>atelier demo</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; background: #fafafa; color: #222; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(640px, 1fr)); gap: 1.5rem; }}
figure {{ margin: 0; background: #fff; padding: 1rem; border-radius: 8px; box-shadow: 0 1px 3px #0002; }}
h2 {{ font-size: 1.1rem; margin: 0 0 .3rem; }}
figure p {{ margin: 0 0 .6rem; font-size: .9rem; color: #444; }}
.panels {{ display: grid; gap: .5rem; align-items: start; }}
.wide {{ grid-column: 1 / -1; max-width: 1400px; }}
.panel img {{ display: block; height: auto; image-rendering: auto; }}
.label {{ font-size: .8rem; margin-top: .2rem; }}
.cmd {{ position: relative; margin-top: .6rem; }}
.cmd pre {{ background: #f0f0f0; padding: .5rem 4rem .5rem .5rem; margin: 0; white-space: pre-wrap; font-size: .8rem; }}
.cmd button {{ position: absolute; right: .3rem; top: .3rem; font-size: .7rem; }}
figcaption {{ font-size: .75rem; color: #666; margin-top: .3rem; }}
code {{ background: #f0f0f0; padding: .1rem .3rem; }}
</style>
<script>
function copy(button) {{
  const text = button.nextElementSibling.textContent;
  const done = () => {{ button.textContent = "copied"; setTimeout(() => button.textContent = "copy", 1500); }};
  if (navigator.clipboard) {{ navigator.clipboard.writeText(text).then(done, () => select(button)); }}
  else {{ select(button); }}
}}
function select(button) {{
  const range = document.createRange(); range.selectNodeContents(button.nextElementSibling);
  const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
}}
</script></head>
<body><h1>atelier — a tour</h1>
<p>Every image below was made on this machine from the example files in
<code>{EXAMPLES_DIR}/</code> (small images made from photos that ship with scikit-image).
To reproduce a card, run its commands from inside that folder:
<code>cd {EXAMPLES_DIR}</code>; they write the same pixels as the card's images (in
<code>cards/</code>). Images are shown at their true relative size; sizes are in pixels;
PSNR and SSIM are on RGB, as <code>atelier compare</code> prints them.{took}</p>
<nav>{toc}</nav>
<main>
{items}
</main></body></html>
"""
