"""Tests for atelier.text.CaptionTokenizer: special ids, round trips, batches, save/load, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models

from atelier.errors import InvalidArgument
from atelier.text import SPECIAL_TOKENS, TOKENIZER_FILE, CaptionTokenizer, normalize

CAPTIONS = [
    "A small red circle at the top left on a white background.",
    "a large blue square at the bottom right",
    "A green triangle in the middle, on a black background",
    "Woman’s hat",
    "keycap #",
    "jack-o-lantern",
    "a small red circle and a large blue square",
]


@pytest.fixture(scope="module", params=["word", "bpe"])
def tok(request) -> CaptionTokenizer:
    vocab = 100 if request.param == "word" else 400
    return CaptionTokenizer.train(CAPTIONS, kind=request.param, vocab_size=vocab)


def test_special_ids(tok: CaptionTokenizer) -> None:
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    assert [tok.id_to_token(i) for i in range(4)] == list(SPECIAL_TOKENS)
    assert tok.special_ids == (0, 1, 2, 3)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert len(tok) == tok.vocab_size


@pytest.mark.parametrize("caption", CAPTIONS)
def test_round_trip(tok: CaptionTokenizer, caption: str) -> None:
    """decode(encode(t)) is normalize(t) for every training caption, both kinds."""
    ids = tok.encode(caption)
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert tok.eos_id not in ids[1:-1] and tok.pad_id not in ids
    assert tok.decode(ids) == normalize(caption)
    assert tok.encode(caption, add_special=False) == ids[1:-1]


def test_word_level_vocabulary() -> None:
    """Most frequent words first, ties alphabetical; min_frequency and vocab_size cut the rest."""
    tok = CaptionTokenizer.train(["b a", "a c", "a b", "d"], vocab_size=100)
    assert tok.kind == "word"
    assert [tok.id_to_token(i) for i in range(4, tok.vocab_size)] == ["a", "b", "c", "d"]
    assert CaptionTokenizer.train(["b a", "a c", "a b", "d"], min_frequency=2).vocab_size == 6
    assert CaptionTokenizer.train(["b a", "a c", "a b", "d"], vocab_size=5).vocab_size == 5
    assert tok.tokenize("A, B!") == ["a", "b"]


def test_unknown_words() -> None:
    tok = CaptionTokenizer.train(["a red circle"])
    ids = tok.encode("a purple circle")
    assert ids == [1, tok.token_to_id("a"), tok.unk_id, tok.token_to_id("circle"), 2]
    assert tok.decode(ids) == "a circle"  # skip_special drops [UNK] too, as HuggingFace does
    assert tok.decode(ids, skip_special=False) == "[BOS] a [UNK] circle [EOS]"


def test_bpe_never_unknown() -> None:
    tok = CaptionTokenizer.train(CAPTIONS, kind="bpe", vocab_size=300)
    assert tok.kind == "bpe"
    for text in ["zebra crossing ünïcödé", "🐈 cat face", "x"]:
        ids = tok.encode(text)
        assert tok.unk_id not in ids
        assert tok.decode(ids) == normalize(text)


def test_decode_stops_at_eos(tok: CaptionTokenizer) -> None:
    """Generated sequences go on after [EOS]; decoding ignores what follows it."""
    ids = tok.encode("a red circle") + tok.encode("a blue square", add_special=False)
    assert tok.decode(ids) == "a red circle"
    assert tok.decode([tok.bos_id, tok.eos_id]) == ""
    assert tok.decode([]) == ""
    assert tok.decode(torch.tensor(ids)) == tok.decode(np.array(ids)) == "a red circle"


def test_encode_batch_shapes_padding_truncation(tok: CaptionTokenizer) -> None:
    texts = ["a red circle", "a small red circle at the top left on a white background", ""]
    ids, lengths = tok.encode_batch(texts, max_length=6)
    assert ids.shape == (3, 6) and ids.dtype == torch.long
    assert lengths.shape == (3,) and lengths.dtype == torch.long
    for row, text, n in zip(ids.tolist(), texts, lengths.tolist()):
        full = tok.encode(text)
        assert n == min(len(full), 6)
        assert row[n - 1] == tok.eos_id  # truncation keeps [EOS]
        assert row[:n - 1] == full[:n - 1]
        assert row[n:] == [tok.pad_id] * (6 - n)
    assert lengths[2] == 2  # an empty caption is [BOS] [EOS]
    assert tok.decode_batch(ids)[0] == "a red circle"


def test_encode_batch_pads_to_longest() -> None:
    tok = CaptionTokenizer.train(["a b c d", "a"])
    ids, lengths = tok.encode_batch(["a", "a b c d"])
    assert ids.tolist() == [[1, 4, 2, 0, 0, 0], [1, 4, 5, 6, 7, 2]]
    assert lengths.tolist() == [3, 6]
    empty, none = tok.encode_batch([], max_length=5)
    assert empty.shape == (0, 5) and none.shape == (0,)


def test_save_load_round_trip(tok: CaptionTokenizer, tmp_path) -> None:
    path = tok.save(tmp_path / "run")
    assert path == tmp_path / "run" / TOKENIZER_FILE
    assert [p.name for p in (tmp_path / "run").iterdir()] == [TOKENIZER_FILE]  # no temporary left
    for source in (tmp_path / "run", path):
        back = CaptionTokenizer.load(source)
        assert back.kind == tok.kind and back.vocab_size == tok.vocab_size
        for caption in CAPTIONS:
            assert back.encode(caption) == tok.encode(caption)
    # HuggingFace reads the file as it is
    assert Tokenizer.from_file(str(path)).get_vocab_size() == tok.vocab_size
    tok.save(tmp_path / "run")  # replaces
    assert CaptionTokenizer.load(tmp_path / "run").vocab_size == tok.vocab_size


def test_training_is_deterministic_across_processes(tmp_path) -> None:
    """The same captions give byte-identical tokenizer.json files in two fresh processes."""
    code = (
        "import sys; from atelier.text import CaptionTokenizer\n"
        "caps = ['q w e r t y u i o p', 'a s d f g h j k l', 'z x c v b n m q w e']\n"
        "CaptionTokenizer.train(caps, kind=sys.argv[1], vocab_size=300).save(sys.argv[2])\n"
    )
    for kind in ("word", "bpe"):
        for run in ("a", "b"):
            subprocess.run([sys.executable, "-c", code, kind, str(tmp_path / kind / run)], check=True)
        a, b = ((tmp_path / kind / run / TOKENIZER_FILE).read_bytes() for run in ("a", "b"))
        assert a == b


# --- bad input --------------------------------------------------------------------------------


def test_load_missing(tmp_path) -> None:
    with pytest.raises(InvalidArgument, match=f"no tokenizer file .*{TOKENIZER_FILE}"):
        CaptionTokenizer.load(tmp_path)
    with pytest.raises(InvalidArgument, match="no tokenizer file"):
        CaptionTokenizer.load(tmp_path / "nope.json")


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"version": "1.0"}', b"\xff\xfe\x00garbage", json.dumps({"model": 3}).encode()],
)
def test_load_corrupt(tmp_path, content: bytes) -> None:
    (tmp_path / TOKENIZER_FILE).write_bytes(content)
    with pytest.raises(InvalidArgument) as info:
        CaptionTokenizer.load(tmp_path)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / TOKENIZER_FILE) in message


def test_load_wrong_special_tokens(tmp_path) -> None:
    """A valid HuggingFace file whose first ids are not [PAD] [BOS] [EOS] [UNK]."""
    hf = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1, "b": 2, "c": 3}, unk_token="[UNK]"))
    hf.save(str(tmp_path / TOKENIZER_FILE))
    with pytest.raises(InvalidArgument, match=r"tokenizer.json: the first ids .* must be \[PAD\]"):
        CaptionTokenizer.load(tmp_path)


@pytest.mark.parametrize(
    ("captions", "kwargs", "match"),
    [
        ([], {}, "no words"),
        (["", "  ", "?!"], {}, "no words"),
        (["a cat", 3], {}, "caption 1 is a int"),
        (["a cat", None], {}, "caption 1 is a NoneType"),
        ("a cat", {}, "got one string"),
        (["a"], {"kind": "char"}, "unknown tokenizer kind 'char'"),
        (["a"], {"vocab_size": 4}, r"vocab_size \(kind=.word.\) must be an int >= 5"),
        (["a"], {"kind": "bpe", "vocab_size": 100}, r"vocab_size \(kind=.bpe.\) must be an int >= 261"),
        (["a"], {"min_frequency": 0}, "min_frequency"),
    ],
)
def test_train_bad_input(captions, kwargs, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        CaptionTokenizer.train(captions, **kwargs)


def test_bad_ids_and_lengths() -> None:
    tok = CaptionTokenizer.train(["a cat"])
    with pytest.raises(InvalidArgument, match="outside the vocabulary"):
        tok.decode([1, 99])
    with pytest.raises(InvalidArgument, match="outside the vocabulary"):
        tok.decode([-1])
    with pytest.raises(InvalidArgument, match="1-D"):
        tok.decode(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(InvalidArgument, match="ints"):
        tok.decode([1.5])
    with pytest.raises(InvalidArgument, match="no token has id"):
        tok.id_to_token(tok.vocab_size)
    with pytest.raises(InvalidArgument, match=r"max_length .* must be an int >= 2"):
        tok.encode_batch(["a"], max_length=1)
    with pytest.raises(InvalidArgument, match="list of strings"):
        tok.encode_batch("a cat", max_length=4)
    with pytest.raises(InvalidArgument, match="must be a str"):
        tok.encode(None)
