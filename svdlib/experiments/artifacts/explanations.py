"""LIME explanations of the picked pairs, one work item per pair."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from svdlib.detector.predictor import DetectorPredictor
from svdlib.digests import artifact_done
from svdlib.experiments.artifacts.detectors import cached_detector, detector, to_logmel
from svdlib.experiments.artifacts.picks import load_picks
from svdlib.experiments.config.checks import check_setting
from svdlib.experiments.config.factories import lime_settings
from svdlib.experiments.config.loading import config_from_dict
from svdlib.experiments.execution.executors import run_items
from svdlib.experiments.execution.work import WorkItem, raise_failures
from svdlib.experiments.storage.store import Store
from svdlib.explain.explainers import LimeExplainer
from svdlib.explain.explanation import Explanation
from svdlib.files import (
    load_arrays,
    prefix_keys,
    save_arrays,
)
from svdlib.seeding import item_seed


@functools.lru_cache(maxsize=8)
def _cached_pair_logmel(path: str, model_dir: str, profile_json: str) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    net, _ = cached_detector(model_dir, profile_json)
    data = load_arrays(path)
    return to_logmel(net, data["original"]), to_logmel(net, data["adversarial"])


def pair_logmel(store: Store, domain: str, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel excerpts ``(N, 115, 80)`` of the original and adversarial picks (cached)."""
    load_picks(store, domain, target)   # for the error message when missing
    cfg = store.cfg.to_dict()
    cfg["run"] = {**cfg["run"], "progress": False}
    return _cached_pair_logmel(str(store.picks_path(domain, target)), str(store.model_dir()),
                               json.dumps(cfg, sort_keys=True))


# -- explaining the picked pairs ----------------------------------------------------------------
def explain_excerpt(store: Store, predictor: DetectorPredictor, excerpt: np.ndarray,
                    *seed_keys: Any) -> Explanation:
    """LIME's explanation of one excerpt with the run's settings, seeded by ``seed_keys``.

    Parameters
    ----------
    store : Store
        The run (its ``lime`` settings and seed).
    predictor : DetectorPredictor
        The detector's batched P(sing) function.
    excerpt : numpy.ndarray
        One log-mel excerpt ``(frames, bands)``.
    *seed_keys
        What names the excerpt (stage, domain, target, index, ...): its item seed.

    Returns
    -------
    Explanation
        For both labels (0 and 1).
    """
    cfg = store.cfg
    lime = LimeExplainer(predictor, seed=item_seed(cfg.seed, *seed_keys),
                         **lime_settings(cfg.lime))
    return lime.explanation(excerpt, labels=(0, 1))


def explanation_items(store: Store, domain: str, target: int) -> list[WorkItem]:
    """One work item per picked pair: explain its original and its adversarial excerpt."""
    picks = load_picks(store, domain, target)
    folder = store.work_dir("explain") / store.explanations_path(domain, target).stem
    return [WorkItem("explain", f"explain {domain} t{target} pair {i}",
                     str(folder / f"pair-{i:05d}.npz"),
                     {"domain": domain, "target": target, "pair": i})
            for i in range(len(picks))]


def explain_pair_worker(cfg_dict: dict, item: WorkItem) -> None:
    """Work item: LIME on the original and the adversarial excerpt of one pair."""
    store = Store(config_from_dict(cfg_dict))
    domain, target, i = item.params["domain"], item.params["target"], item.params["pair"]
    _, predictor = detector(store)
    original, adversarial = pair_logmel(store, domain, target)
    parts = {}
    for which, excerpt in (("orig", original[i]), ("adv", adversarial[i])):
        explanation = explain_excerpt(store, predictor, excerpt, "explain", domain, target, i,
                                      which)
        parts.update(prefix_keys(explanation.to_arrays(neighborhood=False), f"{which}_"))
    save_arrays(item.output, **parts)


def _assemble(items: Sequence[WorkItem], path: Path, prefixes: Sequence[str]) -> Path:
    """Stack per-item explanation files into one file (``<prefix>``-stacked arrays)."""
    arrays: dict[str, np.ndarray] = {"n": np.array(len(items))}
    if items:
        parts = [load_arrays(item.output) for item in items]
        for prefix in prefixes:
            keys = [k for k in parts[0] if k.startswith(prefix)]
            for key in keys:
                arrays[key] = np.stack([p[key] for p in parts])
    save_arrays(path, **arrays)
    return path


def explain_pairs(store: Store, domain: str, target: int) -> Path:
    """Explain every picked pair of a setting (resumable per pair); returns the stacked file."""
    check_setting(domain, target)
    path = store.explanations_path(domain, target)
    if artifact_done(path):
        return path
    items = explanation_items(store, domain, target)
    if any(not item.done for item in items):
        detector(store)  # a damaged model is reported once, not once per pair
    raise_failures(run_items(items, explain_pair_worker, store.cfg,
                             desc=f"LIME {domain} t{target}"), "explanation")
    return _assemble(items, path, ("orig_", "adv_"))




def stacked_weights(store: Store, domain: str, target: int,
                    which: str = "adv") -> tuple[np.ndarray, np.ndarray]:
    """Class-"sing" weights ``(N, n_components)`` and fidelities ``(N,)`` of one side."""
    data = load_arrays(store.explanations_path(domain, target))
    n = int(data["n"])
    components = store.cfg.lime.n_time_segments * store.cfg.lime.n_freq_segments
    if n == 0:
        return np.zeros((0, components)), np.zeros(0)
    labels = data[f"{which}_labels"][0].tolist()
    row = labels.index(1)
    return data[f"{which}_weights"][:, row], data[f"{which}_score"][:, row]
