"""Datasets for training and evaluating generative models, and the transforms they use.

Every dataset yields ``(image, label)``: ``image`` a ``(C, H, W)`` float32 tensor in [0, 1]
(``H == W == size``), ``label`` an int, or -1 when unlabelled; captioned datasets yield one
``CaptionedItem(image, label, text, image_id)`` per caption (see
:mod:`atelier.data.captioned`). Registered names:

- ``folder`` — any folder of images, recursively (``folder:PATH`` or just ``PATH``);
- ``idx`` — MNIST-format IDX files, gz or raw (``idx:PATH``, or a path holding them);
- ``digits`` — scikit-learn's bundled 8 x 8 digits, upsampled;
- ``faces`` — scikit-image's bundled 25 x 25 LFW face crops;
- ``shapes`` — procedural coloured shapes with attribute labels and captions;
- ``captions`` — a folder of images captioned in ``metadata.jsonl`` (``captions:PATH``, or a
  PATH holding ``metadata.jsonl``);
- ``coco`` — COCO-format captions, ``captions_*.json`` beside its image folder;
- ``scenes`` — procedural scenes of 1-3 shapes with captions and a compositional split;
- ``shapes-captions`` — ``shapes`` as (image, caption) pairs;
- ``patches`` — random flipped/rotated patches of a folder of photos, (HR, LR) pairs for
  super-resolution (items differ from the protocol above: see :mod:`atelier.data.patches`).

:func:`degrade_real` (:mod:`atelier.data.degradations`) turns a batch of clean patches into
Real-ESRGAN's synthetic real-world low-quality inputs (blur, resize, noise, JPEG, twice).

Example
-------
>>> from atelier.data import list_datasets, make_dataset
>>> [spec.name for spec in list_datasets()]
['captions', 'coco', 'digits', 'faces', 'folder', 'idx', 'patches', 'scenes', 'shapes', 'shapes-captions']
>>> ds = make_dataset("shapes", size=32, length=8, seed=1)
>>> image, label = ds[0]; tuple(image.shape), 0 <= label < ds.num_classes
((3, 32, 32), True)
"""

from __future__ import annotations

from atelier.data.registry import (
    MODEL_SIZES,
    DatasetSpec,
    ImageDataset,
    Split,
    get_dataset,
    list_datasets,
    make_dataset,
    register_dataset,
    resolve_split,
)
from atelier.data.digits import DigitsDataset
from atelier.data.faces import FacesDataset
from atelier.data.folder import CorruptFileWarning, FolderDataset, list_images
from atelier.data.idx import IdxDataset, read_idx, write_idx
from atelier.data.shapes import (
    ShapesDataset,
    render_shape,
    render_shapes,
    shape_attributes,
    shape_caption,
)
from atelier.data.patches import PatchDataset, center_crops, degrade_bicubic, dihedral, read_photos
from atelier.data.degradations import DENOISING, REAL_ESRGAN, DegradationConfig, DegradationRound, degrade_real
from atelier.data.captioned import (
    CaptionedDataset,
    CaptionedItem,
    CaptionFolderDataset,
    UncaptionedImageWarning,
    group_hash,
    is_base_name,
    strip_skin_tones,
)
from atelier.data.coco import CocoCaptionsDataset
from atelier.data.scenes import (
    HELD_OUT,
    Scene,
    SceneObject,
    ScenesDataset,
    ShapesCaptionsDataset,
    make_scene,
    parse_scene_caption,
    render_scene,
    scene_attribute_accuracy,
    scene_caption,
)

__all__ = [
    "CaptionFolderDataset",
    "CaptionedDataset",
    "CaptionedItem",
    "CocoCaptionsDataset",
    "CorruptFileWarning",
    "DENOISING",
    "DegradationConfig",
    "DegradationRound",
    "DatasetSpec",
    "DigitsDataset",
    "FacesDataset",
    "FolderDataset",
    "HELD_OUT",
    "IdxDataset",
    "ImageDataset",
    "MODEL_SIZES",
    "PatchDataset",
    "REAL_ESRGAN",
    "Scene",
    "SceneObject",
    "ScenesDataset",
    "ShapesCaptionsDataset",
    "ShapesDataset",
    "Split",
    "UncaptionedImageWarning",
    "center_crops",
    "degrade_bicubic",
    "degrade_real",
    "dihedral",
    "get_dataset",
    "group_hash",
    "is_base_name",
    "list_datasets",
    "list_images",
    "make_dataset",
    "make_scene",
    "parse_scene_caption",
    "read_idx",
    "read_photos",
    "register_dataset",
    "render_scene",
    "render_shape",
    "render_shapes",
    "resolve_split",
    "scene_attribute_accuracy",
    "scene_caption",
    "shape_attributes",
    "shape_caption",
    "strip_skin_tones",
    "write_idx",
]
