"""Per-frame prediction over whole songs, smoothing, thresholds and detection metrics.

Follows the original ``predict.py`` / ``eval.py``: a song is padded with 57 all-zero frames on
both sides and run through the detector's dense form, giving one probability per STFT frame;
probabilities are median-smoothed over 56 frames (0.8 s); the threshold maximising frame
accuracy on the validation files (pooled) is then applied to the test files (pooled).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import median_filter, uniform_filter1d

from .data import Song, corpus_layout, frame_targets, label_path, load_store_split, read_lab
from .errors import SvdError
from .model import HALF_BLOCK, SingingVoiceDetector, best_device, load_model
from .store import Store, load_arrays, save_arrays, save_json

#: The original evaluation's threshold grid (105 values).
THRESHOLDS = np.concatenate([[1e-5, 1e-4, 1e-3], np.round(np.arange(1, 100) / 100, 2),
                             [1 - 1e-3, 1 - 1e-4, 1 - 1e-5]])


@torch.no_grad()
def predict_song(net: SingingVoiceDetector, spec: np.ndarray | torch.Tensor,
                 device: torch.device | str = "cpu", chunk: int = 4200) -> np.ndarray:
    """P(sing) for every frame of a song.

    Parameters
    ----------
    net : SingingVoiceDetector
        The detector (put in eval mode here).
    spec : array ``(T, bins)``
        Linear-magnitude spectrogram of the whole song.
    device : torch.device or str
        Where to compute.
    chunk : int
        Frames per forward pass; chunks overlap by 114 frames, so the result is exact.

    Returns
    -------
    np.ndarray
        float32 ``(T,)``.
    """
    net.eval()
    spec = torch.as_tensor(np.array(spec, dtype=np.float32, copy=True))
    padded = torch.nn.functional.pad(spec, (0, 0, HALF_BLOCK, HALF_BLOCK))
    total = spec.shape[0]
    out = []
    for start in range(0, total, chunk):
        stop = min(total, start + chunk)
        piece = padded[start:stop + 2 * HALF_BLOCK].unsqueeze(0).to(device)
        out.append(torch.sigmoid(net(piece))[0].float().cpu())
    return torch.cat(out).numpy()


def predict_songs(net: SingingVoiceDetector, songs: Sequence[Song],
                  device: torch.device | str = "cpu", progress: bool = False,
                  desc: str = "predicting") -> dict[str, np.ndarray]:
    """Predict every song; returns ``name -> probabilities``."""
    iterator: Iterable[Song] = songs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(songs, desc=desc, unit="song", leave=False)
    return {song.name: predict_song(net, song.spec, device) for song in iterator}


def save_predictions(path: str | Path, predictions: dict[str, np.ndarray]) -> None:
    """Store per-song predictions in one ``.npz`` (names, lengths, concatenated values)."""
    names = list(predictions)
    lengths = np.array([len(predictions[n]) for n in names], dtype=np.int64)
    values = (np.concatenate([predictions[n] for n in names]) if names
              else np.zeros(0, np.float32))
    save_arrays(path, names=np.array(names, dtype=str), lengths=lengths,
                values=values.astype(np.float32))


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """Read predictions written by :func:`save_predictions`."""
    data = load_arrays(path)
    try:
        splits = np.cumsum(data["lengths"])[:-1]
        return dict(zip(data["names"].tolist(), np.split(data["values"], splits), strict=True))
    except KeyError:
        raise SvdError(f"'{path}' is not a predictions file (needs names, lengths, values)") \
            from None


def smooth(probabilities: np.ndarray, width: int = 56, method: str = "median") -> np.ndarray:
    """Smooth a probability curve over time.

    A median over ``width`` frames; for an even width the window covers frames
    ``i - width/2 ... i + width/2 - 1`` and takes the upper median, with the edges replicated,
    as in the original. ``method="mean"`` averages instead; ``"none"`` or ``width <= 1``
    returns the input.
    """
    p = np.asarray(probabilities, dtype=np.float32)
    if method == "none" or width <= 1 or len(p) <= 1:
        return p
    if method == "median":
        return median_filter(p, size=width, mode="nearest")
    if method == "mean":
        return uniform_filter1d(p, size=width, mode="nearest")
    raise SvdError(f"unknown smoothing method '{method}'; use median, mean or none")


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
    """One line like the original README: error, recall, specificity (and AUROC) in %."""
    parts = []
    for key in ("error", "recall", "specificity", "precision", "f1", "auroc"):
        if key in summary:
            mean, std = summary[key]
            parts.append(f"{key} {100 * mean:.2f} ± {100 * std:.2f} %")
    return f"{n_runs} run(s): " + ", ".join(parts)


def load_trained(store: Store, seed: int | None = None,
                 device: torch.device | str | None = None) -> SingingVoiceDetector:
    """Load the trained detector of a seed (the first of ``train.seeds`` by default)."""
    cfg = store.cfg
    path = store.model_dir(seed) / "model.safetensors"
    if not path.is_file():
        raise SvdError(f"no trained model at '{path}'; run `svd train` with this profile first")
    store.check_reuse(path.parent)
    store.activate()
    return load_model(path, cfg.model, cfg.frontend,
                      best_device(cfg.run.device) if device is None else device)


def predict_all(store: Store, splits: Sequence[str] = ("valid", "test"),
                seeds: Sequence[int] | None = None) -> list[Path]:
    """Predict every song of the given splits with every trained seed; skips existing files.

    Writes ``predictions-<split>-<contents>.npz`` (see :meth:`Store.predictions_path`) into
    each model's folder, with its provenance, and returns their paths.
    """
    cfg = store.cfg
    written = []
    songs: dict[str, list[Song]] = {}
    for seed in (cfg.train.seeds if seeds is None else seeds):
        for split in splits:
            path = store.predictions_path(split, seed)
            if not path.is_file():
                if split not in songs:
                    songs[split] = load_store_split(store, split, cfg.run.progress)
                net = load_trained(store, seed)
                device = next(net.parameters()).device
                save_predictions(path, predict_songs(net, songs[split], device,
                                                     cfg.run.progress, f"seed {seed} {split}"))
                store.write_provenance(path, "predict", model=store.model_dir(seed).name,
                                       songs=store.split_files(split))
            written.append(path)
    return written


def evaluate_all(store: Store, threshold: float | None = None,
                 seeds: Sequence[int] | None = None) -> dict:
    """Evaluate every trained seed on the test split; writes ``eval.json`` per model.

    Returns
    -------
    dict
        ``{"runs": [per-seed metrics], "summary": {metric: (mean, std)}, "line": str}``.
    """
    cfg = store.cfg
    seeds = list(cfg.train.seeds if seeds is None else seeds)
    layout = corpus_layout(store)
    runs = []
    targets: dict[str, np.ndarray] = {}
    for seed in seeds:
        folder = store.model_dir(seed)
        valid = load_predictions(store.predictions_path("valid", seed))
        test = load_predictions(store.predictions_path("test", seed))
        for name, probs in {**valid, **test}.items():
            if name not in targets:
                targets[name] = frame_targets(read_lab(label_path(layout, name)), len(probs),
                                              cfg.frontend.fps)
        result = evaluate_predictions(valid, test, targets, cfg.evaluate.smooth_width,
                                      cfg.evaluate.smooth_method, threshold)
        result["seed"] = seed
        save_json(folder / "eval.json", result)
        runs.append(result)
    summary = summarize_runs([{k: v for k, v in r.items() if k != "seed"} for r in runs])
    return {"runs": runs, "summary": summary, "line": format_summary(summary, len(runs))}
