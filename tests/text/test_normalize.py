"""Tests for atelier.text.normalize: the written-down caption normalisation policy."""

from __future__ import annotations

import json

import pytest

from atelier.errors import InvalidArgument
from atelier.text import normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A Cat", "a cat"),  # lower case
        ("  a \t cat\n\nsat  ", "a cat sat"),  # whitespace collapsed
        ("a cat, a dog; a bird: a fish!", "a cat a dog a bird a fish"),  # punctuation dropped
        ("Mrs. Claus", "mrs claus"),
        ("A button (blood type)", "a button blood type"),
        ('"quoted" [text] {x}', "quoted text x"),
        ("wait... what?", "wait what"),
        ("wait… what", "wait what"),  # NFKC: the ellipsis character is "..."
        ("ＦＵＬＬ ｗｉｄｔｈ", "full width"),  # NFKC compatibility forms
        ("ﬁne", "fine"),  # ligature
        ("medium-light skin tone", "medium-light skin tone"),  # word-internal hyphen kept
        ("jack-o-lantern", "jack-o-lantern"),
        ("man’s shoe", "man's shoe"),  # typographic apostrophe unified, kept inside the word
        ("don't", "don't"),
        ("'quoted' - dash -- and — em", "quoted dash and em"),  # outer quotes and dashes dropped
        ("non‑breaking‐hyphen", "non-breaking-hyphen"),  # Unicode hyphens unified
        ("keycap #", "keycap #"),  # symbol-like marks kept as tokens
        ("keycap: *", "keycap *"),
        ("50% off & 1/2", "50 % off & 1 / 2"),
        ("1+1=2", "1 + 1 = 2"),  # symbols (S*) split off
        ("I ❤️ NY", "i ❤ ny"),  # emoji kept, variation selector removed
        ("zero\u200bwidth", "zerowidth"),  # format characters removed
        ("Café CURAÇAO", "café curaçao"),  # accents kept, composed
        ("", ""),
        ("?!...", ""),
    ],
)
def test_policy(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "text",
    ["a-", "-a", "a - b", "a'-b", "x-\ufe0fy", "«a» ‹b›", "a_b", "A\u0301b", "ǅemal", "İstanbul",
     "ß STRASSE"],
)
def test_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == " ".join(once.split())


def test_emoji_names_idempotent_and_distinct(shared_data) -> None:
    """Every emoji72 name normalises to a distinct caption (no two emoji become one), and the
    policy is idempotent on all of them."""
    lines = (shared_data / "emoji72" / "metadata.jsonl").read_text("utf-8").splitlines()
    names = sorted({json.loads(line)["text"] for line in lines})
    normalized = [normalize(n) for n in names]
    assert len(set(normalized)) == len(names)
    assert all(normalize(n) == n and n for n in normalized)


@pytest.mark.parametrize("bad", [None, 3, b"bytes", ["a"]])
def test_not_a_string(bad) -> None:
    with pytest.raises(InvalidArgument, match="must be a str"):
        normalize(bad)
