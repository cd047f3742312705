"""Adversary picking and the paper's experiments on the veracity of LIME explanations.

The logic of the paper (Praher et al., ISMIR 2021, §3–4): an adversarial perturbation δ (in the
log-mel domain, ``δ = logmel(adversarial) − logmel(original)``) flips the detector's label, so
its cause is known. An explanation of the adversarial excerpt is truthful if the segments it
ranks highest carry the perturbation that matters:

* **flip counts** (Fig. 2, Tab. 1): add δ only in the top-k segments, chosen by LIME (the
  adversarial excerpt's weights for the target class) or by perturbation energy ("norm-based"),
  and check whether the label still flips, for k = 1 … 20;
* **Table 2**: the same with k = the number of positively weighted segments of each pair;
* **subset perturbations** (Fig. 3): partial adversaries that carry δ only in the k highest-
  energy segments (k = 1, 3, 5) are explained with LIME; among those that still flip, how many
  of the k modified segments LIME ranks in its top k;
* **fidelity** (Fig. 4): at k = 1, LIME's fidelity (weighted R² of its surrogate) grouped by
  whether its top segment is the modified one.

Changes from the original code: picking draws without replacement (the original could pick the
same excerpt twice); partial inputs are composed as ``where(mask, adversarial, original)``,
which equals ``original + δ · mask`` but is exact in floating point, so that at k = 20 the input
is the adversarial excerpt bit for bit and flips by construction; every random choice is seeded
from the configuration, per item, so results do not depend on execution order.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import paper_tables
from .attacks import load_adversarial_spectrogram, load_record, record_path
from .config import Config, config_from_dict
from .data import load_store_split
from .errors import SvdError
from .evaluate import load_trained
from .explain import (
    DetectorPredictor,
    Explanation,
    detector_predict_fn,
    explain_excerpt,
    lime_settings,
    unstack_explanations,
)
from .model import HALF_BLOCK, SingingVoiceDetector
from .segments import Segmentation
from .store import (
    Store,
    atomic_path,
    load_arrays,
    prefix_keys,
    save_arrays,
    save_json,
    strip_prefix,
)
from .work import WorkItem, item_seed, raise_failures, run_items

DOMAINS = ("wave", "spec")
TARGETS = (1, 0)


def check_setting(domain: str, target: int) -> None:
    """Raise a one-line error for an unknown attack domain or direction."""
    if domain not in DOMAINS:
        raise SvdError(f"unknown attack domain '{domain}'; use wave or spec")
    if target not in TARGETS:
        raise SvdError(f"unknown target {target}; use 1 (no sing → sing) or 0 (sing → no sing)")


def is_flipped(p_sing: np.ndarray, target: int, threshold: float) -> np.ndarray:
    """Whether P(sing) is on the target's side of the threshold (> for 1, < for 0)."""
    p = np.asarray(p_sing)
    return p > threshold if target == 1 else p < threshold


# -- the detector, once per process -------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _cached_detector(model_dir: str, profile_json: str) -> tuple[SingingVoiceDetector,
                                                                 DetectorPredictor]:
    cfg = config_from_dict(json.loads(profile_json))
    net = load_trained(Store(cfg))
    return net, detector_predict_fn(net, device=next(net.parameters()).device)


def detector(store: Store) -> tuple[SingingVoiceDetector, DetectorPredictor]:
    """The trained detector and its batched P(sing) function on log-mel excerpts (cached)."""
    store.activate()
    cfg = store.cfg.to_dict()
    cfg["run"] = {**cfg["run"], "progress": False}
    return _cached_detector(str(store.model_dir()), json.dumps(cfg, sort_keys=True))


def to_logmel(net: SingingVoiceDetector, linear: np.ndarray, batch: int = 256) -> np.ndarray:
    """Log-mel excerpts ``(N, frames, bands)`` of linear excerpts ``(N, frames, bins)``."""
    linear = np.asarray(linear, dtype=np.float32)
    if len(linear) == 0:
        return np.zeros((0, *linear.shape[1:-1], net.frontend_config.mel_bands), np.float32)
    device = next(net.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(linear), batch):
            x = torch.from_numpy(np.array(linear[start:start + batch])).to(device)
            out.append(net.preprocess(x).float().cpu().numpy())
    return np.concatenate(out)


def predict_logmel(predictor: DetectorPredictor, logmel: np.ndarray,
                   batch: int = 512) -> np.ndarray:
    """P(sing) ``(N,)`` of log-mel excerpts ``(N, frames, bands)``, in batches."""
    logmel = np.asarray(logmel, dtype=np.float32)
    out = [predictor(torch.from_numpy(logmel[s:s + batch])).float().cpu().numpy()
           for s in range(0, len(logmel), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


# -- picking -----------------------------------------------------------------------------------
@dataclass
class Picks:
    """Picked (original, adversarial) excerpt pairs of one attack domain and direction.

    Attributes
    ----------
    songs : np.ndarray
        Song name of each pair.
    frames : np.ndarray
        Centre frame of each excerpt in its song.
    ground_truth : np.ndarray
        Label of the centre frame.
    original, adversarial : np.ndarray
        ``(N, 115, bins)`` linear-magnitude excerpts.
    orig_prob, adv_prob : np.ndarray
        P(sing) of the original and adversarial excerpts, re-predicted.
    """

    songs: np.ndarray
    frames: np.ndarray
    ground_truth: np.ndarray
    original: np.ndarray
    adversarial: np.ndarray
    orig_prob: np.ndarray
    adv_prob: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


def pick_adversaries(store: Store, domain: str, target: int) -> Path:
    """Pick up to ``lime.pick_per_file`` successful excerpts per song (the original's rules).

    For every attacked song, in file-list order, candidate frames are those the attack flipped
    to ``target`` whose 115-frame window lies inside the song. They are visited in a random
    order (seeded once from ``lime.pick_seed``; no repeats) and accepted while the re-predicted
    original excerpt is not on the target's side of the threshold and the adversarial one is.
    Songs without any accepted excerpt contribute nothing (the original crashed on them).

    Returns
    -------
    Path
        The picks file (skipped if it exists).
    """
    check_setting(domain, target)
    path = store.picks_path(domain, target)
    if path.is_file():
        return path
    cfg = store.cfg
    folder = store.attack_dir(domain)
    if not (folder / "summary.json").is_file():
        raise SvdError(f"attack '{folder}' is missing or unfinished; run `svd attack --domain "
                       f"{domain}` first")
    net, predictor = detector(store)
    threshold = cfg.evaluate.threshold
    rng = np.random.default_rng(cfg.lime.pick_seed)
    rows: dict[str, list] = {k: [] for k in ("songs", "frames", "ground_truth", "original",
                                             "adversarial", "orig_prob", "adv_prob")}
    for song in load_store_split(store, cfg.attack.subset):
        if not record_path(folder, song.name).is_file():
            continue
        record = load_record(folder, song.name)
        n = len(record["flipped"])
        candidates = np.flatnonzero(record["flipped"] & (record["adv_pred"] == bool(target)))
        candidates = candidates[(candidates >= HALF_BLOCK) & (candidates < n - HALF_BLOCK)]
        order = rng.permutation(candidates)[:cfg.lime.pick_max_draws]
        if not len(order):
            continue
        adversarial = load_adversarial_spectrogram(folder, song.name, cfg.frontend, domain)
        original = np.asarray(song.spec)
        accepted = 0
        for start in range(0, len(order), 64):
            chunk = order[start:start + 64]
            orig = np.stack([original[f - HALF_BLOCK:f + HALF_BLOCK + 1] for f in chunk])
            adv = np.stack([adversarial[f - HALF_BLOCK:f + HALF_BLOCK + 1] for f in chunk])
            p_orig = predict_logmel(predictor, to_logmel(net, orig))
            p_adv = predict_logmel(predictor, to_logmel(net, adv))
            ok = is_flipped(p_adv, target, threshold) & ~is_flipped(p_orig, target, threshold)
            for i in np.flatnonzero(ok):
                if accepted == cfg.lime.pick_per_file:
                    break
                rows["songs"].append(song.name)
                rows["frames"].append(int(chunk[i]))
                rows["ground_truth"].append(bool(record["ground_truth"][chunk[i]]))
                rows["original"].append(orig[i])
                rows["adversarial"].append(adv[i])
                rows["orig_prob"].append(float(p_orig[i]))
                rows["adv_prob"].append(float(p_adv[i]))
                accepted += 1
            if accepted == cfg.lime.pick_per_file:
                break
    bins = cfg.frontend.n_bins
    empty = np.zeros((0, 2 * HALF_BLOCK + 1, bins), np.float32)
    save_arrays(path, songs=np.array(rows["songs"], dtype=str),
                frames=np.array(rows["frames"], dtype=np.int64),
                ground_truth=np.array(rows["ground_truth"], dtype=bool),
                original=np.stack(rows["original"]) if rows["original"] else empty,
                adversarial=np.stack(rows["adversarial"]) if rows["adversarial"] else empty,
                orig_prob=np.array(rows["orig_prob"], dtype=np.float32),
                adv_prob=np.array(rows["adv_prob"], dtype=np.float32))
    return path


def load_picks(store: Store, domain: str, target: int) -> Picks:
    """Read the picked pairs of one setting (run :func:`pick_adversaries` first)."""
    check_setting(domain, target)
    path = store.picks_path(domain, target)
    if not path.is_file():
        raise SvdError(f"no picked adversaries at '{path}'; run `svd pick --domain {domain} "
                       f"--target {target}` first")
    data = load_arrays(path)
    return Picks(**{k: data[k] for k in ("songs", "frames", "ground_truth", "original",
                                         "adversarial", "orig_prob", "adv_prob")})


@functools.lru_cache(maxsize=8)
def _cached_pair_logmel(path: str, model_dir: str, profile_json: str) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    net, _ = _cached_detector(model_dir, profile_json)
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
def _explain(store: Store, predictor: DetectorPredictor, excerpt: np.ndarray,
             *seed_keys: Any) -> Explanation:
    cfg = store.cfg
    return explain_excerpt(predictor, excerpt, seed=item_seed(cfg.seed, *seed_keys),
                           labels=(0, 1), **lime_settings(cfg.lime))


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
        explanation = _explain(store, predictor, excerpt, "explain", domain, target, i, which)
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
    if path.is_file():
        return path
    items = explanation_items(store, domain, target)
    if any(not item.done for item in items):
        detector(store)  # a damaged model is reported once, not once per pair
    raise_failures(run_items(items, explain_pair_worker, store.cfg,
                             desc=f"LIME {domain} t{target}"), "explanation")
    return _assemble(items, path, ("orig_", "adv_"))


def load_pair_explanations(store: Store, domain: str,
                           target: int) -> tuple[list[Explanation], list[Explanation]]:
    """The explanations of the original and of the adversarial excerpts of every pair."""
    path = store.explanations_path(domain, target)
    if not path.is_file():
        raise SvdError(f"no explanations at '{path}'; run `svd explain --domain {domain} "
                       f"--target {target}` first")
    data = load_arrays(path)
    if int(data["n"]) == 0:
        return [], []
    return (unstack_explanations(strip_prefix(data, "orig_")),
            unstack_explanations(strip_prefix(data, "adv_")))


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
"""P(sing) of log-mel excerpts: ``(N, frames, bands)`` array → ``(N,)`` array."""

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


def flip_counts(store: Store, domain: str, target: int) -> pd.DataFrame:
    """Flip results per pair, k = 1 … n_components, and selection method (Fig. 2).

    The stored pairs, the *adversarial* excerpts' LIME weights and the detector go through
    :func:`flip_counts_arrays`.

    Returns
    -------
    pandas.DataFrame
        Columns ``domain, target, pair, song, frame, k, method`` (``LIME`` or
        ``norm-based``), ``p_sing``, ``flipped``.
    """
    check_setting(domain, target)
    segmentation = Segmentation.from_config(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    picks = load_picks(store, domain, target)
    weights, _ = stacked_weights(store, domain, target, "adv")
    _, predictor = detector(store)
    table = flip_counts_arrays(original, adversarial, weights, segmentation,
                               functools.partial(predict_logmel, predictor), target,
                               store.cfg.evaluate.threshold)
    if table.empty:
        return pd.DataFrame(columns=FLIP_COLUMNS)
    pairs = table["pair"].to_numpy()
    table.insert(0, "domain", domain)
    table.insert(1, "target", target)
    table.insert(3, "song", picks.songs[pairs])
    table.insert(4, "frame", picks.frames[pairs])
    return table


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


def table2_rows(store: Store, domain: str, target: int) -> pd.DataFrame:
    """Per pair, Table 2's k and the flips of both selections with that k.

    k is the number of segments LIME finds relevant for the target class (positive "sing"
    weights for target 1, negative ones for target 0) in the *adversarial* excerpt's
    explanation; see :func:`table2_rows_arrays`.
    """
    check_setting(domain, target)
    segmentation = Segmentation.from_config(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    weights, _ = stacked_weights(store, domain, target, "adv")
    _, predictor = detector(store)
    table = table2_rows_arrays(original, adversarial, weights, segmentation,
                               functools.partial(predict_logmel, predictor), target,
                               store.cfg.evaluate.threshold)
    table.insert(0, "domain", domain)
    table.insert(1, "target", target)
    table.insert(3, "song", load_picks(store, domain, target).songs[table["pair"].to_numpy()])
    return table


# -- Figure 3 / Figure 4: subset perturbations -----------------------------------------------------
def subset_items(store: Store, domain: str, target: int, k: int) -> list[WorkItem]:
    """Work items: explain each partial adversary with k modified segments that still flips."""
    check_setting(domain, target)
    segmentation = Segmentation.from_config(store.cfg.lime)
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
    segmentation = Segmentation.from_config(store.cfg.lime)
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
        if not path.is_file():
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
            raise SvdError(f"no subset explanations at '{path}'; run `svd experiment subset` "
                           "first")
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


# -- running everything --------------------------------------------------------------------------
def settings() -> list[tuple[str, int]]:
    """The four (attack domain, target) settings in the paper's panel order."""
    return [("wave", 1), ("spec", 1), ("wave", 0), ("spec", 0)]


def segment_profile(store: Store, domain: str, target: int) -> dict[str, Any]:
    """Where the perturbation has its energy and where LIME puts its weight, per segment.

    Parameters
    ----------
    store : Store
        The artifact store (explanations of the setting computed).
    domain, target
        The setting.

    Returns
    -------
    dict
        ``energy_share`` ``(n_components,)``: mean share of δ's energy per segment;
        ``lime_weight``: mean class-"sing" weight of the adversarial explanations, sign-flipped
        for target 0 so that positive means "towards the target"; ``energy_top3_share``: mean
        share of δ's energy in its 3 strongest segments; ``top1_agreement``: share of pairs
        whose strongest segment is LIME's top segment; ``n``.
    """
    segmentation = Segmentation.from_config(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    weights, _ = stacked_weights(store, domain, target, "adv")
    n = segmentation.n_components
    if not len(original):
        return {"energy_share": np.full(n, np.nan), "lime_weight": np.full(n, np.nan),
                "energy_top3_share": np.nan, "top1_agreement": np.nan, "n": 0}
    energy = np.atleast_2d(segmentation.energy(adversarial - original))
    share = energy / np.maximum(energy.sum(-1, keepdims=True), 1e-30)
    toward = weights if target == 1 else -weights
    top3 = -np.sort(-share, axis=-1)[:, :3].sum(-1)
    agreement = norm_ranking(adversarial - original, segmentation)[:, 0] == \
        lime_ranking(weights, target)[:, 0]
    return {"energy_share": share.mean(0), "lime_weight": toward.mean(0),
            "energy_top3_share": float(top3.mean()), "top1_agreement": float(agreement.mean()),
            "n": len(original)}


TABLE_GROUPS = {
    "flips": ("flip_counts", "flip_curves", "flip_differences", "table1"),
    "table2": ("table2_pairs", "table2"),
    "subset": ("subset", "subset_recovery", "detected_counts", "fidelity"),
}
"""Which tables each group of :func:`compute_tables` gives."""


def compute_tables(store: Store, chosen: Sequence[tuple[str, int]] | None = None,
                   groups: Sequence[str] = tuple(TABLE_GROUPS)) -> dict[str, pd.DataFrame]:
    """The experiments' tables for some settings, from the stored artifacts.

    Every interval's seed is derived from the setting, method and k alone, so the rows of a
    setting are the same whether it is computed alone (a section notebook) or with the others
    (:func:`experiment_tables`, the results page).

    Parameters
    ----------
    store : Store
        The artifact store.
    chosen : sequence of (domain, target), optional
        The settings (default all four).
    groups : sequence of str
        Which tables (keys of :data:`TABLE_GROUPS`): ``flips`` needs the explanations,
        ``table2`` too, ``subset`` the subset explanations.

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables of the chosen groups by name.
    """
    cfg: Config = store.cfg
    chosen = list(settings() if chosen is None else chosen)
    n_boot, seed = cfg.experiment.bootstrap, cfg.seed
    tables: dict[str, pd.DataFrame] = {}
    if "flips" in groups:
        flips = pd.concat([flip_counts(store, *s) for s in chosen], ignore_index=True)
        tables.update({
            "flip_counts": flips,
            "flip_curves": paper_tables.flip_curves(flips, n_boot, seed),
            "flip_differences": paper_tables.flip_differences(flips, n_boot, seed),
            "table1": paper_tables.table1(flips, cfg.experiment.table1_k, n_boot, seed,
                                          chosen)})
    if "table2" in groups:
        rows = pd.concat([table2_rows(store, *s) for s in chosen], ignore_index=True)
        tables.update({"table2_pairs": rows,
                       "table2": paper_tables.table2(rows, n_boot, seed, chosen)})
    if "subset" in groups:
        subsets = {s: subset_results(store, *s) for s in chosen}
        subset = pd.concat(list(subsets.values()), ignore_index=True)
        counts = []
        for (domain, target), part in subsets.items():
            count = paper_tables.detected_counts(part)
            count.insert(0, "target", target)
            count.insert(0, "domain", domain)
            counts.append(count)
        tables.update({
            "subset": subset,
            "subset_recovery": paper_tables.subset_recovery(subset, n_boot, seed),
            "detected_counts": pd.concat(counts, ignore_index=True),
            "fidelity": paper_tables.fidelity_table(subset, n_boot, seed)})
    return tables


def experiment_tables(store: Store) -> dict[str, Path]:
    """Compute every experiment's tables (:func:`compute_tables`) and write them as CSV.

    The per-pair tables (``flip_counts``, ``table2_pairs``, ``subset``) carry each pair's song;
    the summary tables (:mod:`svdlib.paper_tables`) give song-level intervals and paired tests.

    Returns
    -------
    dict of str to Path
        The CSV files by name (every table of :data:`TABLE_GROUPS`).
    """
    out_dir = store.experiments_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in compute_tables(store).items():
        path = out_dir / f"{name}.csv"
        with atomic_path(path, suffix=".csv") as tmp:
            table.to_csv(tmp, index=False)
        paths[name] = path
    save_json(out_dir / "config.json", store.cfg.to_dict())
    return paths


def load_table(store: Store, name: str) -> pd.DataFrame:
    """Read one experiment table written by :func:`experiment_tables`."""
    path = store.experiments_dir() / f"{name}.csv"
    if not path.is_file():
        raise SvdError(f"no table '{path}'; run `svd experiment all` first")
    return pd.read_csv(path)
