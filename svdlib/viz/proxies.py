"""The proxy metrics judged by the planted truth, drawn and formatted.

τ per metric and setting as a figure, the τ table, the leaderboards side by side with the
planted one.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from svdlib.veracity.tables import DOMAIN_NAMES
from svdlib.viz.benchmark import TARGET_NAMES, method_name
from svdlib.viz.figures import style

#: Display names of the proxy metrics (:data:`svdlib.veracity.proxies.METRICS`).
METRIC_NAMES = {"deletion_aopc": "deletion (AOPC)", "insertion_area": "insertion (area)",
                "infidelity": "infidelity", "sensitivity_max": "max-sensitivity",
                "faithfulness_correlation": "faithfulness correlation",
                "monotonicity_correlation": "monotonicity correlation",
                "surrogate_r2": "surrogate R² (LIME's fidelity)"}
#: The pooled rows' ``domain``.
POOLED = "all"
_SETTING_STYLE = {("wave", 1): dict(color="C0", marker="^"), ("spec", 1): dict(color="C1",
                                                                                marker="v"),
                  ("wave", 0): dict(color="C2", marker="<"), ("spec", 0): dict(color="C3",
                                                                                marker=">")}


def metric_name(metric: str) -> str:
    """A metric's display name (``deletion_aopc`` → ``deletion (AOPC)``)."""
    return METRIC_NAMES.get(metric, metric)


def setting_name(domain: str, target: int) -> str:
    """``waveform → sing``; ``all settings`` for the pooled rows."""
    if domain == POOLED:
        return "all settings"
    return f"{DOMAIN_NAMES.get(domain, domain)} → {TARGET_NAMES[int(target)]}"


def metric_order(table: pd.DataFrame) -> list[str]:
    """The metrics by their pooled mean τ, highest first (those without one last)."""
    pooled = table[table["domain"] == POOLED].set_index("metric")["mean_tau"].astype(float)
    metrics = list(dict.fromkeys(table["metric"]))
    return sorted(metrics, key=lambda m: -pooled.get(m, np.nan) if np.isfinite(
        pooled.get(m, np.nan)) else np.inf)


def proxies_figure(table: pd.DataFrame) -> plt.Figure:
    """Mean τ with its song-level interval, per metric: each setting and all of them pooled.

    Parameters
    ----------
    table : pandas.DataFrame
        ``domain, target, metric, mean_tau, ci_low, ci_high, verdict`` (the τ table; the
        pooled rows have ``domain == 'all'``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    style()
    metrics = metric_order(table)
    settings = list(dict.fromkeys((d, int(t)) for d, t in zip(
        table["domain"], table["target"], strict=True) if d != POOLED))
    fig, ax = plt.subplots(figsize=(8.5, 0.75 * len(metrics) + 1.6), layout="constrained")
    offsets = np.linspace(0.3, -0.3, len(settings) + 1) if settings else np.zeros(1)
    for index, (domain, target) in enumerate([*settings, (POOLED, -1)]):
        rows = table[(table["domain"] == domain) & (table["target"] == target)
                     ].set_index("metric").reindex(metrics)
        y = np.arange(len(metrics))[::-1] + offsets[index]
        kw = (dict(color="k", marker="o", markersize=7) if domain == POOLED else
              dict(markersize=5, **_SETTING_STYLE.get((domain, target), {})))
        mean = rows["mean_tau"].astype(float).to_numpy()
        err = np.abs(np.vstack([mean - rows["ci_low"].astype(float),
                                rows["ci_high"].astype(float) - mean]))
        ax.errorbar(mean, y, xerr=err, linestyle="none", capsize=2,
                    linewidth=2 if domain == POOLED else 1, label=setting_name(domain, target),
                    **kw)
    ax.axvline(0, color="0.3", linewidth=1, linestyle="--")
    ax.set_yticks(np.arange(len(metrics))[::-1], [metric_name(m) for m in metrics])
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("mean Kendall τ per pair: the metric's order of the explainers vs the "
                  "planted truth's")
    ax.set_title("Does the metric order the explainers as the planted truth does?\n"
                 "(95 % interval over test songs; right of the dashed line: it agrees)",
                 fontsize=10)
    fig.legend(loc="outside lower center", ncol=5, fontsize=9)
    return fig


def _tau(row: pd.Series) -> str:
    if not np.isfinite(float(row["mean_tau"])):
        return "–"
    return f"{row['mean_tau']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"


def format_tau_table(table: pd.DataFrame) -> pd.DataFrame:
    """The τ table for reading: per metric, each setting's and the pooled mean τ [interval].

    The last columns are the pooled verdict, the pairs with a finite τ and those without.
    """
    metrics = metric_order(table)
    out = pd.DataFrame(index=pd.Index([metric_name(m) for m in metrics]))
    for (domain, target), rows in table.groupby(["domain", "target"], sort=False):
        rows = rows.set_index("metric").reindex(metrics)
        out[setting_name(domain, target)] = [_tau(r) for _, r in rows.iterrows()]
    pooled = table[table["domain"] == POOLED].set_index("metric").reindex(metrics)
    out["verdict"] = pooled["verdict"].fillna("no data").to_list()
    out["pairs"] = pooled["n_pairs"].fillna(0).astype(int).to_list()
    out["pairs without τ"] = pooled["n_nan"].fillna(0).astype(int).to_list()
    return out


def format_leaderboards(board: pd.DataFrame, domain: str = POOLED, target: int = -1,
                        names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Each metric's ranking of the explainers beside the planted one, best first.

    Parameters
    ----------
    board : pandas.DataFrame
        ``domain, target, metric, method, value, rank, planted, planted_rank`` (the
        leaderboards).
    domain, target
        Which setting (default: all pooled).
    names : mapping, optional
        Method display names (default :func:`~svdlib.viz.benchmark.method_name`).

    Returns
    -------
    pandas.DataFrame
        One row per place; column "planted truth" (the mean area under the flip curve), then
        one column per metric (the explainer at that place and its mean oriented value).
    """
    rows = board[(board["domain"] == domain) & (board["target"] == target)]
    name = (lambda m: (names or {}).get(m, m)) if names is not None else method_name
    planted = rows.drop_duplicates("method").sort_values("planted", ascending=False,
                                                         kind="stable")
    columns = {"planted truth": [f"{name(m)} ({v:.2f})" for m, v in
                                 zip(planted["method"], planted["planted"], strict=True)]}
    order = [m for m in METRIC_NAMES if m in set(rows["metric"])] + [
        m for m in dict.fromkeys(rows["metric"]) if m not in METRIC_NAMES]
    for metric in order:
        mine = rows[rows["metric"] == metric].sort_values("rank", kind="stable")
        columns[metric_name(metric)] = [f"{name(m)} ({v:.2g})" for m, v in
                                        zip(mine["method"], mine["value"], strict=True)]
    depth = max(len(v) for v in columns.values()) if columns else 0
    out = pd.DataFrame({k: v + [""] * (depth - len(v)) for k, v in columns.items()},
                       index=pd.RangeIndex(1, depth + 1, name="place"))
    return out
