"""The paper's measurements over plain arrays and a predict callable: no configuration, no store.

Every function takes what a researcher has in hand: the original and adversarial excerpts
``(N, frames, bands)`` of N pairs, a :class:`~svdlib.explain.segments.Segmentation` of the
excerpt, rankings or attributions per segment, a ``predict`` callable and a decision rule that
says when the model's output counts as flipped:

* :func:`threshold_rule` for a binary model whose ``predict`` returns P(class 1) ``(M,)`` (the
  paper: P(sing) against the detector's threshold, towards the attack's target class);
* :func:`class_change_rule` for a multi-class model whose ``predict`` returns ``(M, C)`` scores:
  flipped when the predicted class differs from the pair's original class.

An adversarial perturbation ``δ = adversarial − original`` is ground truth the model provably
uses: keep δ only in the k segments an explanation ranks first and see whether the decision
still flips (:func:`flip_curve`, :func:`top_k_rates` for Table 1, :func:`table2_rows` for
Table 2); keep δ only in the k segments of highest energy, explain that partial adversary and
see whether the explanation ranks exactly those k first (:func:`subset_recovery`, Figure 3);
:func:`~svdlib.veracity.tables.fidelity_separation` then asks whether the explainer's own
fidelity tells its right answers from its wrong ones (Figure 4). Rates carry 95 % intervals
that resample songs, the independent unit (:mod:`svdlib.veracity.statistics`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from svdlib.explain.attribution import Explainer
from svdlib.explain.segments import Segmentation
from svdlib.seeding import item_seed
from svdlib.veracity.flips import (
    PSingFn,
    compose_partial,
    is_flipped,
    lime_ranking,
    norm_ranking,
    positive_count,
    selection_masks,
)
from svdlib.veracity.statistics import paired_difference, song_rate

#: ``(M, frames, bands)`` float32 excerpts → the model's outputs ``(M,)`` or ``(M, C)``.
Predict = Callable[[np.ndarray], np.ndarray]
#: ``(outputs, pair)`` → bool ``(M,)``: whether each output counts as flipped for its pair.
Decision = Callable[[np.ndarray, np.ndarray], np.ndarray]


def threshold_rule(target: int, threshold: float) -> Decision:
    """A binary model's decision: P(class 1) beyond the threshold towards ``target``.

    Parameters
    ----------
    target : {0, 1}
        The class the attack drives towards: flipped means ``p > threshold`` for 1 and
        ``p < threshold`` for 0.
    threshold : float
        The model's decision threshold.

    Returns
    -------
    callable
        ``decide(outputs, pair)`` for outputs ``(M,)`` of P(class 1).
    """
    if target not in (0, 1):
        raise ValueError(f"target must be 0 or 1, got {target!r}")

    def decide(outputs: np.ndarray, pair: np.ndarray) -> np.ndarray:
        del pair
        return is_flipped(np.asarray(outputs, dtype=float).reshape(-1), target, threshold)

    return decide


def class_change_rule(original_classes: Sequence[int] | np.ndarray) -> Decision:
    """A multi-class model's decision: the predicted class is not the pair's original class.

    Parameters
    ----------
    original_classes : array-like of int
        ``(N,)`` the class the model predicts for each pair's original excerpt.

    Returns
    -------
    callable
        ``decide(outputs, pair)`` for outputs ``(M, C)`` of class scores.
    """
    classes = np.asarray(original_classes, dtype=int)

    def decide(outputs: np.ndarray, pair: np.ndarray) -> np.ndarray:
        scores = np.asarray(outputs)
        if scores.ndim != 2:
            raise ValueError(f"class_change_rule needs (M, C) outputs, got {scores.shape}")
        return scores.argmax(axis=1) != classes[np.asarray(pair, dtype=int)]

    return decide


def attribution_ranking(attributions: np.ndarray, target: int = 1,
                        signed: bool = True) -> np.ndarray:
    """Segments ordered by relevance, most relevant first (stable for ties).

    Parameters
    ----------
    attributions : np.ndarray
        ``(N, n_components)`` (or one row) relevance for class 1 or the explained class.
    target : {0, 1}
        1 orders by descending attribution; 0 by ascending (the most negative class-1
        attribution is the most relevant for class 0), as the paper does.

    signed : bool
        False for relevances without a sign (saliency's |gradient|): descending for either
        target (see :attr:`~svdlib.explain.attribution.Attribution.signed`).

    Returns
    -------
    np.ndarray
        ``(N, n_components)`` segment ids.
    """
    return lime_ranking(np.asarray(attributions, dtype=float), target if signed else 1)


def energy_ranking(original: np.ndarray, adversarial: np.ndarray,
                   segmentation: Segmentation) -> np.ndarray:
    """Segments ordered by the energy of ``δ = adversarial − original``, highest first."""
    return norm_ranking(np.asarray(adversarial) - np.asarray(original), segmentation)


def keep_top_k(original: np.ndarray, adversarial: np.ndarray, ranking: np.ndarray,
               k: int | np.ndarray, segmentation: Segmentation) -> np.ndarray:
    """The partial adversaries: each original with δ only in its first k ranked segments."""
    return compose_partial(np.asarray(original), np.asarray(adversarial),
                           selection_masks(ranking, k, segmentation))


def _check_pairs(original: np.ndarray, adversarial: np.ndarray,
                 segmentation: Segmentation) -> tuple[np.ndarray, np.ndarray]:
    original, adversarial = np.asarray(original), np.asarray(adversarial)
    if original.shape != adversarial.shape:
        raise ValueError(f"original {original.shape} and adversarial {adversarial.shape} "
                         "excerpts differ in shape")
    if len(original) and original.shape[1:] != segmentation.shape:
        raise ValueError(f"excerpts are {original.shape[1:]}, the segmentation is "
                         f"{segmentation.shape}")
    return original, adversarial


def flip_curve(original: np.ndarray, adversarial: np.ndarray,
               rankings: Mapping[str, np.ndarray], segmentation: Segmentation,
               predict: Predict, decide: Decision,
               ks: Sequence[int] | None = None) -> pd.DataFrame:
    """Whether δ kept in each ranking's top k segments still flips the decision, per k.

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, frames, bands)`` excerpts of the pairs.
    rankings : mapping of str to np.ndarray
        Name → ``(N, n_components)`` segment ids, most relevant first (e.g.
        :func:`attribution_ranking` of an explainer, :func:`energy_ranking`).
    segmentation : Segmentation
        The grid over ``(frames, bands)``.
    predict : callable
        ``(M, frames, bands)`` → outputs ``(M,)`` or ``(M, C)``.
    decide : callable
        The decision rule (:func:`threshold_rule`, :func:`class_change_rule`).
    ks : sequence of int, optional
        The k (default 1 … ``segmentation.n_components``).

    Returns
    -------
    pandas.DataFrame
        ``pair, k, method, output, flipped``: blocks of N rows ordered by k, then by ranking
        (in the mapping's order); ``output`` is the model's output for 1-D outputs, else the
        predicted class.
    """
    original, adversarial = _check_pairs(original, adversarial, segmentation)
    columns = ["pair", "k", "method", "output", "flipped"]
    if not len(original):
        return pd.DataFrame(columns=columns)
    pairs = np.arange(len(original))
    frames = []
    for k in (ks if ks is not None else range(1, segmentation.n_components + 1)):
        for method, ranking in rankings.items():
            outputs = np.asarray(predict(keep_top_k(original, adversarial, ranking, k,
                                                    segmentation)))
            shown = outputs if outputs.ndim == 1 else outputs.argmax(axis=1)
            frames.append(pd.DataFrame({"pair": pairs, "k": int(k), "method": method,
                                        "output": shown, "flipped": decide(outputs, pairs)}))
    return pd.concat(frames, ignore_index=True)


def top_k_rates(curve: pd.DataFrame, k: int = 3, songs: Sequence | np.ndarray | None = None,
                reference: str | None = None, n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """Table 1 for any rankings: % of pairs flipped at k, with song-level intervals.

    Parameters
    ----------
    curve : pandas.DataFrame
        A :func:`flip_curve` (columns ``pair, k, method, flipped``).
    k : int
        The number of segments (3 in the paper).
    songs : array-like, optional
        ``(N,)`` the song of each pair, the independent unit the intervals resample (default:
        every pair its own song).
    reference : str, optional
        A method to compare every other one with, paired on the same pairs (e.g. the energy
        ranking): adds ``difference`` (percentage points, method − reference), its interval
        and the within-song sign-flip p-value.
    n_boot, seed : int
        Bootstrap samples and seed.

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method, k, percent, ci_low, ci_high, n_pairs, n_songs`` (and
        the difference columns).
    """
    at_k = curve[curve["k"] == k]
    rows = []
    flags_of = {m: g.sort_values("pair")["flipped"].to_numpy(bool)
                for m, g in at_k.groupby("method", sort=False)}
    n = len(next(iter(flags_of.values()))) if flags_of else 0
    song_ids = np.asarray(songs) if songs is not None else np.arange(n)
    for method, flags in flags_of.items():
        rate = song_rate(flags, song_ids, n_boot, item_seed(seed, "top_k", method, k))
        row = {"method": method, "k": k, "percent": rate.percent, "ci_low": rate.low,
               "ci_high": rate.high, "n_pairs": rate.n_pairs, "n_songs": rate.n_songs}
        if reference is not None and reference in flags_of and method != reference:
            diff = paired_difference(flags_of[reference], flags, song_ids, n_boot,
                                     item_seed(seed, "top_k", method, k, "difference"))
            row.update({"difference": diff.difference, "diff_ci_low": diff.low,
                        "diff_ci_high": diff.high, "p_value": diff.p_value})
        rows.append(row)
    return pd.DataFrame(rows)


def table2_rows(original: np.ndarray, adversarial: np.ndarray, attributions: np.ndarray,
                segmentation: Segmentation, predict: Predict, decide: Decision,
                target: int = 1) -> pd.DataFrame:
    """Table 2 per pair: k = the segments relevant for the target, and both selections' flips.

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, frames, bands)`` excerpts of the pairs.
    attributions : np.ndarray
        ``(N, n_components)`` attributions of the adversarial excerpts (class 1 or the
        explained class).
    segmentation, predict, decide
        As in :func:`flip_curve`.
    target : {0, 1}
        "Relevant" means a positive attribution for 1 and a negative one for 0.

    Returns
    -------
    pandas.DataFrame
        ``pair, k, flipped_LIME, flipped_norm-based`` (the explainer's top k, and the k
        highest-energy segments).
    """
    original, adversarial = _check_pairs(original, adversarial, segmentation)
    ks = positive_count(attributions, target)
    pairs = np.arange(len(original))
    out = {"pair": pairs, "k": ks}
    for method, ranking in (("LIME", attribution_ranking(attributions, target)),
                            ("norm-based", energy_ranking(original, adversarial,
                                                          segmentation))):
        if len(original):
            outputs = np.asarray(predict(keep_top_k(original, adversarial, ranking, ks,
                                                    segmentation)))
            out[f"flipped_{method}"] = decide(outputs, pairs)
        else:
            out[f"flipped_{method}"] = np.zeros(0, bool)
    return pd.DataFrame(out)


def subset_recovery(original: np.ndarray, adversarial: np.ndarray,
                    segmentation: Segmentation, predict: Predict, decide: Decision,
                    explain: Explainer, ks: Sequence[int] = (1, 3, 5),
                    target: int = 1) -> pd.DataFrame:
    """Figure 3: δ kept in its k highest-energy segments; does the explainer rank them first.

    For every k and every pair whose partial adversary (δ only in its k highest-energy
    segments) still flips, the partial adversary is explained, and its top k segments are
    compared with the k modified ones.

    Parameters
    ----------
    original, adversarial, segmentation, predict, decide
        As in :func:`flip_curve`.
    explain : callable
        ``(frames, bands)`` excerpt → :class:`Attribution` (e.g. LIME with the model).
    ks : sequence of int
        The numbers of modified segments.
    target : {0, 1}
        Orders the attributions as :func:`attribution_ranking` does.

    Returns
    -------
    pandas.DataFrame
        ``k, pair, modified, top`` (segment ids, space-separated), ``detected`` (how many of
        the k are in the top k), ``all_detected``, ``top1_correct`` (k = 1 only) and
        ``fidelity`` (the explainer's score).
    """
    original, adversarial = _check_pairs(original, adversarial, segmentation)
    energy = energy_ranking(original, adversarial, segmentation)
    rows = []
    for k in ks:
        partial = keep_top_k(original, adversarial, energy, k, segmentation)
        pairs = np.arange(len(original))
        flipped = decide(np.asarray(predict(partial)), pairs) if len(partial) else pairs > 0
        for i in np.flatnonzero(flipped):
            attribution = explain(partial[i])
            top = attribution_ranking(attribution.weights, target)[0, :k].tolist()
            modified = energy[i, :k].tolist()
            detected = len(set(modified) & set(top))
            rows.append({"k": int(k), "pair": int(i), "modified": " ".join(map(str, modified)),
                         "top": " ".join(map(str, top)), "detected": detected,
                         "all_detected": detected == k,
                         "top1_correct": top[0] == modified[0] if k == 1 else None,
                         "fidelity": float(attribution.score)})
    return pd.DataFrame(rows, columns=["k", "pair", "modified", "top", "detected",
                                       "all_detected", "top1_correct", "fidelity"])


# -- the paper's per-pair tables for a binary model -------------------------------------------
FLIP_COLUMNS = ["domain", "target", "pair", "song", "frame", "k", "method", "p_sing", "flipped"]


def flip_counts_arrays(original: np.ndarray, adversarial: np.ndarray, weights: np.ndarray,
                       segmentation: Segmentation, predict: PSingFn, target: int,
                       threshold: float) -> pd.DataFrame:
    """Figure 2's per-pair rows: :func:`flip_curve` of LIME's and the energy ranking.

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
        The attack's direction (see :func:`threshold_rule`).
    threshold : float
        The detector's threshold.

    Returns
    -------
    pandas.DataFrame
        Columns ``pair, k, method, p_sing, flipped``; blocks of N rows ordered by k, then
        method (``LIME`` first). Empty (with these columns) when there are no pairs.
    """
    if not len(original):
        return pd.DataFrame(columns=["pair", "k", "method", "p_sing", "flipped"])
    rankings = {"LIME": attribution_ranking(weights, target),
                "norm-based": energy_ranking(original, adversarial, segmentation)}
    curve = flip_curve(original, adversarial, rankings, segmentation, predict,
                       threshold_rule(target, threshold))
    return curve.rename(columns={"output": "p_sing"})


def table2_rows_arrays(original: np.ndarray, adversarial: np.ndarray, weights: np.ndarray,
                       segmentation: Segmentation, predict: PSingFn, target: int,
                       threshold: float) -> pd.DataFrame:
    """Table 2's per-pair rows for a binary model: :func:`table2_rows` with the threshold rule.

    Returns
    -------
    pandas.DataFrame
        Columns ``pair, k, flipped_LIME, flipped_norm-based``, one row per pair.
    """
    return table2_rows(original, adversarial, weights, segmentation, predict,
                       threshold_rule(target, threshold), target)
