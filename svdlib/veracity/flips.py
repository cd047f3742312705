"""The primitives of the measures: flags, top-k selections and partial adversaries."""

from __future__ import annotations

import numpy as np

from svdlib.explain.segments import Segmentation


def is_flipped(p_sing: np.ndarray, target: int, threshold: float) -> np.ndarray:
    """Whether P(sing) is on the target's side of the threshold (> for 1, < for 0)."""
    p = np.asarray(p_sing)
    return p > threshold if target == 1 else p < threshold


def positive_count(weights: np.ndarray, target: int) -> np.ndarray:
    """Per pair, the number of segments relevant for the target class (Table 2's k)."""
    weights = np.atleast_2d(weights)
    return (weights > 0).sum(-1) if target == 1 else (weights < 0).sum(-1)


def selection_masks(ranking: np.ndarray, ks: np.ndarray | int,
                    segmentation: Segmentation) -> np.ndarray:
    """Masks ``(N, frames, bands)`` of each row's first ``k`` ranked components."""
    ranking = np.atleast_2d(ranking)
    ks = np.broadcast_to(np.asarray(ks), (len(ranking),))
    selection = np.zeros(ranking.shape, dtype=np.uint8)
    for row, (order, k) in enumerate(zip(ranking, ks, strict=True)):
        selection[row, order[:int(k)]] = 1
    return segmentation.masks_np(selection).astype(bool)


def compose_partial(original: np.ndarray, adversarial: np.ndarray,
                    mask: np.ndarray) -> np.ndarray:
    """``original + δ · mask``, computed exactly as ``where(mask, adversarial, original)``."""
    return np.where(mask, adversarial, original).astype(np.float32)
