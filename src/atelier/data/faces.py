"""``faces``: the 100 face crops bundled with scikit-image, grey, resized.

``skimage.data.lfw_subset()`` returns 200 grey 25 x 25 crops from Labeled Faces in the Wild
(Huang et al.): the first 100 are faces, the last 100 non-faces (background patches). This
dataset uses the 100 faces only; it has no labels. Offline: the file ships with
scikit-image (``skimage/data/lfw_subset.npy``).

Reference: G. B. Huang, M. Ramesh, T. Berg, E. Learned-Miller, "Labeled Faces in the Wild",
UMass Amherst TR 07-49, 2007; http://vis-www.cs.umass.edu/lfw/

Example
-------
>>> ds = FacesDataset(size=32)
>>> len(ds), tuple(ds[0][0].shape), ds[0][1], ds.num_classes
(100, (1, 32, 32), -1, 0)
"""

from __future__ import annotations

import numpy as np

from atelier.arrays import to_float
from atelier.data.registry import ImageDataset, Split, register_dataset
from atelier.data.transforms import resize
from atelier.errors import InvalidArgument

__all__ = ["FacesDataset", "NUM_FACES"]

#: The first NUM_FACES images of ``lfw_subset`` are faces.
NUM_FACES = 100


@register_dataset("faces")
class FacesDataset(ImageDataset):
    """scikit-image's 100 bundled 25x25 grey face crops (LFW), resized; unlabelled.

    Parameters
    ----------
    size : int
        Output side (>= 8); ``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when enlarging.
    channels : {1, 3}
        1 (default) or 3 (grey replicated).
    split : optional
        See ``atelier.data.resolve_split``.
    seed : int
        Unused (no randomness).
    labels : bool
        Must be False: the faces have no classes.

    Items are ``(tensor (channels, size, size) float32 in [0, 1], -1)``.
    """

    def __init__(
        self,
        *,
        size: int,
        channels: int | None = None,
        split: Split = None,
        seed: int = 0,
        labels: bool = False,
    ) -> None:
        if labels:
            raise InvalidArgument("the faces dataset has no labels; use labels=False")
        from skimage.data import lfw_subset

        faces = np.asarray(lfw_subset()[:NUM_FACES])
        # scikit-image returns uint8 or float64 in [0, 1] depending on the version
        self.images = np.clip(to_float(faces), 0.0, 1.0)
        super().__init__(
            length=len(self.images),
            size=size,
            channels=channels,
            native_channels=1,
            split=split,
            labels=False,
        )

    def _load(self, j: int) -> tuple[np.ndarray, int]:
        return np.clip(resize(self.images[j], self.size), 0.0, 1.0), -1
