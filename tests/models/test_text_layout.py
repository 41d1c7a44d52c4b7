"""The text layout heads: shapes, and the object head's placement (a shift of the place shifts
the drawn object and leaves its shape)."""

from __future__ import annotations

import torch

from atelier.models.text_layout import ObjectLayout, TextLayout, place_stamps


def test_place_stamps_moves_a_stamp_with_its_place():
    torch.manual_seed(0)
    stamp = torch.rand(1, 1, 3, 3)
    where = torch.zeros(1, 1, 8, 8)
    where[0, 0, 2, 2] = 1.0
    placed = place_stamps(where, stamp)
    torch.testing.assert_close(placed[0, 0, 1:4, 1:4], stamp[0, 0])  # centred on its cell
    assert placed.sum() == stamp.sum()
    moved = torch.roll(where, shifts=(3, 4), dims=(2, 3))
    torch.testing.assert_close(place_stamps(moved, stamp), torch.roll(placed, shifts=(3, 4), dims=(2, 3)))


def test_place_stamps_mixes_places_linearly_and_keeps_slots_apart():
    torch.manual_seed(1)
    stamps = torch.rand(2, 3, 5, 5)
    a, b = torch.rand(2, 3, 6, 6), torch.rand(2, 3, 6, 6)
    torch.testing.assert_close(place_stamps(0.3 * a + 0.7 * b, stamps),
                               0.3 * place_stamps(a, stamps) + 0.7 * place_stamps(b, stamps))
    one = place_stamps(a, stamps)
    a2 = a.clone()
    a2[1, 2] += 1.0
    changed = place_stamps(a2, stamps) != one
    assert changed[1, 2].any() and not changed[0].any() and not changed[1, :2].any()


def test_object_layout_default_stamp_is_odd_and_covers_half_the_side():
    assert ObjectLayout(16, 2, 3, 12).stamp == 7
    assert ObjectLayout(16, 2, 3, 6).stamp == 3
    assert ObjectLayout(16, 2, 3, 8).stamp == 5


def test_object_layout_draws_objects_on_the_background():
    """Tokens whose presence is off leave the background colour everywhere; present tokens
    with a one-hot place and a full stamp paint the stamp's cells only."""
    torch.manual_seed(2)
    head = ObjectLayout(16, 2, 3, 6, stamp=3)
    states, mask = torch.randn(1, 4, 16), torch.ones(1, 4, dtype=torch.bool)
    with torch.no_grad():
        head.coverage.weight.zero_()
        head.coverage.bias.fill_(-30.0)  # presence off
        empty = head(states, mask)
        assert torch.allclose(empty, empty[:, :, :1, :1].expand_as(empty))
        head.coverage.bias.fill_(30.0)  # full stamp, present
        head.where.weight.zero_()
        head.where.bias.fill_(-30.0)
        head.where.bias[3 * 6 + 1] = 30.0  # row 3, column 1
        drawn = head(states, mask)
    painted = (drawn - empty).abs().sum(1)[0] > 1e-4
    expected = torch.zeros(6, 6, dtype=torch.bool)
    expected[2:5, 0:3] = True
    assert torch.equal(painted, expected)


def test_both_heads_ignore_padding():
    torch.manual_seed(3)
    states, mask = torch.randn(2, 5, 16), torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    for head in (TextLayout(16, 2, 3, 4), ObjectLayout(16, 2, 3, 4)):
        out = head(states, mask)
        noisy = states.clone()
        noisy[1, 3:] = 100.0
        torch.testing.assert_close(head(noisy, mask), out)
