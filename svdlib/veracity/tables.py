"""The paper's own tables: its names, its numbers and its formatting, over the core measures.

The paper compares two rankings, LIME's explanations and the energy of δ (the paper's
"norm-based"), on the pairs of four settings (attack domain × direction). Its tables are the
core measures (:mod:`svdlib.veracity.measures`, :mod:`svdlib.veracity.recovery`) of those two
methods, the same functions the benchmark (:mod:`svdlib.veracity.benchmark`) runs on every
explainer, with the same seed per setting (:func:`setting_seed`): the paper's Table 1 LIME row
is the benchmark's row of the paper's LIME explanations. This module holds only what is the
paper's: the method and column names, the paper's published numbers, the per-setting layout,
and the conclusion in words. Per-pair tables carry a ``song`` column (the unit every interval
resamples) and ``domain, target``; the paired difference is "norm-based − LIME".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from svdlib.explain.segments import Segmentation
from svdlib.seeding import item_seed
from svdlib.veracity.benchmark_summary import curve_rates
from svdlib.veracity.measures import (
    StoredRelevances,
    energy_relevances,
    table2_rates,
    top_k_rates,
)
from svdlib.veracity.statistics import song_auroc, song_rate

DOMAIN_NAMES = {"wave": "waveform", "spec": "spectrogram"}
DIRECTION_NAMES = {1: "no sing → sing", 0: "sing → no sing"}
#: The paper's names of its two methods: LIME's explanations and the energy of δ.
LIME, NORM = "LIME", "norm-based"
#: Columns of the per-pair flip table (Figure 2).
FLIP_COLUMNS = ["domain", "target", "pair", "song", "frame", "k", "method", "p_sing", "flipped"]

#: The paper's numbers (Table 1: % flipped by the 3 most relevant LIME segments; Table 2:
#: all positively weighted LIME segments vs as many highest-energy segments).
PAPER_TABLE1 = {("wave", 1): 53.0, ("spec", 1): 41.0, ("wave", 0): 21.0, ("spec", 0): 32.0}
PAPER_TABLE2 = {("wave", 1): (86.0, 99.0), ("spec", 1): (91.0, 98.0),
                ("wave", 0): (49.0, 74.0), ("spec", 0): (44.0, 55.0)}
_DIFFERENCE = {"difference": "difference", "diff_ci_low": "diff_ci_low",
               "diff_ci_high": "diff_ci_high", "p_value": "p_value", "p_mcnemar": "p_mcnemar"}


def setting_seed(seed: int, domain: str, target: int) -> int:
    """The bootstrap seed of one setting: every rate of the setting, paper's and benchmark's."""
    return item_seed(seed, "benchmark", domain, target)


def paper_methods(original: np.ndarray, adversarial: np.ndarray, weights: np.ndarray,
                  segmentation: Segmentation) -> dict[str, StoredRelevances]:
    """The paper's two methods under its names: LIME's stored weights, the energy of δ.

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, frames, bands)`` excerpts of the pairs.
    weights : np.ndarray
        ``(N, n_components)`` class-"sing" LIME weights of the *adversarial* excerpts.
    segmentation : Segmentation
        The grid of the weights.
    """
    return {LIME: StoredRelevances(np.asarray(weights, dtype=float)),
            NORM: energy_relevances(original, adversarial, segmentation)}


def paper_table2_pairs(rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`~svdlib.veracity.measures.table2_rows` of LIME in the paper's columns.

    Returns
    -------
    pandas.DataFrame
        ``pair, k, flipped_LIME, flipped_norm-based``.
    """
    mine = rows[rows["method"] == LIME]
    return pd.DataFrame({"pair": mine["pair"].to_numpy(), "k": mine["k"].to_numpy(),
                         f"flipped_{LIME}": mine["flipped"].to_numpy(bool),
                         f"flipped_{NORM}": mine["energy_flipped"].to_numpy(bool)})


def pair_songs(table: pd.DataFrame) -> np.ndarray:
    """The song of each pair, indexed by pair number, from a per-pair table's ``song`` column."""
    first = table.drop_duplicates("pair")
    songs = np.empty(int(first["pair"].max()) + 1 if len(first) else 0, dtype=object)
    songs[first["pair"].to_numpy(int)] = first["song"].to_numpy()
    return songs


def _setting_columns(domain: str, target: int) -> dict[str, Any]:
    return {"direction": DIRECTION_NAMES[target], "attack": DOMAIN_NAMES[domain],
            "domain": domain, "target": target}


def _groups(table: pd.DataFrame,
            settings: Sequence[tuple[str, int]] | None) -> list[tuple[tuple[str, int],
                                                                      pd.DataFrame]]:
    """Per setting its rows; every given setting appears, with no rows if it has no pairs."""
    if settings is None:
        settings = list(dict.fromkeys(zip(table["domain"], table["target"].astype(int),
                                          strict=True)))
    return [((d, int(t)), table[(table["domain"] == d) & (table["target"] == t)])
            for d, t in settings]


def _compared(flips: pd.DataFrame, k: int, n_boot: int, seed: int) -> dict[str, dict]:
    """Per method its :func:`top_k_rates` row at k, norm-based paired with LIME."""
    rates = top_k_rates(flips, k, pair_songs(flips), LIME, n_boot, seed)
    nan = {"percent": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_pairs": 0, "n_songs": 0,
           **dict.fromkeys(_DIFFERENCE, np.nan), "only_reference": 0, "only_method": 0}
    out = {}
    for method in (LIME, NORM):
        row = {**nan, **rates[rates["method"] == method].iloc[0].to_dict()} \
            if (rates["method"] == method).any() else dict(nan)
        out[method] = {c: int(v) if c.startswith(("n_", "only_")) and pd.notna(v) else v
                       for c, v in row.items()}
    return out


def flip_curves(flips: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Figure 2's curves: % flipped per setting, method and k, with song-level intervals.

    Parameters
    ----------
    flips : pandas.DataFrame
        Columns ``domain, target, pair, song, k, method, flipped``.
    n_boot, seed : int
        Bootstrap samples and seed (of the run; each setting's is :func:`setting_seed`).

    Returns
    -------
    pandas.DataFrame
        ``domain, target, method, k, percent, ci_low, ci_high, n, n_songs``.
    """
    out = [curve_rates(rows, pair_songs(rows), n_boot, setting_seed(seed, d, t))
           .assign(domain=d, target=t) for (d, t), rows in _groups(flips, None)]
    columns = ["domain", "target", "method", "k", "percent", "ci_low", "ci_high", "n", "n_songs"]
    if not out:
        return pd.DataFrame(columns=columns)
    return pd.concat(out, ignore_index=True).rename(columns={"n_pairs": "n"})[columns]


def flip_differences(flips: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Figure 2's comparison: norm-based − LIME per setting and k, paired on the same pairs.

    Returns
    -------
    pandas.DataFrame
        ``domain, target, k, difference, diff_ci_low, diff_ci_high, p_value, p_mcnemar,
        only_LIME, only_norm, n, n_songs`` (differences in percentage points).
    """
    rows = []
    for (domain, target), table in _groups(flips, None):
        for k in sorted(table["k"].unique()):
            norm = _compared(table, int(k), n_boot, setting_seed(seed, domain, target))[NORM]
            rows.append({"domain": domain, "target": int(target), "k": int(k),
                         **{c: norm[c] for c in _DIFFERENCE}, "only_LIME": norm["only_reference"],
                         "only_norm": norm["only_method"], "n": norm["n_pairs"],
                         "n_songs": norm["n_songs"]})
    return pd.DataFrame(rows, columns=["domain", "target", "k", "difference", "diff_ci_low",
                                       "diff_ci_high", "p_value", "p_mcnemar", "only_LIME",
                                       "only_norm", "n", "n_songs"])


def table1(flips: pd.DataFrame, k: int = 3, n_boot: int = 2000, seed: int = 0,
           settings: Sequence[tuple[str, int]] | None = None) -> pd.DataFrame:
    """Table 1: % flipped by the k most relevant LIME segments, the energy ranking beside it.

    Parameters
    ----------
    flips : pandas.DataFrame
        Columns ``domain, target, pair, song, k, method, flipped``.
    k : int
        The number of segments.
    n_boot, seed : int
        Bootstrap samples and seed (of the run; each setting's is :func:`setting_seed`).
    settings : sequence of (domain, target), optional
        The rows, in order (default: the settings in ``flips``); one without pairs gets NaNs.

    Returns
    -------
    pandas.DataFrame
        Per setting: ``LIME %`` with ``ci_low, ci_high``; ``norm-based %`` with its interval;
        the paired difference; ``n_pairs, n_songs``; ``paper %``.
    """
    rows = []
    for key, table in _groups(flips, settings):
        rates = _compared(table, k, n_boot, setting_seed(seed, *key))
        lime, norm = rates[LIME], rates[NORM]
        rows.append({**_setting_columns(*key), "k": k, "n_pairs": lime["n_pairs"],
                     "n_songs": lime["n_songs"], "LIME %": lime["percent"],
                     "ci_low": lime["ci_low"], "ci_high": lime["ci_high"],
                     "norm-based %": norm["percent"], "norm-based ci_low": norm["ci_low"],
                     "norm-based ci_high": norm["ci_high"], **{c: norm[c] for c in _DIFFERENCE},
                     "only_LIME": norm["only_reference"], "only_norm": norm["only_method"],
                     "paper %": PAPER_TABLE1[key]})
    return pd.DataFrame(rows)


def table2(rows: pd.DataFrame, n_boot: int = 2000, seed: int = 0,
           settings: Sequence[tuple[str, int]] | None = None) -> pd.DataFrame:
    """Table 2: all positively relevant LIME segments vs as many highest-energy segments.

    Parameters
    ----------
    rows : pandas.DataFrame
        Columns ``domain, target, pair, song, k, flipped_LIME, flipped_norm-based``.
    n_boot, seed : int
        Bootstrap samples and seed (of the run; each setting's is :func:`setting_seed`).
    settings : sequence of (domain, target), optional
        As in :func:`table1`.

    Returns
    -------
    pandas.DataFrame
        Per setting: ``mean k``, each method's ``%`` with ``ci_low``/``ci_high``, the paired
        difference, ``n_pairs, n_songs`` and the paper's values.
    """
    out = []
    for key, table in _groups(rows, settings):
        core = pd.DataFrame({"pair": table["pair"].to_numpy(), "method": LIME,
                             "k": table["k"].to_numpy(),
                             "flipped": table[f"flipped_{LIME}"].to_numpy(bool),
                             "energy_flipped": table[f"flipped_{NORM}"].to_numpy(bool)})
        rates = table2_rates(core, pair_songs(table), n_boot, setting_seed(seed, *key))
        rate = rates.iloc[0] if len(rates) else pd.Series(
            {"n_pairs": 0, "n_songs": 0, "only_method": 0, "only_energy": 0}, dtype=object)
        paper = PAPER_TABLE2[key]
        record: dict[str, Any] = {**_setting_columns(*key), "n_pairs": rate["n_pairs"],
                                  "n_songs": rate["n_songs"], "mean k": rate.get("mean k", np.nan)}
        for name, prefix, published in ((LIME, "", paper[0]), (NORM, "energy ", paper[1])):
            record.update({f"{name} %": rate.get(f"{prefix}%" if prefix else "percent", np.nan),
                           f"{name} ci_low": rate.get(f"{prefix}ci_low", np.nan),
                           f"{name} ci_high": rate.get(f"{prefix}ci_high", np.nan),
                           f"paper {name} %": published})
        record.update({c: rate.get(c, np.nan) for c in _DIFFERENCE})
        record.update({"only_LIME": rate["only_method"], "only_norm": rate["only_energy"]})
        out.append(record)
    return pd.DataFrame(out)


def recovery_rates(subset: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Figure 3's rate: how often LIME ranks all k modified segments in its top k.

    Among the successful partial adversaries of each setting and k, the share whose k
    modified segments are all in LIME's top k, with a song-level interval.

    Parameters
    ----------
    subset : pandas.DataFrame
        Columns ``domain, target, k, pair, song, detected``.

    Returns
    -------
    pandas.DataFrame
        ``domain, target, k, percent, ci_low, ci_high, n, n_songs``.
    """
    rows = []
    for (domain, target, k), group in subset.groupby(["domain", "target", "k"], sort=False):
        rate = song_rate(group["detected"].to_numpy() == k, group["song"].to_numpy(), n_boot,
                         item_seed(seed, "recovery", domain, target, k))
        rows.append({"domain": domain, "target": int(target), "k": int(k),
                     "percent": rate.percent, "ci_low": rate.low, "ci_high": rate.high,
                     "n": rate.n_pairs, "n_songs": rate.n_songs})
    return pd.DataFrame(rows, columns=["domain", "target", "k", "percent", "ci_low", "ci_high",
                                       "n", "n_songs"])


def detected_counts(subset: pd.DataFrame) -> pd.DataFrame:
    """Figure 3's bars: number of successful partial adversaries per k and detected count."""
    rows = []
    for k, group in subset.groupby("k"):
        counts = group["detected"].value_counts()
        for detected in range(int(k) + 1):
            rows.append({"k": int(k), "detected": detected,
                         "count": int(counts.get(detected, 0))})
    return pd.DataFrame(rows, columns=["k", "detected", "count"])


def fidelity_separation(subset: pd.DataFrame, n_boot: int = 2000,
                        seed: int = 0) -> dict[str, float]:
    """How well fidelity tells correct single-segment explanations from wrong ones (Fig. 4).

    Parameters
    ----------
    subset : pandas.DataFrame
        Subset rows (``k, top1_correct, fidelity, song``); those with k = 1 are used.
    n_boot, seed : int
        Bootstrap samples and seed of the AUROC's song-level interval.

    Returns
    -------
    dict
        ``n``, ``n_songs``, ``correct`` (LIME's top segment is the modified one), median
        fidelity of the correct and the wrong ones, the AUROC of fidelity as a detector of
        correctness with its song-level interval (``auroc_low``, ``auroc_high``) and the
        Mann-Whitney U test's p-value (pair level; NaN when one group is empty).

    Examples
    --------
    Four single-segment explanations: the two right ones have the higher fidelity.

    >>> import pandas as pd
    >>> from svdlib import fidelity_separation
    >>> subset = pd.DataFrame({"k": 1, "top1_correct": [True, True, False, False],
    ...                        "fidelity": [0.9, 0.8, 0.3, 0.2], "song": ["a", "b", "c", "d"]})
    >>> result = fidelity_separation(subset, n_boot=200)
    >>> result["n"], result["correct"], result["auroc"], round(result["median_wrong"], 2)
    (4, 2, 1.0, 0.25)
    """
    from scipy.stats import mannwhitneyu

    k1 = subset[subset["k"] == 1]
    correct = k1["top1_correct"].map(lambda v: v in (True, "True", 1)).to_numpy(bool)
    fidelity = k1["fidelity"].to_numpy(dtype=float)
    songs = k1["song"].to_numpy() if "song" in k1 else np.arange(len(k1))
    auroc, low, high = song_auroc(fidelity, correct, songs, n_boot, seed)
    result = {"n": len(k1), "n_songs": len(set(np.asarray(songs).tolist())),
              "correct": int(correct.sum()),
              "median_correct": float(np.median(fidelity[correct])) if correct.any()
              else float("nan"),
              "median_wrong": float(np.median(fidelity[~correct])) if (~correct).any()
              else float("nan"),
              "auroc": auroc, "auroc_low": low, "auroc_high": high, "p_value": float("nan")}
    if correct.any() and (~correct).any():
        result["p_value"] = float(mannwhitneyu(fidelity[correct], fidelity[~correct]).pvalue)
    return result


def fidelity_table(subset: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """:func:`fidelity_separation` per setting (one row each)."""
    rows = []
    for (domain, target), group in subset.groupby(["domain", "target"], sort=False):
        stats = fidelity_separation(group, n_boot, item_seed(seed, "fidelity", domain, target))
        rows.append({"domain": domain, "target": int(target), **stats})
    return pd.DataFrame(rows, columns=["domain", "target", "n", "n_songs", "correct",
                                       "median_correct", "median_wrong", "auroc", "auroc_low",
                                       "auroc_high", "p_value"])


def _verdict(low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "cannot be judged (no pairs)"
    if low > 0:
        return "holds"
    if high < 0:
        return "is reversed"
    return "is not resolved at this sample size"


def conclusion(table1_rows: pd.DataFrame, table2_rows: pd.DataFrame,
               differences: pd.DataFrame) -> pd.DataFrame:
    """Per setting, whether the paper's finding holds, from the paired differences.

    The paper's finding is "the segments with the most perturbation energy flip the label more
    often than LIME's". For Table 1 (k = 3) and Table 2 it *holds* when the song-level interval
    of norm-based − LIME lies above 0, *is reversed* when it lies below 0, and is not resolved
    otherwise; over the whole curve the mean difference over k is reported beside.

    Returns
    -------
    pandas.DataFrame
        ``setting, table1_difference, table1_interval, table1_p, table1_verdict,
        table2_difference, table2_interval, table2_p, table2_verdict, curve_mean_difference``.
    """
    rows = []
    for _, t1 in table1_rows.iterrows():
        key = (t1["domain"], int(t1["target"]))
        t2 = table2_rows[(table2_rows["domain"] == key[0]) & (table2_rows["target"] == key[1])]
        curve = differences[(differences["domain"] == key[0])
                            & (differences["target"] == key[1])]
        row = {"setting": f"{t1['attack']}, {t1['direction']}", "domain": key[0],
               "target": key[1]}
        for name, source in (("table1", t1), ("table2", t2.iloc[0] if len(t2) else None)):
            if source is None:
                row.update({f"{name}_difference": np.nan, f"{name}_interval": "–",
                            f"{name}_p": np.nan, f"{name}_verdict": "cannot be judged"})
                continue
            row.update({f"{name}_difference": source["difference"],
                        f"{name}_interval": f"[{source['diff_ci_low']:+.0f}, "
                                            f"{source['diff_ci_high']:+.0f}]",
                        f"{name}_p": source["p_value"],
                        f"{name}_verdict": _verdict(source["diff_ci_low"],
                                                    source["diff_ci_high"])})
        row["curve_mean_difference"] = float(curve["difference"].mean()) if len(curve) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def conclusion_sentences(verdicts: pd.DataFrame) -> dict[tuple[str, int], str]:
    """One plain-text sentence per setting saying what :func:`conclusion` found."""
    out = {}
    for _, r in verdicts.iterrows():
        out[(r["domain"], int(r["target"]))] = (
            f"at k = 3 the energy ranking flips {r['table1_difference']:+.0f} points more than "
            f"LIME {r['table1_interval']} (p = {r['table1_p']:.2g}), so the finding "
            f"{r['table1_verdict']}; with Table 2's k {r['table2_difference']:+.0f} points "
            f"{r['table2_interval']} (p = {r['table2_p']:.2g}): it {r['table2_verdict']}. "
            f"Averaged over k = 1…20 the difference is {r['curve_mean_difference']:+.1f} points.")
    return out


def conclusion_text(verdicts: pd.DataFrame) -> str:
    """The conclusion as Markdown bullet points, one per setting (see :func:`conclusion`)."""
    sentences = conclusion_sentences(verdicts)
    return "\n".join(f"- **{r['setting']}**: {sentences[(r['domain'], int(r['target']))]}"
                     for _, r in verdicts.iterrows())
