"""Tests for atelier.metrics.text: BLEU-1..4, CIDEr-D, ROUGE-L, exact match, word F1.

Reference values
----------------
- pycocoevalcap 1.2 (the COCO caption evaluation: ``Bleu(4)``, ``Cider``, ``Rouge``), fed the
  texts after ``atelier.text.normalize``, since its own Java PTB tokenizer is not used. atelier
  reproduces its formulas, epsilons included: agreement to 1e-9 on a fixed corpus of 22
  images with 1 to 5 references (edge cases: empty hypothesis, empty reference, hypotheses of
  1-3 words, repeated words, hypotheses identical to a reference), on each of its images
  alone, and on random corpora. One difference: on a corpus whose references are all empty,
  pycocoevalcap's CIDEr raises (``max()`` of no document frequencies) where atelier gives 0.
- sacrebleu 2.x corpus BLEU (``tokenize="none"``, ``smooth_method="none"``, BLEU-n through
  ``max_ngram_order=n``) on the same normalised texts, references padded with ``None`` where an
  image has fewer. The definitions coincide (clipped corpus counts, closest reference length
  with ties to the shorter, corpus brevity penalty) except pycocoevalcap's epsilons:
  precisions ``(c + 1e-15) / (g + 1e-9)``, so the two agree to 1e-9 when every order has a
  match, while an order with no match gives sacrebleu 0 and pycocoevalcap (and atelier) a
  small positive BLEU (``test_bleu_without_4gram_matches``). sacrebleu reports percentages.
- Hand-computed cases, with the arithmetic in each test's docstring.
"""

from __future__ import annotations

import math
import random

import pytest

from atelier.errors import InvalidArgument, UnknownName
from atelier.metrics import caption_scores, cider_d, corpus_bleu, exact_match, rouge_l, word_f1
from atelier.text import normalize

# (hypothesis, references): COCO-like captions, scenes and emoji names, and edge cases.
CORPUS: list[tuple[str, list[str]]] = [
    ("a man riding a wave on top of a surfboard", [
        "a man riding a wave on a surfboard", "A surfer rides a large wave in the ocean.",
        "a person on a surfboard riding a wave", "a man surfing on a big wave"]),
    ("", ["a cat sitting on a couch", "a cat lying on a sofa"]),  # empty hypothesis
    ("a dog", ["a brown dog running in the grass", "a dog plays in a field", "dog"]),  # short
    ("a a a a a a", ["a red circle and a blue square"]),  # repeated words
    ("a small red circle at the top left on a white background", [  # identical to a reference
        "a small red circle at the top left on a white background", "small red circle top left"]),
    ("Two giraffes standing next to a tree.", [  # case and punctuation
        "two giraffes standing near a tree", "a pair of giraffes by a tall tree",
        "giraffes eating leaves from a tree"]),
    ("cat face", ["cat face"]),
    ("woman scientist", ["woman scientist medium skin tone"]),
    ("a plate of food with broccoli and rice", [
        "a plate with rice broccoli and chicken", "a white plate topped with food",
        "a meal of rice and vegetables on a plate", "some broccoli and rice on a dish",
        "a plate of healthy food"]),
    ("a train on the tracks", ["a train traveling down the tracks", "a red train on railroad tracks"]),
    ("the the the cat", ["the cat", "a cat on the mat"]),
    ("a large blue square at the bottom right", [
        "a large blue square at the bottom right and a small green triangle at the top",
        "a big blue square bottom right"]),
    ("a person holding an umbrella in the rain", [
        "a woman holding an umbrella in the rain", "a person walks with an umbrella on a rainy day",
        "someone under an umbrella"]),
    ("keycap #", ["keycap #"]),
    ("a bus", ["a yellow school bus parked on the street"]),
    ("a kitchen with a stove and a refrigerator and a sink and a window", [  # long
        "a kitchen with a stove", "a small kitchen with white appliances"]),
    ("pizza", ["a pizza with cheese", "pizza"]),  # one word, identical to a reference
    ("a group of people standing around a table", [
        "people gathered around a table with food", "a group of friends at a dinner table",
        "a group of people sitting at a table", "several people stand near a table"]),
    ("man’s shoe", ["man's shoe", "mans shoe"]),
    ("a close up of a clock on a building", [
        "a clock tower on the side of a building", "a large clock on a brick building"]),
    ("a bird", ["", "a bird on a branch"]),  # an empty reference
    ("", [""]),  # empty against empty
]
HYPS = [h for h, _ in CORPUS]
REFS = [r for _, r in CORPUS]


def _random_corpus(seed: int, size: int = 40) -> tuple[list[str], list[list[str]]]:
    """Per image a random base caption of 0-12 words from a 12-word vocabulary; 1-5
    references and the hypothesis are noisy copies of it (words replaced, dropped, inserted),
    so every n-gram order has matches and lengths differ."""
    rng = random.Random(seed)
    words = "a the red blue circle square small large on left right top".split()

    def noisy(base: list[str]) -> str:
        out = []
        for w in base:
            roll = rng.random()
            if roll < 0.1:
                continue
            out.append(rng.choice(words) if roll < 0.25 else w)
            if rng.random() < 0.1:
                out.append(rng.choice(words))
        return " ".join(out)

    hyps, refs = [], []
    for _ in range(size):
        base = [rng.choice(words) for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 12]))]
        hyps.append(noisy(base))
        refs.append([noisy(base) for _ in range(rng.randint(1, 5))])
    return hyps, refs


# --- against pycocoevalcap ------------------------------------------------------------------


def _coco(hyps, refs):
    """pycocoevalcap's inputs: {image: [normalised hypothesis]}, {image: [normalised refs]}."""
    return (
        {i: [normalize(r) for r in rs] for i, rs in enumerate(refs)},
        {i: [normalize(h)] for i, h in enumerate(hyps)},
    )


def _corpora():
    yield "fixed", HYPS, REFS
    for seed in range(3):
        yield f"random{seed}", *_random_corpus(seed)
    for i, (h, r) in enumerate(CORPUS):  # each item alone: sentence-level BLEU, a one-image CIDEr
        yield f"item{i}", [h], [r]


CORPORA = list(_corpora())


@pytest.mark.parametrize(("name", "hyps", "refs"), CORPORA, ids=[c[0] for c in CORPORA])
def test_against_pycocoevalcap(name, hyps, refs) -> None:
    """BLEU-1..4, CIDEr-D and ROUGE-L equal pycocoevalcap's to 1e-9."""
    pytest.importorskip("pycocoevalcap", reason="pycocoevalcap (test extra) is the reference")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts, res = _coco(hyps, refs)
    bleu_ref, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge_ref, _ = Rouge().compute_score(gts, res)
    scores = caption_scores(hyps, refs)
    for k in range(4):
        assert scores[f"bleu_{k + 1}"] == pytest.approx(bleu_ref[k], abs=1e-9, rel=0)
    if any(r.strip() for rs in refs for r in rs):
        cider_ref, _ = Cider().compute_score(gts, res)
        assert scores["cider_d"] == pytest.approx(float(cider_ref), abs=1e-9, rel=0)
    else:  # pycocoevalcap fails (max() of no document frequencies); there is nothing to match
        assert scores["cider_d"] == 0.0
    assert scores["rouge_l"] == pytest.approx(float(rouge_ref), abs=1e-9, rel=0)
    assert list(corpus_bleu(hyps, refs)) == [scores[f"bleu_{k}"] for k in range(1, 5)]
    assert cider_d(hyps, refs) == scores["cider_d"] and rouge_l(hyps, refs) == scores["rouge_l"]


def test_fixed_corpus_is_not_trivial() -> None:
    """Guard the comparison above: the fixed corpus gives mid-range scores, not 0s or 1s."""
    s = caption_scores(HYPS, REFS)
    assert 0.2 < s["bleu_4"] < 0.6 < s["bleu_1"] < 0.9
    assert 1.0 < s["cider_d"] < 5.0 and 0.4 < s["rouge_l"] < 0.9


# --- against sacrebleu ----------------------------------------------------------------------


def _sacrebleu(hyps, refs, n: int) -> float:
    sacrebleu = pytest.importorskip("sacrebleu", reason="sacrebleu (test extra) is a second BLEU reference")
    width = max(len(r) for r in refs)
    streams = [[normalize(r[j]) if j < len(r) else None for r in refs] for j in range(width)]
    bleu = sacrebleu.metrics.BLEU(tokenize="none", smooth_method="none", max_ngram_order=n)
    return bleu.corpus_score([normalize(h) for h in hyps], streams).score / 100


@pytest.mark.parametrize("corpus", ["fixed", "random0", "random1"])
def test_bleu_against_sacrebleu(corpus: str) -> None:
    """Where every order has a match the definitions coincide: agreement to 1e-9."""
    _, hyps, refs = next(c for c in CORPORA if c[0] == corpus)
    ours = corpus_bleu(hyps, refs)
    for n in range(1, 5):
        assert ours[n - 1] == pytest.approx(_sacrebleu(hyps, refs, n), abs=1e-9, rel=0)


def test_bleu_without_4gram_matches() -> None:
    """No 4-gram matches anywhere: sacrebleu says BLEU-4 = 0; pycocoevalcap's epsilon keeps it
    small but positive: (1 * 1/2 * (1e-15 / 1)) ** (1/4) ~ 1.9e-4 for "a b c d" against
    "a b x c d" (p1 = 4/4, p2 = 2/3, p3 = 0/2, p4 = 0/1; closest reference length 5, BP =
    exp(1 - 5/4)). atelier follows pycocoevalcap."""
    hyps, refs = ["a b c d"], [["a b x c d"]]
    b4 = corpus_bleu(hyps, refs)[3]
    bp = math.exp(1 - 5 / 4)
    expected = (((4 + 1e-15) / (4 + 1e-9)) * ((2 + 1e-15) / (3 + 1e-9)) * (1e-15 / (2 + 1e-9))
                * (1e-15 / (1 + 1e-9))) ** 0.25 * bp
    assert b4 == pytest.approx(expected, rel=1e-12)
    assert 0 < b4 < 1e-6
    assert _sacrebleu(hyps, refs, 4) == 0.0


# --- hand-computed cases ----------------------------------------------------------------------


def test_bleu_hand_computed() -> None:
    """"the cat sat on the mat" vs "the cat sat on a mat": matched 5/6 unigrams, 3/5 bigrams,
    2/4 trigrams, 1/3 4-grams; equal lengths, BP = 1. BLEU-2 = sqrt(5/6 * 3/5) = sqrt(1/2),
    BLEU-4 = (5/6 * 3/5 * 1/2 * 1/3) ** (1/4) = (1/12) ** (1/4)."""
    b = corpus_bleu(["the cat sat on the mat"], [["the cat sat on a mat"]])
    assert b == pytest.approx((5 / 6, math.sqrt(0.5), (0.25) ** (1 / 3), (1 / 12) ** 0.25), abs=1e-9)


def test_bleu_clipping_and_brevity() -> None:
    """Papineni's example: "the" x7 against "the cat is on the mat" has clipped unigram
    precision 2/7 (BP 1: 7 words against 6). "a cat" against "a cat on a mat": all n-grams
    match, BP = exp(1 - 5/2)."""
    assert corpus_bleu(["the " * 7], [["the cat is on the mat"]], max_n=1)[0] == pytest.approx(2 / 7)
    assert corpus_bleu(["a cat"], [["a cat on a mat"]], max_n=2) == pytest.approx(
        (math.exp(-1.5), math.exp(-1.5)))


def test_bleu_closest_reference_ties_to_shorter() -> None:
    """4 words, references of 3 and 5 words (both 1 away): the shorter counts, so BP = 1."""
    assert corpus_bleu(["a b c d"], [["a b c", "a b c d e"]], max_n=1)[0] == pytest.approx(1.0)
    assert corpus_bleu(["a b c d"], [["a b c d e"]], max_n=1)[0] == pytest.approx(math.exp(1 - 5 / 4))


def test_cider_hand_computed() -> None:
    """Three images, one reference each, N = 3: "a" is in all (idf 0), every other n-gram in
    one (idf log 3). Images 1 and 2 are exact: cosine 1 for orders 1-3, 0 for order 4 (no
    4-grams): 10 * 3/4 = 7.5. Image 3 "a green star" vs "a green triangle": orders 1 and 2
    share one of two weighted n-grams (cosine 1/2), orders 3-4 nothing: 10 * 1/4 = 2.5.
    Equal lengths, no penalty. Mean (7.5 + 7.5 + 2.5) / 3."""
    hyps = ["a red circle", "a blue square", "a green star"]
    refs = [["a red circle"], ["a blue square"], ["a green triangle"]]
    assert cider_d(hyps, refs) == pytest.approx(17.5 / 3, abs=1e-12)


def test_cider_length_penalty() -> None:
    """Lengths 3 and 5 (delta 2) scale the similarities by exp(-4 / 72)."""
    refs = [["a red circle"], ["a blue square"], ["a green triangle"]]
    exact = cider_d(["a red circle", "a blue square", "x"], refs)
    longer = cider_d(["a red circle z z", "a blue square", "x"], refs)
    # only image 1 changes: its orders 1-3 cosines drop (z is a new word) and the penalty applies
    assert longer < exact
    assert cider_d(["x"] * 3, refs) == 0.0
    assert cider_d(["a red circle"], [["a red circle"]]) == 0.0  # one image: every idf is 0


def test_rouge_hand_computed() -> None:
    """LCS of "a red circle on the left" (6) and "a small red circle at the left" (7) is
    "a red circle the left" (5): P = 5/6, R = 5/7, F = 2.44 P R / (R + 1.44 P)."""
    p, r = 5 / 6, 5 / 7
    expected = (1 + 1.2**2) * p * r / (r + 1.2**2 * p)
    score = rouge_l(["a red circle on the left"], [["a small red circle at the left"]])
    assert score == pytest.approx(expected)
    assert rouge_l([""], [[""]]) == 1.0 and rouge_l([""], [["a"]]) == 0.0


def test_rouge_precision_and_recall_from_different_references() -> None:
    """As pycocoevalcap: P and R are maximised separately over the references. "a b" vs
    ["a b c d", "a x"]: P = max(2/2, 1/2) = 1, R = max(2/4, 1/2) = 1/2."""
    expected = 2.44 * 1 * 0.5 / (0.5 + 1.44 * 1)
    assert rouge_l(["a b"], [["a b c d", "a x"]]) == pytest.approx(expected)


def test_exact_match_and_word_f1() -> None:
    """word F1 of "a red circle" vs "a circle": overlap 2, P 2/3, R 1, F1 0.8. "a a a" vs
    "a b": overlap 1 (clipped), P 1/3, R 1/2, F1 0.4. Both empty: 1; one empty: 0."""
    assert word_f1(["a red circle"], [["a blue square", "a circle"]]) == pytest.approx(0.8)
    assert word_f1(["a a a"], [["a b"]]) == pytest.approx(0.4)
    assert word_f1(["", "", "a"], [[""], ["a"], [""]]) == pytest.approx(1 / 3)
    assert word_f1(["x y"], [["a b"]]) == 0.0
    hyps, refs = ["A Red circle!", "a square", ""], [["a red circle"], ["a blue square"], ["", "b"]]
    assert exact_match(hyps, refs) == pytest.approx(2 / 3)
    s = caption_scores(HYPS, REFS, metrics=("exact", "word_f1"))
    assert s["exact"] == pytest.approx(6 / 22)  # identical items: 4, 6, 13, 16, 18, 21
    assert set(s) == {"exact", "word_f1"}


def test_normalised_before_scoring() -> None:
    """Case, punctuation and typographic apostrophes do not change any score."""
    plain = caption_scores(["man's shoe on a mat"], [["a man's shoe on the mat"]])
    noisy = caption_scores(["  Man’s SHOE, on a mat!"], [["A man's shoe on the mat."]])
    assert plain == noisy


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hyps", "refs", "match"),
    [
        ([], [], "no captions"),
        (["a"], [["a"], ["b"]], "1 hypotheses but 2 reference lists"),
        (["a"], ["a"], "references 0 must be a list of strings"),
        (["a"], [[]], "hypothesis 0 has no references"),
        ([3], [["a"]], "hypothesis 0 is a int"),
        (["a"], [["a", None]], "reference of hypothesis 0 is a NoneType"),
        ("a", [["a"]], "got a str"),
    ],
)
def test_bad_input(hyps, refs, match: str) -> None:
    for function in (caption_scores, corpus_bleu, cider_d, rouge_l, exact_match, word_f1):
        with pytest.raises(InvalidArgument, match=match):
            function(hyps, refs)


def test_bad_options() -> None:
    with pytest.raises(UnknownName, match="unknown caption metric 'meteor'"):
        caption_scores(["a"], [["a"]], metrics=("bleu", "meteor"))
    assert caption_scores(["a"], [["a"]], metrics="exact") == {"exact": 1.0}
    with pytest.raises(InvalidArgument, match="max_n"):
        corpus_bleu(["a"], [["a"]], max_n=0)
    with pytest.raises(InvalidArgument, match="sigma"):
        cider_d(["a"], [["a"]], sigma=0)
    with pytest.raises(InvalidArgument, match="beta"):
        rouge_l(["a"], [["a"]], beta=-1)
