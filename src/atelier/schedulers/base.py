"""The scheduler base: a typed config, the noise schedule, and what every sampler shares.

A scheduler owns the forward process of diffusion — ``q(x_t | x_0) = N(sqrt(a_t) x_0,
(1 - a_t) I)`` with ``a_t = alphas_cumprod[t]`` — and one reverse sampler (DDPM, DDIM,
DPM-Solver++), as in diffusers, where schedulers live apart from the models. Training calls
:meth:`Scheduler.add_noise` and :meth:`Scheduler.training_target`; sampling is a loop the
caller spells out::

    scheduler.set_timesteps(25)
    x = torch.randn(shape, generator=g) * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        out = model(scheduler.scale_model_input(x, t), t)
        x = scheduler.step(out, t, x, generator=g).prev_sample

Images are tensors of any shape ``(B, ...)`` (``(B, C, H, W)`` in atelier), in the model's
range ([-1, 1] for diffusion). The schedule tables are float64; each step turns them into
Python floats, so the arithmetic on images keeps the images' dtype and device.

Example
-------
>>> import torch
>>> from atelier.schedulers import get_scheduler
>>> s = get_scheduler("ddim", {"num_train_timesteps": 100})
>>> s.set_timesteps(5)
>>> s.timesteps.tolist()
[99, 79, 59, 39, 19]
>>> x = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
>>> for t in s.timesteps:
...     a_t = s.alphas_cumprod[t].item()
...     noise_guess = x / (1 - a_t) ** 0.5  # a model that knows the clean image is 0
...     x = s.step(noise_guess, t, x).prev_sample
>>> bool(x.abs().max() < 1e-5)
True
"""

from __future__ import annotations

import abc
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Mapping, NamedTuple

import numpy as np
import torch
from torch import Tensor

from atelier.errors import InvalidArgument
from atelier.schedulers.schedules import make_betas, make_timesteps
from atelier.settings import CheckedConfig, config_from

__all__ = ["SchedulerConfig", "ClipSample", "StepOutput", "Scheduler", "make_config", "MAX_TRAIN_TIMESTEPS"]

#: The largest ``num_train_timesteps`` a config accepts.
MAX_TRAIN_TIMESTEPS = 100_000


@dataclass
class SchedulerConfig(CheckedConfig):
    """The noise schedule and the sampling settings every sampler shares.

    Parameters
    ----------
    num_train_timesteps : int
        ``T``, the number of diffusion steps the model was trained with (2 to 100000).
    beta_schedule : {"linear", "scaled_linear", "cosine"}
        See :func:`atelier.schedulers.schedules.make_betas`; ``cosine`` ignores
        ``beta_start`` / ``beta_end``.
    beta_start, beta_end : float
        The first and last beta of the linear schedules, in (0, 1).
    prediction_type : {"epsilon", "v_prediction", "sample"}
        What the model predicts: the noise, the velocity ``sqrt(a) eps - sqrt(1 - a) x0``
        (Salimans & Ho 2022), or ``x0`` itself.
    timestep_spacing : {"trailing", "leading", "linspace"}
        How ``set_timesteps(n)`` picks ``n`` of the ``T`` timesteps (see
        :func:`~atelier.schedulers.schedules.make_timesteps`). atelier's default is
        ``trailing``, which starts at ``T - 1`` (pure noise) for every ``n`` (Lin et al. 2023);
        diffusers defaults to ``leading`` for DDPM/DDIM and ``linspace`` for DPM-Solver.

    A sampler's config subclasses this one with its own fields. Every field is type-checked
    on construction; a bad value raises ``InvalidArgument`` naming the field.

    Example
    -------
    >>> SchedulerConfig(beta_schedule="cosine").num_train_timesteps
    1000
    >>> SchedulerConfig(beta_schedule="quadratic")
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: SchedulerConfig.beta_schedule must be one of 'linear', 'scaled_linear', 'cosine', got 'quadratic'
    """

    num_train_timesteps: int = 1000
    beta_schedule: Literal["linear", "scaled_linear", "cosine"] = "linear"
    beta_start: float = 0.0001
    beta_end: float = 0.02
    prediction_type: Literal["epsilon", "v_prediction", "sample"] = "epsilon"
    timestep_spacing: Literal["trailing", "leading", "linspace"] = "trailing"

    def check(self) -> None:
        """Range checks (a subclass extends it); raise ``InvalidArgument``."""
        self._require(2 <= self.num_train_timesteps <= MAX_TRAIN_TIMESTEPS, "num_train_timesteps",
                      f"an integer from 2 to {MAX_TRAIN_TIMESTEPS}")
        self._require(0 < self.beta_start < 1, "beta_start", "in (0, 1)")
        self._require(0 < self.beta_end < 1, "beta_end", "in (0, 1)")


class ClipSample:
    """The ``clip_sample`` / ``clip_sample_range`` settings of a sampler config (DDPM, DDIM).

    A config mixes this in after :class:`SchedulerConfig` and declares the two fields itself,
    after its own (fields of a dataclass mixin would come first and reorder the config's keys);
    its ``check`` calls :meth:`_check_clip`, and the sampler passes :attr:`clip_range` to
    ``Scheduler._predict``.

    Parameters
    ----------
    clip_sample : bool
        Clip ``pred_x0`` to ``[-clip_sample_range, clip_sample_range]`` (diffusers' default: on).
    clip_sample_range : float
        > 0; 1 for images in [-1, 1].

    Example
    -------
    >>> from atelier.schedulers import DDPMConfig
    >>> DDPMConfig().clip_range, DDPMConfig(clip_sample=False).clip_range
    (1.0, None)
    """

    clip_sample: bool
    clip_sample_range: float

    @property
    def clip_range(self) -> float | None:
        """The bound ``pred_x0`` is clipped to, or None when ``clip_sample`` is off."""
        return self.clip_sample_range if self.clip_sample else None

    def _check_clip(self) -> None:
        self._require(self.clip_sample_range > 0, "clip_sample_range", "> 0")  # type: ignore[attr-defined]


def make_config(config_class: type, config: Any, name: str) -> Any:
    """An instance of ``config_class`` from None (defaults), an instance, or a mapping of
    field values (missing fields take defaults). Unknown keys raise ``InvalidArgument`` that
    lists the known ones.

    >>> make_config(SchedulerConfig, {"beta_schedule": "cosine"}, "ddpm").beta_schedule
    'cosine'
    >>> make_config(SchedulerConfig, {"steps": 3}, "ddpm")
    Traceback (most recent call last):
    ...
    atelier.errors.InvalidArgument: unknown config key(s) for scheduler 'ddpm': steps; known keys: num_train_timesteps, beta_schedule, beta_start, beta_end, prediction_type, timestep_spacing
    """
    if type(config) is config_class:
        return dataclasses.replace(config)  # a copy, checked again
    return config_from(config_class, config, f"scheduler {name!r}")


class StepOutput(NamedTuple):
    """What :meth:`Scheduler.step` returns: ``prev_sample`` (the next, less noisy sample, same
    shape as the input) and ``pred_x0`` (the model's estimate of the clean image at this step,
    for previews).

    >>> import torch
    >>> out = StepOutput(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8))
    >>> x, x0 = out
    >>> out.prev_sample.shape
    torch.Size([1, 3, 8, 8])
    """

    prev_sample: Tensor
    pred_x0: Tensor


class Scheduler(abc.ABC):
    """Base of the samplers: the noise schedule, the timesteps, the training helpers.

    Subclasses set ``config_class`` and implement ``_step``; ``register_scheduler`` sets
    ``name``. One scheduler object serves one sampling run at a time: ``set_timesteps``
    starts a run (and resets a multistep solver's history).

    Attributes
    ----------
    config : SchedulerConfig
        The sampler's config (a subclass of ``SchedulerConfig``).
    betas, alphas, alphas_cumprod : Tensor
        ``(T,)`` float64 on the CPU; ``alphas_cumprod[t]`` is ``a_t`` above.
    timesteps : Tensor
        ``(n,)`` int64, descending, after ``set_timesteps(n)`` (before it: ``InvalidArgument``).
    num_inference_steps : int or None
    init_noise_sigma : float
        The standard deviation of the starting noise: 1.
    order : int
        Model evaluations per timestep (1 for every sampler here; diffusers' meaning).

    Example
    -------
    >>> from atelier.schedulers import get_scheduler
    >>> s = get_scheduler("ddpm", {"beta_schedule": "cosine"})
    >>> s.alphas_cumprod.shape, s.init_noise_sigma, s.order
    (torch.Size([1000]), 1.0, 1)
    >>> s.set_timesteps(3); s.timesteps.tolist()
    [999, 666, 332]
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = SchedulerConfig
    order: ClassVar[int] = 1
    init_noise_sigma: float = 1.0

    def __init__(self, config: SchedulerConfig | Mapping[str, Any] | None = None) -> None:
        self.config = make_config(type(self).config_class, config, self.name or type(self).__name__)
        c = self.config
        self.betas = torch.from_numpy(make_betas(c.beta_schedule, c.num_train_timesteps, c.beta_start, c.beta_end))
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self._ac: list[float] = self.alphas_cumprod.tolist()  # Python floats for the per-step coefficients
        self._timesteps: Tensor | None = None
        self._steps: list[int] = []
        self.num_inference_steps: int | None = None
        self._tables: dict[tuple[Any, ...], tuple[Tensor, Tensor]] = {}
        self._reset()

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config))
        return f"{type(self).__name__}({fields})"

    # --- sampling ------------------------------------------------------------------------------

    @property
    def timesteps(self) -> Tensor:
        """``(n,)`` int64 timesteps of the current run, descending (``InvalidArgument`` before
        ``set_timesteps``)."""
        if self._timesteps is None:
            raise InvalidArgument(
                f"{self._who()} has no timesteps yet: call set_timesteps(num_inference_steps) first"
            )
        return self._timesteps

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device = "cpu") -> None:
        """Pick the ``num_inference_steps`` timesteps of a sampling run (on ``device``) and reset
        the run's state. ``InvalidArgument`` unless 1 <= n <= ``num_train_timesteps``.

        >>> from atelier.schedulers import get_scheduler
        >>> s = get_scheduler("ddpm", {"timestep_spacing": "leading"})
        >>> s.set_timesteps(4); s.timesteps.tolist()
        [750, 500, 250, 0]
        """
        T = self.config.num_train_timesteps
        n = num_inference_steps
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= T:
            raise InvalidArgument(
                f"num_inference_steps must be an integer from 1 to num_train_timesteps ({T}), got {n!r}"
            )
        steps = self._make_timesteps(int(n))
        if len(np.unique(steps)) != len(steps) or steps.min() < 0 or steps.max() >= T:
            raise InvalidArgument(
                f"{n} steps of {T} with {self.config.timestep_spacing!r} spacing repeat a timestep; "
                "use fewer steps or another timestep_spacing"
            )
        self._steps = steps.tolist()
        self._timesteps = torch.from_numpy(steps).to(device)
        self.num_inference_steps = int(n)
        self._reset()

    def _make_timesteps(self, n: int) -> np.ndarray:
        """The run's timesteps (a sampler may space them its own way)."""
        return make_timesteps(self.config.timestep_spacing, n, self.config.num_train_timesteps)

    def _reset(self) -> None:
        """Clear a run's state (a multistep solver's history); called by ``set_timesteps``."""

    def previous_timestep(self, timestep: int | Tensor) -> int:
        """The timestep after ``timestep`` in this run (the next less noisy one), or -1 after
        the last (-1 stands for the clean image).

        >>> from atelier.schedulers import get_scheduler
        >>> s = get_scheduler("ddim"); s.set_timesteps(10)
        >>> s.previous_timestep(999), s.previous_timestep(99)
        (899, -1)
        """
        i = self._index(timestep)
        return self._steps[i + 1] if i + 1 < len(self._steps) else -1

    def scale_model_input(self, sample: Tensor, timestep: int | Tensor | None = None) -> Tensor:
        """The model's input at ``timestep``: ``sample`` unchanged (these samplers need no
        scaling; the method keeps the sampling loop the same for ones that do).

        >>> import torch
        >>> from atelier.schedulers import get_scheduler
        >>> x = torch.ones(1, 1, 2, 2)
        >>> get_scheduler("ddpm").scale_model_input(x, 5) is x
        True
        """
        return sample

    def step(self, model_output: Tensor, timestep: int | Tensor, sample: Tensor, *,
             generator: torch.Generator | None = None) -> StepOutput:
        """One reverse step from ``sample`` at ``timestep`` to the next timestep of the run.

        Parameters
        ----------
        model_output : Tensor
            ``(B, ...)``: the model's prediction (noise, velocity or x0, by
            ``config.prediction_type``) for ``sample`` at ``timestep``.
        timestep : int or Tensor
            One of ``self.timesteps`` (a 0-d or one-element tensor is fine).
        sample : Tensor
            ``(B, ...)``, the current noisy sample ``x_t``.
        generator : torch.Generator, optional
            The source of the noise that stochastic samplers add (DDPM, DDIM with eta > 0).

        Returns
        -------
        StepOutput
            ``prev_sample`` and ``pred_x0``, each shaped like ``sample``.

        Raises
        ------
        InvalidArgument
            Before ``set_timesteps``; a timestep that is not one of the run's; shapes that differ.

        Example
        -------
        >>> import torch
        >>> from atelier.schedulers import get_scheduler
        >>> s = get_scheduler("ddim")
        >>> s.step(torch.zeros(1, 2), 999, torch.zeros(1, 2))
        Traceback (most recent call last):
        ...
        atelier.errors.InvalidArgument: the ddim scheduler has no timesteps yet: call set_timesteps(num_inference_steps) first
        >>> s.set_timesteps(2)
        >>> s.step(torch.zeros(1, 2), 999, torch.zeros(1, 2)).prev_sample.shape
        torch.Size([1, 2])
        """
        i = self._index(timestep)
        if not isinstance(model_output, Tensor) or not isinstance(sample, Tensor):
            raise InvalidArgument("model_output and sample must be torch tensors")
        if model_output.shape != sample.shape:
            raise InvalidArgument(
                f"model_output has shape {tuple(model_output.shape)} but sample has {tuple(sample.shape)}; "
                "they must match"
            )
        return self._step(model_output, i, sample, generator)

    @abc.abstractmethod
    def _step(self, model_output: Tensor, index: int, sample: Tensor,
              generator: torch.Generator | None) -> StepOutput:
        """The sampler's update from ``self._steps[index]`` to the next timestep."""

    def _who(self) -> str:
        return f"the {self.name} scheduler" if self.name else type(self).__name__

    def _index(self, timestep: int | Tensor) -> int:
        """The position of ``timestep`` in the run, or ``InvalidArgument``."""
        if self._timesteps is None:
            self.timesteps  # noqa: B018  (raises the "call set_timesteps first" error)
        if isinstance(timestep, Tensor):
            if timestep.numel() != 1 or timestep.is_floating_point():
                raise InvalidArgument(
                    f"timestep must be one integer, got a tensor of shape {tuple(timestep.shape)} "
                    f"and dtype {timestep.dtype}"
                )
            timestep = int(timestep.item())
        if isinstance(timestep, bool) or not isinstance(timestep, (int, np.integer)):
            raise InvalidArgument(f"timestep must be an integer, got {timestep!r}")
        try:
            return self._steps.index(int(timestep))
        except ValueError:
            raise InvalidArgument(
                f"timestep {int(timestep)} is not one of this run's {len(self._steps)} timesteps "
                f"({self._steps[0]} ... {self._steps[-1]}); step through scheduler.timesteps"
            ) from None

    def _alpha_bar(self, t: int) -> float:
        """``a_t`` as a float; -1 (after the last step) is the clean image, 1."""
        return 1.0 if t < 0 else self._ac[t]

    def _step_alphas(self, index: int) -> tuple[int, float, float]:
        """``(prev, a_t, a_prev)`` for the step from ``self._steps[index]`` to ``prev``, the
        next timestep of the run (-1 after the last: the clean image)."""
        prev = self._steps[index + 1] if index + 1 < len(self._steps) else -1
        return prev, self._alpha_bar(self._steps[index]), self._alpha_bar(prev)

    def _predict(self, model_output: Tensor, sample: Tensor, a_t: float,
                 clip_range: float | None = None) -> tuple[Tensor, Tensor]:
        """``(pred_x0, pred_eps)`` from the model's output by ``prediction_type``, at ``a_t``;
        ``pred_x0`` clipped to ``[-clip_range, clip_range]`` unless ``clip_range`` is None,
        and then ``pred_eps`` re-derived from the clipped ``pred_x0`` so the two agree (GLIDE's
        choice; diffusers' ``use_clipped_model_output=True``). Without it DDIM pairs a clipped
        x0 with the unclipped noise, and classifier-free guidance (which pushes the output far
        out of range) drew scribbles: a v-prediction MNIST model gave clean digits with DDIM
        at guidance 1 and noise-like strokes at guidance 3, clean ones again with this."""
        sa, sb = math.sqrt(a_t), math.sqrt(1.0 - a_t)
        kind = self.config.prediction_type
        if kind == "epsilon":
            x0, eps = (sample - sb * model_output) / sa, model_output
        elif kind == "v_prediction":
            x0, eps = sa * sample - sb * model_output, sa * model_output + sb * sample
        else:  # "sample"
            x0, eps = model_output, (sample - sa * model_output) / sb
        if clip_range is not None:
            x0 = x0.clamp(-clip_range, clip_range)
            if sb > 0:
                eps = (sample - sa * x0) / sb
        return x0, eps

    @staticmethod
    def _randn(sample: Tensor, generator: torch.Generator | None) -> Tensor:
        """Standard normal noise shaped like ``sample``, drawn on the generator's device."""
        device = generator.device if generator is not None else sample.device
        z = torch.randn(sample.shape, generator=generator, device=device, dtype=sample.dtype)
        return z.to(sample.device)

    def img2img_timesteps(self, strength: float) -> tuple[int, Tensor]:
        """SDEdit: the timestep to noise an init image to, and the run's timesteps from there.

        Keeps the last ``int(n * strength)`` of the ``n`` timesteps set by ``set_timesteps``, as
        diffusers' img2img pipeline (``get_timesteps``) does: noise the image with
        ``add_noise(x0, noise, start)`` and step through the returned timesteps. ``strength`` 1
        starts from the noisiest timestep (the image is forgotten).

        Parameters
        ----------
        strength : float
            In (0, 1].

        Returns
        -------
        tuple[int, Tensor]
            ``(start_timestep, timesteps)``, ``timesteps`` being ``(k,)`` int64, ``k >= 1``.

        Example
        -------
        >>> from atelier.schedulers import get_scheduler
        >>> s = get_scheduler("ddim"); s.set_timesteps(10)
        >>> start, ts = s.img2img_timesteps(0.6)
        >>> start, ts.tolist()
        (599, [599, 499, 399, 299, 199, 99])
        """
        n = len(self.timesteps)
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1:
            raise InvalidArgument(f"strength must be in (0, 1], got {strength!r}")
        # round() first so 0.29 * 100 = 28.999999999999996 keeps 29 steps (diffusers: 28).
        kept = min(int(round(n * strength, 9)), n)
        if kept < 1:
            raise InvalidArgument(
                f"strength {strength} keeps no step of {n} (strength x steps < 1); raise the strength or the steps"
            )
        timesteps = self.timesteps[n - kept:]
        return int(timesteps[0]), timesteps

    # --- the forward process and training ----------------------------------------------------

    def _coefficients(self, timesteps: int | Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        """``sqrt(a_t)`` and ``sqrt(1 - a_t)`` for ``timesteps`` (``()`` or ``(B,)``), shaped to
        broadcast against ``like`` ``(B, ...)``, in its dtype and on its device."""
        if not isinstance(like, Tensor) or not like.is_floating_point():
            raise InvalidArgument("images must be floating-point torch tensors")
        t = self._check_timesteps(timesteps)
        if t.dim() == 1 and (like.dim() == 0 or t.shape[0] not in (1, like.shape[0])):
            raise InvalidArgument(
                f"{t.shape[0]} timesteps for a batch of shape {tuple(like.shape)}; give one per image"
            )
        key = (like.device, like.dtype)
        if key not in self._tables:
            sa = self.alphas_cumprod.sqrt()
            sb = (1.0 - self.alphas_cumprod).sqrt()
            # dtype first, on the CPU: some devices (MPS) have no float64
            self._tables[key] = (sa.to(like.dtype).to(like.device), sb.to(like.dtype).to(like.device))
        sa, sb = self._tables[key]
        t = t.to(like.device)
        shape = (-1,) + (1,) * max(like.dim() - 1, 0) if t.dim() == 1 else ()
        return sa[t].reshape(shape), sb[t].reshape(shape)

    @staticmethod
    def _same_shape(a: Tensor, b: Tensor, names: str) -> None:
        if a.shape != b.shape:
            raise InvalidArgument(f"{names} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")

    def add_noise(self, x0: Tensor, noise: Tensor, timesteps: int | Tensor) -> Tensor:
        """``x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise``: a sample of ``q(x_t | x0)``.

        Parameters
        ----------
        x0, noise : Tensor
            ``(B, ...)`` clean images and standard normal noise of the same shape.
        timesteps : int or Tensor
            One timestep or ``(B,)`` integers in ``[0, T)``, one per image.

        Returns
        -------
        Tensor
            ``(B, ...)``, in ``x0``'s dtype and on its device.

        Example
        -------
        >>> import torch
        >>> from atelier.schedulers import get_scheduler
        >>> s = get_scheduler("ddpm")
        >>> x = s.add_noise(torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2), torch.tensor([0, 999]))
        >>> torch.allclose(x[:, 0, 0, 0], s.alphas_cumprod[[0, 999]].sqrt().float())
        True
        """
        self._same_shape(x0, noise, "x0 and noise")
        sa, sb = self._coefficients(timesteps, x0)
        return sa * x0 + sb * noise

    def velocity(self, x0: Tensor, noise: Tensor, timesteps: int | Tensor) -> Tensor:
        """The v-prediction target ``v = sqrt(a_t) noise - sqrt(1 - a_t) x0`` (Salimans & Ho
        2022), ``(B, ...)`` like ``x0``.

        >>> import torch
        >>> from atelier.schedulers import get_scheduler
        >>> s = get_scheduler("ddpm")
        >>> s.velocity(torch.ones(1, 3), torch.zeros(1, 3), 999)  # nearly -x0 at the noisiest step
        tensor([[-1.0000, -1.0000, -1.0000]])
        """
        self._same_shape(x0, noise, "x0 and noise")
        sa, sb = self._coefficients(timesteps, x0)
        return sa * noise - sb * x0

    def training_target(self, x0: Tensor, noise: Tensor, timesteps: int | Tensor) -> Tensor:
        """What the model learns to output at ``timesteps``, by ``prediction_type``: ``noise``
        (epsilon), :meth:`velocity` (v_prediction) or ``x0`` (sample); ``(B, ...)``.

        >>> import torch
        >>> from atelier.schedulers import get_scheduler
        >>> x0, noise = torch.zeros(1, 2), torch.ones(1, 2)
        >>> get_scheduler("ddpm").training_target(x0, noise, 10).tolist()
        [[1.0, 1.0]]
        """
        self._same_shape(x0, noise, "x0 and noise")
        kind = self.config.prediction_type
        if kind == "epsilon":
            return noise
        if kind == "v_prediction":
            return self.velocity(x0, noise, timesteps)
        return x0

    def snr(self, timesteps: int | Tensor) -> Tensor:
        """The signal-to-noise ratio ``a_t / (1 - a_t)`` at ``timesteps``: float32, shaped and
        placed like ``timesteps`` (``()`` or ``(B,)``).

        >>> import torch
        >>> from atelier.schedulers import get_scheduler
        >>> s = get_scheduler("ddpm")
        >>> bool(s.snr(torch.tensor([0]))[0] > 9000), bool(s.snr(999) < 1e-4)
        (True, True)
        """
        return self._gather(self.alphas_cumprod / (1.0 - self.alphas_cumprod), timesteps)

    def min_snr_weight(self, timesteps: int | Tensor, gamma: float = 5.0) -> Tensor:
        """Min-SNR-gamma loss weights (Hang et al. 2023) for a loss on the model's output.

        The weight of the x0 loss is ``min(snr, gamma)``; for the equivalent losses on the
        other targets it becomes ``min(snr, gamma) / snr`` (epsilon) and
        ``min(snr, gamma) / (snr + 1)`` (v_prediction), as in diffusers' training scripts.
        Multiply the per-image MSE by it: ``(w * ((out - target) ** 2).mean((1, 2, 3))).mean()``.

        Parameters
        ----------
        timesteps : int or Tensor
            ``()`` or ``(B,)`` integers.
        gamma : float
            The clip, > 0 (5 in the paper).

        Returns
        -------
        Tensor
            float32, shaped and placed like ``timesteps``.

        Example
        -------
        >>> import torch
        >>> from atelier.schedulers import get_scheduler
        >>> s = get_scheduler("ddpm")  # epsilon: noisy steps weigh 1, clean ones gamma / snr
        >>> w = s.min_snr_weight(torch.tensor([999, 0]))
        >>> w[0].item(), round(w[1].item(), 6)
        (1.0, 0.0005)
        """
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma < math.inf:
            raise InvalidArgument(f"gamma must be a number > 0, got {gamma!r}")
        snr = self.alphas_cumprod / (1.0 - self.alphas_cumprod)
        weight = torch.clamp(snr, max=float(gamma))
        kind = self.config.prediction_type
        if kind == "epsilon":
            weight = weight / snr
        elif kind == "v_prediction":
            weight = weight / (snr + 1.0)
        return self._gather(weight, timesteps)

    def _check_timesteps(self, timesteps: int | Tensor) -> Tensor:
        """``timesteps`` as an integer tensor of shape ``()`` or ``(B,)``, or ``InvalidArgument``.

        The range is checked on the CPU only (on a GPU it would wait for the device at every
        training step; an index out of range fails there as a device-side assert)."""
        t = torch.as_tensor(timesteps)
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool or t.dim() > 1:
            raise InvalidArgument(
                f"timesteps must be an integer or a (B,) integer tensor, got {t.dtype} {tuple(t.shape)}"
            )
        T = self.config.num_train_timesteps
        if t.device.type == "cpu" and t.numel() and (int(t.min()) < 0 or int(t.max()) >= T):
            raise InvalidArgument(f"timesteps must be in [0, {T - 1}], got {int(t.min())} ... {int(t.max())}")
        return t

    def _gather(self, table: Tensor, timesteps: int | Tensor) -> Tensor:
        """``table[t]`` as float32 on ``t``'s device, checking ``t``."""
        t = self._check_timesteps(timesteps)
        return table.to(torch.float32).to(t.device)[t]

    def renoise(self, sample: Tensor, timestep: int, to_timestep: int, *,
                generator: torch.Generator | None = None) -> Tensor:
        """Noise ``sample`` (at ``timestep``; -1 for a clean image) forward to the noisier
        ``to_timestep``: a draw of ``q(x_to | x_t) = N(sqrt(a_to / a_t) x_t, (1 - a_to / a_t) I)``.

        RePaint-style resampling goes back up this way before stepping down again.

        Example
        -------
        >>> import torch
        >>> from atelier.schedulers import get_scheduler
        >>> s = get_scheduler("ddpm")
        >>> x = s.renoise(torch.zeros(1, 10000), 99, 999, generator=torch.Generator().manual_seed(0))
        >>> round(x.std().item(), 1)
        1.0
        """
        T = self.config.num_train_timesteps
        for name, value in (("timestep", timestep), ("to_timestep", to_timestep)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not -1 <= value < T:
                raise InvalidArgument(f"{name} must be an integer from -1 to {T - 1}, got {value!r}")
        if to_timestep < timestep:
            raise InvalidArgument(f"to_timestep ({to_timestep}) must not be below timestep ({timestep})")
        ratio = self._alpha_bar(int(to_timestep)) / self._alpha_bar(int(timestep))
        return math.sqrt(ratio) * sample + math.sqrt(max(1.0 - ratio, 0.0)) * self._randn(sample, generator)
