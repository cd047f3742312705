"""A factorization: segments composed from an excerpt and a baseline (audioLIME's interface).

Named for the time-frequency grid it was written for; it takes any segmentation
(:class:`~svdlib.explain.segmentations.base.BaseSegmentation`) and excerpt of its shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from svdlib.explain.arrays import ArrayLike, make_baseline, to_numpy
from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.explain.segments import Segmentation


class TimeFrequencyFactorization:
    """An excerpt, its segmentation and its baseline: audioLIME's factorization interface.

    Parameters
    ----------
    excerpt : array or tensor
        One excerpt of the segmentation's shape (stored as float32 numpy).
    segmentation : BaseSegmentation, optional
        The segments; by default a 5 × 4 grid over a ``(frames, bands)`` excerpt.
    baseline : str, array or float
        A kind from :data:`BASELINES` (computed once, from the excerpt), or an explicit
        baseline array (broadcastable to the excerpt) or constant.
    seed : int, np.random.Generator or None
        Randomness of the ``'unif'`` and ``'shuffle'`` baselines.
    """

    def __init__(self, excerpt: ArrayLike, segmentation: BaseSegmentation | None = None,
                 baseline: str | ArrayLike | float = "mean",
                 seed: int | np.random.Generator | None = 0) -> None:
        x = to_numpy(excerpt).astype(np.float32)
        if segmentation is None:
            if x.ndim != 2:
                raise ValueError(f"expected a (frames, bands) excerpt for the default grid, "
                                 f"got shape {x.shape}; give a segmentation")
            segmentation = Segmentation(*x.shape)
        if x.shape != segmentation.shape:
            raise ValueError(f"excerpt shape {x.shape} does not match the segmentation's "
                             f"{segmentation.shape}")
        self.excerpt = x
        self.segmentation = segmentation
        if isinstance(baseline, str):
            self.baseline_kind = baseline
            self.baseline = make_baseline(x, baseline, seed)
        else:
            self.baseline_kind = "custom"
            self.baseline = np.broadcast_to(
                np.asarray(to_numpy(baseline) if isinstance(baseline, torch.Tensor)
                           else baseline, dtype=np.float32), x.shape).copy()

    @property
    def n_components(self) -> int:
        """Number of interpretable components."""
        return self.segmentation.n_components

    def get_number_components(self) -> int:
        """Number of interpretable components (audioLIME's name)."""
        return self.n_components

    def get_ordered_component_names(self) -> list[str]:
        """Component names in id order."""
        return self.segmentation.component_names()

    def retrieve_components(self, selection: Sequence[int] | np.ndarray | None = None
                            ) -> np.ndarray:
        """The excerpt with only the selected components kept, the baseline elsewhere.

        Parameters
        ----------
        selection : sequence of int or None
            Component ids. ``None`` returns the original excerpt; an empty selection returns
            the pure baseline.

        Returns
        -------
        np.ndarray
            Of the excerpt's shape, float32.
        """
        if selection is None:
            return self.excerpt.copy()
        if not self.segmentation.pointwise:
            row = np.zeros((1, self.n_components), dtype=bool)
            row[0, self.segmentation.check_ids(selection)] = True
            return to_numpy(self.segmentation.compose(self.excerpt, self.baseline, row)[0])
        mask = self.segmentation.mask_of(selection, dtype=bool)
        return np.where(mask, self.excerpt, self.baseline)

    def compose_model_input(self, selection: Sequence[int] | np.ndarray | None = None
                            ) -> np.ndarray:
        """Same as :meth:`retrieve_components` (the composition function is the identity)."""
        return self.retrieve_components(selection)

    def compose_batch(self, selection: ArrayLike,
                      device: torch.device | str | None = None) -> torch.Tensor:
        """Perturbed inputs for a batch of 0/1 selections, built on ``device``.

        Parameters
        ----------
        selection : array or tensor
            ``(S, n_components)``, 1 where a component is kept.
        device : torch.device or str, optional
            Where to build them (default: the selection's device, CPU for numpy).

        Returns
        -------
        torch.Tensor
            ``(S, *shape)`` float32.
        """
        return self.segmentation.compose(self.excerpt, self.baseline, selection, device=device)
