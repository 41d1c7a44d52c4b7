"""digits (scikit-learn) and faces (scikit-image): bundled data, no download."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from atelier.data import DigitsDataset, FacesDataset, make_dataset
from atelier.errors import InvalidArgument


def test_digits():
    """scikit-learn load_digits: 1797 images, first target 0, values 0..16."""
    from sklearn.datasets import load_digits

    ds = DigitsDataset(size=32)
    assert len(ds) == 1797 and ds.num_classes == 10 and ds.class_names[9] == "9"
    image, label = ds[5]
    assert image.shape == (1, 32, 32) and label == 5
    expected = cv2.resize(load_digits().images[5] / 16, (32, 32), interpolation=cv2.INTER_LINEAR)
    assert torch.allclose(image[0], torch.from_numpy(expected).float(), atol=1e-5)
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_digits_native_size_is_exact():
    """At size 8 no resampling: 0..16 -> /16 exactly."""
    from sklearn.datasets import load_digits

    image, _ = DigitsDataset(size=8)[0]
    assert torch.allclose(image[0], torch.from_numpy(load_digits().images[0] / 16).float())


def test_faces():
    """skimage.data.lfw_subset: the first 100 of 200 25x25 crops are faces."""
    from skimage.data import lfw_subset

    ds = make_dataset("faces", size=16, channels=3)
    assert len(ds) == 100 and ds.num_classes == 0 and ds.class_names == ()
    image, label = ds[99]
    assert image.shape == (3, 16, 16) and label == -1
    face = np.asarray(lfw_subset()[99], np.float32)
    face = face / 255 if face.max() > 1 else face
    expected = cv2.resize(face, (16, 16), interpolation=cv2.INTER_AREA)
    assert torch.allclose(image[1], torch.from_numpy(expected), atol=1e-5)
    with pytest.raises(InvalidArgument, match="no labels"):
        FacesDataset(size=16, labels=True)
