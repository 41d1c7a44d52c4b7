"""Tests for atelier.models.captioner and atelier.models.caption_decode (tiny configs)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from atelier.errors import InvalidArgument, InvalidImage
from atelier.models import build_model, load_model, save_model
from atelier.models.caption_decode import beam_search, generate, greedy, length_penalty
from atelier.models.captioner import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    CaptionerConfig,
)
from atelier.models.registry import count_parameters

from tests.models.helpers import assert_all_grads

TINY = {"vocab_size": 24, "pretrained": False, "image_size": 64, "d_model": 32, "layers": 2,
        "heads": 4, "max_length": 12}  # fmt: skip


def tiny(**overrides):
    torch.manual_seed(0)
    return build_model("captioner", {**TINY, **overrides})


def test_special_ids_match_the_tokenizer():
    from atelier.text import SPECIAL_TOKENS

    assert [PAD_ID, BOS_ID, EOS_ID, UNK_ID] == [SPECIAL_TOKENS.index(t) for t in ("[PAD]", "[BOS]", "[EOS]", "[UNK]")]


@pytest.mark.parametrize("decoder", ["transformer", "lstm"])
@pytest.mark.parametrize("stride, grid", [(32, 2), (16, 4)])
def test_shapes(decoder, stride, grid):
    model = tiny(decoder=decoder, feature_stride=stride).eval()
    images = torch.rand(3, 3, 40, 56)  # any size: resized to image_size
    tokens = torch.randint(4, 24, (3, 7))
    memory = model.encode(images)
    assert model.grid_size == grid and memory.shape == (3, grid * grid, 32)
    assert model(images, tokens).shape == (3, 7, 24)
    logits, attention = model.decode(memory, tokens, need_attention=True)
    assert logits.shape == (3, 7, 24) and attention.shape == (3, 7, grid * grid)
    assert torch.allclose(attention.sum(-1), torch.ones(3, 7), atol=1e-5)
    grey = model.encode(torch.rand(2, 1, 32, 32))  # one channel is repeated to three
    assert grey.shape == (2, grid * grid, 32)


@pytest.mark.parametrize("decoder", ["transformer", "lstm"])
def test_gradients_reach_the_decoder_not_the_frozen_encoder(decoder):
    model = tiny(decoder=decoder, dropout=0.0).train()
    model(torch.rand(2, 3, 32, 32), torch.randint(4, 24, (2, 5))).square().mean().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    used = nn.ModuleDict({"proj": model.proj, "norm": model.memory_norm, "decoder": model.decoder})
    assert_all_grads(used)


def test_encoder_stays_eval_and_frozen():
    model = tiny(finetune_blocks=2).train()
    assert model.decoder.training and not model.encoder.training
    assert not any(p.requires_grad for p in model.encoder.parameters())
    tuned = {id(p) for p in model.finetune_parameters()}
    assert tuned == {id(p) for b in model.encoder.blocks[-2:] for p in b.parameters()}
    model.encoder.set_trainable(2)
    assert {id(p) for p in model.encoder.parameters() if p.requires_grad} == tuned
    model.encoder.set_trainable(0)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    names = {n for n, _ in model.named_parameters()}
    assert {id(p) for p in model.decoder_parameters()} == {
        id(p) for n, p in model.named_parameters() if not n.startswith("encoder.")
    } and "encoder.stem.0.weight" in names


def test_prefix_and_rest_compose():
    model = tiny().eval()
    x = torch.rand(2, 3, 64, 64)
    full = model.encoder(x)
    for k in (0, 5, model.encoder.num_blocks):
        assert torch.allclose(model.encoder.rest(model.encoder.features(x, k), k), full, atol=1e-5)


def test_random_init_keeps_feature_scale():
    """PyTorch's default init shrinks the trunk's output to ~1e-8 (BatchNorm in eval does not
    normalise); the He fan-in init keeps it at the pretrained scale (about 1-5)."""
    grid = tiny().encoder(torch.rand(2, 3, 64, 64))
    assert 0.3 < float(grid.std()) < 30


def test_pretrained_trunk_is_efficientnet_lite0():
    """Reference: the trunk, followed by the package's own head, pooling and classifier,
    gives exactly ``EfficientNetLite0``'s ImageNet logits (same weights, same normalisation)."""
    from atelier.nets.efficientnet_lite0 import EfficientNetLite0

    model = build_model("captioner", {"vocab_size": 8, "image_size": 96, "d_model": 8, "heads": 1, "layers": 1})
    reference = EfficientNetLite0(resize=96)
    images = torch.rand(2, 3, 70, 70)
    net = reference.net
    with torch.no_grad():
        grid = model.encoder(images)
        pooled = net._swish(net._bn1(net._conv_head(grid))).mean(dim=(2, 3))
        _, logits = reference(images, logits=True)
    assert grid.shape == (2, 320, 3, 3)
    torch.testing.assert_close(net._fc(pooled), logits, rtol=1e-4, atol=1e-4)


def test_count_parameters_on_meta_device_reads_no_weights():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        n = count_parameters("captioner", {"vocab_size": 1000})
    model = build_model("captioner", {"vocab_size": 1000, "pretrained": False})
    assert n == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"image_size": 100}, "multiple of 32"),
        ({"image_size": 32}, "image_size"),
        ({"d_model": 30, "heads": 4}, "multiple of heads"),
        ({"finetune_blocks": 17}, "finetune_blocks"),
        ({"feature_stride": 16, "finetune_blocks": 12}, "finetune_blocks"),
        ({"feature_stride": 8}, "32, 16"),
        ({"decoder": "gru"}, "'transformer', 'lstm'"),
        ({"vocab_size": 4}, "vocab_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"max_length": 2}, "max_length"),
    ],
)
def test_config_errors(bad, match):
    with pytest.raises(InvalidArgument, match=match):
        CaptionerConfig(**{**TINY, **bad})


def test_bad_inputs():
    model = tiny().eval()
    with pytest.raises(InvalidArgument, match="max_length"):
        model(torch.rand(1, 3, 32, 32), torch.ones(1, 13, dtype=torch.long))
    with pytest.raises(InvalidArgument, match="int64"):
        model(torch.rand(1, 3, 32, 32), torch.ones(1, 3))
    with pytest.raises(InvalidImage, match="channels"):
        model.encode(torch.rand(1, 4, 32, 32))
    memory = model.encode(torch.rand(1, 3, 32, 32))
    for kwargs, match in (({"beam": 0}, "beam"), ({"max_length": 13}, "max_length"),
                          ({"no_repeat_ngram": -1}, "no_repeat_ngram"), ({"alpha": -1}, "alpha")):  # fmt: skip
        with pytest.raises(InvalidArgument, match=match):
            beam_search(model, memory, **{"beam": 2, **kwargs})


# --- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", ["transformer", "lstm"])
def test_cached_and_uncached_decoding_agree(decoder):
    model = tiny(decoder=decoder).eval()
    memory = model.encode(torch.rand(4, 3, 32, 32))
    for search in (lambda **kw: greedy(model, memory, **kw), lambda **kw: beam_search(model, memory, beam=3, **kw)):
        cached, plain = search(), search(use_cache=False)
        for a, b in zip(cached, plain):
            assert [h.tokens for h in a] == [h.tokens for h in b]
            for ha, hb in zip(a, b):
                assert ha.log_prob == pytest.approx(hb.log_prob, abs=1e-4)
                torch.testing.assert_close(ha.attention, hb.attention, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("decoder", ["transformer", "lstm"])
def test_beam_of_one_is_greedy(decoder):
    model = tiny(decoder=decoder).eval()
    memory = model.encode(torch.rand(5, 3, 32, 32))
    for g, b in zip(greedy(model, memory), beam_search(model, memory, beam=1)):
        assert len(b) == 1 and g[0].tokens == b[0].tokens
        assert g[0].log_prob == pytest.approx(b[0].log_prob, abs=1e-4)
        torch.testing.assert_close(g[0].attention, b[0].attention)


def test_hypotheses_are_consistent():
    model = tiny().eval()
    results = generate(model, torch.rand(3, 3, 32, 32), beam=3, max_length=8)
    for hyps in results:
        assert 1 <= len(hyps) <= 3
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            assert 1 <= len(h.tokens) <= 7 and PAD_ID not in h.tokens and BOS_ID not in h.tokens
            assert EOS_ID not in h.tokens[:-1]
            assert h.score == pytest.approx(h.log_prob / length_penalty(len(h.tokens), 0.6))
            assert h.attention.shape == (len(h.tokens), 2, 2)
            torch.testing.assert_close(h.attention.sum((1, 2)), torch.ones(len(h.tokens)))


def test_log_prob_is_the_teacher_forced_one():
    model = tiny().eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        memory = model.encode(images)
    for i, hyps in enumerate(beam_search(model, memory, beam=2)):
        h = hyps[0]
        inputs = torch.tensor([[BOS_ID, *h.tokens[:-1]]])
        with torch.no_grad():
            logp = torch.log_softmax(model.decode(memory[i : i + 1], inputs)[0][0], -1)
        assert float(logp[torch.arange(len(h.tokens)), h.tokens].sum()) == pytest.approx(h.log_prob, abs=1e-4)


class _Scripted:
    """A stand-in decoder with fixed next-token probabilities per prefix (for search rules).

    After [BOS]: EOS 0.5, word 4 0.45. After 4: word 5 0.9. After 4 5: EOS 0.95.
    The rest of the mass is spread over the other ids (not [PAD] or [BOS]).
    """

    grid_size = 1

    class config:  # noqa: N801 - mimics model.config
        max_length = 6

    table = {(): {EOS_ID: 0.5, 4: 0.45}, (4,): {5: 0.9}, (4, 5): {EOS_ID: 0.95}}

    def init_state(self, memory):
        return {"prefix": torch.zeros(memory.shape[0], 0, dtype=torch.long)}

    def step(self, state, tokens, position):
        prefix = state["prefix"] if position == 0 else torch.cat([state["prefix"], tokens[:, None]], 1)
        rows = []
        for row in prefix.tolist():
            given = self.table.get(tuple(row), {6: 0.9})
            free = [i for i in range(3, 8) if i not in given]  # the rest of the mass, exactly
            probs = torch.full((8,), 1e-12, dtype=torch.float64)
            probs[free] = (1 - sum(given.values())) / len(free)
            for token, p in given.items():
                probs[token] = p
            rows.append(probs.log())
        return torch.stack(rows), torch.ones(len(rows), 1), {"prefix": prefix}

    @staticmethod
    def reorder_state(state, index):
        return {k: v.index_select(0, index) for k, v in state.items()}


def test_length_normalisation_changes_the_winner():
    """By hand: [EOS] has log(0.5) = -0.693 over one token; [4, 5, EOS] has log(0.45 * 0.9 *
    0.95) = -0.955 over three. Raw sums (alpha 0) pick the short one; GNMT's penalty with
    alpha = 1 gives -0.693 / 1 against -0.955 / (8 / 6) = -0.716 (still short), alpha = 2
    gives -0.955 / 1.778 = -0.537: the long one wins."""
    model, memory = _Scripted(), torch.zeros(1, 1, 1)
    short = beam_search(model, memory, beam=2, alpha=0.0)[0]
    assert short[0].tokens == [EOS_ID] and short[1].tokens == [4, 5, EOS_ID]
    assert short[1].log_prob == pytest.approx(float(torch.tensor(0.45 * 0.9 * 0.95).log()), abs=1e-6)
    assert short[0].score == pytest.approx(float(torch.tensor(0.5).log()), abs=1e-6)
    assert beam_search(model, memory, beam=2, alpha=1.0)[0][0].tokens == [EOS_ID]
    assert beam_search(model, memory, beam=2, alpha=2.0)[0][0].tokens == [4, 5, EOS_ID]
    assert greedy(model, memory)[0][0].tokens == [EOS_ID]  # greedy cannot look ahead


def test_no_repeat_ngram_is_honoured():
    model = tiny(vocab_size=8).eval()  # a small vocabulary: an untrained model repeats itself
    memory = model.encode(torch.rand(4, 3, 32, 32))

    def bigrams(tokens):
        return [tuple(tokens[i : i + 2]) for i in range(len(tokens) - 1)]

    plain = [h.tokens for hyps in beam_search(model, memory, beam=2) for h in hyps]
    assert any(len(set(bigrams(t))) < len(bigrams(t)) for t in plain)  # the test can fail
    for search in (greedy, lambda m, x, **kw: beam_search(m, x, beam=2, **kw)):
        for hyps in search(model, memory, no_repeat_ngram=2):
            for h in hyps:
                assert len(set(bigrams(h.tokens))) == len(bigrams(h.tokens))
    for hyps in greedy(model, memory, no_repeat_ngram=1):
        assert len(set(hyps[0].tokens)) == len(hyps[0].tokens)


# --- save / load ----------------------------------------------------------------------------


@pytest.mark.parametrize("decoder, tie", [("transformer", True), ("transformer", False), ("lstm", True)])
def test_save_load_round_trip(tmp_path, decoder, tie):
    model = tiny(decoder=decoder, tie_embeddings=tie).eval()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    images, tokens = torch.rand(2, 3, 32, 32), torch.randint(4, 24, (2, 6))
    assert torch.equal(model(images, tokens), loaded(images, tokens))
    assert not any(p.requires_grad for p in loaded.encoder.parameters())
    heads = [n for n in loaded.state_dict() if "head" in n]
    assert bool(heads) != tie  # a tied output layer is stored once, as the embedding


def test_saved_state_leaves_out_the_imagenet_trunk(tmp_path):
    """Trunk tensors equal to the package's ImageNet weights are not stored; load_model
    takes them from the package. A changed tensor (a fine-tuned block) is stored."""
    from atelier.models.registry import WEIGHTS_FILE

    model = build_model("captioner", {"vocab_size": 30, "image_size": 96, "d_model": 16, "heads": 2, "layers": 1})
    assert not any(k.startswith("encoder.") for k in model.state_dict())
    with torch.no_grad():
        model.encoder.blocks[15]._project_conv.weight.mul_(1.5)  # as fine-tuning would
    assert [k for k in model.state_dict() if k.startswith("encoder.")] == ["encoder.blocks.15._project_conv.weight"]
    save_model(model.eval(), tmp_path)
    assert (tmp_path / WEIGHTS_FILE).stat().st_size < 2_000_000  # the trunk alone is 12 MB
    loaded = load_model(tmp_path)
    images, tokens = torch.rand(2, 3, 64, 64), torch.randint(4, 30, (2, 5))
    assert torch.equal(model(images, tokens), loaded(images, tokens))
    # a fresh model loading this state gets the ImageNet tensors it lacks, not its own
    other = build_model("captioner", loaded.config)
    with torch.no_grad():
        other.encoder.blocks[0]._project_conv.weight.zero_()
    other.load_state_dict(loaded.state_dict())
    assert torch.equal(other.encoder.blocks[0]._project_conv.weight, loaded.encoder.blocks[0]._project_conv.weight)


def test_eight_bit_export(tmp_path):
    """``ship_run(bits=8)`` stores ``quantize_state(model.state_dict())``: only the trained
    parts are quantized, the ImageNet trunk comes back exact."""
    from safetensors.torch import save

    from atelier.models.quantize import quantize_state
    from atelier.models.registry import WEIGHTS_FILE

    model = build_model("captioner", {"vocab_size": 50, "image_size": 96, "d_model": 32, "layers": 1}).eval()
    save_model(model, tmp_path)
    full = (tmp_path / WEIGHTS_FILE).stat().st_size
    (tmp_path / WEIGHTS_FILE).write_bytes(save(quantize_state(model.state_dict())))
    assert (tmp_path / WEIGHTS_FILE).stat().st_size < 0.4 * full
    loaded = load_model(tmp_path)
    images = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.encoder(images), loaded.encoder(images))
        a, b = model.encode(images), loaded.encode(images)
    assert float((a - b).abs().max()) < 0.05
