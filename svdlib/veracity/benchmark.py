"""Which explainer tells the truth: every explainer on the same planted pairs, and references.

No configuration and no store: plain arrays of any shape a segmentation describes (log-mel
excerpts ``(N, frames, bands)`` with the paper's grid, waveforms ``(N, L)`` with time or STFT
segments), a predict callable and explainers.

:func:`run_benchmark` explains the adversarial excerpt of every pair with each explainer and
measures, on the same pairs, what the paper measures for LIME: the flip curve (δ kept in the
top k segments, k = 1 … n), Table 1 (k = 3), Table 2 (k = the explainer's positive segments),
subset recovery (δ kept in its k highest-energy segments: does the explainer rank exactly those
first?), and the cost per explanation. The exhaustive search over all k-subsets
(:mod:`svdlib.veracity.exhaustive`) gives the chance rate (the share of k-subsets that flip)
and the attainable rate (some k-subset flips), and each pair's smallest flipping subset.
:func:`benchmark_table` ranks the explainers with song-level intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.veracity.exhaustive import ExhaustiveResult, contains_smallest, exhaustive_flips
from svdlib.veracity.measures import (
    ENERGY,
    Method,
    StoredRelevances,
    attribution_ranking,
    check_pairs,
    energy_relevances,
    explain_timed,
    flip_curve,
    relevances_of,
    table2_rates,
    table2_rows,
    top_k_rates,
)
from svdlib.veracity.recovery import subset_partials, subset_recovery
from svdlib.veracity.rules import Decision, Predict
from svdlib.veracity.statistics import paired_difference, song_rate

__all__ = ["ENERGY", "BenchmarkRun", "benchmark_table", "explain_timed", "reference_rows",
           "run_benchmark"]


@dataclass
class BenchmarkRun:
    """Per-pair results of every method on one set of pairs.

    Attributes
    ----------
    curve : pandas.DataFrame
        ``pair, k, method, output, flipped`` for every method, :data:`ENERGY` last.
    table2 : pandas.DataFrame
        :func:`~svdlib.veracity.measures.table2_rows` of every method (NaN k and no flip for
        methods without signs).
    subsets : pandas.DataFrame
        :func:`~svdlib.veracity.recovery.subset_recovery` rows of every explainer, with a
        ``method`` column.
    costs : pandas.DataFrame
        ``method, explanations, seconds, seconds_per_explanation`` of every explainer.
    smallest : pandas.DataFrame
        ``pair, method, k, contains``: the top k contains the pair's smallest flipping subset.
    exhaustive : ExhaustiveResult or None
        The exact references (None when not computed).
    weights : dict of str to np.ndarray
        ``(N, n_components)`` the relevances each explainer computed for the adversarial
        excerpts (stored relevances are not repeated here).
    signed : dict of str to bool
        Whether each explainer's relevances have a sign.
    scores : dict of str to np.ndarray
        ``(N,)`` each explainer's own fidelity per excerpt (``Relevance.score``: the R² of
        LIME's and KernelSHAP's surrogates, the paper's fidelity); explainers without one
        (all NaN) are absent.
    """

    curve: pd.DataFrame
    table2: pd.DataFrame
    subsets: pd.DataFrame
    costs: pd.DataFrame
    smallest: pd.DataFrame
    exhaustive: ExhaustiveResult | None
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    signed: dict[str, bool] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)


def _smallest_hits(rankings: Mapping[str, np.ndarray], reference: ExhaustiveResult | None,
                   max_k: int) -> pd.DataFrame:
    """Per ranking and k ≤ max_k: does its top k contain the pair's smallest flipping subset."""
    if reference is None:
        return pd.DataFrame(columns=["pair", "method", "k", "contains"])
    return pd.concat([pd.DataFrame({"pair": np.arange(reference.n_pairs), "method": name, "k": k,
                                    "contains": contains_smallest(ranking, reference, k)})
                      for name, ranking in rankings.items() for k in range(1, max_k + 1)],
                     ignore_index=True)


def _per_method(original: np.ndarray, adversarial: np.ndarray, segmentation: BaseSegmentation,
                predict: Predict, decide: Decision, methods: Mapping[str, Method], target: int,
                subset_ks: Sequence[int]) -> tuple[dict[str, StoredRelevances], list, list, list]:
    """Each method's relevances and Table 2; each explainer's cost and subset recovery."""
    partials = subset_partials(original, adversarial, segmentation, predict, decide, subset_ks)
    relevances: dict[str, StoredRelevances] = {}
    table2, subsets, costs = [], [], []
    for name, method in methods.items():
        relevances[name], seconds = relevances_of(method, adversarial, segmentation)
        table2.append(table2_rows(original, adversarial, {name: relevances[name]}, segmentation,
                                  predict, decide, target))
        if seconds is not None:     # an explainer: its cost, and it explains partial adversaries
            costs.append({"method": name, "explanations": len(original), "seconds": seconds,
                          "seconds_per_explanation": seconds / max(len(original), 1)})
            subsets.append(subset_recovery(partials, method, segmentation,
                                           target).assign(method=name))
    return relevances, table2, subsets, costs


def run_benchmark(original: np.ndarray, adversarial: np.ndarray, segmentation: BaseSegmentation,
                  predict: Predict, decide: Decision, methods: Mapping[str, Method],
                  target: int = 1, ks: Sequence[int] | None = None,
                  subset_ks: Sequence[int] = (1, 3, 5), max_k: int = 3,
                  exhaustive: bool = True) -> BenchmarkRun:
    """Every method on the same pairs, with the energy ranking and the exact references.

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, *shape)`` excerpts of the pairs (the adversarial ones flip the decision).
    segmentation : BaseSegmentation
        The segments of every method's relevances: the grid, labels, time or STFT segments.
    predict, decide
        The model's outputs and the decision rule (see :mod:`svdlib.veracity.rules`).
    methods : mapping of str to method
        Name → an explainer ``excerpt -> Relevance`` (e.g.
        :func:`~svdlib.explain.explainers.make_explainer`), timed, or relevances
        ``(N, n_components)`` of the adversarial excerpts computed before (an array or
        :class:`~svdlib.veracity.measures.StoredRelevances`: no cost and no subset recovery).
        :data:`ENERGY` (:func:`~svdlib.veracity.measures.energy_relevances`) is added last
        unless given.
    target : {0, 1}
        The attack's direction (orders signed relevances).
    ks : sequence of int, optional
        The flip curve's k (default 1 … n).
    subset_ks : sequence of int
        The numbers of modified segments of subset recovery.
    max_k : int
        Largest subset size of the exhaustive search.
    exhaustive : bool
        Compute the exact references.

    Returns
    -------
    BenchmarkRun
        The per-pair tables.

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
    >>> from svdlib import Relevance, StoredRelevances, run_benchmark
    >>> weights = np.zeros((4, 20)); weights[:2, 0] = 1; weights[2:, 19] = 1
    >>> methods = {"brightness": lambda excerpt: Relevance(seg.energy(excerpt)),   # an explainer
    ...            "guess": StoredRelevances(weights)}                             # stored ones
    >>> run = run_benchmark(original, adversarial, seg, predict, rule, methods, max_k=2)
    >>> list(run.curve.method.unique())
    ['brightness', 'guess', 'energy']
    >>> run.curve.query("k == 1").groupby("method", sort=False).flipped.mean().tolist()
    [1.0, 0.5, 1.0]
    """
    original, adversarial = check_pairs(original, adversarial, segmentation)
    ordered = {name: method for name, method in methods.items() if name != ENERGY}
    ordered[ENERGY] = methods[ENERGY] if ENERGY in methods else \
        energy_relevances(original, adversarial, segmentation)
    relevances, table2, subsets, costs = _per_method(original, adversarial, segmentation,
                                                     predict, decide, ordered, target, subset_ks)
    curve = flip_curve(original, adversarial, relevances, segmentation, predict, decide, ks,
                       target)
    reference = exhaustive_flips(original, adversarial, segmentation, predict, decide,
                                 max_k) if exhaustive and len(original) else None
    rankings = {name: attribution_ranking(r.weights, target, r.signed)
                for name, r in relevances.items()}
    explainers = {m: relevances[m] for m in (c["method"] for c in costs)}
    return BenchmarkRun(
        curve=curve, table2=pd.concat(table2, ignore_index=True),
        subsets=pd.concat(subsets, ignore_index=True) if subsets else pd.DataFrame(
            columns=["k", "pair", "all_detected", "method"]),
        costs=pd.DataFrame(costs, columns=["method", "explanations", "seconds",
                                           "seconds_per_explanation"]),
        smallest=_smallest_hits(rankings, reference, max_k), exhaustive=reference,
        weights={m: r.weights for m, r in explainers.items()},
        signed={m: r.signed for m, r in explainers.items()}, scores=_scores(explainers))


def _scores(relevances: dict[str, StoredRelevances]) -> dict[str, np.ndarray]:
    """The surrogate scores of the methods that have any (LIME's and KernelSHAP's R²)."""
    return {m: np.asarray(r.scores, float) for m, r in relevances.items()
            if r.scores is not None and np.isfinite(r.scores).any()}


def _rate(flags: np.ndarray, songs: np.ndarray, n_boot: int, seed: int,
          prefix: str = "") -> dict[str, float]:
    rate = song_rate(np.asarray(flags, dtype=float), songs, n_boot, seed)
    name = f"{prefix} %" if prefix else "percent"
    low, high = (f"{prefix} ci_low", f"{prefix} ci_high") if prefix else ("ci_low", "ci_high")
    return {name: rate.percent, low: rate.low, high: rate.high}


def _area(curve: pd.DataFrame, method: str, songs: np.ndarray, n_boot: int,
          seed: int) -> dict[str, float]:
    """Mean over k of the flip-rate gap to the energy ranking, paired per pair, song CI."""
    per_pair = curve[curve["method"].isin([method, ENERGY])].pivot_table(
        index="pair", columns="method", values="flipped", aggfunc="mean")
    if method == ENERGY or not len(per_pair):
        return {"area_vs_energy": 0.0 if method == ENERGY else np.nan,
                "area ci_low": np.nan, "area ci_high": np.nan}
    pairs = per_pair.index.to_numpy()
    gap = paired_difference(per_pair[ENERGY].to_numpy(float), per_pair[method].to_numpy(float),
                            songs[pairs], n_boot, seed)
    return {"area_vs_energy": gap.difference, "area ci_low": gap.low,
            "area ci_high": gap.high}


def _method_row(run: BenchmarkRun, method: str, rates: pd.DataFrame, table2: pd.DataFrame,
                songs: np.ndarray, k: int, n_boot: int, seed: int) -> dict:
    row = {"method": method, **{c: rates.loc[method, c] if method in rates.index else np.nan
                                for c in ("percent", "ci_low", "ci_high")}}
    for prefix in ("table2", "subset recovery", "contains smallest"):      # NaN unless known
        row.update({f"{prefix} %": np.nan, f"{prefix} ci_low": np.nan,
                    f"{prefix} ci_high": np.nan})
    row.update(_area(run.curve, method, songs, n_boot, seed))
    if method in table2.index and np.isfinite(table2.loc[method, "mean k"]):
        row.update({f"table2 {c}": table2.loc[method, c] for c in ("ci_low", "ci_high")})
        row["table2 %"] = table2.loc[method, "percent"]
    row["table2 mean k"] = table2.loc[method, "mean k"] if method in table2.index else np.nan
    subsets = run.subsets[run.subsets["method"] == method]
    if len(subsets):
        row.update(_rate(subsets["all_detected"], songs[subsets["pair"].to_numpy(int)], n_boot,
                         seed, "subset recovery"))
    hits = run.smallest[(run.smallest["method"] == method) & (run.smallest["k"] == k)]
    if len(hits):
        row.update(_rate(hits["contains"], songs[hits["pair"].to_numpy(int)], n_boot, seed,
                         "contains smallest"))
    cost = run.costs[run.costs["method"] == method]
    row["s / explanation"] = float(cost["seconds_per_explanation"].iloc[0]) if len(cost) \
        else np.nan
    return row


def reference_rows(chance: np.ndarray, attainable: np.ndarray, songs: np.ndarray, k: int,
                   n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """The rows ``chance (k=…)`` and ``attainable (k=…)`` with song-level intervals.

    Parameters
    ----------
    chance, attainable : np.ndarray
        ``(N,)`` per pair: the share of k-subsets that flip, and whether one does.
    songs : np.ndarray
        ``(N,)`` the song of each pair.
    k : int
        The subset size.
    n_boot, seed : int
        Bootstrap samples and seed.

    Returns
    -------
    list of dict
        Two rows, ``method, percent, ci_low, ci_high``.
    """
    return [{"method": f"chance (k={k})", **_rate(chance, songs, n_boot, seed)},
            {"method": f"attainable (k={k})", **_rate(attainable, songs, n_boot, seed)}]


def benchmark_table(run: BenchmarkRun, songs: Sequence | np.ndarray | None = None, k: int = 3,
                    n_boot: int = 1000, seed: int = 0,
                    references: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ranked table: each explainer's rates beside energy, chance and attainable.

    Parameters
    ----------
    run : BenchmarkRun
        From :func:`run_benchmark`.
    songs : array-like, optional
        ``(N,)`` the song of each pair (the unit the intervals resample; default: each pair).
    k : int
        Table 1's number of segments (3 in the paper); also the k of chance and attainable.
    n_boot, seed : int
        Bootstrap samples and seed.
    references : pandas.DataFrame, optional
        The exhaustive search as :meth:`ExhaustiveResult.to_frame` (default: ``run``'s).

    Returns
    -------
    pandas.DataFrame
        One row per explainer, ranked by ``percent`` (Table 1 at k, with ``ci_low``,
        ``ci_high``), then ``energy`` (the reference), ``chance`` and ``attainable`` (exact,
        from all k-subsets). Columns: ``vs chance`` (the Table 1 rate minus the pair's chance
        rate, paired per pair, percentage points, with ``vs chance ci_low`` and ``ci_high``),
        ``area_vs_energy`` (the mean over k of the curve's gap to the energy curve, paired per
        pair, with ``area ci_low``, ``area ci_high``), ``table2 %``, ``table2 mean k``,
        ``subset recovery %``, ``contains smallest %`` (each rate with its ``ci_low`` and
        ``ci_high``) and ``s / explanation``. Every interval resamples songs.

    Notes
    -----
    Table 2 keeps δ in the explainer's *positive* segments: relevance above zero for class 1
    when the attack's target is 1, below zero when it is 0 (what "for" the target class means
    for LIME's class-1 weights). For a method without a sign (saliency's ``|gradient|``) no
    segment is "for" a class, so its Table 2 columns are NaN; the random ranking's standard
    normal draws have a sign, so about half its segments count as positive.

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
    >>> from svdlib import Relevance, StoredRelevances, benchmark_table, run_benchmark
    >>> weights = np.zeros((4, 20)); weights[:2, 0] = 1; weights[2:, 19] = 1
    >>> methods = {"brightness": lambda excerpt: Relevance(seg.energy(excerpt)),
    ...            "guess": StoredRelevances(weights)}
    >>> run = run_benchmark(original, adversarial, seg, predict, rule, methods, max_k=2)
    >>> benchmark_table(run, k=1)[["method", "percent", "vs chance", "contains smallest %"]]
                 method  percent  vs chance  contains smallest %
    0        brightness    100.0       95.0                100.0
    1             guess     50.0       45.0                 50.0
    2            energy    100.0       95.0                100.0
    3      chance (k=1)      5.0        NaN                  NaN
    4  attainable (k=1)    100.0        NaN                  NaN
    """
    n = int(run.curve["pair"].max()) + 1 if len(run.curve) else 0
    song_ids = np.asarray(songs) if songs is not None else np.arange(n)
    if references is None and run.exhaustive is not None:
        references = run.exhaustive.to_frame()
    at_k = references[references["k"] == k].sort_values("pair") if references is not None \
        else pd.DataFrame(columns=["pair", "chance", "attainable"])
    chance = pd.Series(at_k["chance"].to_numpy(float), index=at_k["pair"].to_numpy(int))
    rates = top_k_rates(run.curve, k, song_ids, n_boot=n_boot, seed=seed).set_index("method")
    table2 = table2_rates(run.table2, song_ids, n_boot, seed).set_index("method")
    rows = [_method_row(run, m, rates, table2, song_ids, k, n_boot, seed)
            | _vs_chance(run, m, chance, song_ids, k, n_boot, seed)
            for m in dict.fromkeys([*run.curve["method"], ENERGY])]
    rows = sorted((r for r in rows if r["method"] != ENERGY),
                  key=lambda r: -np.nan_to_num(r["percent"], nan=-1)) + \
        [r for r in rows if r["method"] == ENERGY]
    if len(at_k):
        rows += reference_rows(at_k["chance"].to_numpy(float),
                               at_k["attainable"].to_numpy(float),
                               song_ids[at_k["pair"].to_numpy(int)], k, n_boot, seed)
    return pd.DataFrame(rows)


def _vs_chance(run: BenchmarkRun, method: str, chance: pd.Series, songs: np.ndarray, k: int,
               n_boot: int, seed: int) -> dict[str, float]:
    """The Table 1 rate minus each pair's chance rate, paired, with a song-level interval."""
    at_k = run.curve[(run.curve["method"] == method) & (run.curve["k"] == k)]
    at_k = at_k[at_k["pair"].isin(chance.index)].sort_values("pair")
    if not len(at_k):
        return {}
    pairs = at_k["pair"].to_numpy(int)
    gap = paired_difference(chance.loc[pairs].to_numpy(), at_k["flipped"].to_numpy(float),
                            songs[pairs], n_boot, seed)
    return {"vs chance": gap.difference, "vs chance ci_low": gap.low,
            "vs chance ci_high": gap.high}
