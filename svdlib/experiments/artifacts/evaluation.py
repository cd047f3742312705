"""Predictions and evaluation of the trained detectors of a run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from svdlib.data.jamendo import frame_targets, label_path, read_lab
from svdlib.data.songs import Song
from svdlib.detector.inference import load_predictions, predict_songs, save_predictions
from svdlib.detector.metrics import evaluate_predictions, format_summary, summarize_runs
from svdlib.digests import artifact_done
from svdlib.experiments.artifacts.detectors import load_trained
from svdlib.experiments.storage.splits import load_store_split, unusable_parts, warn_unusable
from svdlib.experiments.storage.store import Store, corpus_layout
from svdlib.files import save_json
from svdlib.locks import artifact_lock


def predict_all(store: Store, splits: Sequence[str] = ("valid", "test"),
                seeds: Sequence[int] | None = None) -> list[Path]:
    """Predict every song of the given splits with every trained seed; skips existing files.

    Writes ``predictions-<split>-<contents>.npz`` (see :meth:`Store.predictions_path`) into
    each model's folder, with its provenance, and returns their paths. Each file is computed
    under its lock, so a second process waits for it and then reuses it.
    """
    written = []
    songs: dict[str, list[Song]] = {}
    for seed in store.detector_seeds(seeds):
        for split in splits:
            path = store.predictions_path(split, seed)
            if not artifact_done(path):
                with artifact_lock(path):      # another process may be predicting it
                    if not artifact_done(path):
                        _predict(store, seed, split, songs, path)
            written.append(path)
    return written


def _predict(store: Store, seed: int, split: str, songs: dict[str, list[Song]],
             path: Path) -> None:
    """Predict one split with one seed's detector into ``path``, with its provenance."""
    progress = store.cfg.run.progress
    net = load_trained(store, seed)   # a model that does not fit fails first
    if split not in songs:
        songs[split] = load_store_split(store, split, progress)
    device = next(net.parameters()).device
    save_predictions(path, predict_songs(net, songs[split], device, progress,
                                         f"seed {seed} {split}"))
    store.write_provenance(path, "predict", model=store.model_dir(seed).name,
                           songs=store.split_files(split))


def evaluate_all(store: Store, threshold: float | None = None,
                 seeds: Sequence[int] | None = None) -> dict:
    """Evaluate every trained seed on the test split; writes ``eval.json`` per model.

    A given detector (``model.checkpoint``) is one run, whatever ``train.seeds`` holds: its
    ``seed`` is None, ``detector`` names the file, and the summary has no spread.

    Returns
    -------
    dict
        ``{"runs": [per-seed metrics], "summary": {metric: (mean, std)}, "line": str}``.
    """
    cfg = store.cfg
    given = store.given_model()
    seeds = store.detector_seeds(seeds)
    runs = []
    for seed in seeds:
        folder = store.model_dir(seed)
        valid = load_predictions(store.predictions_path("valid", seed))
        test = load_predictions(store.predictions_path("test", seed))
        targets = _targets(store, {"valid": valid, "test": test})
        result = evaluate_predictions(valid, test, targets, cfg.evaluate.smooth_width,
                                      cfg.evaluate.smooth_method, threshold)
        result["seed"] = None if given is not None else seed
        if given is not None:
            result["detector"] = f"{given.name} (sha256 {store.model_digest()})"
        save_json(folder / "eval.json", result)
        runs.append(result)
    summary = summarize_runs([{k: v for k, v in r.items() if k != "seed"} for r in runs])
    return {"runs": runs, "summary": summary, "line": format_summary(summary, len(runs))}


def _targets(store: Store, predictions: dict[str, dict[str, np.ndarray]]
             ) -> dict[str, np.ndarray]:
    """Per-frame targets of every predicted song; warns once about songs without labels."""
    layout = corpus_layout(store)
    targets: dict[str, np.ndarray] = {}
    parts = []
    for split, probabilities in predictions.items():
        unlabelled = []
        for name, probs in probabilities.items():
            segments = read_lab(label_path(layout, name))
            unlabelled += [] if segments else [name]
            targets[name] = frame_targets(segments, len(probs), store.cfg.frontend.fps)
        parts += unusable_parts(store, split, [], 0, "", unlabelled)
    warn_unusable(store, parts)
    return targets
