"""The primitives of the measures: rankings, top-k selections, partial adversaries, flips."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from svdlib.explain.segments import Segmentation


def is_flipped(p_sing: np.ndarray, target: int, threshold: float) -> np.ndarray:
    """Whether P(sing) is on the target's side of the threshold (> for 1, < for 0)."""
    p = np.asarray(p_sing)
    return p > threshold if target == 1 else p < threshold


# -- selections ---------------------------------------------------------------------------------
def lime_ranking(weights: np.ndarray, target: int) -> np.ndarray:
    """Component ids ordered by relevance for the target class (stable for ties).

    For target 1 the class-"sing" weights descending; for target 0 ascending (the most
    negative "sing" weight is the most positive "no sing" weight). Signs are not checked, as in
    the paper: for large k negatively relevant segments follow.
    """
    weights = np.atleast_2d(weights)
    key = -weights if target == 1 else weights
    return np.argsort(key, axis=-1, kind="stable")


def norm_ranking(delta: np.ndarray, segmentation: Segmentation) -> np.ndarray:
    """Component ids ordered by perturbation energy, highest first (stable for ties)."""
    energy = np.atleast_2d(segmentation.energy(delta))
    return np.argsort(-energy, axis=-1, kind="stable")


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


# -- Figure 2 / Table 1 / Table 2 ----------------------------------------------------------------
PSingFn = Callable[[np.ndarray], np.ndarray]
"""P(sing) of log-mel excerpts: ``(N, frames, bands)`` array → ``(N,)`` array."""
