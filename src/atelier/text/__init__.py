"""Text for captioning and text-to-image: one normalisation policy and caption tokenizers.

``normalize`` is the policy every caption goes through (the tokenizer and the caption metrics
in ``atelier.metrics`` both use it); ``CaptionTokenizer`` is a word-level or byte-level BPE
tokenizer over HuggingFace ``tokenizers``, saved as ``tokenizer.json`` beside a model.

Example
-------
>>> from atelier.text import CaptionTokenizer, normalize
>>> normalize("A red Circle.")
'a red circle'
>>> tok = CaptionTokenizer.train(["a red circle"])
>>> tok.decode(tok.encode("A red Circle."))
'a red circle'
"""

from atelier.text.normalize import normalize
from atelier.text.tokenizer import SPECIAL_TOKENS, TOKENIZER_FILE, CaptionTokenizer

__all__ = ["SPECIAL_TOKENS", "TOKENIZER_FILE", "CaptionTokenizer", "normalize"]
