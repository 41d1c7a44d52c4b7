"""The one text-normalisation policy of atelier: captions, tokenizers and text metrics.

The tokenizer (``atelier.text.CaptionTokenizer``) and the caption metrics
(``atelier.metrics.text``) both pass every text through :func:`normalize`, so a reference and
a hypothesis are always compared in the same form, and a model is trained on exactly the
tokens it is scored on.

The policy, in order:

1. **Unicode NFKC** (compatibility forms folded: full-width letters, ligatures, ``…`` -> ``...``).
2. **Lower case** (``str.lower``), then NFKC again (lower-casing can leave a decomposed form).
3. **Apostrophes and hyphens unified**: ``’ ‘ ʼ`` become ``'``; the Unicode hyphens ``‐ ‑``
   become ``-``.
4. **Word-internal apostrophes and hyphens are kept**: an ``'`` or ``-`` with a letter or digit
   on both sides stays inside its word (``woman's``, ``medium-light``, ``jack-o-lantern``).
5. **Punctuation is dropped**: every other character of a Unicode punctuation category (``P*``:
   ``. , ; : ! ? ( ) [ ] " '``, dashes, ...) becomes a space — as the COCO caption evaluation
   drops punctuation tokens before scoring. Exceptions: the symbol-like marks ``# * % & @ /
   \\`` are *kept as separate tokens*, like every Unicode symbol (``S*``: ``+ = < > $ ©``,
   emoji), so ``keycap #`` and ``keycap *`` stay different captions.
6. **Control and format characters** (``C*``: tabs, zero-width joiners, ...) and emoji
   variation selectors (U+FE00-U+FE0F) are removed (controls become spaces).
7. **Whitespace collapsed**: tokens are joined by single spaces; no leading or trailing space.

The result is a sequence of tokens separated by single spaces, so ``text.split()`` gives the
words the metrics count. The function is idempotent: ``normalize(normalize(t)) ==
normalize(t)``.

Example
-------
>>> normalize("  A Cat,  sitting on the MAT! ")
'a cat sitting on the mat'
>>> normalize("Woman’s hat (medium-light skin tone)")
"woman's hat medium-light skin tone"
>>> normalize("keycap: #"), normalize("Mrs. Claus"), normalize("1+1=2")
('keycap #', 'mrs claus', '1 + 1 = 2')
"""

from __future__ import annotations

import unicodedata

from atelier.errors import InvalidArgument

__all__ = ["normalize"]

# Step 3: typographic apostrophes and Unicode hyphens to their ASCII forms.
_UNIFY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-"})
# Step 5: punctuation (category Po) that reads as a word of its own, kept as a token.
_SYMBOL_MARKS = frozenset("#*%&@/\\")
_JOINERS = frozenset("'-")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def normalize(text: str) -> str:
    """Normalise a caption: NFKC, lower case, punctuation dropped, whitespace collapsed.

    See the module docstring for the full policy. Used by the tokenizer and by every caption
    metric, so references and hypotheses are normalised identically.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        Space-separated tokens (possibly ``""``).

    Raises
    ------
    InvalidArgument
        ``text`` is not a ``str``.

    Example
    -------
    >>> normalize("A  red\\tcircle. A blue square...")
    'a red circle a blue square'
    >>> normalize("don't -- stop")
    "don't stop"
    """
    if not isinstance(text, str):
        raise InvalidArgument(f"a caption must be a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).lower())
    text = text.translate(_UNIFY)
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch in _JOINERS:
            inside = 0 < i < last and _is_word_char(text[i - 1]) and _is_word_char(text[i + 1])
            out.append(ch if inside else " ")
            continue
        if "\ufe00" <= ch <= "\ufe0f":  # emoji variation selectors: no meaning in a caption
            continue
        category = unicodedata.category(ch)
        if ch in _SYMBOL_MARKS or category[0] == "S":
            out.append(f" {ch} ")
        elif category[0] == "P" or category == "Cc" or ch.isspace():
            out.append(" ")
        elif category[0] == "C":  # format (zero-width joiner, BOM), surrogates, private, unassigned
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())
