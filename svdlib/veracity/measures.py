"""The paper's measurements over plain arrays and a predict callable: no configuration, no store.

Every function takes what a researcher has in hand: the original and adversarial excerpts
``(N, *shape)`` of N pairs (log-mel ``(N, frames, bands)``, waveforms ``(N, L)``, any shape), a
segmentation of the excerpt (:class:`~svdlib.explain.segments.Segmentation`, the paper's grid,
or any :class:`~svdlib.explain.segmentations.base.BaseSegmentation`: labels, time or STFT
segments), the methods to measure, a ``predict`` callable (numpy in; a ``torch.nn.Module`` is
fed tensors; tensor outputs are detached) and a decision rule
(:mod:`svdlib.veracity.rules`: :func:`~svdlib.veracity.rules.threshold_rule`,
:func:`~svdlib.veracity.rules.class_change_rule`).

A **method** is either an explainer (a callable ``excerpt -> Relevance``, called on the
adversarial excerpts) or relevances computed before, ``(N, n_components)`` (an array, or
:class:`StoredRelevances` to say that they have no sign or to carry fidelities: what Quantus
calls ``a_batch``). The energy of δ is one such method (:func:`energy_relevances`).

An adversarial perturbation ``δ = adversarial − original`` is ground truth the model provably
uses: keep δ only in the k segments a method ranks first (the segmentation's
:meth:`~svdlib.explain.segmentations.base.BaseSegmentation.keep`) and see whether the decision
still flips (:func:`flip_curve`, :func:`top_k_rates` for Table 1, :func:`table2_rows` and
:func:`table2_rates` for Table 2); keep δ only in the k segments of highest energy, explain that
partial adversary and see whether the explanation ranks exactly those k first
(:mod:`svdlib.veracity.recovery`, Figure 3). Rates carry 95 % intervals that resample songs,
the independent unit (:mod:`svdlib.veracity.statistics`); all rates and differences of one
call use the same ``seed``, so they resample the same songs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from svdlib.explain.attribution import Explainer, Relevance
from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.veracity.flips import check_pairs, positive_count, predict_outputs, top_selection
from svdlib.veracity.rules import Decision, Predict
from svdlib.veracity.statistics import PairedDifference, paired_difference, song_rate

#: The energy of δ as a method: the reference ranking every explainer is compared with (the
#: paper calls it "norm-based").
ENERGY = "energy"


@dataclass(frozen=True, eq=False)
class StoredRelevances:
    """Relevances of N excerpts computed before (a stored explanation run, Quantus' ``a_batch``).

    Attributes
    ----------
    weights : np.ndarray
        ``(N, n_components)`` relevance of each segment for class 1 (or the explained class).
    signed : bool
        False for relevances without a sign (saliency's ``|gradient|``, the energy of δ):
        ranked descending for either target, and no segment counts as "for" a class.
    scores : np.ndarray or None
        ``(N,)`` the explainer's own fidelity per excerpt (NaN where unknown).

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import StoredRelevances, flip_curve
    >>> weights = np.zeros((4, 20)); weights[:2, 0] = 1; weights[2:, 19] = 1
    >>> stored = StoredRelevances(weights)        # right for pairs 0, 1; wrong for 2, 3
    >>> curve = flip_curve(original, adversarial, {"stored": stored}, seg, predict, rule, ks=[1])
    >>> curve.flipped.tolist()
    [True, True, False, False]
    """

    weights: np.ndarray
    signed: bool = True
    scores: np.ndarray | None = None


#: What a measure takes per method: an explainer, or relevances ``(N, n_components)``.
Method = Explainer | np.ndarray | StoredRelevances


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
        False for relevances without a sign (saliency's ``|gradient|``): descending for either
        target (see :attr:`~svdlib.explain.attribution.Relevance.signed`).

    Returns
    -------
    np.ndarray
        ``(N, n_components)`` segment ids.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import attribution_ranking
    >>> weights = np.array([0.1, -0.5, 0.3])      # relevance of three segments for class 1
    >>> attribution_ranking(weights), attribution_ranking(weights, target=0)
    (array([[2, 0, 1]]), array([[1, 0, 2]]))
    """
    weights = np.atleast_2d(np.asarray(attributions, dtype=float))
    return np.argsort(weights if signed and target == 0 else -weights, axis=-1, kind="stable")


def energy_relevances(original: np.ndarray, adversarial: np.ndarray,
                      segmentation: BaseSegmentation) -> StoredRelevances:
    """The energy of ``δ = adversarial − original`` per segment, as unsigned relevances.

    The segmentation's :meth:`~svdlib.explain.segmentations.base.BaseSegmentation.energy`: the
    sum of δ² over a pointwise segment's cells, the energy of δ's waveform part for an STFT
    segmentation.

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import energy_relevances
    >>> energy = energy_relevances(original, adversarial, seg)
    >>> energy.weights.shape, energy.signed, energy.weights[0, [0, 19]].tolist()
    ((4, 20), False, [460.0, 115.0])
    """
    delta = np.asarray(adversarial) - np.asarray(original)
    return StoredRelevances(np.atleast_2d(segmentation.energy(delta)), signed=False)


def energy_ranking(original: np.ndarray, adversarial: np.ndarray,
                   segmentation: BaseSegmentation) -> np.ndarray:
    """Segments ordered by the energy of ``δ = adversarial − original``, highest first.

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import energy_ranking
    >>> energy_ranking(original, adversarial, seg)[:, :2]       # each pair's top two segments
    array([[ 0, 19],
           [ 0, 19],
           [ 0, 19],
           [ 0, 19]])
    """
    return attribution_ranking(energy_relevances(original, adversarial, segmentation).weights,
                               signed=False)


def keep_top_k(original: np.ndarray, adversarial: np.ndarray, ranking: np.ndarray,
               k: int | np.ndarray, segmentation: BaseSegmentation) -> np.ndarray:
    """The partial adversaries: each original with δ only in its first k ranked segments.

    ``segmentation.keep(original, adversarial, selection)``: ``where(mask, adversarial,
    original)`` for a pointwise segmentation, ``original + istft(M_S · stft(δ))`` for an STFT
    one; float32 ``(N, *shape)``.

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import energy_ranking, keep_top_k
    >>> ranking = energy_ranking(original, adversarial, seg)
    >>> partial = keep_top_k(original, adversarial, ranking, 1, seg)    # δ in segment 0 only
    >>> partial.shape, predict(partial).tolist(), float(partial[:, 92:, 60:].max())
    ((4, 115, 80), [1.0, 1.0, 1.0, 1.0], 0.0)
    """
    return segmentation.keep(np.asarray(original), np.asarray(adversarial),
                             top_selection(ranking, k, segmentation.n_components))


def explain_timed(explainer: Explainer, excerpts: np.ndarray) -> tuple[list[Relevance], float]:
    """Explain every excerpt (batched when the explainer can), and the seconds it took."""
    started = time.perf_counter()
    many = getattr(explainer, "explain_many", None)
    out = many(excerpts) if many is not None else [explainer(e) for e in excerpts]
    return list(out), time.perf_counter() - started


def stack_relevances(explainer: Explainer, found: Sequence[Relevance],
                     segmentation: BaseSegmentation) -> StoredRelevances:
    """An explainer's explanations of N excerpts as :class:`StoredRelevances`."""
    weights = np.stack([a.weights for a in found]) if found else \
        np.zeros((0, segmentation.n_components))
    signed = bool(getattr(explainer, "signed", True)) and all(a.signed for a in found)
    return StoredRelevances(weights, signed, np.array([a.score for a in found], float))


def stored_relevances(relevances: np.ndarray | StoredRelevances, n: int,
                      segmentation: BaseSegmentation) -> StoredRelevances:
    """Relevances of n excerpts as :class:`StoredRelevances`, their shape checked."""
    stored = relevances if isinstance(relevances, StoredRelevances) else \
        StoredRelevances(np.asarray(relevances))
    weights, width = np.asarray(stored.weights), segmentation.n_components
    if weights.shape != (n, width):
        raise ValueError(f"stored relevances are {weights.shape}, expected ({n}, {width}): one "
                         "row per excerpt, one column per segment")
    if not np.issubdtype(weights.dtype, np.floating):
        raise ValueError(f"stored relevances must be floating point, got {weights.dtype} "
                         "(a ranking? pass the relevances it was sorted from)")
    return stored


def relevances_of(method: Method, excerpts: np.ndarray,
                  segmentation: BaseSegmentation) -> tuple[StoredRelevances, float | None]:
    """One method's relevances of the excerpts, and the seconds an explainer took.

    Parameters
    ----------
    method : callable, np.ndarray or StoredRelevances
        An explainer (called on every excerpt, :func:`explain_timed`) or relevances
        ``(N, n_components)`` of these excerpts (an array counts as signed).
    excerpts : np.ndarray
        ``(N, *shape)``.
    segmentation : BaseSegmentation
        The segments the relevances are given for.

    Returns
    -------
    tuple
        :class:`StoredRelevances` and the explainer's seconds (None for stored relevances).
    """
    if callable(method):
        found, seconds = explain_timed(method, excerpts)
        return stack_relevances(method, found, segmentation), seconds
    return stored_relevances(method, len(excerpts), segmentation), None


def flip_curve(original: np.ndarray, adversarial: np.ndarray, methods: Mapping[str, Method],
               segmentation: BaseSegmentation, predict: Predict, decide: Decision,
               ks: Sequence[int] | None = None, target: int = 1) -> pd.DataFrame:
    """Whether δ kept in each method's top k segments still flips the decision, per k.

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, *shape)`` excerpts of the pairs (``(N, frames, bands)``, waveforms ``(N, L)``).
    methods : mapping of str to method
        Name → an explainer or relevances ``(N, n_components)`` of the adversarial excerpts
        (e.g. :func:`energy_relevances`; see :func:`relevances_of`).
    segmentation : BaseSegmentation
        The segments of the excerpts (the grid over ``(frames, bands)``, labels, time or
        STFT segments).
    predict : callable
        ``(M, *shape)`` float32 array → outputs ``(M,)`` or ``(M, C)`` (a
        ``torch.nn.Module`` is given a tensor; tensor outputs are detached).
    decide : callable
        The decision rule (:func:`~svdlib.veracity.rules.threshold_rule`,
        :func:`~svdlib.veracity.rules.class_change_rule`).
    ks : sequence of int, optional
        The k (default 1 … ``segmentation.n_components``).
    target : {0, 1}
        Orders signed relevances as :func:`attribution_ranking` does.

    Returns
    -------
    pandas.DataFrame
        ``pair, k, method, output, flipped``: blocks of N rows ordered by k, then by method
        (in the mapping's order); ``output`` is the model's output for 1-D outputs, else the
        predicted class.

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import StoredRelevances, energy_relevances, flip_curve
    >>> weights = np.zeros((4, 20)); weights[:2, 0] = 1; weights[2:, 19] = 1
    >>> methods = {"energy": energy_relevances(original, adversarial, seg),
    ...            "guess": StoredRelevances(weights)}
    >>> curve = flip_curve(original, adversarial, methods, seg, predict, rule, ks=[1, 2])
    >>> curve.groupby(["k", "method"]).flipped.mean().unstack()
    method  energy  guess
    k
    1          1.0    0.5
    2          1.0    1.0
    """
    original, adversarial = check_pairs(original, adversarial, segmentation)
    columns = ["pair", "k", "method", "output", "flipped"]
    if not len(original):
        return pd.DataFrame(columns=columns)
    rankings = {}
    for name, method in methods.items():
        stored, _ = relevances_of(method, adversarial, segmentation)
        rankings[name] = attribution_ranking(stored.weights, target, stored.signed)
    pairs = np.arange(len(original))
    frames = []
    for k in (ks if ks is not None else range(1, segmentation.n_components + 1)):
        for method, ranking in rankings.items():
            outputs = predict_outputs(predict, keep_top_k(original, adversarial, ranking, k,
                                                          segmentation))
            shown = outputs if outputs.ndim == 1 else outputs.argmax(axis=1)
            frames.append(pd.DataFrame({"pair": pairs, "k": int(k), "method": method,
                                        "output": shown, "flipped": decide(outputs, pairs)}))
    return pd.concat(frames, ignore_index=True)


def difference_columns(diff: PairedDifference, a: str, b: str) -> dict[str, Any]:
    """A paired difference ``b − a`` as table columns (``only_<a>``: pairs only a flips)."""
    return {"difference": diff.difference, "diff_ci_low": diff.low, "diff_ci_high": diff.high,
            "p_value": diff.p_value, "p_mcnemar": diff.p_mcnemar, f"only_{a}": diff.discordant_a,
            f"only_{b}": diff.discordant_b}


def _song_ids(songs: Sequence | np.ndarray | None, pairs: np.ndarray) -> np.ndarray:
    return np.asarray(songs)[pairs] if songs is not None else pairs


def top_k_rates(curve: pd.DataFrame, k: int = 3, songs: Sequence | np.ndarray | None = None,
                reference: str | None = None, n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """Table 1 for any methods: % of pairs flipped at k, with song-level intervals.

    Parameters
    ----------
    curve : pandas.DataFrame
        A :func:`flip_curve` (columns ``pair, k, method, flipped``).
    k : int
        The number of segments (3 in the paper).
    songs : array-like, optional
        The song of each pair, indexed by pair, the independent unit the intervals resample
        (default: every pair its own song).
    reference : str, optional
        A method to compare every other one with, paired on the same pairs (e.g. the energy
        ranking): adds ``difference`` (percentage points, method − reference), its interval,
        the within-song sign-flip p-value, McNemar's p-value and the discordant pairs
        ``only_reference`` and ``only_method``.
    n_boot, seed : int
        Bootstrap samples and seed (the same for every method: they resample the same songs).

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method, k, percent, ci_low, ci_high, n_pairs, n_songs`` (and
        the difference columns).

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import StoredRelevances, energy_relevances, flip_curve, top_k_rates
    >>> weights = np.zeros((4, 20)); weights[:2, 0] = 1; weights[2:, 19] = 1
    >>> methods = {"energy": energy_relevances(original, adversarial, seg),
    ...            "guess": StoredRelevances(weights)}
    >>> curve = flip_curve(original, adversarial, methods, seg, predict, rule, ks=[1, 2])
    >>> rates = top_k_rates(curve, k=1, reference="energy")
    >>> rates[["method", "percent", "n_pairs", "difference"]]
       method  percent  n_pairs  difference
    0  energy    100.0        4         NaN
    1   guess     50.0        4       -50.0
    """
    at_k = curve[curve["k"] == k]
    by_method = {m: g.sort_values("pair") for m, g in at_k.groupby("method", sort=False)}
    if not by_method:
        return pd.DataFrame(columns=["method", "k", "percent", "ci_low", "ci_high", "n_pairs",
                                     "n_songs"])
    rows = []
    for method, group in by_method.items():
        pairs, flags = group["pair"].to_numpy(int), group["flipped"].to_numpy(bool)
        own = _song_ids(songs, pairs)
        rate = song_rate(flags, own, n_boot, seed)
        row = {"method": method, "k": k, "percent": rate.percent, "ci_low": rate.low,
               "ci_high": rate.high, "n_pairs": rate.n_pairs, "n_songs": rate.n_songs}
        if reference is not None and reference in by_method and method != reference:
            base = by_method[reference]
            if not np.array_equal(base["pair"].to_numpy(int), pairs):
                raise ValueError(f"'{method}' and '{reference}' must cover the same pairs")
            diff = paired_difference(base["flipped"].to_numpy(bool), flags, own, n_boot, seed)
            row.update(difference_columns(diff, "reference", "method"))
        rows.append(row)
    return pd.DataFrame(rows)


def table2_rows(original: np.ndarray, adversarial: np.ndarray, methods: Mapping[str, Method],
                segmentation: BaseSegmentation, predict: Predict, decide: Decision,
                target: int = 1) -> pd.DataFrame:
    """Table 2 per pair: k = the segments a method finds relevant for the target; the flips.

    For every method with signed relevances, k is the number of segments relevant for the
    target (a positive relevance for target 1, a negative one for 0); the pair's δ is kept in
    the method's top k and, beside it, in the k highest-energy segments.

    Parameters
    ----------
    original, adversarial, methods, segmentation, predict, decide, target
        As in :func:`flip_curve`.

    Returns
    -------
    pandas.DataFrame
        ``pair, method, k, flipped, energy_flipped``, N rows per method in the mapping's
        order; methods without a sign have k NaN and nothing flipped.

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import StoredRelevances, table2_rows
    >>> weights = np.zeros((4, 20)); weights[:, 0] = 1; weights[:, 5] = 0.5; weights[:, 19] = -1
    >>> rows = table2_rows(original, adversarial, {"signed": StoredRelevances(weights)}, seg,
    ...                    predict, rule)
    >>> rows                                  # k = 2 segments are positive (0 and 5)
       pair  method  k  flipped  energy_flipped
    0     0  signed  2     True            True
    1     1  signed  2     True            True
    2     2  signed  2     True            True
    3     3  signed  2     True            True
    """
    original, adversarial = check_pairs(original, adversarial, segmentation)
    pairs = np.arange(len(original))
    energy = energy_ranking(original, adversarial, segmentation) if len(original) else None
    frames = []
    for name, method in methods.items():
        stored, _ = relevances_of(method, adversarial, segmentation)
        if not stored.signed or not len(original):
            frames.append(pd.DataFrame({"pair": pairs, "method": name,
                                        "k": np.nan if len(original) else pairs,
                                        "flipped": False, "energy_flipped": False}))
            continue
        ks = positive_count(stored.weights, target)
        flags = {}
        for which, ranking in (("flipped", attribution_ranking(stored.weights, target)),
                               ("energy_flipped", energy)):
            outputs = predict_outputs(predict, keep_top_k(original, adversarial, ranking, ks,
                                                          segmentation))
            flags[which] = decide(outputs, pairs)
        frames.append(pd.DataFrame({"pair": pairs, "method": name, "k": ks, **flags}))
    columns = ["pair", "method", "k", "flipped", "energy_flipped"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def table2_rates(rows: pd.DataFrame, songs: Sequence | np.ndarray | None = None,
                 n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Table 2 for any methods: % flipped with each method's k, and the energy ranking's.

    Parameters
    ----------
    rows : pandas.DataFrame
        :func:`table2_rows` (``pair, method, k, flipped, energy_flipped``).
    songs : array-like, optional
        As in :func:`top_k_rates`.
    n_boot, seed : int
        Bootstrap samples and seed (the same for every rate and difference).

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method, mean k, percent, ci_low, ci_high``, the energy
        ranking's ``energy %`` with ``energy ci_low, energy ci_high`` at the same k, the paired
        difference energy − method (``difference``, its interval, ``p_value``, ``p_mcnemar``,
        ``only_method``, ``only_energy``) and ``n_pairs, n_songs``. NaN for methods
        without a sign.

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import StoredRelevances, table2_rates, table2_rows
    >>> weights = np.zeros((4, 20)); weights[:, 0] = 1; weights[:, 5] = 0.5; weights[:, 19] = -1
    >>> rows = table2_rows(original, adversarial, {"signed": StoredRelevances(weights)}, seg,
    ...                    predict, rule)
    >>> table2_rates(rows)[["method", "mean k", "percent", "energy %"]]
       method  mean k  percent  energy %
    0  signed     2.0    100.0     100.0
    """
    out = []
    for method, group in rows.groupby("method", sort=False):
        group = group.sort_values("pair")
        pairs = group["pair"].to_numpy(int)
        own = _song_ids(songs, pairs)
        row: dict[str, Any] = {"method": method, "mean k": np.nan, "n_pairs": len(group),
                               "n_songs": len(set(np.asarray(own).tolist()))}
        if len(group) and group["k"].notna().all():
            mine, energy = (group[c].to_numpy(bool) for c in ("flipped", "energy_flipped"))
            rate, base = song_rate(mine, own, n_boot, seed), song_rate(energy, own, n_boot, seed)
            row.update({"mean k": float(group["k"].mean()), "percent": rate.percent,
                        "ci_low": rate.low, "ci_high": rate.high, "energy %": base.percent,
                        "energy ci_low": base.low, "energy ci_high": base.high,
                        **difference_columns(paired_difference(mine, energy, own, n_boot, seed),
                                             "method", "energy")})
        out.append(row)
    return pd.DataFrame(out, columns=TABLE2_RATE_COLUMNS)


TABLE2_RATE_COLUMNS = ["method", "mean k", "n_pairs", "n_songs", "percent", "ci_low", "ci_high",
                       "energy %", "energy ci_low", "energy ci_high", "difference", "diff_ci_low",
                       "diff_ci_high", "p_value", "p_mcnemar", "only_method", "only_energy"]
