"""FID Inception-v3 on random weights: shapes, parameter count, weights round trip, errors."""

from __future__ import annotations

import pytest
import torch

from atelier.errors import InvalidArgument
from atelier.nets import FID_WEIGHTS_FILE, FIDInceptionV3


@pytest.fixture(scope="module")
def net() -> FIDInceptionV3:
    torch.manual_seed(0)
    return FIDInceptionV3()


def test_parameter_count(net):
    """torchvision documents 27,161,264 parameters for inception_v3 (aux head, 1000 classes).
    Without the aux head (conv 768->128 1x1 + BN: 98,560; conv 128->768 5x5 + BN: 2,459,136;
    fc 768->1000: 769,000) and with 1008 classes (+8 x 2049) that is 23,850,960."""
    assert sum(p.numel() for p in net.parameters()) == 27_161_264 - 3_326_696 + 8 * 2049


def test_shapes(net):
    feats, logits = net(torch.rand(2, 3, 32, 48), logits=True)  # resized to 299 inside
    assert feats.shape == (2, 2048) and logits.shape == (2, 1008)
    assert net(torch.rand(1, 1, 16, 16)).shape == (1, 2048)


def test_state_dict_keys_match_pytorch_fid(net):
    """Key names as in torchvision's Inception3 with the FID blocks (pytorch-fid's state dict)."""
    keys = net.state_dict()
    assert keys["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert keys["Mixed_6b.branch7x7dbl_5.conv.weight"].shape == (192, 128, 1, 7)
    assert keys["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
    assert keys["fc.weight"].shape == (1008, 2048)
    assert not any(k.startswith("AuxLogits") for k in keys)


def test_round_trip(tmp_path, net):
    """A state dict saved from one instance loads strictly into a fresh one: same outputs."""
    path = tmp_path / FID_WEIGHTS_FILE
    torch.save(net.state_dict(), path)
    other = FIDInceptionV3(path)
    x = torch.rand(1, 3, 80, 80)
    assert torch.equal(other(x, logits=True)[1], net(x, logits=True)[1])
    # Older files have no BatchNorm num_batches_tracked entries; they load too.
    old = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(old, path)
    FIDInceptionV3(path)


def test_missing_and_wrong_files(tmp_path, net):
    with pytest.raises(InvalidArgument, match=FID_WEIGHTS_FILE):
        FIDInceptionV3(tmp_path / "nothing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_text("hello")
    with pytest.raises(InvalidArgument, match=FID_WEIGHTS_FILE):
        FIDInceptionV3(junk)
    truncated = {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}
    torch.save(truncated, tmp_path / "partial.pth")
    with pytest.raises(InvalidArgument, match="does not match.*" + FID_WEIGHTS_FILE):
        FIDInceptionV3(tmp_path / "partial.pth")
    resized = dict(net.state_dict(), **{"fc.weight": torch.zeros(1000, 2048)})
    torch.save(resized, tmp_path / "torchvision.pth")
    with pytest.raises(InvalidArgument, match="does not match"):
        FIDInceptionV3(tmp_path / "torchvision.pth")


def test_refuses_pickled_objects(tmp_path):
    """weights_only=True: a file holding an arbitrary Python object is refused, not run."""
    path = tmp_path / "evil.pth"
    torch.save({"x": torch.zeros(1), "obj": _Payload()}, path)
    with pytest.raises(InvalidArgument, match="weights_only"):
        FIDInceptionV3(path)


class _Payload:
    pass
