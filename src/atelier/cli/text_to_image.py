"""``atelier generate "PROMPT"``: images from a description with a text-conditional diffusion model
or a text-conditional GAN (a run folder of ``atelier train text-gan``; the command reads the
family from the folder's ``model.json``). A text GAN draws its images in one pass: the
diffusion-only options (``--guidance``, ``--steps``, ``--sampler``, ``--eta``, ``--init``,
``--strength``) are one ``error:`` line for it.

The model (a run folder of ``atelier train diffusion --set cond=text`` or a shipped name) and
the prompts are checked before anything is sampled: an empty prompt, a prompt of only words
the model never saw, a bad ``--guidance``, ``--steps`` or ``--strength``, a class-conditional
model or a shipped model not trained yet is one ``error:`` line, exit code 2, and nothing is
written. A prompt with some unknown words, or an ``--init`` image of another size than the
model's (it is resized), is one ``warning:`` line, and the images are made.

``--init photo.png --strength 0.6`` edits a picture by description (SDEdit): the photo is
noised to the level the strength sets and denoised under the prompt.

Example
-------
$ atelier generate "a large red circle in the center on a white background" --model t2i-scenes -n 16 -o grid.png
$ atelier generate "a blue square" "a green triangle" --model runs/t2i -n 8 --each out/ --sampler dpm --steps 15
$ atelier generate "a small yellow star" --model runs/t2i --init photo.png --strength 0.6 -o edit.png
$ atelier generate "a small red circle in the center on a white background" --model runs/text-gan -n 16 -o grid.png
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, List, Optional

import typer

from atelier.cli.progress import progress_bar
from atelier.devices import DEVICE_HELP
from atelier.errors import InvalidArgument

DEFAULT_MODEL = "t2i-scenes"
SAMPLER_HELP = "ddim (default), ddpm, or dpm (DPM-Solver++ 2M, good at 15-25 steps)."


@contextmanager
def step_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a progress bar (made at the first call,
    when the total is known)."""
    with ExitStack() as stack:
        state: dict = {}

        def report(done: int, total: int) -> None:
            if "advance" not in state:
                state["advance"] = stack.enter_context(progress_bar(label, total=total))
                state["done"] = 0
            state["advance"](done - state["done"])
            state["done"] = done

        yield report


def check_sampling_options(steps: Optional[int], guidance: Optional[float], eta: Optional[float]) -> None:
    """The sampling flags' ranges, named as the user typed them."""
    if steps is not None and steps < 1:
        raise InvalidArgument(f"--steps must be 1 or more, got {steps}")
    if guidance is not None and not guidance >= 0:
        raise InvalidArgument(f"--guidance must be 0 or more (1 = no guidance, 3 to 7 is usual), got {guidance}")
    if eta is not None and not 0 <= eta <= 1:
        raise InvalidArgument(f"--eta must be in [0, 1] (0: deterministic DDIM), got {eta}")


def write_images(images, output: Optional[str], each: Optional[str], nrow: int, overwrite: bool) -> None:
    """Write ``(n, H, W, C)`` float images in [0, 1] as one grid (``-o``) or one file each (``--each``)."""
    import torch

    from atelier.tasks.generate import make_grid, save_each, save_grid

    tensor = torch.from_numpy(images).permute(0, 3, 1, 2)
    if each is not None:
        paths = save_each(each, tensor, overwrite=overwrite)
        typer.echo(f"{len(paths)} images written to {each}", err=True)
    else:
        save_grid(output, make_grid(tensor, nrow=nrow), overwrite=overwrite)
        typer.echo(f"{len(images)} images written to {output}", err=True)


def check_outputs(output: Optional[str], each: Optional[str], overwrite: bool) -> None:
    from atelier.cli.outputs import check_image_output, check_output_folder

    if (output is None) == (each is None):
        raise InvalidArgument("give either -o GRID.png or --each FOLDER (one of them)")
    if output is not None:
        check_image_output(output, overwrite=overwrite)
    else:
        check_output_folder(each, "--each")


def generate(
    prompts: List[str] = typer.Argument(..., help="What to draw. Several prompts are cycled over the images."),
    model: str = typer.Option(
        DEFAULT_MODEL, "--model", help="A run folder of `atelier train diffusion --set cond=text` or of "
        f"`atelier train text-gan`, or a shipped name (t2i-scenes, t2i-emoji); default: {DEFAULT_MODEL}."
    ),
    n: int = typer.Option(16, "-n", "--num", help="Number of images."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Grid PNG to write."),
    each: Optional[str] = typer.Option(None, "--each", help="Write each image as its own PNG into this folder instead."),
    nrow: int = typer.Option(8, "--nrow", min=1, help="Images per grid row."),
    guidance: Optional[float] = typer.Option(
        None, "--guidance", help="Diffusion: classifier-free guidance scale (default: the model's, 3 unless its recipe says; 1: none; higher follows the prompt more)."
    ),
    steps: Optional[int] = typer.Option(None, "--steps", help="Diffusion: sampling steps (default 25)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="Diffusion: " + SAMPLER_HELP),
    eta: Optional[float] = typer.Option(None, "--eta", help="Diffusion: DDIM noise in [0, 1] (default 0: deterministic)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise: same seed, same images."),
    init: Optional[str] = typer.Option(None, "--init", help="An image to edit by description (SDEdit)."),
    strength: Optional[float] = typer.Option(
        None, "--strength", help="With --init: in (0, 1], how much the image may change (default 0.6)."
    ),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images per model call."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Generate images from a text prompt with a diffusion model or a text GAN (grid PNG or one file each)."""
    from atelier.cli.progress import warnings_on_one_line
    from atelier.devices import select_device
    from atelier.tasks.diffusion_model import load_diffusion
    from atelier.tasks.diffusion_sample import generate_images
    from atelier.tasks.text_gan import is_text_gan_source

    if n < 1:
        raise InvalidArgument(f"-n must be 1 or more, got {n}")
    if is_text_gan_source(model):
        diffusion_only = [
            flag for flag, value in (("--guidance", guidance), ("--steps", steps), ("--sampler", sampler),
                                     ("--eta", eta), ("--init", init), ("--strength", strength))
            if value is not None
        ]
        if diffusion_only:
            raise InvalidArgument(
                f"{', '.join(diffusion_only)} {'applies' if len(diffusion_only) == 1 else 'apply'} to diffusion "
                f"models; {model} is a text GAN, which draws its images in one pass (it takes prompts, -n, "
                "--seed, --device)"
            )
        _generate_text_gan(model, list(prompts), n, seed, output, each, nrow, overwrite, device)
        return
    check_sampling_options(steps, guidance, eta)
    if strength is not None and init is None:
        raise InvalidArgument("--strength goes with --init IMAGE (how much of that image may change)")
    if strength is not None and not 0 < strength <= 1:
        raise InvalidArgument(f"--strength must be in (0, 1] (1: start from noise), got {strength}")
    check_outputs(output, each, overwrite)
    picture = None
    if init is not None:
        from atelier.image import load_image

        picture = load_image(init)
    dev = select_device(device)
    loaded = load_diffusion(model, device=dev)
    if loaded.cond != "text":
        what = "class-conditional" if loaded.cond == "label" else "unconditional"
        how = f"atelier sample {model} --label 3" if loaded.cond == "label" else f"atelier sample {model}"
        raise InvalidArgument(f"{model} is a {what} diffusion model: it takes no prompt; use `{how} -o grid.png`")
    with warnings_on_one_line(), step_progress("generating") as report:
        images = generate_images(
            loaded, prompts=list(prompts), n=n, steps=25 if steps is None else steps, sampler=sampler or "ddim",
            guidance=guidance, eta=0.0 if eta is None else eta,
            seed=seed, init=picture, strength=strength, batch_size=batch_size, device=dev, progress=report,
            dtype="float32",
        )
    write_images(images, output, each, nrow, overwrite)


def _generate_text_gan(model: str, prompts: List[str], n: int, seed: int, output: Optional[str],
                       each: Optional[str], nrow: int, overwrite: bool, device: str) -> None:
    """``atelier generate`` for a text-GAN run: one generator pass, written like diffusion's images."""
    from atelier.cli.progress import warnings_on_one_line
    from atelier.devices import select_device
    from atelier.tasks.text_gan import generate_text_gan, load_text_gan

    check_outputs(output, each, overwrite)
    loaded = load_text_gan(model, device=select_device(device))
    with warnings_on_one_line():
        images = generate_text_gan(loaded, prompts, n, seed)
    write_images(images.astype("float32") / 255.0, output, each, nrow, overwrite)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
