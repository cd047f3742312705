"""Explanations of partial adversaries (Figure 3), one work item per pair and k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from svdlib.detector.predictor import predict_logmel
from svdlib.digests import artifact_done
from svdlib.errors import MissingArtifactError
from svdlib.experiments.config import config_from_dict
from svdlib.experiments.executors import run_items
from svdlib.experiments.explanations import _explain, pair_logmel
from svdlib.experiments.factories import segmentation_from
from svdlib.experiments.picks import check_setting, detector, load_picks
from svdlib.experiments.store import Store
from svdlib.experiments.work import WorkItem, raise_failures
from svdlib.files import (
    load_arrays,
    prefix_keys,
    save_arrays,
)
from svdlib.veracity.flips import (
    compose_partial,
    is_flipped,
    lime_ranking,
    norm_ranking,
    selection_masks,
)


# -- Figure 3 / Figure 4: subset perturbations -----------------------------------------------------
def subset_items(store: Store, domain: str, target: int, k: int) -> list[WorkItem]:
    """Work items: explain each partial adversary with k modified segments that still flips."""
    check_setting(domain, target)
    segmentation = segmentation_from(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    _, predictor = detector(store)
    folder = store.work_dir("subset") / store.subset_path(domain, target, k).stem
    if not len(original):
        return []
    ranking = norm_ranking(adversarial - original, segmentation)
    partial = compose_partial(original, adversarial, selection_masks(ranking, k, segmentation))
    flipped = is_flipped(predict_logmel(predictor, partial), target,
                         store.cfg.evaluate.threshold)
    return [WorkItem("subset", f"subset {domain} t{target} k={k} pair {i}",
                     str(folder / f"pair-{i:05d}.npz"),
                     {"domain": domain, "target": target, "k": k, "pair": int(i)})
            for i in np.flatnonzero(flipped)]


def subset_worker(cfg_dict: dict, item: WorkItem) -> None:
    """Work item: LIME on one partial adversary (δ only in its k highest-energy segments)."""
    store = Store(config_from_dict(cfg_dict))
    domain, target = item.params["domain"], item.params["target"]
    k, i = item.params["k"], item.params["pair"]
    segmentation = segmentation_from(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    _, predictor = detector(store)
    ranking = norm_ranking(adversarial[i] - original[i], segmentation)
    partial = compose_partial(original[i:i + 1], adversarial[i:i + 1],
                              selection_masks(ranking, k, segmentation))[0]
    explanation = _explain(store, predictor, partial, "subset", domain, target, k, i)
    arrays = prefix_keys(explanation.to_arrays(neighborhood=False), "exp_")
    save_arrays(item.output, pair=np.array(i), modified=ranking[0, :k], **arrays)


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
        weights = data["exp_weights"][:, row]
        ranking = lime_ranking(weights, target)
        for j in range(int(data["n"])):
            modified = data["modified"][j].tolist()
            top = ranking[j, :k].tolist()
            rows.append({"domain": domain, "target": target, "k": k,
                         "pair": int(data["pair"][j]),
                         "song": str(songs[int(data["pair"][j])]),
                         "modified": " ".join(map(str, modified)),
                         "top": " ".join(map(str, top)),
                         "detected": len(set(modified) & set(top)),
                         "top1_correct": ranking[j, 0] in modified[:1] if k == 1 else None,
                         "fidelity": float(data["exp_score"][j, row]),
                         "p_sing": float(data["exp_instance_output"][j, 1])})
    columns = ["domain", "target", "k", "pair", "song", "modified", "top", "detected",
               "top1_correct", "fidelity", "p_sing"]
    return pd.DataFrame(rows, columns=columns)
