"""Which faithfulness metric can you trust? Proxy metrics judged by the planted ground truth.

The planted perturbation δ is ground truth the model provably uses, so the flip curve says
which explainer got a pair right (:func:`planted_scores`). A proxy metric
(:mod:`svdlib.veracity.proxies`) that deserves trust orders the explainers of a pair as the
planted truth does. Per pair, :func:`metric_agreement` takes Kendall's τ-b
(``scipy.stats.kendalltau``) between the explainers' oriented metric values (higher = better
explanation) and their planted scores; :func:`agreement_summary` averages it over pairs with
an interval that resamples songs (the independent unit, :mod:`svdlib.veracity.statistics`);
:func:`agreement_verdicts` says whether a metric agrees (interval above 0), reverses (below
0) or is undecided. :func:`metric_leaderboard` compares at the level a practitioner reads: each
metric's ranking of the explainers (the mean over pairs) beside the planted ranking.

The planted judge, per pair and explainer (``judge``):

* ``'area'`` (default): the area under the flip curve, the mean over k of "δ kept in the
  top k segments flips the decision" (higher is better). The benchmark's ``area_vs_energy``
  is the energy ranking's area minus this one; within a pair the energy term is the same
  for every explainer, so both order the explainers alike.
* ``'table1'``: Table 1's outcome at ``k`` (3): flipped or not. A second, coarser judge:
  with two values per pair, ties are common and many pairs have a constant judge (τ NaN).
* ``'area+table1'``: the area, its ties broken by Table 1 at ``k`` (the explainer whose top
  k already flips ranks first): ``area + flipped_k / (2 · number of k)``, which stays below
  the next step of the area.

τ is NaN for a pair where the metric or the judge is constant over the explainers, or where
fewer than two explainers have a finite metric (e.g. ``surrogate_r2`` exists only for LIME and
KernelSHAP, so it compares just those two); such pairs are counted, by reason, and left out
of the mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from svdlib.veracity.statistics import song_rate

JUDGES = ("area", "table1", "area+table1")
NAN_REASONS = ("metric constant", "planted constant", "both constant", "too few methods")


def planted_scores(curve: pd.DataFrame, judge: str = "area", k: int = 3) -> pd.DataFrame:
    """Each explainer's planted-truth outcome per pair, from a flip curve (higher is better).

    Parameters
    ----------
    curve : pandas.DataFrame
        A flip curve (``pair, k, method, flipped``: :func:`~svdlib.veracity.measures.flip_curve`,
        ``BenchmarkRun.curve``).
    judge : {'area', 'table1', 'area+table1'}
        See the module.
    k : int
        Table 1's k.

    Returns
    -------
    pandas.DataFrame
        ``pair, method, planted``.

    Examples
    --------
    >>> import pandas as pd
    >>> from svdlib import planted_scores
    >>> curve = pd.DataFrame({"pair": 0, "method": ["a", "b"] * 4, "k": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                       "flipped": [0, 0, 0, 1, 1, 0, 1, 1]})
    >>> planted_scores(curve)                               # a and b flip at two k each
       pair method  planted
    0     0      a      0.5
    1     0      b      0.5
    >>> planted_scores(curve, judge="area+table1").planted.tolist()   # a flips at k = 3
    [0.625, 0.5]
    """
    if judge not in JUDGES:
        raise ValueError(f"unknown judge '{judge}'; choose one of {', '.join(JUDGES)}")
    groups = curve.assign(flipped=curve["flipped"].astype(float)).groupby(
        ["pair", "method"], sort=False)
    at_k = curve.assign(flipped=curve["flipped"].astype(float))
    at_k = at_k[at_k["k"] == k].groupby(["pair", "method"], sort=False)["flipped"].mean()
    if judge != "area" and not len(at_k):
        raise ValueError(f"the flip curve has no k = {k} (Table 1's k)")
    area = groups["flipped"].mean()
    if judge == "area":
        planted = area
    elif judge == "table1":
        planted = at_k
    else:
        planted = area + at_k.reindex(area.index).fillna(0.0) / (
            2 * curve["k"].nunique())
    return planted.rename("planted").reset_index()[["pair", "method", "planted"]]


def _tau(metric: np.ndarray, planted: np.ndarray) -> tuple[float, str]:
    """Kendall's τ-b and, when NaN, why."""
    if len(metric) < 2:
        return np.nan, "too few methods"
    flat_metric, flat_planted = np.ptp(metric) == 0, np.ptp(planted) == 0
    if flat_metric or flat_planted:
        return np.nan, ("both constant" if flat_metric and flat_planted else
                        "metric constant" if flat_metric else "planted constant")
    return float(kendalltau(metric, planted).statistic), ""


def metric_agreement(metrics: pd.DataFrame, planted: pd.DataFrame) -> pd.DataFrame:
    """Per metric and pair: Kendall's τ-b between the metric's and the planted order.

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``pair, method, metric, oriented`` (:mod:`svdlib.veracity.proxies`, higher = better).
    planted : pandas.DataFrame
        ``pair, method, planted`` (:func:`planted_scores`).

    Returns
    -------
    pandas.DataFrame
        ``metric, pair, tau, n_methods, reason``: ``n_methods`` explainers with a finite
        metric on the pair; ``reason`` says why τ is NaN (:data:`NAN_REASONS`), else "".

    Examples
    --------
    >>> import pandas as pd
    >>> from svdlib import metric_agreement
    >>> planted = pd.DataFrame({"pair": 0, "method": ["a", "b", "c"], "planted": [1.0, 0.5, 0.0]})
    >>> metrics = pd.DataFrame({"pair": 0, "method": ["a", "b", "c"] * 2,
    ...                         "metric": ["same"] * 3 + ["reversed"] * 3,
    ...                         "oriented": [3.0, 2.0, 1.0, 1.0, 2.0, 3.0]})
    >>> metric_agreement(metrics, planted)
         metric  pair  tau  n_methods reason
    0      same     0  1.0          3
    1  reversed     0 -1.0          3
    """
    joined = metrics.merge(planted, on=["pair", "method"], how="inner")
    joined = joined[np.isfinite(joined["oriented"].astype(float))
                    & np.isfinite(joined["planted"].astype(float))]
    rows = []
    for metric in metrics["metric"].drop_duplicates():
        mine = joined[joined["metric"] == metric]
        for pair in sorted(metrics.loc[metrics["metric"] == metric, "pair"].unique()):
            group = mine[mine["pair"] == pair]
            tau, reason = _tau(group["oriented"].to_numpy(float),
                               group["planted"].to_numpy(float))
            rows.append({"metric": metric, "pair": int(pair), "tau": tau,
                         "n_methods": len(group), "reason": reason})
    return pd.DataFrame(rows, columns=["metric", "pair", "tau", "n_methods", "reason"])


def agreement_summary(agreement: pd.DataFrame, songs: Sequence | np.ndarray | None = None,
                      n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """The mean τ of each metric over pairs, with an interval that resamples songs.

    Each bootstrap sample draws as many songs as there are (those with a finite τ), keeps all
    their pairs and takes the mean τ over them (:func:`~svdlib.veracity.statistics.song_rate`
    on the τ values: a pooled mean): two pairs of one song move together.

    Parameters
    ----------
    agreement : pandas.DataFrame
        :func:`metric_agreement`.
    songs : array-like, optional
        The song of each pair, indexed by pair (default: every pair its own song).
    n_boot, seed, level
        Bootstrap samples, seed (the same for every metric) and coverage.

    Returns
    -------
    pandas.DataFrame
        ``metric, mean_tau, ci_low, ci_high, n_pairs, n_songs, n_nan`` and one count per
        reason of :data:`NAN_REASONS`; with :func:`agreement_verdicts` a ``verdict``.

    Examples
    --------
    Two songs: each holds one pair where the metric agrees and one where it reverses.

    >>> import numpy as np
    >>> import pandas as pd
    >>> from svdlib import agreement_summary
    >>> agreement = pd.DataFrame({"metric": "m", "pair": [0, 1, 2, 3],
    ...                           "tau": [1.0, -1.0, 1.0, -1.0], "reason": ""})
    >>> summary = agreement_summary(agreement, songs=np.array(["a", "a", "b", "b"]))
    >>> summary[["metric", "mean_tau", "ci_low", "ci_high", "n_pairs", "n_songs"]]
      metric  mean_tau  ci_low  ci_high  n_pairs  n_songs
    0      m       0.0     0.0      0.0        4        2
    """
    rows = []
    for metric, group in agreement.groupby("metric", sort=False):
        finite = group[np.isfinite(group["tau"].astype(float))]
        pairs = finite["pair"].to_numpy(int)
        own = np.asarray(songs)[pairs] if songs is not None else pairs
        rate = song_rate(finite["tau"].to_numpy(float), own, n_boot, seed, level)
        rows.append({"metric": metric, "mean_tau": rate.percent / 100,
                     "ci_low": rate.low / 100, "ci_high": rate.high / 100,
                     "n_pairs": rate.n_pairs, "n_songs": rate.n_songs,
                     "n_nan": int(len(group) - len(finite)),
                     **{f"n {reason}": int((group["reason"] == reason).sum())
                        for reason in NAN_REASONS}})
    return pd.DataFrame(rows, columns=["metric", "mean_tau", "ci_low", "ci_high", "n_pairs",
                                       "n_songs", "n_nan", *(f"n {r}" for r in NAN_REASONS)])


def agreement_verdicts(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with a ``verdict`` per metric: agrees, reverses, undecided or no data.

    A metric **agrees** with the planted truth where the interval of its mean τ lies above
    0, **reverses** it where the interval lies below 0, is **undecided** where it covers 0
    and has **no data** where no pair gave a finite τ.

    Examples
    --------
    >>> import pandas as pd
    >>> from svdlib import agreement_verdicts
    >>> summary = pd.DataFrame({"metric": ["a", "b", "c", "d"], "mean_tau": [0.5, -0.4, 0.1, None],
    ...                         "ci_low": [0.2, -0.6, -0.1, None],
    ...                         "ci_high": [0.7, -0.1, 0.3, None]})
    >>> agreement_verdicts(summary).verdict.tolist()
    ['agrees', 'reverses', 'undecided', 'no data']
    """
    low, high = summary["ci_low"].astype(float), summary["ci_high"].astype(float)
    verdict = np.where(low > 0, "agrees", np.where(high < 0, "reverses", "undecided"))
    verdict = np.where(low.isna() | high.isna(), "no data", verdict)
    return summary.assign(verdict=verdict)


def metric_leaderboard(metrics: pd.DataFrame, planted: pd.DataFrame) -> pd.DataFrame:
    """Each metric's ranking of the explainers beside the planted ranking.

    Per metric and explainer: the mean oriented metric over the pairs where it is finite and
    its rank (1 = best), the mean planted score and its rank over the same explainers, and
    per metric Kendall's τ-b between the two leaderboards.

    Parameters
    ----------
    metrics : pandas.DataFrame
        ``pair, method, metric, oriented``.
    planted : pandas.DataFrame
        ``pair, method, planted``.

    Returns
    -------
    pandas.DataFrame
        ``metric, method, value, rank, planted, planted_rank, tau``, best first per metric.

    Examples
    --------
    >>> import pandas as pd
    >>> from svdlib import metric_leaderboard
    >>> planted = pd.DataFrame({"pair": [0, 0, 1, 1], "method": ["a", "b"] * 2,
    ...                         "planted": [1.0, 0.0, 1.0, 0.5]})
    >>> metrics = pd.DataFrame({"pair": [0, 0, 1, 1], "method": ["a", "b"] * 2,
    ...                         "metric": "m", "oriented": [0.1, 0.3, 0.2, 0.4]})
    >>> metric_leaderboard(metrics, planted)
      metric method  value  rank  planted  planted_rank  tau
    0      m      b   0.35   1.0     0.25           2.0 -1.0
    1      m      a   0.15   2.0     1.00           1.0 -1.0
    """
    columns = ["metric", "method", "value", "rank", "planted", "planted_rank", "tau"]
    mean_planted = planted.groupby("method", sort=False)["planted"].mean()
    frames = []
    for metric, group in metrics.groupby("metric", sort=False):
        finite = group[np.isfinite(group["oriented"].astype(float))]
        board = finite.groupby("method", sort=False)["oriented"].mean().rename("value")
        board = board[board.index.isin(mean_planted.index)].to_frame().reset_index()
        board["planted"] = board["method"].map(mean_planted)
        board["rank"] = board["value"].rank(ascending=False, method="min")
        board["planted_rank"] = board["planted"].rank(ascending=False, method="min")
        board["tau"] = _tau(board["value"].to_numpy(float),
                            board["planted"].to_numpy(float))[0]
        frames.append(board.assign(metric=metric).sort_values("rank", kind="stable"))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
