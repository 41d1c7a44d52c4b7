"""Text-to-image GAN objective: the matching-aware discriminator and text interpolation of
Reed et al. 2016 ("Generative Adversarial Text to Image Synthesis", Algorithm 1).

One Trainer step is one discriminator update and one generator update (Reed et al.'s
algorithm; the conditional GAN's ``n_critic = 1``), with noise from ``ctx.generator`` so
that a resumed run is the uninterrupted one. For a batch of images ``x`` with one caption
``t`` each (drawn at random among the image's captions, as the text-conditional diffusion
objective does), and ``t'`` another caption of the batch that differs from ``t`` (the next
different one after a random shift, so every image has a mismatching caption unless the whole
batch shares one caption; such rows are left out):

- **GAN-CLS** (matching-aware D): D's loss is the family loss (``hinge`` by default) with
  ``(x, t)`` as real and both ``(x, t')`` (real image, wrong text) and ``(G(z, t), t)`` as
  fake, the two fake kinds averaged (Reed et al.'s ``log(s_r) + (log(1 - s_w) +
  log(1 - s_f)) / 2``): D learns whether image and text match, not only whether the image
  looks real.
- **GAN-INT**: the generator also draws ``interpolate * B`` images from the embeddings
  ``beta t1 + (1 - beta) t2`` of two captions of the batch, ``beta = 0.5`` (Reed et al.,
  section 4.3); D judges them (with the same interpolation of its own text embeddings) in
  the generator's loss only: D has no real image for them.
- **Mode seeking** (Mao et al. 2019, as the conditional GAN's objective): half the captions
  are drawn a second time with new noise and ``mode_seeking / (ratio + 1e-5)`` joins G's
  loss. Without it the generator ignored its noise, as the conditional GAN's did: on
  ``scenes`` at 16 px after 600 steps the 8 noises of a prompt differed by 0.01 (in [0, 1]),
  its 8 prompts by 0.40; with 0.3, by 0.12 after 200 steps.
- **Conditioning augmentation** (StackGAN, Zhang et al. 2017): with the model's
  ``cond_augment``, ``c = mu + sigma * eps`` and ``kl_weight * KL`` joins G's loss (1 in
  StackGAN's paper; see :mod:`atelier.models.text_gan` for why it is off by default).

The generator's loss is the family loss on D's logits of its GAN-CLS and GAN-INT images, plus
the mode-seeking and KL terms. Logged: ``d_loss``, ``g_loss``, ``match`` (the share of real
images D scores higher with their own caption than with the mismatching one; 0.5 is
chance), ``ms_ratio`` and ``kl``.

Recipe (``TextGANHyper``): Adam lr 2e-4 for both nets, betas (0.5, 0.999), batch 64 (Reed et
al.'s setting), EMA of the generator 0.999 (what is exported and sampled).

Data: a captioned dataset (``scenes``, a folder with ``metadata.jsonl`` such as
``../shared/data/emoji72``, ``captions:FOLDER``, ``coco:FILE.json``), read one item per image
(:class:`~atelier.train.objectives.diffusion.PerImage`), with a word-level tokenizer trained
on the training captions (the run's ``tokenizer.json``; its size becomes ``vocab_size``).
``channels`` follows the data unless set.

Validation (at every checkpoint): ``val_match`` (``match`` on up to ``val_images`` held-out
images of the ``val`` part, the live D) and a sample grid of the EMA generator: 8 rows, each
one held-out caption (``samples/prompts.txt``) with 8 fixed noises.

Example
-------
>>> from atelier.models import build_model
>>> from atelier.train.objectives import make_objective
>>> gan = build_model("text-gan", {"resolution": 16, "width": 8, "vocab_size": 12, "text_dim": 16,
...                                "text_layers": 1, "text_heads": 2})
>>> obj = make_objective(gan, {"interpolate": 0.25})
>>> type(obj).__name__, obj.hyper.interpolate, sorted(obj.optimizers())
('TextGANObjective', 0.25, ['discriminator', 'generator'])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import torch

from atelier.errors import InvalidArgument
from atelier.models.gan_losses import get_gan_loss
from atelier.models.layers import draw_latent
from atelier.models.registry import check_range
from atelier.text import normalize
from atelier.text.encoder import PAD_ID
from atelier.train.objectives import register_objective
from atelier.train.objectives.base import FamilyObjective, TextRun, frozen_grads, run_tokenizer
from atelier.train.objectives.diffusion import DiffusionObjective, PerImage, open_dataset
from atelier.train.diffaugment import check_policy, diff_augment
from atelier.train.objectives.gan import PROJECTED_RECIPE, mode_seeking_ratio

__all__ = ["TextGANHyper", "TextGANObjective", "TextGANSetup", "mismatch_index", "SAMPLE_SEED"]

#: Seed of the sample grid's noise (the same for every validation, resumed or not).
SAMPLE_SEED = 4321
#: Columns of the sample grid (one prompt per row).
GRID_COLUMNS = 8


@dataclass
class TextGANHyper:
    """Text-GAN recipe (see the module docstring).

    lr_g, lr_d, betas : Adam of the generator and the discriminator.
    interpolate : GAN-INT images per generator step, as a share of the batch (0: off).
    mode_seeking : lambda of the mode-seeking term (Mao et al. 2019), as the conditional
        GAN's (:class:`~atelier.train.objectives.gan.GANHyper`): half the batch's captions are
        drawn again with new noise and ``lambda / (ratio + 1e-5)`` joins G's loss; 0: off.
    kl_weight : weight of the conditioning augmentation's KL term (models with cond_augment).
    augment : DiffAugment policy for every image D sees (as the GAN recipe's ``augment``;
        the projected discriminator's recipe turns it on).
    val_images : held-out images of ``val_match`` (0: none).
    sample_images : images of the validation grid (0: none), 8 per prompt.
    batch_size, ema_decay : suggestions for the Trainer's settings.
    """

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    interpolate: float = 0.5
    mode_seeking: float = 0.3
    kl_weight: float = 1.0
    augment: str = ""
    val_images: int = 64
    sample_images: int = 64
    batch_size: int = 64
    ema_decay: float = 0.999


class TextGANSetup(NamedTuple):
    """What :meth:`TextGANObjective.prepare_run` builds before the model exists."""

    train: Any  #: the training dataset, one item per image
    val: Any  #: the held-out part (``val``), or None
    tokenizer: Any  #: the run's CaptionTokenizer


def mismatch_index(texts: Sequence[str], generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B,)`` int64: for each caption the index of another caption of the batch that differs
    from it (after normalisation), or -1 when every caption of the batch is the same.

    Row ``i`` looks at ``i + s, i + s + 1, ...`` (cyclically, skipping ``i``) for a random shift
    ``s`` in ``[1, B)`` drawn with ``generator``, and takes the first different caption.

    >>> mismatch_index(["a red circle", "a blue square", "a red circle"]).tolist()
    [1, 2, 1]
    >>> mismatch_index(["a cat", "A cat."]).tolist()
    [-1, -1]
    """
    n = len(texts)
    out = torch.full((n,), -1, dtype=torch.long)
    if n < 2:
        return out
    shift = 1 if generator is None else int(torch.randint(1, n, (1,), generator=generator))
    keys = [normalize(t) for t in texts]
    for i in range(n):
        for k in range(n - 1):
            j = (i + shift + k) % n
            if j == i:
                continue
            if keys[j] != keys[i]:
                out[i] = j
                break
    return out


@register_objective("text-gan")
class TextGANObjective(TextRun, FamilyObjective):
    """GAN-CLS + GAN-INT training of :class:`~atelier.models.text_gan.TextGAN`."""

    Hyper = TextGANHyper
    module_paths = {"generator": "generator", "discriminator": "discriminator"}
    has_discriminator = True
    no_tokenizer = "this text GAN reads captions but the objective has no tokenizer"
    best_metric = None  # val_match is logged; the export is the last EMA generator
    data_fields = tuple(f for f in DiffusionObjective.data_fields if f != "labels")

    def __init__(self, model, hyper=None, *, freeze_d=0, freeze=(), lr_scale=1.0) -> None:
        super().__init__(model, hyper, freeze_d=freeze_d, freeze=freeze, lr_scale=lr_scale)
        h = self.hyper
        self.loss = get_gan_loss(model.config.loss)
        self.opt_g = torch.optim.Adam(self.params(model.generator, name="generator"), lr=self.lr(h.lr_g), betas=h.betas)
        self.opt_d = torch.optim.Adam(
            self.params(model.discriminator, name="discriminator"), lr=self.lr(h.lr_d), betas=h.betas
        )
        self.tokenizer = None
        self._train_data = None
        self._captions_of = None
        self.val_dataset = None
        self._prompts: list[str] | None = None
        self._samples: torch.Tensor | None = None

    @classmethod
    def default_hyper(cls, config) -> TextGANHyper:
        hyper = TextGANHyper()
        if getattr(config, "discriminator", "conv") == "projected":
            hyper = dataclasses.replace(hyper, **PROJECTED_RECIPE)
        return hyper

    def check_hyper(self) -> None:
        super().check_hyper()
        h = self.hyper
        check_policy(h.augment)
        check_range("hyper.interpolate", h.interpolate, 0, 1)
        check_range("hyper.val_images", h.val_images, 0, 100_000)
        check_range("hyper.sample_images", h.sample_images, 0, 256)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def ema_modules(self) -> tuple[str, ...]:
        return ("generator",)

    # --- the run: data, tokenizer, files ----------------------------------------------------
    @classmethod
    def complete_model_config(cls, data: str, options: Mapping[str, Any], model_config: dict[str, Any]) -> None:
        """A new run's ``channels`` follow its data unless set (in place)."""
        if "channels" not in model_config:
            probe = open_dataset(data, options, size=16, channels=None, labels=False, split=None)
            model_config["channels"] = probe.channels

    @classmethod
    def prepare_run(cls, spec: dict[str, Any], run: str | Path | None = None) -> TextGANSetup:
        """The run's training and held-out parts and its tokenizer (found in the run being
        resumed or the ``--init-from`` model, else trained on the training captions; sets
        ``spec["model_config"]["vocab_size"]`` in place). Data without captions is one
        ``InvalidArgument`` line."""
        from atelier.models.text_gan import TextGANConfig

        config = TextGANConfig(**spec["model_config"])
        data, options = spec["data"], dict(spec.get("data_options") or {})
        kw = dict(size=config.resolution, channels=config.channels, labels=False)
        whole = open_dataset(data, options, split=None, **kw)
        if not hasattr(whole, "all_captions"):
            raise InvalidArgument(
                f"text-gan trains on captions, but {data} has none: use captioned data (scenes, a folder "
                "with metadata.jsonl, captions:FOLDER, coco:FILE.json), or cgan for labelled data"
            )
        split = options.get("split") or options.get("train_split", "train")
        train = PerImage(open_dataset(data, options, split=split, **kw))
        val_split = options.get("val_split", "val")
        val = None
        if val_split not in (None, "none"):
            val = PerImage(open_dataset(data, options, split=val_split, **kw))
        if len(train) < 2:
            raise InvalidArgument(f"{data} has {len(train)} training image(s): the matching-aware loss needs 2 or more")
        return TextGANSetup(train, val, run_tokenizer(spec, run, train.base.all_captions))

    def use_setup(self, setup: TextGANSetup) -> None:
        """Take :meth:`prepare_run`'s datasets and tokenizer."""
        self.use_tokenizer(setup.tokenizer)
        self._train_data = setup.train
        self._captions_of = getattr(setup.train, "captions", None)
        self.val_dataset = setup.val if setup.val is not None and len(setup.val) else None
        self._prompts = None

    def save_files(self, folder: str | Path) -> None:
        """``tokenizer.json`` beside the model and the grid's row prompts as ``samples/prompts.txt``."""
        from atelier.image import write_atomic

        self._need_tokenizer().save(folder)
        if self.hyper.sample_images > 0 and self._source() is not None:
            text = "\n".join(self.sample_prompts()) + "\n"
            write_atomic(Path(folder) / "samples" / "prompts.txt", text.encode("utf-8"))

    # --- training -------------------------------------------------------------------------
    def tokens(self, texts: Sequence[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids (B, L), mask (B, L))`` of ``texts``, cut to the model's ``text_max_length``."""
        ids, lengths = self._need_tokenizer().encode_batch(list(texts), max_length=self.model.config.text_max_length)
        ids = ids[:, : int(lengths.max())].to(device)
        return ids, ids != PAD_ID

    def _texts(self, batch: Any, generator: torch.Generator | None) -> tuple[torch.Tensor, list[str]]:
        """The batch's images and one caption per image (a random one of its captions)."""
        parts = (batch,) if isinstance(batch, torch.Tensor) else tuple(batch)
        if len(parts) < 3 or not isinstance(parts[2], (list, tuple)):
            raise InvalidArgument(
                "a text GAN trains on captioned data: batches of CaptionedItem(images, labels, texts, "
                "image_ids) (atelier.data.captioned)"
            )
        texts = list(parts[2])
        if self._captions_of is not None and len(parts) > 3 and generator is not None:
            u = torch.rand(len(texts), generator=generator).tolist()
            texts = []
            for image_id, draw in zip(parts[3].tolist(), u):
                options = self._captions_of(int(image_id))
                texts.append(options[min(int(draw * len(options)), len(options) - 1)])
        return parts[0], texts

    def step(self, batch: Any, step: int, ctx: Any) -> dict[str, float]:
        x, texts = self._texts(batch, ctx.generator)
        g, c = ctx.generator, self.model.config
        G, D = self.model.generator, self.model.discriminator
        n, device = x.shape[0], x.device
        ids, mask = self.tokens(texts, device)
        wrong = mismatch_index(texts, g).to(device)
        keep = wrong >= 0
        # GAN-INT rows: caption i mixed with its mismatching caption (itself when there is none)
        k = int(round(self.hyper.interpolate * n))
        partner = torch.where(keep, wrong, torch.arange(n, device=device))[:k]
        # the mode-seeking pairs ride in the same generator batch: row n + k + i is caption i
        # again with new noise
        pairs = n // 2 if self.hyper.mode_seeking > 0 else 0
        rows = n + k + pairs
        z = draw_latent(rows, c.latent_dim, generator=g, device=device)
        eps = torch.randn(rows, c.cond_dim, generator=g).to(device) if c.cond_augment else None
        out: dict[str, float] = {}
        with ctx.autocast():
            pooled = G.embed(ids, mask)
            cond, kl = G.condition(torch.cat([pooled, 0.5 * (pooled[:k] + pooled[partner]), pooled[:pairs]]), eps)
            fake_all = G.decode(z, cond)
            e = D.embed(ids, mask)
            h_real = D.features(diff_augment(x, self.hyper.augment, generator=g))
            real_logits = D.score(h_real, e)
            wrong_logits = D.score(h_real[keep], e[wrong[keep]])
            fake_aug = diff_augment(fake_all[:n].detach(), self.hyper.augment, generator=g)
            fake_logits = D.score(D.features(fake_aug), e)
        d_loss = self.loss.d_loss(real_logits.float(), torch.cat([wrong_logits, fake_logits]).float())
        if bool(keep.any()):
            out["match"] = (real_logits[keep] > wrong_logits).float().mean().item()
        ctx.optimize("discriminator", d_loss)
        with frozen_grads(D), ctx.autocast():
            e = D.embed(ids, mask)
            e_all = torch.cat([e, 0.5 * (e[:k] + e[partner])])
            g_logits = D.score(D.features(diff_augment(fake_all[: n + k], self.hyper.augment, generator=g)), e_all)
        g_loss = self.loss.g_loss(g_logits.float())
        total = g_loss + self.hyper.kl_weight * kl.float() if c.cond_augment else g_loss
        if pairs:
            ratio = mode_seeking_ratio(fake_all[:pairs], fake_all[n + k :], z[:pairs], z[n + k :])
            total = total + self.hyper.mode_seeking / (ratio + 1e-5)
            out["ms_ratio"] = ratio.item()
        ctx.optimize("generator", total)
        if c.cond_augment:
            out["kl"] = kl.item()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), **out}

    # --- validation -----------------------------------------------------------------------
    def _source(self) -> Any:
        return self.val_dataset if self.val_dataset is not None else self._train_data

    def sample_prompts(self) -> list[str]:
        """The grid's row prompts: the first distinct held-out captions (else training ones)."""
        if self._prompts is None:
            source = self._source()
            if source is None:
                raise InvalidArgument("a text GAN's sample grid needs prompts: call use_setup first")
            rows = max(1, -(-self.hyper.sample_images // GRID_COLUMNS))
            prompts: list[str] = []
            for i in range(min(len(source), 50 * rows)):
                text = source[i][2]
                if text not in prompts:
                    prompts.append(text)
                if len(prompts) == rows:
                    break
            self._prompts = [prompts[i % len(prompts)] for i in range(rows)]
        return self._prompts

    def validate(self, modules: dict[str, torch.nn.Module]) -> dict[str, float]:
        """``val_match`` on the held-out images (live D) and the sample grid (EMA G)."""
        metrics: dict[str, float] = {}
        D = modules["discriminator"]
        device = next(D.parameters()).device
        if self.val_dataset is not None and self.hyper.val_images > 0:
            items = [self.val_dataset[i] for i in range(min(self.hyper.val_images, len(self.val_dataset)))]
            texts = [item[2] for item in items]
            wrong = mismatch_index(texts)  # a fixed shift: every validation sees the same pairs
            keep = wrong >= 0
            if bool(keep.any()):
                x = torch.stack([item[0] for item in items]).to(device)
                ids, mask = self.tokens(texts, device)
                h, e = D.features(x), D.embed(ids, mask)
                keep, wrong = keep.to(device), wrong.to(device)
                right = D.score(h[keep], e[keep])
                other = D.score(h[keep], e[wrong[keep]])
                metrics["val_match"] = (right > other).float().mean().item()
        if self.hyper.sample_images > 0:
            self._samples = self.sample_grid(modules["generator"]).cpu()
        return metrics

    @torch.no_grad()
    def sample_grid(self, generator: torch.nn.Module) -> torch.Tensor:
        """``sample_images`` images ``(n, C, H, W)`` in [0, 1]: row ``r`` of 8 is prompt ``r``
        of :meth:`sample_prompts`, the same 8 fixed noises on every row."""
        c = self.model.config
        device = next(generator.parameters()).device
        n = self.hyper.sample_images
        prompts = self.sample_prompts()
        texts = [prompts[i // GRID_COLUMNS] for i in range(n)]
        noise = torch.Generator().manual_seed(SAMPLE_SEED)
        z = torch.randn(GRID_COLUMNS, c.latent_dim, generator=noise)
        z = z.repeat(-(-n // GRID_COLUMNS), 1)[:n].to(device)
        ids, mask = self.tokens(texts, device)
        return generator(z, ids, mask).clamp(0, 1)

    def take_samples(self) -> torch.Tensor | None:
        """The grid drawn at the last validation (once; None when there is none)."""
        samples, self._samples = self._samples, None
        return samples
