"""Caption decoding: greedy and beam search over a :class:`~atelier.models.Captioner`.

Both work on a batch of images at once and return, for every image, a list of
:class:`Hypothesis` (best first): the generated ids, their summed log-probability, the
length-normalised score the beams were ranked by, and for every generated token the
cross-attention map over the encoder's grid (the last Transformer layer's, averaged over
heads; the LSTM's ``alpha``) -- "where the decoder looked" for that word.

- **Length normalisation**: GNMT's length penalty (Wu et al. 2016, eq. 14): a hypothesis of
  ``n`` generated tokens (``[EOS]`` included) scores ``log_prob / ((5 + n) / 6) ** alpha``.
  ``alpha = 0`` ranks by the raw sum (favours short captions), ``alpha = 1`` is close to
  the mean log-probability per token; the default 0.6 is in the range GNMT found best
  (0.6-0.7). It was chosen over the plain mean because it leaves a one-word caption its
  full log-probability (``lp(1) = 1``) while still not punishing length linearly.
- **Beam search** keeps ``beam`` live hypotheses per image; at each step the ``2 * beam``
  best extensions are read in order: an extension by ``[EOS]`` among the first ``beam``
  finishes a hypothesis, the others continue until ``beam`` are live. An image is done when
  it has ``beam`` finished hypotheses and its best live one, scored at the current length,
  is no better than the worst finished one (the stopping rule of HuggingFace's
  ``BeamHypotheses``, a heuristic: a longer continuation could in principle still win), or
  at ``max_length``, where the live hypotheses are finished as they are. With ``beam=1``
  the result is the greedy one.
- **Greedy** takes the most likely token at every step until ``[EOS]``.
- ``no_repeat_ngram=n`` forbids any n-gram of generated tokens from occurring twice
  (HuggingFace's ``no_repeat_ngram_size``); ``[PAD]`` and ``[BOS]`` are never generated.
- ``use_cache=False`` recomputes the whole prefix at every step (no key/value cache): the
  reference the cached decoder is tested against; the results are the same.

Example
-------
>>> import torch
>>> from atelier.models import build_model
>>> model = build_model("captioner", {"vocab_size": 12, "pretrained": False, "image_size": 64,
...                                   "d_model": 16, "layers": 1, "heads": 2, "max_length": 8})
>>> results = generate(model.eval(), torch.rand(2, 3, 32, 32), beam=3)
>>> len(results), len(results[0]) <= 3
(2, True)
>>> best = results[0][0]
>>> best.attention.shape[1:], best.attention.shape[0] == len(best.tokens)
(torch.Size([2, 2]), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from atelier.errors import InvalidArgument
from atelier.models.captioner import BOS_ID, EOS_ID, PAD_ID

__all__ = ["Hypothesis", "beam_search", "generate", "greedy", "length_penalty"]


@dataclass
class Hypothesis:
    """One generated caption.

    tokens : list of int
        Generated ids after ``[BOS]``; ends with ``[EOS]`` unless ``max_length`` cut it.
    log_prob : float
        Sum of the tokens' log-probabilities (natural log).
    score : float
        ``log_prob / length_penalty(len(tokens), alpha)``, what the beams are ranked by.
    attention : torch.Tensor
        ``(len(tokens), G, G)`` float32: for each generated token, the cross-attention over
        the grid of cells when it was predicted (each map sums to 1).
    """

    tokens: list[int]
    log_prob: float
    score: float
    attention: torch.Tensor


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's length penalty ``((5 + length) / 6) ** alpha`` (1 for ``alpha = 0``).

    >>> length_penalty(1, 0.6), round(length_penalty(10, 0.6), 4), length_penalty(7, 0.0)
    (1.0, 1.7329, 1.0)
    """
    return ((5.0 + length) / 6.0) ** alpha


def _check(model: Any, beam: int, max_length: int | None, alpha: float, no_repeat_ngram: int) -> int:
    if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
        raise InvalidArgument(f"beam must be an integer >= 1, got {beam!r}")
    if isinstance(no_repeat_ngram, bool) or not isinstance(no_repeat_ngram, int) or no_repeat_ngram < 0:
        raise InvalidArgument(f"no_repeat_ngram must be an integer >= 0 (0: off), got {no_repeat_ngram!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 10:
        raise InvalidArgument(f"length penalty alpha must be a number in [0, 10], got {alpha!r}")
    limit = model.config.max_length
    if max_length is None:
        max_length = limit
    if isinstance(max_length, bool) or not isinstance(max_length, int) or not 2 <= max_length <= limit:
        raise InvalidArgument(
            f"max_length must be an integer from 2 to the model's max_length {limit} "
            f"([BOS] and [EOS] included), got {max_length!r}"
        )
    return max_length - 1  # generated tokens, [EOS] included


def _ban(logp: torch.Tensor, sequences: list[list[int]], n: int) -> None:
    """Forbid ``[PAD]``, ``[BOS]`` and, with ``n``, the tokens that would repeat an n-gram."""
    logp[:, PAD_ID] = float("-inf")
    logp[:, BOS_ID] = float("-inf")
    if n <= 0:
        return
    for row, seq in enumerate(sequences):
        if len(seq) < n - 1:
            continue
        prefix = tuple(seq[len(seq) - n + 1 :])
        banned = [seq[i + n - 1] for i in range(len(seq) - n + 1) if tuple(seq[i : i + n - 1]) == prefix]
        if banned:
            logp[row, banned] = float("-inf")


class _Stepper:
    """The model's incremental step, with the key/value cache or by recomputing the prefix."""

    def __init__(self, model: Any, memory: torch.Tensor, use_cache: bool) -> None:
        self.model, self.use_cache = model, use_cache
        self.memory = memory
        self.state = model.init_state(memory) if use_cache else None
        self.prefix = torch.full((memory.shape[0], 1), BOS_ID, dtype=torch.long, device=memory.device)

    def __call__(self, tokens: torch.Tensor, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.use_cache:
            logits, attention, self.state = self.model.step(self.state, tokens, position)
            return logits, attention
        if position > 0:
            self.prefix = torch.cat([self.prefix, tokens[:, None]], dim=1)
        logits, attention = self.model.decode(self.memory, self.prefix, need_attention=True)
        return logits[:, -1], attention[:, -1]

    def reorder(self, index: torch.Tensor) -> None:
        if self.use_cache:
            self.state = self.model.reorder_state(self.state, index)
        else:
            self.prefix, self.memory = self.prefix.index_select(0, index), self.memory.index_select(0, index)


def _maps(attention: torch.Tensor, grid: int) -> torch.Tensor:
    return attention.float().reshape(attention.shape[0], grid, grid)


@torch.no_grad()
def greedy(
    model: Any,
    memory: torch.Tensor,
    *,
    max_length: int | None = None,
    alpha: float = 0.6,
    no_repeat_ngram: int = 0,
    use_cache: bool = True,
) -> list[list[Hypothesis]]:
    """Greedy decoding of ``memory`` ``(B, N, d)`` (``model.encode(images)``).

    Returns one ``[Hypothesis]`` per image; ``alpha`` only sets its ``score``. The model
    should be in eval mode (dropout off).
    """
    steps = _check(model, 1, max_length, alpha, no_repeat_ngram)
    b = memory.shape[0]
    stepper = _Stepper(model, memory, use_cache)
    tokens = torch.full((b,), BOS_ID, dtype=torch.long, device=memory.device)
    sequences: list[list[int]] = [[] for _ in range(b)]
    attention: list[list[torch.Tensor]] = [[] for _ in range(b)]
    log_probs = [0.0] * b
    live = list(range(b))  # images still generating; the batch shrinks as captions end
    for position in range(steps):
        logits, att = stepper(tokens, position)
        logp = torch.log_softmax(logits.float(), dim=-1)
        _ban(logp, [sequences[i] for i in live], no_repeat_ngram)
        best, choice = logp.max(dim=-1)
        keep = []
        for row, (i, token, lp) in enumerate(zip(live, choice.tolist(), best.tolist())):
            sequences[i].append(token)
            log_probs[i] += lp
            attention[i].append(att[row])
            if token != EOS_ID:
                keep.append(row)
        if not keep:
            break
        if len(keep) < len(live):
            index = torch.tensor(keep, device=memory.device)
            stepper.reorder(index)
            choice = choice.index_select(0, index)
            live = [live[r] for r in keep]
        tokens = choice
    grid = model.grid_size
    return [
        [Hypothesis(seq, lp, lp / length_penalty(len(seq), alpha), _maps(torch.stack(att), grid))]
        for seq, lp, att in zip(sequences, log_probs, attention)
    ]


@torch.no_grad()
def beam_search(
    model: Any,
    memory: torch.Tensor,
    *,
    beam: int = 3,
    max_length: int | None = None,
    alpha: float = 0.6,
    no_repeat_ngram: int = 0,
    use_cache: bool = True,
) -> list[list[Hypothesis]]:
    """Beam search over ``memory`` ``(B, N, d)``; for each image its finished hypotheses,
    best score first (at most ``beam``: the first is the caption, the others the beam's
    alternatives). See the module docstring for the rules."""
    steps = _check(model, beam, max_length, alpha, no_repeat_ngram)
    b, k, device = memory.shape[0], beam, memory.device
    stepper = _Stepper(model, memory, use_cache)
    stepper.reorder(torch.arange(b, device=device).repeat_interleave(k))
    tokens = torch.full((b * k,), BOS_ID, dtype=torch.long, device=device)
    beam_logp = torch.full((b, k), float("-inf"), device=device)
    beam_logp[:, 0] = 0.0  # one live hypothesis per image at the start
    sequences: list[list[int]] = [[] for _ in range(b * k)]
    history = memory.new_zeros((b * k, 0, memory.shape[1]), dtype=torch.float32)  # attention rows
    finished: list[list[Hypothesis]] = [[] for _ in range(b)]
    done = [False] * b
    grid = model.grid_size

    def add(image: int, hyp: Hypothesis) -> None:
        finished[image].append(hyp)
        finished[image].sort(key=lambda h: -h.score)
        del finished[image][k:]

    for position in range(steps):
        logits, att = stepper(tokens, position)
        att = att.float()
        logp = torch.log_softmax(logits.float(), dim=-1)
        _ban(logp, sequences, no_repeat_ngram)
        vocab = logp.shape[-1]
        total = (beam_logp.reshape(-1, 1) + logp).reshape(b, k * vocab)
        top, index = total.topk(min(2 * k, k * vocab), dim=1)
        top_l, index_l = top.tolist(), index.tolist()
        lp_next = length_penalty(position + 1, alpha)
        sources, next_tokens, next_logp, new_sequences = [], [], [], []
        for image in range(b):
            live: list[tuple[int, int, float]] = []
            if not done[image]:
                for rank, (score, flat) in enumerate(zip(top_l[image], index_l[image])):
                    if score == float("-inf") or len(live) == k:
                        break
                    row, token = image * k + flat // vocab, flat % vocab
                    if token != EOS_ID:
                        live.append((row, token, score))
                    elif rank < k:  # a finished hypothesis
                        rows = torch.cat([history[row], att[row][None]])
                        add(image, Hypothesis(sequences[row] + [token], score, score / lp_next, _maps(rows, grid)))
                best_live = live[0][2] / lp_next if live else float("-inf")
                if not live or (len(finished[image]) == k and finished[image][-1].score >= best_live):
                    done[image], live = True, []
            for row, token, score in live:
                sources.append(row), next_tokens.append(token), next_logp.append(score)
                new_sequences.append(sequences[row] + [token])
            for _ in range(k - len(live)):  # empty slots: dead hypotheses
                sources.append(image * k), next_tokens.append(PAD_ID), next_logp.append(float("-inf"))
                new_sequences.append([])
        if all(done):
            break
        index_t = torch.tensor(sources, device=device)
        stepper.reorder(index_t)
        history = torch.cat([history.index_select(0, index_t), att.index_select(0, index_t)[:, None]], dim=1)
        tokens = torch.tensor(next_tokens, device=device)
        beam_logp = torch.tensor(next_logp, device=device).reshape(b, k)
        sequences = new_sequences
    else:  # max_length reached: the live hypotheses end here, unfinished
        lp_end = length_penalty(steps, alpha)
        for image in range(b):
            for j in range(k):
                row, score = image * k + j, float(beam_logp[image, j])
                if not done[image] and score > float("-inf"):
                    add(image, Hypothesis(sequences[row], score, score / lp_end, _maps(history[row], grid)))
    return finished


def generate(
    model: Any,
    images: torch.Tensor,
    *,
    beam: int = 1,
    max_length: int | None = None,
    alpha: float = 0.6,
    no_repeat_ngram: int = 0,
    use_cache: bool = True,
) -> list[list[Hypothesis]]:
    """Caption images ``(B, C, H, W)`` in [0, 1]: greedy for ``beam=1``, else beam search.

    ``max_length`` is the longest caption in tokens, ``[BOS]`` and ``[EOS]`` included (the
    tokenizer's count; default and upper bound: the model's ``max_length``). Runs under
    ``torch.no_grad`` in the model's current mode (call ``model.eval()`` first). Decode the
    ids with ``tokenizer.decode(result[i][0].tokens)``.
    """
    _check(model, beam, max_length, alpha, no_repeat_ngram)
    with torch.no_grad():
        memory = model.encode(images)
    options = dict(max_length=max_length, alpha=alpha, no_repeat_ngram=no_repeat_ngram, use_cache=use_cache)
    if beam == 1:
        return greedy(model, memory, **options)
    return beam_search(model, memory, beam=beam, **options)
