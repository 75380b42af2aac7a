"""Data sets of the benchmark, held in memory as ``uint8`` tensors (:class:`ImageSet`).

- :func:`load_cifar10`: CIFAR-10 from the official python release, an ImageFolder tree or the
  ``cifar10-jpeg.tar.gz`` archive; decoded once, then loaded from a tensor cache.
- :func:`load_object_masks` / :func:`select_masked`: the RectGrad authors' masked CIFAR-10 images.
- :func:`make_patch` / :func:`add_patch`: the paper's random-patch variant.
- :func:`make_synthetic`: shapes on cluttered backgrounds with exact masks (smoke runs, tests).
- :func:`to_model_input`: ``uint8`` -> ``float32`` in [-1, 1] (the paper's scaling).
"""

from bench.data.cifar10 import load_cifar10
from bench.data.imageset import CIFAR10_CLASSES, ImageSet, class_balanced_order, to_model_input
from bench.data.masks import MASK_THRESHOLD, load_object_masks, select_masked
from bench.data.patch import add_patch, make_patch
from bench.data.synthetic import SHAPES, make_synthetic

__all__ = [
    "CIFAR10_CLASSES",
    "ImageSet",
    "MASK_THRESHOLD",
    "SHAPES",
    "add_patch",
    "class_balanced_order",
    "load_cifar10",
    "load_object_masks",
    "make_patch",
    "make_synthetic",
    "select_masked",
    "to_model_input",
]
