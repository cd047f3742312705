"""The corpus checks of the configured corpus."""

from __future__ import annotations

import numpy as np

from svdlib.audio.frontend import logmel_np
from svdlib.data.baselines import frame_loudness, separation_auroc
from svdlib.experiments.storage.splits import load_store_split
from svdlib.experiments.storage.store import Store


def corpus_baselines(store: Store, max_train_frames: int = 200_000, seed: int = 0) -> dict:
    """Loudness AUROC and linear-model AUROC on the test split of the configured corpus.

    Returns
    -------
    dict
        ``loudness_auroc``, ``linear_auroc`` (logistic regression on log-mel frames, trained
        on the train split; NaN for a split of one class) and the number of test frames.
    """
    from sklearn.linear_model import LogisticRegression

    frontend = store.cfg.frontend
    train = load_store_split(store, "train")
    test = load_store_split(store, "test")
    y_test = np.concatenate([s.targets for s in test])
    loudness = np.concatenate([frame_loudness(s) for s in test])
    x_train = np.concatenate([logmel_np(s.spec, frontend) for s in train])
    y_train = np.concatenate([s.targets for s in train])
    if len(x_train) > max_train_frames:
        keep = np.random.default_rng(seed).choice(len(x_train), max_train_frames, replace=False)
        x_train, y_train = x_train[keep], y_train[keep]
    linear_auroc = float("nan")      # a train split of one class has no linear baseline
    if len(np.unique(y_train)) == 2:
        mean, std = x_train.mean(0), x_train.std(0) + 1e-6
        model = LogisticRegression(max_iter=2000).fit((x_train - mean) / std, y_train)
        x_test = np.concatenate([logmel_np(s.spec, frontend) for s in test])
        linear_auroc = separation_auroc(model.predict_proba((x_test - mean) / std)[:, 1], y_test)
    return {"loudness_auroc": separation_auroc(loudness, y_test), "linear_auroc": linear_auroc,
            "test_frames": len(y_test)}
