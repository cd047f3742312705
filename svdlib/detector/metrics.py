"""Detection metrics: confusion counts over thresholds, the best threshold, AUROC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svdlib.detector.inference import smooth
from svdlib.errors import SvdError

#: The original evaluation's threshold grid (105 values).
THRESHOLDS = np.concatenate([[1e-5, 1e-4, 1e-3], np.round(np.arange(1, 100) / 100, 2),
                             [1 - 1e-3, 1 - 1e-4, 1 - 1e-5]])


@dataclass
class Counts:
    """Confusion counts per threshold, pooled over files."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tn: np.ndarray
    fn: np.ndarray


def confusion(predictions: dict[str, np.ndarray], targets: dict[str, np.ndarray],
              thresholds: np.ndarray = THRESHOLDS) -> Counts:
    """Pool confusion counts over files for every threshold (``p > threshold`` is "sing")."""
    missing = [name for name in predictions if name not in targets]
    if missing:
        raise SvdError(f"no labels for predicted file '{missing[0]}'")
    probs = np.concatenate([predictions[n] for n in predictions])
    truth = np.concatenate([targets[n][:len(predictions[n])] for n in predictions]).astype(bool)
    if len(probs) != len(truth):
        raise SvdError("predictions and labels have different lengths")
    positive = probs[None, :] > np.asarray(thresholds)[:, None]
    tp = (positive & truth).sum(1)
    fp = (positive & ~truth).sum(1)
    fn = truth.sum() - tp
    tn = (~truth).sum() - fp
    return Counts(np.asarray(thresholds), tp, fp, tn, fn)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def metrics_from_counts(counts: Counts, index: int) -> dict[str, float]:
    """Accuracy, error, precision, recall, specificity and F-score at one threshold."""
    tp, fp, tn, fn = (float(a[index]) for a in (counts.tp, counts.fp, counts.tn, counts.fn))
    precision = float(_ratio(tp, tp + fp))
    recall = float(_ratio(tp, tp + fn))
    specificity = float(_ratio(tn, tn + fp))
    f1 = float(_ratio(2 * precision * recall, precision + recall))
    accuracy = (tp + tn) / max(tp + tn + fp + fn, 1)
    return {"threshold": float(counts.thresholds[index]), "accuracy": accuracy,
            "error": 1 - accuracy, "precision": precision, "recall": recall,
            "specificity": specificity, "f1": f1}


def best_threshold(predictions: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> float:
    """The grid threshold with the highest pooled frame accuracy (the first, on ties)."""
    counts = confusion(predictions, targets)
    total = np.maximum(counts.tp + counts.tn + counts.fp + counts.fn, 1)
    accuracy = (counts.tp + counts.tn) / total
    return float(counts.thresholds[int(np.argmax(accuracy))])


def auroc(predictions: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> float:
    """Area under the ROC curve of the pooled frames (scikit-learn)."""
    from sklearn.metrics import roc_auc_score

    probs = np.concatenate([predictions[n] for n in predictions])
    truth = np.concatenate([targets[n][:len(predictions[n])] for n in predictions])
    if truth.all() or not truth.any():
        return float("nan")
    return float(roc_auc_score(truth, probs))


def evaluate_predictions(valid: dict[str, np.ndarray], test: dict[str, np.ndarray],
                         targets: dict[str, np.ndarray], smooth_width: int = 56,
                         smooth_method: str = "median",
                         threshold: float | None = None) -> dict[str, float]:
    """Smooth, pick the threshold on validation (unless given), and score the test files.

    Returns
    -------
    dict
        ``threshold, accuracy, error, precision, recall, specificity, f1, auroc`` on test.
    """
    sm_valid = {n: smooth(p, smooth_width, smooth_method) for n, p in valid.items()}
    sm_test = {n: smooth(p, smooth_width, smooth_method) for n, p in test.items()}
    if threshold is None:
        threshold = best_threshold(sm_valid, targets)
    counts = confusion(sm_test, targets, np.array([threshold]))
    result = metrics_from_counts(counts, 0)
    result["auroc"] = auroc(sm_test, targets)
    result["auroc_unsmoothed"] = auroc(test, targets)
    return result


def summarize_runs(results: Sequence[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and (population) standard deviation of each metric over several trained seeds."""
    keys = [k for k in results[0] if isinstance(results[0][k], (int, float))]
    return {k: (float(np.mean([r[k] for r in results])), float(np.std([r[k] for r in results])))
            for k in keys}


def format_summary(summary: dict[str, tuple[float, float]], n_runs: int) -> str:
    """One line like the original README: error, recall, specificity (and AUROC) in %.

    Over several runs each metric is mean ± standard deviation; one run (one detector) has no
    spread, so it gets the plain value.
    """
    parts = []
    for key in ("error", "recall", "specificity", "precision", "f1", "auroc"):
        if key in summary:
            mean, std = summary[key]
            spread = f" ± {100 * std:.2f}" if n_runs > 1 else ""
            parts.append(f"{key} {100 * mean:.2f}{spread} %")
    return f"{n_runs} run(s): " + ", ".join(parts)
