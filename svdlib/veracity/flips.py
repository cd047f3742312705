"""Flip counts and Table 2 rows over plain arrays: keep δ in the top-k segments of a ranking."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

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

FLIP_COLUMNS = ["domain", "target", "pair", "song", "frame", "k", "method", "p_sing", "flipped"]


def flip_counts_arrays(original: np.ndarray, adversarial: np.ndarray, weights: np.ndarray,
                       segmentation: Segmentation, predict: PSingFn, target: int,
                       threshold: float) -> pd.DataFrame:
    """Flip results of the partial adversaries of plain arrays, for every k and method.

    For k = 1 … ``segmentation.n_components`` and each selection (``LIME``: the
    :func:`lime_ranking` of ``weights``; ``norm-based``: the :func:`norm_ranking` of
    ``adversarial − original``), every pair's original excerpt gets δ in its first k ranked
    segments (:func:`compose_partial`) and ``predict`` says whether the label still flips.

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, frames, bands)`` log-mel excerpts of the pairs.
    weights : np.ndarray
        ``(N, n_components)`` class-"sing" LIME weights of the *adversarial* excerpts.
    segmentation : Segmentation
        The time-frequency grid over ``(frames, bands)``.
    predict : callable
        ``(M, frames, bands)`` float32 array → ``(M,)`` P(sing).
    target : {0, 1}
        The attack's direction (see :func:`is_flipped`).
    threshold : float
        The detector's threshold.

    Returns
    -------
    pandas.DataFrame
        Columns ``pair, k, method, p_sing, flipped``; blocks of N rows ordered by k, then
        method (``LIME`` first). Empty (with these columns) when there are no pairs.
    """
    columns = ["pair", "k", "method", "p_sing", "flipped"]
    original, adversarial = np.asarray(original), np.asarray(adversarial)
    if not len(original):
        return pd.DataFrame(columns=columns)
    rankings = {"LIME": lime_ranking(weights, target),
                "norm-based": norm_ranking(adversarial - original, segmentation)}
    frames = []
    for k in range(1, segmentation.n_components + 1):
        for method, ranking in rankings.items():
            partial = compose_partial(original, adversarial,
                                      selection_masks(ranking, k, segmentation))
            p = np.asarray(predict(partial))
            frames.append(pd.DataFrame({"pair": np.arange(len(p)), "k": k, "method": method,
                                        "p_sing": p,
                                        "flipped": is_flipped(p, target, threshold)}))
    return pd.concat(frames, ignore_index=True)


def table2_rows_arrays(original: np.ndarray, adversarial: np.ndarray, weights: np.ndarray,
                       segmentation: Segmentation, predict: PSingFn, target: int,
                       threshold: float) -> pd.DataFrame:
    """Per pair of plain arrays, Table 2's k and the flips of both selections with that k.

    k is the number of segments LIME finds relevant for the target class
    (:func:`positive_count`: positive "sing" weights for target 1, negative ones for target 0).

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, frames, bands)`` log-mel excerpts of the pairs.
    weights : np.ndarray
        ``(N, n_components)`` class-"sing" LIME weights of the *adversarial* excerpts.
    segmentation : Segmentation
        The time-frequency grid over ``(frames, bands)``.
    predict : callable
        ``(M, frames, bands)`` float32 array → ``(M,)`` P(sing).
    target : {0, 1}
        The attack's direction.
    threshold : float
        The detector's threshold.

    Returns
    -------
    pandas.DataFrame
        Columns ``pair, k, flipped_LIME, flipped_norm-based``, one row per pair.
    """
    original, adversarial = np.asarray(original), np.asarray(adversarial)
    ks = positive_count(weights, target)
    out = {"pair": np.arange(len(original)), "k": ks}
    for method, ranking in (("LIME", lime_ranking(weights, target)),
                            ("norm-based", norm_ranking(adversarial - original, segmentation))):
        if len(original):
            partial = compose_partial(original, adversarial,
                                      selection_masks(ranking, ks, segmentation))
            out[f"flipped_{method}"] = is_flipped(np.asarray(predict(partial)), target,
                                                  threshold)
        else:
            out[f"flipped_{method}"] = np.zeros(0, bool)
    return pd.DataFrame(out)
