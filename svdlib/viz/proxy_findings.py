"""What the meta-evaluation of the proxy metrics says, in sentences computed from its tables.

The tables are the τ table (:func:`~svdlib.veracity.metaeval.agreement_summary` with
:func:`~svdlib.veracity.metaeval.agreement_verdicts`, one block per setting with ``domain``
and ``target`` columns, the pooled block with ``domain == 'all'``) and the leaderboards
(:func:`~svdlib.veracity.metaeval.metric_leaderboard`, the same columns). Every sentence names
only what the song-level intervals support: a metric **agrees** with the planted truth where
the interval of its mean τ lies above 0, **reverses** it where it lies below 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: The ``domain`` of the pooled rows.
POOLED = "all"


def _name(key: str, names: Mapping[str, str] | None) -> str:
    return (names or {}).get(key, key)


def _listed(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _tau(row: pd.Series) -> str:
    return f"τ = {row['mean_tau']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"


def _verdicts(pooled: pd.DataFrame, metric_names: Mapping[str, str] | None) -> list[str]:
    """One sentence per verdict over all settings: which metrics agree, which do not."""
    groups = {verdict: [f"{_name(row['metric'], metric_names)} ({_tau(row)})"
                        for _, row in pooled[pooled["verdict"] == verdict].iterrows()]
              for verdict in ("agrees", "undecided", "reverses", "no data")}
    pairs = int(pooled["n_pairs"].max()) if len(pooled) else 0
    songs = int(pooled["n_songs"].max()) if len(pooled) else 0
    out = [f"Over all settings together ({pairs} pairs from {songs} songs), "
           + (f"{len(groups['agrees'])} of {len(pooled)} metrics agree with the planted truth "
              f"(the song-level interval of their mean τ lies above 0): "
              f"{_listed(groups['agrees'])}." if groups["agrees"] else
              f"none of the {len(pooled)} metrics agrees with the planted truth (no interval "
              "of a mean τ lies above 0).")]
    if groups["undecided"]:
        out.append(f"Undecided (the interval covers 0): {_listed(groups['undecided'])}.")
    if groups["reverses"]:
        out.append(f"Reversing the planted order (interval below 0): "
                   f"{_listed(groups['reverses'])}.")
    if groups["no data"]:
        out.append(f"No pair gave a finite τ for {_listed(groups['no data'])}.")
    finite = pooled[np.isfinite(pooled["mean_tau"].astype(float))]
    if len(finite):
        best = finite.loc[finite["mean_tau"].astype(float).idxmax()]
        out.append(f"The closest agreement, {_name(best['metric'], metric_names)}'s mean τ of "
                   f"{best['mean_tau']:.2f}, is still far from the same order (τ = 1): within "
                   "a pair, no metric ranks the explainers as the planted truth does.")
    return out


def _consistency(settings: pd.DataFrame, metric_names: Mapping[str, str] | None,
                 setting_names: Mapping[tuple[str, int], str] | None) -> list[str]:
    """Per metric: in how many settings it agrees, and where it reverses."""
    n_settings = settings.groupby(["domain", "target"]).ngroups
    counts = {metric: int((rows["verdict"] == "agrees").sum())
              for metric, rows in settings.groupby("metric", sort=False)}
    ordered = sorted(counts, key=lambda m: -counts[m])
    out = [f"Setting by setting, the number of the {n_settings} settings in which each metric "
           "agrees (its interval above 0): "
           + ", ".join(f"{_name(m, metric_names)} {counts[m]}" for m in ordered) + "."]
    for _, row in settings[settings["verdict"] == "reverses"].iterrows():
        where = (setting_names or {}).get((row["domain"], int(row["target"])),
                                          f"{row['domain']} t{row['target']}")
        out.append(f"{_name(row['metric'], metric_names)} reverses the planted order in the "
                   f"setting {where} ({_tau(row)}).")
    return out


def _leaderboards(board: pd.DataFrame, metric_names: Mapping[str, str] | None,
                  method_names: Mapping[str, str] | None) -> list[str]:
    """What a practitioner reads: each metric's winner beside the planted one."""
    if not len(board):
        return []
    out = []
    same, other, reversed_ = [], [], []
    for metric, rows in board.groupby("metric", sort=False):
        first = rows.sort_values("rank", kind="stable").iloc[0]
        truth = rows.sort_values("planted_rank", kind="stable").iloc[0]
        label = f"{_name(metric, metric_names)} ({len(rows)} explainers)"
        if first["method"] == truth["method"]:
            same.append(label)
        else:
            other.append(f"{label} puts {_name(first['method'], method_names)} first where "
                         f"the planted truth puts {_name(truth['method'], method_names)}")
        tau = float(rows["tau"].iloc[0])
        if np.isfinite(tau) and tau < 0:
            reversed_.append(f"{_name(metric, metric_names)} (τ = {tau:+.2f})")
    if same:
        out.append(f"Ranked by the mean over all pairs, {_listed(same)} crown the explainer "
                   "the planted truth ranks first.")
    if other:
        out.append(f"{_listed(other)}.")
    if reversed_:
        out.append(f"Leaderboards that run against the planted one overall: "
                   f"{_listed(reversed_)}.")
    return out


def proxy_findings(table: pd.DataFrame, leaderboard: pd.DataFrame | None = None,
                   metric_names: Mapping[str, str] | None = None,
                   method_names: Mapping[str, str] | None = None,
                   setting_names: Mapping[tuple[str, int], str] | None = None) -> list[str]:
    """Sentences on which metrics agree with the planted truth, which do not, which reverse.

    Parameters
    ----------
    table : pandas.DataFrame
        The τ table: ``domain, target, metric, mean_tau, ci_low, ci_high, n_pairs, n_songs,
        verdict``, the pooled rows with ``domain == 'all'``.
    leaderboard : pandas.DataFrame, optional
        ``domain, target, metric, method, rank, planted_rank, tau``; its pooled rows are read.
    metric_names, method_names : mapping, optional
        Display names.
    setting_names : mapping, optional
        ``(domain, target)`` → the setting's display name.

    Returns
    -------
    list of str

    Examples
    --------
    >>> import pandas as pd
    >>> from svdlib.viz.proxy_findings import proxy_findings
    >>> table = pd.DataFrame({"domain": ["wave", "all", "wave", "all"], "target": [1, -1, 1, -1],
    ...                       "metric": ["a", "a", "b", "b"], "mean_tau": [0.5, 0.5, -0.4, -0.4],
    ...                       "ci_low": [0.2, 0.3, -0.6, -0.5], "ci_high": [0.7, 0.6, -0.1, -0.2],
    ...                       "n_pairs": 8, "n_songs": 3,
    ...                       "verdict": ["agrees", "agrees", "reverses", "reverses"]})
    >>> import textwrap
    >>> print(textwrap.fill(proxy_findings(table)[0], 88))
    Over all settings together (8 pairs from 3 songs), 1 of 2 metrics agree with the planted
    truth (the song-level interval of their mean τ lies above 0): a (τ = +0.50 [+0.30,
    +0.60]).
    """
    pooled = table[table["domain"] == POOLED]
    per_setting = table[table["domain"] != POOLED]
    out = _verdicts(pooled, metric_names)
    if len(per_setting):
        out += _consistency(per_setting, metric_names, setting_names)
    if leaderboard is not None:
        out += _leaderboards(leaderboard[leaderboard["domain"] == POOLED], metric_names,
                             method_names)
    return out
