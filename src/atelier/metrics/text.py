"""Caption metrics: corpus BLEU-1..4, CIDEr-D, ROUGE-L, exact match and word-level F1.

Pure Python (no Java). BLEU, CIDEr-D and ROUGE-L are computed as the COCO caption evaluation
(``pycocoevalcap``: ``Bleu(4)``, ``Cider``, ``Rouge``) computes them, quirks included, so
figures are comparable with published COCO-style tables; the tests check agreement with
pycocoevalcap to 1e-9 on a fixed corpus. Where the COCO evaluation tokenises with the Java
PTB tokenizer, atelier uses its own :func:`atelier.text.normalize` (NFKC, lower case,
punctuation dropped) on hypotheses and references alike, then splits on spaces.

Inputs everywhere: ``hypotheses``, a sequence of N strings (one generated caption per
image), and ``references``, a sequence of N sequences of strings (the 1 or more reference
captions of each image). Scores are fractions in [0, 1] except CIDEr-D (0 to about 10).

Definitions
-----------
- **BLEU-n** (Papineni et al. 2002), corpus level, as pycocoevalcap's ``Bleu(4)``
  (``option="closest"``): clipped n-gram counts summed over the corpus, precisions
  ``p_k = (correct_k + 1e-15) / (guessed_k + 1e-9)``, ``BLEU-n = (p_1 ... p_n) ** (1/n) * BP``
  with ``BP = exp(1 - 1/ratio)`` when ``ratio = (hyp_len + 1e-15) / (ref_len + 1e-9) < 1``;
  ``ref_len`` sums, per image, the reference length closest to the hypothesis length (ties
  to the shorter). Quirks of the epsilons: an order with no match gives a tiny positive
  precision, so BLEU-4 of a corpus without any matching 4-gram is small but not 0 (sacrebleu
  and NLTK say 0), and a corpus of empty hypotheses and empty references scores 0.
- **CIDEr-D** (Vedantam et al. 2015), as pycocoevalcap's ``Cider`` (n = 1..4, sigma = 6):
  TF-IDF vectors of n-grams with document frequencies counted over the *references of the
  evaluated corpus* (an n-gram's frequency = the number of images whose references contain
  it; idf = ``log(N) - log(max(1, df))``), per order the cosine-like similarity with the
  hypothesis' weights clipped to the reference's (``min(h, r) * r``), times the Gaussian
  length penalty ``exp(-delta**2 / (2 sigma**2))``, averaged over orders and references,
  times 10; the corpus score is the mean over images. ``delta`` is the difference of word
  counts; pycocoevalcap counts bigrams instead (its "length" is read at n-gram index 1),
  which gives the same values: the two differ only when one side is empty, and then every
  similarity is 0 anyway. The scores depend on the whole corpus (document frequencies): a
  one-image corpus scores 0.
- **ROUGE-L** (Lin 2004), as pycocoevalcap's ``Rouge``: per image, the longest common
  subsequence with each reference, precision and recall each maximised over the references
  (possibly different ones), ``F = (1 + b²) P R / (R + b² P)`` with b = 1.2; mean over images.
  As pycocoevalcap (which splits on ``" "``), an empty text counts as one empty token: an empty
  hypothesis scores 1 against an empty reference, 0 otherwise.
- **Exact match**: the fraction of hypotheses equal (after normalisation) to one of their
  references.
- **Word F1**: per image, bag-of-words F1 between the hypothesis and each reference (the
  overlap counts each word ``min(count in hypothesis, count in reference)`` times; precision
  = overlap / hypothesis words, recall = overlap / reference words), the best reference
  taken; 1 when both are empty, 0 when only one is (the SQuAD definition); mean over images.

Example
-------
>>> hyps = ["a red circle", "a blue square on the left"]
>>> refs = [["a red circle", "a small red circle"], ["a blue square at the left"]]
>>> s = caption_scores(hyps, refs)
>>> sorted(s)
['bleu_1', 'bleu_2', 'bleu_3', 'bleu_4', 'cider_d', 'exact', 'rouge_l', 'word_f1']
>>> round(s["bleu_1"], 4), s["exact"], round(s["word_f1"], 4)
(0.8889, 0.5, 0.9167)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

from atelier.errors import InvalidArgument, lookup
from atelier.settings import check_int
from atelier.text.normalize import normalize

__all__ = ["caption_scores", "cider_d", "corpus_bleu", "exact_match", "rouge_l", "word_f1"]

Tokens = list[str]
# pycocoevalcap's BLEU epsilons (bleu_scorer.py: `small`, `tiny`).
_SMALL, _TINY = 1e-9, 1e-15


def _prepare(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[list[Tokens], list[list[Tokens]]]:
    """Check the inputs and normalise them into token lists."""
    if isinstance(hypotheses, (str, bytes)) or isinstance(references, (str, bytes)):
        raise InvalidArgument("hypotheses and references must be lists (one entry per image), got a str")
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise InvalidArgument(
            f"{len(hypotheses)} hypotheses but {len(references)} reference lists: give one list of "
            "references per hypothesis"
        )
    if not hypotheses:
        raise InvalidArgument("no captions to score: hypotheses and references are empty")
    hyps = []
    refs = []
    for i, (h, rs) in enumerate(zip(hypotheses, references)):
        if not isinstance(h, str):
            raise InvalidArgument(f"hypothesis {i} is a {type(h).__name__}, not a str")
        if isinstance(rs, str) or not isinstance(rs, Sequence):
            raise InvalidArgument(
                f"references {i} must be a list of strings, got a {type(rs).__name__}; "
                "wrap a single reference: [text]"
            )
        if not rs:
            raise InvalidArgument(f"hypothesis {i} has no references: each needs at least one")
        for r in rs:
            if not isinstance(r, str):
                raise InvalidArgument(f"a reference of hypothesis {i} is a {type(r).__name__}, not a str")
        hyps.append(normalize(h).split())
        refs.append([normalize(r).split() for r in rs])
    return hyps, refs


def _ngrams(words: Tokens, n: int) -> Counter[tuple[str, ...]]:
    """Counts of every 1..n-gram of ``words``."""
    return Counter(tuple(words[i : i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1))


# --- BLEU -------------------------------------------------------------------------------------


def _bleu(hyps: list[Tokens], refs: list[list[Tokens]], max_n: int) -> tuple[float, ...]:
    correct, guessed = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for h, rs in zip(hyps, refs):
        clip: dict[tuple[str, ...], int] = {}
        for r in rs:
            for gram, count in _ngrams(r, max_n).items():
                clip[gram] = max(clip.get(gram, 0), count)
        n_h = len(h)
        hyp_len += n_h
        ref_len += min((abs(len(r) - n_h), len(r)) for r in rs)[1]  # closest, ties to the shorter
        for k in range(max_n):
            guessed[k] += max(0, n_h - k)
        for gram, count in _ngrams(h, max_n).items():
            correct[len(gram) - 1] += min(count, clip.get(gram, 0))
    ratio = (hyp_len + _TINY) / (ref_len + _SMALL)
    penalty = math.exp(1 - 1 / ratio) if ratio < 1 else 1.0
    scores, product = [], 1.0
    for k in range(max_n):
        product *= (correct[k] + _TINY) / (guessed[k] + _SMALL)
        scores.append(product ** (1 / (k + 1)) * penalty)
    return tuple(scores)


def corpus_bleu(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, max_n: int = 4
) -> tuple[float, ...]:
    """Corpus BLEU-1 .. BLEU-``max_n`` as the COCO caption evaluation computes them.

    See the module docstring for the definition and pycocoevalcap's epsilons.

    Parameters
    ----------
    hypotheses : sequence of str, length N
    references : sequence of N sequences of str (at least one each)
    max_n : int
        The highest n-gram order.

    Returns
    -------
    tuple of float, length ``max_n``
        ``(BLEU-1, ..., BLEU-max_n)``, fractions in [0, 1].

    References
    ----------
    Papineni, Roukos, Ward, Zhu, "BLEU: a method for automatic evaluation of machine
    translation", ACL 2002. pycocoevalcap ``bleu/bleu_scorer.py``.

    Example
    -------
    >>> b = corpus_bleu(["the cat sat on the mat"], [["the cat sat on a mat"]])
    >>> [round(x, 4) for x in b]
    [0.8333, 0.7071, 0.63, 0.5373]
    """
    return _bleu(*_prepare(hypotheses, references), check_int(max_n, "max_n", 1))


# --- CIDEr-D ----------------------------------------------------------------------------------


def _cider_d(hyps: list[Tokens], refs: list[list[Tokens]], n: int, sigma: float) -> float:
    ref_counts = [[_ngrams(r, n) for r in rs] for rs in refs]
    df: Counter[tuple[str, ...]] = Counter()
    for counts in ref_counts:
        df.update({gram for c in counts for gram in c})
    log_images = math.log(len(hyps))

    def vector(counts: Counter) -> tuple[list[dict], list[float]]:
        """TF-IDF weights per order and their Euclidean norms."""
        vec: list[dict] = [{} for _ in range(n)]
        norm = [0.0] * n
        for gram, tf in counts.items():
            k = len(gram) - 1
            weight = tf * (log_images - math.log(max(1.0, df[gram])))
            vec[k][gram] = weight
            norm[k] += weight * weight
        return vec, [math.sqrt(x) for x in norm]

    total = 0.0
    for h, rs, counts in zip(hyps, refs, ref_counts):
        vec_h, norm_h = vector(_ngrams(h, n))
        per_order = [0.0] * n
        for r, c in zip(rs, counts):
            vec_r, norm_r = vector(c)
            penalty = math.exp(-((len(h) - len(r)) ** 2) / (2 * sigma**2))
            for k in range(n):
                val = sum(min(w, vec_r[k].get(g, 0.0)) * vec_r[k].get(g, 0.0) for g, w in vec_h[k].items())
                if norm_h[k] != 0 and norm_r[k] != 0:
                    val /= norm_h[k] * norm_r[k]
                per_order[k] += val * penalty
        total += sum(per_order) / n / len(counts) * 10.0
    return total / len(hyps)


def cider_d(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, n: int = 4, sigma: float = 6.0
) -> float:
    """Corpus CIDEr-D as the COCO caption evaluation computes it (pycocoevalcap ``Cider``).

    Document frequencies come from the references of this corpus, so the score of one image
    depends on the others; score whole evaluation sets at once. See the module docstring.

    Parameters
    ----------
    hypotheses : sequence of str, length N
    references : sequence of N sequences of str
    n : int
        The highest n-gram order (4).
    sigma : float
        The standard deviation of the Gaussian length penalty (6).

    Returns
    -------
    float
        The mean over images (0 for a perfect miss; about 10 is the most a caption scores).

    References
    ----------
    Vedantam, Zitnick, Parikh, "CIDEr: Consensus-based image description evaluation",
    CVPR 2015. pycocoevalcap ``cider/cider_scorer.py``.

    Example
    -------
    >>> hyps = ["a red circle", "a blue square", "a green star"]
    >>> refs = [["a red circle"], ["a blue square"], ["a green triangle"]]
    >>> round(cider_d(hyps, refs), 4)
    5.8333
    """
    n = check_int(n, "n", 1)
    if not sigma > 0:
        raise InvalidArgument(f"sigma must be > 0, got {sigma!r}")
    return _cider_d(*_prepare(hypotheses, references), n, float(sigma))


# --- ROUGE-L ----------------------------------------------------------------------------------


def _lcs(a: Tokens, b: Tokens) -> int:
    """Length of the longest common subsequence (dynamic programming, one row)."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)  # row[j]: LCS of the words of `a` seen so far and b[:j]
    for x in a:
        diagonal = 0  # the previous row's row[j - 1]
        for j, y in enumerate(b, 1):
            above = row[j]
            row[j] = diagonal + 1 if x == y else max(above, row[j - 1])
            diagonal = above
    return row[-1]


def _rouge_l(hyps: list[Tokens], refs: list[list[Tokens]], beta: float) -> float:
    total = 0.0
    for h, rs in zip(hyps, refs):
        h = h or [""]  # pycocoevalcap splits on " ": an empty text is one empty token
        precision = recall = 0.0
        for r in rs:
            r = r or [""]
            common = _lcs(r, h)
            precision = max(precision, common / len(h))
            recall = max(recall, common / len(r))
        if precision and recall:
            total += (1 + beta**2) * precision * recall / (recall + beta**2 * precision)
    return total / len(hyps)


def rouge_l(hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, beta: float = 1.2) -> float:
    """Mean ROUGE-L F-score as the COCO caption evaluation computes it (pycocoevalcap ``Rouge``).

    Parameters
    ----------
    hypotheses : sequence of str, length N
    references : sequence of N sequences of str
    beta : float
        Weight of recall against precision (1.2, as COCO).

    Returns
    -------
    float in [0, 1]

    References
    ----------
    Lin, "ROUGE: A package for automatic evaluation of summaries", ACL workshop 2004.
    pycocoevalcap ``rouge/rouge.py``.

    Example
    -------
    >>> round(rouge_l(["a red circle on the left"], [["a small red circle at the left"]]), 4)
    0.7587
    """
    if not beta > 0:
        raise InvalidArgument(f"beta must be > 0, got {beta!r}")
    return _rouge_l(*_prepare(hypotheses, references), float(beta))


# --- exact match and word F1 ------------------------------------------------------------------


def _exact(hyps: list[Tokens], refs: list[list[Tokens]]) -> float:
    return sum(any(h == r for r in rs) for h, rs in zip(hyps, refs)) / len(hyps)


def _f1(h: Tokens, r: Tokens) -> float:
    if not h or not r:
        return float(h == r)
    overlap = sum((Counter(h) & Counter(r)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(h), overlap / len(r)
    return 2 * precision * recall / (precision + recall)


def _word_f1(hyps: list[Tokens], refs: list[list[Tokens]]) -> float:
    return sum(max(_f1(h, r) for r in rs) for h, rs in zip(hyps, refs)) / len(hyps)


def exact_match(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """The fraction of hypotheses equal to one of their references, after normalisation.

    Example
    -------
    >>> exact_match(["A red circle.", "a square"], [["a red circle"], ["a blue square"]])
    0.5
    """
    return _exact(*_prepare(hypotheses, references))


def word_f1(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean bag-of-words F1 against the best reference (see the module docstring).

    Example
    -------
    >>> word_f1(["a red circle"], [["a circle", "a blue square"]])
    0.8
    """
    return _word_f1(*_prepare(hypotheses, references))


# --- all at once ------------------------------------------------------------------------------

_METRICS: dict[str, Callable[[list[Tokens], list[list[Tokens]]], dict[str, float]]] = {
    "bleu": lambda h, r: {f"bleu_{k + 1}": s for k, s in enumerate(_bleu(h, r, 4))},
    "cider": lambda h, r: {"cider_d": _cider_d(h, r, 4, 6.0)},
    "rouge_l": lambda h, r: {"rouge_l": _rouge_l(h, r, 1.2)},
    "exact": lambda h, r: {"exact": _exact(h, r)},
    "word_f1": lambda h, r: {"word_f1": _word_f1(h, r)},
}


def caption_scores(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    metrics: Sequence[str] = ("bleu", "cider", "rouge_l", "exact", "word_f1"),
) -> dict[str, float]:
    """Several caption metrics at once, normalising the texts once.

    Parameters
    ----------
    hypotheses : sequence of str, length N
    references : sequence of N sequences of str
    metrics : sequence of str
        Any of ``"bleu"`` (gives ``bleu_1`` .. ``bleu_4``), ``"cider"`` (``cider_d``),
        ``"rouge_l"``, ``"exact"``, ``"word_f1"``.

    Returns
    -------
    dict of str to float
        Keys ``bleu_1`` .. ``bleu_4``, ``cider_d``, ``rouge_l``, ``exact``, ``word_f1`` (those
        asked for), with the default parameters of each metric.

    Raises
    ------
    InvalidArgument
        Mismatched lengths, a hypothesis without references, a non-string caption.
    UnknownName
        An unknown metric name.

    Example
    -------
    >>> caption_scores(["a red circle"], [["a red circle"]], metrics=("exact", "rouge_l"))
    {'exact': 1.0, 'rouge_l': 1.0}
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    functions = [lookup(_METRICS, name, "caption metric") for name in names]
    hyps, refs = _prepare(hypotheses, references)
    scores: dict[str, float] = {}
    for function in functions:
        scores.update(function(hyps, refs))
    return scores
