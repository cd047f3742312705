"""The benchmark's tables summarised: curve rates, one ranked overview, and what they say.

:func:`curve_rates` turns the per-pair flip curves into rates per k with song-level bands;
:func:`ranked_overview` ranks the explainers over all settings of a
:func:`~svdlib.veracity.benchmark.benchmark_table` (one per setting, with ``domain`` and
``target`` columns), with the references beside them; :func:`findings` states in sentences
what the numbers say, with the intervals that qualify them. Plain DataFrames in and out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from svdlib.veracity.benchmark import ENERGY
from svdlib.veracity.measures import top_k_rates

#: The floor every explainer should beat.
RANDOM = "random"


def is_reference(method: str) -> bool:
    """Energy, chance and attainable: the rows that are not explainers."""
    return method == ENERGY or method.startswith(("chance (", "attainable ("))


def curve_rates(curve: pd.DataFrame, songs: Sequence | np.ndarray | None = None,
                n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The flip curve of every method as rates per k, with song-level 95 % bands.

    Parameters
    ----------
    curve : pandas.DataFrame
        ``pair, k, method, flipped`` (:func:`~svdlib.veracity.measures.flip_curve`).
    songs : array-like, optional
        ``(N,)`` the song of each pair (default: each pair its own).
    n_boot, seed : int
        Bootstrap samples and seed.

    Returns
    -------
    pandas.DataFrame
        ``method, k, percent, ci_low, ci_high, n_pairs, n_songs``.

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
    >>> from svdlib import StoredRelevances, curve_rates, energy_relevances, flip_curve
    >>> weights = np.zeros((4, 20)); weights[:2, 0] = 1; weights[2:, 19] = 1
    >>> methods = {"energy": energy_relevances(original, adversarial, seg),
    ...            "guess": StoredRelevances(weights)}
    >>> curve = flip_curve(original, adversarial, methods, seg, predict, rule, ks=[1, 2])
    >>> curve_rates(curve)[["method", "k", "percent", "n_pairs"]]
       method  k  percent  n_pairs
    0  energy  1    100.0        4
    1   guess  1     50.0        4
    2  energy  2    100.0        4
    3   guess  2    100.0        4
    """
    ks = sorted(int(k) for k in curve["k"].unique())
    if not ks:
        return pd.DataFrame(columns=["method", "k", "percent", "ci_low", "ci_high", "n_pairs",
                                     "n_songs"])
    return pd.concat([top_k_rates(curve, k, songs, n_boot=n_boot, seed=seed) for k in ks],
                     ignore_index=True)


def ranked_overview(table: pd.DataFrame) -> pd.DataFrame:
    """One ranked table over all settings: explainers by their mean Table 1 rate, then references.

    Parameters
    ----------
    table : pandas.DataFrame
        Benchmark tables of several settings, with ``domain`` and ``target`` columns.

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method``, ``reference`` (bool), ``rank`` (explainers only),
        ``mean %`` (mean Table 1 rate over the settings with pairs), ``mean vs chance``,
        ``mean area_vs_energy``, ``s / explanation`` (mean), and per setting ``<domain>
        t<target> %``, ``... ci_low``, ``... ci_high``. Explainers first, best first.

    Examples
    --------
    The tables of two settings (here the same toy pairs twice, as "wave" and "spec"):

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> import pandas as pd
    >>> from svdlib import StoredRelevances, benchmark_table, ranked_overview, run_benchmark
    >>> weights = np.zeros((4, 20)); weights[:2, 0] = 1; weights[2:, 19] = 1
    >>> run = run_benchmark(original, adversarial, seg, predict, rule,
    ...                     {"guess": StoredRelevances(weights)}, max_k=1)
    >>> table = benchmark_table(run, k=1)
    >>> settings = pd.concat([table.assign(domain=d, target=1) for d in ("wave", "spec")])
    >>> ranked_overview(settings)[["method", "reference", "mean %", "wave t1 %"]]
                 method  reference  mean %  wave t1 %
    0             guess      False    50.0       50.0
    1            energy       True   100.0      100.0
    2      chance (k=1)       True     5.0        5.0
    3  attainable (k=1)       True   100.0      100.0
    """
    settings = list(dict.fromkeys(zip(table["domain"], table["target"], strict=True)))
    rows = []
    for method, group in table.groupby("method", sort=False):
        row: dict = {"method": method, "reference": is_reference(str(method))}
        for column in ("percent", "vs chance", "area_vs_energy", "s / explanation"):
            values = group[column] if column in group else pd.Series(dtype=float)
            name = "mean %" if column == "percent" else f"mean {column}"
            row[name] = float(values.mean()) if values.notna().any() else np.nan
        for domain, target in settings:
            mine = group[(group["domain"] == domain) & (group["target"] == target)]
            for column, suffix in (("percent", "%"), ("ci_low", "ci_low"),
                                   ("ci_high", "ci_high")):
                row[f"{domain} t{target} {suffix}"] = float(mine[column].iloc[0]) \
                    if len(mine) else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    order = {ENERGY: 1, "chance": 2, "attainable": 3}
    out["_group"] = [order.get(str(m).split(" (")[0], 4) if ref else 0
                     for m, ref in zip(out["method"], out["reference"], strict=True)]
    out["_score"] = np.where(out["reference"], 0.0, -out["mean %"].fillna(-1.0))
    out = out.sort_values(["_group", "_score"], kind="stable").drop(columns=["_group", "_score"])
    explainers = ~out["reference"]
    out.insert(2, "rank", np.where(explainers, np.cumsum(explainers), np.nan))
    return out.reset_index(drop=True)


def _row(table: pd.DataFrame, method: str) -> pd.Series | None:
    rows = table[table["method"] == method]
    return rows.iloc[0] if len(rows) else None


def _reference(table: pd.DataFrame, prefix: str) -> pd.Series | None:
    rows = table[table["method"].str.startswith(prefix)]
    return rows.iloc[0] if len(rows) else None


def _named(methods: Sequence[str], names: Mapping[str, str] | None) -> str:
    return ", ".join((names or {}).get(m, m) for m in methods)


def setting_findings(table: pd.DataFrame, names: Mapping[str, str] | None = None) -> list[str]:
    """What one setting's benchmark table says, in sentences (no sentence without its data).

    Parameters
    ----------
    table : pandas.DataFrame
        One setting's :func:`~svdlib.veracity.benchmark.benchmark_table`.
    names : mapping, optional
        Display names of the methods.

    Returns
    -------
    list of str
        Markdown sentences: the best explainer against chance and attainable, the explainers
        clearly above chance (song-level interval of the paired gap above 0), those at or below
        the random floor, and whether any beats the energy of δ.
    """
    explainers = table[~table["method"].map(is_reference)].dropna(subset=["percent"])
    if explainers.empty:
        return ["No pairs in this setting: nothing to compare."]
    best = explainers.sort_values("percent", ascending=False).iloc[0]
    chance, attainable = _reference(table, "chance ("), _reference(table, "attainable (")
    energy, floor = _row(table, ENERGY), _row(table, RANDOM)
    name = _named([best["method"]], names)
    out = [f"The best explainer, **{name}**, flips {best['percent']:.0f} % "
           f"[{best['ci_low']:.0f}, {best['ci_high']:.0f}] of the pairs with its top segments"]
    if chance is not None and attainable is not None:
        out[-1] += (f"; chance is {chance['percent']:.0f} % and some subset of that size flips "
                    f"{attainable['percent']:.0f} % of the pairs.")
    else:
        out[-1] += "."
    if "vs chance ci_low" in explainers:
        above = explainers[explainers["vs chance ci_low"] > 0]["method"].tolist()
        out.append(f"{len(above)} of {len(explainers)} explainers are above chance with a "
                   f"song-level interval that excludes it"
                   + (f" ({_named(above, names)})." if above else "."))
    if floor is not None:
        low = explainers[(explainers["method"] != RANDOM)
                         & (explainers["percent"] <= floor["percent"])]["method"].tolist()
        if low:
            out.append(f"At or below the random ranking ({floor['percent']:.0f} %): "
                       f"{_named(low, names)}.")
    if energy is not None:
        out.append(_versus_energy(explainers, energy, names))
    return out


def _versus_energy(explainers: pd.DataFrame, energy: pd.Series,
                   names: Mapping[str, str] | None) -> str:
    """Which explainers flip more than the energy of δ, and whether the intervals support it."""
    said = f"The energy of δ itself flips {energy['percent']:.0f} %; "
    more = explainers[explainers["percent"] > energy["percent"]]["method"].tolist()
    if not more:
        return said + "no explainer flips more."
    plural = len(more) != 1
    said += (f"{len(more)} explainer{'s flip' if plural else ' flips'} more at this k "
             f"({_named(more, names)})")
    if "area ci_low" not in explainers:
        return said + "."
    ahead = _ahead_of_energy(explainers)
    return said + ("; over the whole flip curve "
                   + (f"{_named(ahead, names)} {'are' if len(ahead) != 1 else 'is'} ahead with a "
                      "paired song-level interval above 0." if ahead else
                      "none is ahead with a paired song-level interval above 0."))


def _ahead_of_energy(explainers: pd.DataFrame) -> list[str]:
    """Explainers ahead of the energy ranking over the flip curve (paired interval above 0)."""
    if "area ci_low" not in explainers:
        return []
    return explainers[explainers["area ci_low"] > 0]["method"].tolist()


def findings(table: pd.DataFrame, names: Mapping[str, str] | None = None) -> list[str]:
    """Sentences over all settings: the overall ranking, chance, attainable and energy.

    Parameters
    ----------
    table : pandas.DataFrame
        Benchmark tables of several settings (``domain`` and ``target`` columns).
    names : mapping, optional
        Display names of the methods.

    Returns
    -------
    list of str
        Markdown sentences computed from the numbers.
    """
    overview = ranked_overview(table)
    explainers = overview[~overview["reference"]].dropna(subset=["mean %"])
    if explainers.empty:
        return ["No setting has pairs: nothing to compare."]
    best, worst = explainers.iloc[0], explainers.iloc[-1]
    first, last = _named([best["method"]], names), _named([worst["method"]], names)
    out = [f"Averaged over the settings, **{first}** ranks first "
           f"({best['mean %']:.0f} % at the Table 1 k) and **{last}** last "
           f"({worst['mean %']:.0f} %)."]
    chance, attainable = _reference(overview, "chance ("), _reference(overview, "attainable (")
    if chance is not None and attainable is not None:
        span = attainable["mean %"] - chance["mean %"]
        share = 100 * (best["mean %"] - chance["mean %"]) / span if span > 0 else np.nan
        out.append(f"Chance is {chance['mean %']:.0f} % and the attainable rate "
                   f"{attainable['mean %']:.0f} %: the best explainer closes {share:.0f} % of "
                   "the gap between a random choice of segments and the best possible one.")
    energy = _row(overview, ENERGY)
    if energy is not None:
        wins, clear, settings = _energy_wins(table)
        out.append(f"The energy of δ flips {energy['mean %']:.0f} % on average; some explainer "
                   f"flips more at the Table 1 k in {wins} of {settings} settings, and is "
                   f"ahead over the whole flip curve with a paired song-level interval above 0 "
                   f"in {clear} of them.")
    costs = explainers.dropna(subset=["mean s / explanation"])
    if len(costs):
        fast = costs.sort_values("mean s / explanation").iloc[0]
        slow = costs.sort_values("mean s / explanation").iloc[-1]
        out.append(f"Cost per explanation ranges from {fast['mean s / explanation']:.2g} s "
                   f"({_named([fast['method']], names)}) to {slow['mean s / explanation']:.2g} s "
                   f"({_named([slow['method']], names)}).")
    return out


def _energy_wins(table: pd.DataFrame) -> tuple[int, int, int]:
    """How often some explainer beats the energy ranking, and in how many settings.

    Returns the settings (with pairs) where some explainer flips more at the Table 1 k, those
    where one is ahead over the whole curve with a paired interval above 0, and all of them.
    """
    wins = clear = settings = 0
    for _, rows in table.groupby(["domain", "target"], sort=False):
        energy = rows[rows["method"] == ENERGY]["percent"].dropna()
        mine = rows[~rows["method"].map(is_reference)].dropna(subset=["percent"])
        if len(energy) and len(mine):
            settings += 1
            wins += int(mine["percent"].max() > float(energy.iloc[0]))
            clear += int(bool(_ahead_of_energy(mine)))
    return wins, clear, settings
