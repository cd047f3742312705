"""Segmentations whose segments are sets of the excerpt's own cells: the identity view.

The grid of the paper (:class:`~svdlib.explain.segments.Segmentation`), a label array
(:class:`~svdlib.explain.segmentations.labels.LabelSegmentation`) and time segments of a
waveform cut the excerpt itself; keeping δ in S is a ``where`` with S's mask, exactly.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch

from svdlib.explain.arrays import ArrayLike, to_numpy
from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.explain.segmentations.pair_rows import keep_inputs


class PointwiseSegmentation(BaseSegmentation):
    """A segmentation whose segments are sets of the excerpt's own cells (identity view).

    ``P_S`` is the product with the 0/1 mask of S, so keeping δ in S is computed exactly as
    ``where(mask, adversarial, original)`` and a perturbed input as
    ``where(mask, excerpt, baseline)``; a segment's energy is the sum of δ² over its cells.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import LabelSegmentation
    >>> seg = LabelSegmentation([[0, 0, 1], [2, 2, 1]])   # three segments of a 2 × 3 excerpt
    >>> seg.pointwise, seg.mask_of([1]).tolist()
    (True, [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    """

    pointwise: ClassVar[bool] = True

    def cell_ids(self) -> np.ndarray:
        """The segment id of every cell of the excerpt (:meth:`view_labels`)."""
        return np.array(self.view_labels())

    def keep(self, original: np.ndarray, adversarial: np.ndarray, selection: ArrayLike,
             pairs: ArrayLike | None = None) -> np.ndarray:
        """``where(mask, adversarial, original)`` per row, float32 (see the base class)."""
        original, adversarial, sel, index = keep_inputs(self, original, adversarial, selection,
                                                        pairs)
        if pairs is not None:
            original, adversarial = original[index], adversarial[index]
        return np.where(self.masks_np(sel, dtype=bool), adversarial, original).astype(np.float32)

    def compose(self, excerpt: ArrayLike, baseline: ArrayLike | float, selection: ArrayLike,
                device: torch.device | str | None = None) -> torch.Tensor:
        """``where(mask, excerpt, baseline)`` per selection (see the base class)."""
        masks = self.masks(selection, device=device, dtype=torch.bool)
        x = torch.as_tensor(excerpt, device=masks.device)
        b = torch.as_tensor(baseline, device=masks.device, dtype=x.dtype)
        return torch.where(masks, x, b)

    def parts(self, delta: ArrayLike) -> np.ndarray:
        """δ times each segment's mask: ``(..., n_components, *shape)`` float64."""
        d = np.asarray(to_numpy(delta), dtype=np.float64)
        masks = self.masks_np(np.eye(self.n_components), dtype=np.float64)
        return np.expand_dims(d, d.ndim - len(self.shape)) * masks

    def energy(self, perturbation: ArrayLike) -> np.ndarray:
        """The sum of δ² over every segment's cells: ``(..., n_components)`` float64."""
        p = np.asarray(to_numpy(perturbation), dtype=np.float64)
        self._check_trailing(p.shape, "perturbation")
        lead = p.shape[:p.ndim - len(self.shape)]
        rows = math.prod(lead)
        return self.segment_sums((p * p).reshape(rows, *self.shape)).reshape(
            *lead, self.n_components)

    def segment_values(self, maps: np.ndarray) -> np.ndarray:
        """The value at the first cell of every segment, ``(N, n)`` float64.

        For maps that are constant per segment (captum's with a ``feature_mask``).
        """
        flat = np.asarray(maps, dtype=np.float64).reshape(len(maps), math.prod(self.view_shape))
        first = np.unique(self.view_labels().reshape(-1), return_index=True)[1]
        return flat[:, first]
