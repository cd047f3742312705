"""Explanations of partial adversaries (Figure 3), one work item per pair and k."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from svdlib.detector.predictor import predict_logmel
from svdlib.digests import artifact_done
from svdlib.errors import MissingArtifactError
from svdlib.experiments.artifacts.detectors import detector
from svdlib.experiments.artifacts.explanations import explain_excerpt, pair_logmel
from svdlib.experiments.artifacts.picks import load_picks
from svdlib.experiments.config.checks import check_setting
from svdlib.experiments.config.factories import segmentation_from
from svdlib.experiments.config.loading import config_from_dict
from svdlib.experiments.execution.executors import run_items
from svdlib.experiments.execution.work import WorkItem, raise_failures
from svdlib.experiments.storage.store import Store
from svdlib.files import (
    load_arrays,
    prefix_keys,
    save_arrays,
)
from svdlib.veracity.measures import StoredRelevances
from svdlib.veracity.recovery import (
    PartialAdversaries,
    energy_partials,
    subset_partials,
    subset_recovery,
)
from svdlib.veracity.rules import threshold_rule


# -- Figure 3 / Figure 4: subset perturbations -----------------------------------------------------
def subset_items(store: Store, domain: str, target: int, k: int) -> list[WorkItem]:
    """Work items: explain each partial adversary with k modified segments that still flips."""
    check_setting(domain, target)
    segmentation = segmentation_from(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    _, predictor = detector(store)
    folder = store.work_dir("subset") / store.subset_path(domain, target, k).stem
    partials = subset_partials(original, adversarial, segmentation,
                               functools.partial(predict_logmel, predictor),
                               threshold_rule(target, store.cfg.evaluate.threshold), (k,))
    return [WorkItem("subset", f"subset {domain} t{target} k={k} pair {i}",
                     str(folder / f"pair-{i:05d}.npz"),
                     {"domain": domain, "target": target, "k": k, "pair": int(i)})
            for i in partials.pair]


def subset_worker(cfg_dict: dict, item: WorkItem) -> None:
    """Work item: LIME on one partial adversary (δ only in its k highest-energy segments)."""
    store = Store(config_from_dict(cfg_dict))
    domain, target = item.params["domain"], item.params["target"]
    k, i = item.params["k"], item.params["pair"]
    segmentation = segmentation_from(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    _, predictor = detector(store)
    partial, modified = energy_partials(original[i:i + 1], adversarial[i:i + 1], segmentation, k)
    explanation = explain_excerpt(store, predictor, partial[0], "subset", domain, target, k, i)
    arrays = prefix_keys(explanation.to_arrays(neighborhood=False), "exp_")
    save_arrays(item.output, pair=np.array(i), modified=modified[0], **arrays)


def explain_subsets(store: Store, domain: str, target: int) -> list[Path]:
    """Explain the successful partial adversaries for every k of ``experiment.subset_ks``."""
    paths = []
    for k in store.cfg.experiment.subset_ks:
        path = store.subset_path(domain, target, k)
        if not artifact_done(path):
            items = subset_items(store, domain, target, k)
            raise_failures(run_items(items, subset_worker, store.cfg,
                                     desc=f"LIME subset {domain} t{target} k={k}"), "subset")
            arrays: dict[str, np.ndarray] = {"n": np.array(len(items))}
            if items:
                parts = [load_arrays(item.output) for item in items]
                for key in parts[0]:
                    arrays[key] = np.stack([p[key] for p in parts])
            save_arrays(path, **arrays)
        paths.append(path)
    return paths


def subset_results(store: Store, domain: str, target: int) -> pd.DataFrame:
    """Per successful partial adversary: k, detected segments, fidelity (Figs. 3 and 4).

    Returns
    -------
    pandas.DataFrame
        Columns ``domain, target, k, pair, song, modified`` (ids, as text), ``top`` (LIME's top-k
        ids), ``detected`` (size of the intersection), ``top1_correct`` (k = 1: LIME's top
        segment is the modified one), ``fidelity``, ``p_sing``.
    """
    songs = load_picks(store, domain, target).songs
    rows = []
    for k in store.cfg.experiment.subset_ks:
        path = store.subset_path(domain, target, k)
        if not path.is_file():
            raise MissingArtifactError(f"no subset explanations at '{path}'",
                                       "experiment subset")
        data = load_arrays(path)
        if int(data["n"]) == 0:
            continue
        labels = data["exp_labels"][0].tolist()
        row = labels.index(1)
        n = int(data["n"])
        partials = PartialAdversaries(np.full(n, k), data["pair"], tuple(data["modified"]))
        relevances = StoredRelevances(data["exp_weights"][:, row], True,
                                      data["exp_score"][:, row])
        found = subset_recovery(partials, relevances, segmentation_from(store.cfg.lime), target)
        rows.append(found.drop(columns="all_detected").assign(
            domain=domain, target=target, song=[str(songs[p]) for p in found["pair"]],
            p_sing=data["exp_instance_output"][:, 1].astype(float)))
    columns = ["domain", "target", "k", "pair", "song", "modified", "top", "detected",
               "top1_correct", "fidelity", "p_sing"]
    return pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)
