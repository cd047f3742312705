"""A time-frequency factorization: segments composed from an excerpt and a baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from svdlib.explain.segments import ArrayLike, Segmentation, compose, make_baseline, to_numpy


class TimeFrequencyFactorization:
    """An excerpt, its segmentation and its baseline: audioLIME's factorization interface.

    Parameters
    ----------
    excerpt : array or tensor
        ``(frames, bands)`` log-mel excerpt (stored as float32 numpy).
    segmentation : Segmentation, optional
        The grid; by default 5 × 4 over the excerpt's shape.
    baseline : str, array or float
        A kind from :data:`BASELINES` (computed once, from the excerpt), or an explicit
        baseline array (broadcastable to the excerpt) or constant.
    seed : int, np.random.Generator or None
        Randomness of the ``'unif'`` and ``'shuffle'`` baselines.
    """

    def __init__(self, excerpt: ArrayLike, segmentation: Segmentation | None = None,
                 baseline: str | ArrayLike | float = "mean",
                 seed: int | np.random.Generator | None = 0) -> None:
        x = to_numpy(excerpt).astype(np.float32)
        if x.ndim != 2:
            raise ValueError(f"expected a (frames, bands) excerpt, got shape {x.shape}")
        if segmentation is None:
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
            ``(frames, bands)`` float32.
        """
        if selection is None:
            return self.excerpt.copy()
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
            ``(S, frames, bands)`` float32.
        """
        masks = self.segmentation.masks(selection, device=device, dtype=torch.bool)
        return compose(torch.as_tensor(self.excerpt, device=masks.device), masks,
                       torch.as_tensor(self.baseline, device=masks.device))
