"""Caption tokenizers: word-level or byte-level BPE, trained on captions, saved as one JSON file.

A thin layer over HuggingFace ``tokenizers`` (its quick-tour recipe: a ``Tokenizer`` around a
``WordLevel`` or ``BPE`` model, a pre-tokenizer, ``train_from_iterator`` with the special
tokens listed first so that their ids are fixed). atelier adds what captioning needs around
it: one normalisation policy (:func:`atelier.text.normalize`, applied to every text before it
reaches the HuggingFace tokenizer, in training and encoding alike), ``[BOS] ... [EOS]``
framing, padded batches as torch tensors, decoding that stops at ``[EOS]``, and an atomic
``tokenizer.json`` beside the model's weights.

Special tokens and their ids, the same for every tokenizer atelier trains:

========  ==  ============================================
``[PAD]``  0  fills a batch up to its length
``[BOS]``  1  begins every encoded caption
``[EOS]``  2  ends it; decoding stops at the first one
``[UNK]``  3  a word not in the vocabulary (word-level only)
========  ==  ============================================

Kinds:

- ``"word"`` (default): one token per normalised word (``WhitespaceSplit`` pre-tokenizer);
  the ``vocab_size - 4`` most frequent words seen at least ``min_frequency`` times, every
  other word is ``[UNK]``. Ties in frequency are broken alphabetically, so training is
  deterministic.
- ``"bpe"``: byte-level BPE (GPT-2's byte alphabet, ``ByteLevel`` pre-tokenizer and decoder):
  never produces ``[UNK]``; ``vocab_size`` must leave room for the 256 byte tokens.

``tokenizer.json`` is HuggingFace's own format (``Tokenizer.from_file`` reads it), holding
the vocabulary for already-normalised text: outside atelier, apply
:func:`atelier.text.normalize` first.

Example
-------
>>> tok = CaptionTokenizer.train(["a red circle", "a blue square", "A red square."])
>>> tok.vocab_size, tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id
(9, 0, 1, 2, 3)
>>> ids = tok.encode("A red TRIANGLE!")
>>> [tok.id_to_token(i) for i in ids]
['[BOS]', 'a', 'red', '[UNK]', '[EOS]']
>>> tok.decode(tok.encode("a blue circle"))
'a blue circle'
>>> batch, lengths = tok.encode_batch(["a red circle", "a square"], max_length=6)
>>> batch.tolist(), lengths.tolist()
([[1, 4, 5, 8, 2, 0], [1, 4, 6, 2, 0, 0]], [5, 4])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from atelier.errors import InvalidArgument
from atelier.text.normalize import normalize

if TYPE_CHECKING:  # torch is imported where a tensor is made, so `import atelier` stays light
    import torch

__all__ = ["SPECIAL_TOKENS", "TOKENIZER_FILE", "CaptionTokenizer"]

TOKENIZER_FILE = "tokenizer.json"
PAD, BOS, EOS, UNK = "[PAD]", "[BOS]", "[EOS]", "[UNK]"
#: The special tokens in id order: their position is their id in every atelier tokenizer.
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)
_KINDS = ("word", "bpe")
_BYTE_ALPHABET = 256


def _check_int(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{name} must be an int >= {minimum}, got {value!r}")


def _ids_list(ids: Any) -> list[int]:
    """A 1-D sequence of ids (list, tuple, 1-D tensor or array) as a list of ints."""
    if hasattr(ids, "tolist"):  # torch.Tensor, numpy.ndarray
        if getattr(ids, "ndim", 1) != 1:
            raise InvalidArgument(f"decode takes one sequence of ids (1-D), got shape {tuple(ids.shape)}")
        ids = ids.tolist()
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
        raise InvalidArgument(f"ids must be a sequence of ints, got {type(ids).__name__}")
    out = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            raise InvalidArgument(f"ids must be ints, got {type(i).__name__} {i!r}")
        out.append(int(i))
    return out


class CaptionTokenizer:
    """A trained caption tokenizer (word-level or byte-level BPE) with fixed special ids.

    Build one with :meth:`train` or :meth:`load`; the constructor wraps an existing
    ``tokenizers.Tokenizer`` and checks that its first four ids are ``[PAD] [BOS] [EOS]
    [UNK]``.

    Parameters
    ----------
    tokenizer : tokenizers.Tokenizer
        A ``WordLevel`` or ``BPE`` tokenizer whose ids 0-3 are the special tokens.

    Raises
    ------
    InvalidArgument
        The special tokens are missing or have other ids, or the model is neither
        ``WordLevel`` nor ``BPE``.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        if not isinstance(tokenizer, Tokenizer):
            raise InvalidArgument(f"expected a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
        model = type(tokenizer.model).__name__
        if model not in ("WordLevel", "BPE"):
            raise InvalidArgument(f"a caption tokenizer is WordLevel or BPE, got a {model} model")
        found = tuple(tokenizer.id_to_token(i) for i in range(len(SPECIAL_TOKENS)))
        if found != SPECIAL_TOKENS:
            raise InvalidArgument(
                f"the first ids of a caption tokenizer must be {', '.join(SPECIAL_TOKENS)}, got {found}"
            )
        self._tok = tokenizer
        self._kind: Literal["word", "bpe"] = "word" if model == "WordLevel" else "bpe"

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        captions: Iterable[str],
        *,
        kind: Literal["word", "bpe"] = "word",
        vocab_size: int = 8000,
        min_frequency: int = 1,
    ) -> CaptionTokenizer:
        """Train a tokenizer on captions (each normalised first).

        Parameters
        ----------
        captions : iterable of str
            The training captions (read once).
        kind : {"word", "bpe"}
            Word-level (default) or byte-level BPE.
        vocab_size : int
            The largest vocabulary, special tokens included (at least 5 for ``"word"``, 261
            for ``"bpe"``). A word-level vocabulary is smaller when the corpus has fewer words.
        min_frequency : int
            A word (or BPE merge) seen fewer times is left out.

        Returns
        -------
        CaptionTokenizer

        Raises
        ------
        InvalidArgument
            An unknown ``kind``, a bad size or frequency, a caption that is not a ``str``, or
            no words in the whole corpus.

        Example
        -------
        >>> tok = CaptionTokenizer.train(["a cat", "a dog", "a cat"], vocab_size=6)
        >>> [tok.id_to_token(i) for i in range(tok.vocab_size)]
        ['[PAD]', '[BOS]', '[EOS]', '[UNK]', 'a', 'cat']
        """
        if kind not in _KINDS:
            raise InvalidArgument(f"unknown tokenizer kind {kind!r} (known: {', '.join(_KINDS)})")
        smallest = len(SPECIAL_TOKENS) + (1 if kind == "word" else _BYTE_ALPHABET + 1)
        _check_int(vocab_size, f"vocab_size (kind={kind!r})", smallest)
        _check_int(min_frequency, "min_frequency", 1)
        if isinstance(captions, (str, bytes)):
            raise InvalidArgument("captions must be an iterable of strings, got one string; wrap it: [text]")
        texts = []
        for i, caption in enumerate(captions):
            if not isinstance(caption, str):
                raise InvalidArgument(f"caption {i} is a {type(caption).__name__}, not a str: {caption!r:.60}")
            text = normalize(caption)
            if text:
                texts.append(text)
        if not texts:
            raise InvalidArgument("cannot train a tokenizer on no words: the captions are empty")

        if kind == "word":
            tok = Tokenizer(models.WordLevel(unk_token=UNK))
            tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
            trainer = trainers.WordLevelTrainer(
                vocab_size=vocab_size, min_frequency=min_frequency,
                special_tokens=list(SPECIAL_TOKENS), show_progress=False,
            )
        else:
            tok = Tokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
            tok.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(
                vocab_size=vocab_size, min_frequency=min_frequency,
                special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            )
        tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
        return cls(tok)

    @classmethod
    def load(cls, path: str | Path) -> CaptionTokenizer:
        """Read ``tokenizer.json`` from a folder, or a tokenizer JSON file given by its path.

        Raises
        ------
        InvalidArgument
            The file is missing, not a tokenizer file, or not a caption tokenizer (one line
            naming the file).
        """
        path = Path(path)
        file = path / TOKENIZER_FILE if path.is_dir() else path
        if not file.is_file():
            raise InvalidArgument(
                f"no tokenizer file {file}: a caption model folder needs {TOKENIZER_FILE} "
                "(written by CaptionTokenizer.save or exported by a training run)"
            )
        try:
            tok = Tokenizer.from_str(file.read_text("utf-8"))
        except Exception as e:  # tokenizers raises a bare Exception; also OSError, UnicodeDecodeError
            reason = (str(e).splitlines() or [type(e).__name__])[0]
            raise InvalidArgument(f"{file} is not a valid tokenizer file ({reason}); re-export it") from None
        try:
            return cls(tok)
        except InvalidArgument as e:
            raise InvalidArgument(f"{file}: {e}") from None

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/tokenizer.json`` atomically (temporary file renamed into place).

        The folder is created if missing; an existing ``tokenizer.json`` is replaced. Returns
        the path written.

        Raises
        ------
        CannotWrite
            The folder cannot be written.
        """
        from atelier.image import write_atomic

        file = Path(folder) / TOKENIZER_FILE
        write_atomic(file, self._tok.to_str(pretty=True).encode("utf-8"))
        return file

    # --- properties -----------------------------------------------------------------------

    @property
    def kind(self) -> Literal["word", "bpe"]:
        """``"word"`` or ``"bpe"``."""
        return self._kind

    @property
    def vocab_size(self) -> int:
        """The number of ids, special tokens included: ids are ``0 .. vocab_size - 1``."""
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def bos_id(self) -> int:
        return 1

    @property
    def eos_id(self) -> int:
        return 2

    @property
    def unk_id(self) -> int:
        return 3

    @property
    def special_ids(self) -> tuple[int, ...]:
        """``(pad_id, bos_id, eos_id, unk_id)``."""
        return (0, 1, 2, 3)

    @property
    def hf_tokenizer(self) -> Tokenizer:
        """The wrapped ``tokenizers.Tokenizer`` (expects normalised text)."""
        return self._tok

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"CaptionTokenizer(kind={self._kind!r}, vocab_size={self.vocab_size})"

    def id_to_token(self, i: int) -> str:
        """The token of id ``i`` (``InvalidArgument`` outside ``0 .. vocab_size - 1``)."""
        token = self._tok.id_to_token(i) if isinstance(i, int) and not isinstance(i, bool) and i >= 0 else None
        if token is None:
            raise InvalidArgument(f"no token has id {i!r}: ids run from 0 to {self.vocab_size - 1}")
        return token

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token`` (a vocabulary entry, not text), or None."""
        return self._tok.token_to_id(token)

    # --- encoding -------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``normalize(text)``, without special tokens."""
        return self._tok.encode(normalize(text), add_special_tokens=False).tokens

    def encode(self, text: str, *, add_special: bool = True) -> list[int]:
        """Ids of ``normalize(text)``: ``[BOS] ... [EOS]`` unless ``add_special=False``.

        Example
        -------
        >>> tok = CaptionTokenizer.train(["a cat"])
        >>> tok.encode("A cat."), tok.encode("a dog", add_special=False)
        ([1, 4, 5, 2], [4, 3])
        """
        ids = self._tok.encode(normalize(text), add_special_tokens=False).ids
        return [self.bos_id, *ids, self.eos_id] if add_special else ids

    def encode_batch(
        self, texts: Sequence[str], *, max_length: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode captions into one padded batch.

        Each caption is ``[BOS] ... [EOS]``; one longer than ``max_length`` is cut to its
        first ``max_length - 1`` tokens plus ``[EOS]`` (so it always ends); shorter ones are
        padded with ``pad_id``.

        Parameters
        ----------
        texts : sequence of str, length B
        max_length : int or None
            L, at least 2; None pads to the longest caption.

        Returns
        -------
        ids : torch.LongTensor, shape (B, L)
        lengths : torch.LongTensor, shape (B,)
            Tokens before the padding, ``[BOS]`` and ``[EOS]`` included.

        Example
        -------
        >>> tok = CaptionTokenizer.train(["a big red circle"])
        >>> ids, lengths = tok.encode_batch(["a big red circle", "a"], max_length=4)
        >>> ids.tolist(), lengths.tolist()
        ([[1, 4, 5, 2], [1, 4, 2, 0]], [4, 3])
        """
        import torch

        if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
            raise InvalidArgument("encode_batch takes a list of strings; for one caption use encode")
        if max_length is not None:
            _check_int(max_length, "max_length ([BOS] and [EOS])", 2)
        encoded = [self.encode(t) for t in texts]
        if max_length is not None:
            encoded = [e if len(e) <= max_length else e[: max_length - 1] + [self.eos_id] for e in encoded]
        width = max_length if max_length is not None else max((len(e) for e in encoded), default=2)
        ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = torch.tensor(e, dtype=torch.long)
        return ids, torch.tensor([len(e) for e in encoded], dtype=torch.long)

    # --- decoding -------------------------------------------------------------------------

    def decode(self, ids: Sequence[int] | Any, *, skip_special: bool = True) -> str:
        """Text of ``ids`` up to the first ``[EOS]``.

        With ``skip_special`` (default) the special tokens are left out, ``[UNK]`` included
        (as HuggingFace's ``skip_special_tokens``); otherwise they are written, up to and
        including that ``[EOS]``.

        Parameters
        ----------
        ids : sequence of int, or a 1-D tensor or array
            For example one row of :meth:`encode_batch`'s ids, or a generated sequence.

        Raises
        ------
        InvalidArgument
            An id outside ``0 .. vocab_size - 1``, or not 1-D.
        """
        ids = _ids_list(ids)
        size = self.vocab_size
        bad = [i for i in ids if not 0 <= i < size]
        if bad:
            raise InvalidArgument(f"id {bad[0]} is outside the vocabulary (0 to {size - 1})")
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id) + 1]
        text = self._tok.decode(ids, skip_special_tokens=skip_special)
        return " ".join(text.split())  # byte-level BPE decodes with a leading space

    def decode_batch(self, ids: Any, *, skip_special: bool = True) -> list[str]:
        """:meth:`decode` for each row of a ``(B, L)`` tensor, array or list of lists."""
        rows = ids.tolist() if hasattr(ids, "tolist") else ids
        return [self.decode(row, skip_special=skip_special) for row in rows]
