"""Corpus checks: how well trivial features (loudness, a linear model) separate singing."""

from __future__ import annotations

import numpy as np

from svdlib.data.songs import Song


def frame_loudness(song: Song) -> np.ndarray:
    """Log energy of each STFT frame (the mixture's loudness)."""
    spec = np.asarray(song.spec, dtype=np.float64)
    return np.log(np.maximum((spec ** 2).sum(axis=1), 1e-12))


def separation_auroc(scores: np.ndarray, targets: np.ndarray) -> float:
    """AUROC of a score for the targets, in whichever direction separates better (>= 0.5).

    NaN when the targets hold one class only (nothing to separate).
    """
    from sklearn.metrics import roc_auc_score

    if len(np.unique(targets)) < 2:
        return float("nan")

    value = float(roc_auc_score(targets, scores))
    return max(value, 1.0 - value)
