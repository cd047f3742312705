"""Predictions and evaluation of the trained detectors of a run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from svdlib.data.jamendo import frame_targets, label_path, read_lab
from svdlib.data.songs import Song
from svdlib.detector.checkpoint import load_model
from svdlib.detector.inference import load_predictions, predict_songs, save_predictions
from svdlib.detector.metrics import evaluate_predictions, format_summary, summarize_runs
from svdlib.detector.model import SingingVoiceDetector
from svdlib.devices import best_device
from svdlib.digests import artifact_done
from svdlib.errors import MissingArtifactError
from svdlib.experiments.splits import corpus_layout, load_store_split
from svdlib.experiments.store import Store
from svdlib.files import save_json


def load_trained(store: Store, seed: int | None = None,
                 device: torch.device | str | None = None) -> SingingVoiceDetector:
    """Load the trained detector of a seed (the first of ``train.seeds`` by default).

    Raises
    ------
    SvdError
        If there is none, or its file does not match its recorded digest, or it comes from
        another numeric environment.
    """
    cfg = store.cfg
    path = store.model_dir(seed) / "model.safetensors"
    if not artifact_done(path):
        raise MissingArtifactError(f"no trained model at '{path}'", "train")
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
            if not artifact_done(path):
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
