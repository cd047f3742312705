"""The explainer benchmark drawn and formatted: all flip curves per setting, readable tables."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from svdlib.veracity.tables import DOMAIN_NAMES
from svdlib.viz.figures import PANELS, style

#: Display names of the benchmark's methods (keys: ``make_explainer`` names and references).
METHOD_NAMES = {"lime": "LIME", "lime_forest": "LIME (forest surrogate)",
                "lime_zero": "LIME (zero masking)", "lime_noise": "LIME (noise masking)",
                "kernelshap": "KernelSHAP", "occlusion": "occlusion",
                "integrated_gradients": "integrated gradients", "saliency": "saliency",
                "gradient_x_input": "gradient × input", "random": "random",
                "energy": "energy of δ", "LIME (paper)": "LIME (paper's explanations)"}
#: The class each attack pushes towards.
TARGET_NAMES = {1: "sing", 0: "no sing"}
#: Line styles: references dark and dashed, the floor grey and dotted.
_STYLE = {"energy": dict(color="k", linestyle="--", marker="o"),
          "random": dict(color="0.55", linestyle=":", marker="x"),
          "LIME (paper)": dict(color="C0", linestyle="-", marker="^")}
_COLORS = {"lime": "C9", "kernelshap": "C1", "occlusion": "C2", "integrated_gradients": "C3",
           "saliency": "C4", "gradient_x_input": "C5", "lime_forest": "C6", "lime_zero": "C7",
           "lime_noise": "C8"}


def method_name(method: str) -> str:
    """A method's display name (``integrated_gradients`` → ``integrated gradients``)."""
    if method.startswith(("chance (", "attainable (")):
        return method
    return METHOD_NAMES.get(method, method)


def _style(method: str, index: int) -> dict:
    return _STYLE.get(method, dict(color=_COLORS.get(method, f"C{index % 10}"), linestyle="-",
                                   marker="."))


def benchmark_figure(rates: pd.DataFrame, references: pd.DataFrame | None = None,
                     band: tuple[str, ...] = ("LIME (paper)", "energy"),
                     panels: Sequence[tuple[str, int, str]] | None = None) -> plt.Figure:
    """% of labels flipped vs k for every method, one panel per setting.

    Parameters
    ----------
    rates : pandas.DataFrame
        ``domain, target, method, k, percent, ci_low, ci_high`` (per-k rates with song-level
        bands, :func:`~svdlib.veracity.benchmark_summary.curve_rates` per setting).
    references : pandas.DataFrame, optional
        Benchmark tables (``domain, target, method, percent``) whose ``chance (k=…)`` and
        ``attainable (k=…)`` rows are marked at their k.
    band : tuple of str
        The methods whose 95 % band is drawn (all bands at once would hide the lines).
    panels : sequence of (domain, target, title), optional
        Which panels, in order (default: the paper's four settings); ``domain`` is any label
        of the ``domain`` column (e.g. your model's name).

    Returns
    -------
    matplotlib.figure.Figure
    """
    style()
    panels = list(panels) if panels is not None else PANELS
    rows, cols = (len(panels) + 1) // 2, min(len(panels), 2)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows + 0.6), sharex=True,
                             sharey=True, layout="constrained", squeeze=False)
    methods = list(dict.fromkeys(rates["method"]))
    for ax, (domain, target, title) in zip(axes.ravel(), panels, strict=False):
        data = rates[(rates["domain"] == domain) & (rates["target"] == target)]
        _draw_panel(ax, data, methods, band, title)
        if references is not None:
            _mark_references(ax, references[(references["domain"] == domain)
                                            & (references["target"] == target)])
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("# segments kept (the method's top k)")
    for ax in axes[:, 0]:
        ax.set_ylabel("% labels flipped")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes.ravel()[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=9)
    return fig


def _draw_panel(ax: plt.Axes, data: pd.DataFrame, methods: list[str], band: tuple[str, ...],
                title: str) -> None:
    """One setting's curves (bands for the ``band`` methods) and its title with the counts."""
    for index, method in enumerate(methods):
        line = data[data["method"] == method].sort_values("k")
        if line.empty:
            continue
        kw = _style(method, index)
        if method in band:
            ax.fill_between(line["k"], line["ci_low"], line["ci_high"], color=kw["color"],
                            alpha=0.12, linewidth=0)
        ax.plot(line["k"], line["percent"], linewidth=1.2, markersize=4,
                label=method_name(method), **kw)
    n = int(data["n_pairs"].max()) if "n_pairs" in data and len(data) else 0
    songs = int(data["n_songs"].max()) if "n_songs" in data and len(data) else 0
    ax.set_title(f"{title}\n{n} pair{'' if n == 1 else 's'} from {songs} "
                 f"song{'' if songs == 1 else 's'}", fontsize=10)
    ax.set_ylim(-2, 102)
    ax.set_xticks([1, 3, 6, 9, 12, 15, 18, 20])


def _mark_references(ax: plt.Axes, table: pd.DataFrame) -> None:
    """Chance and attainable at their k: a grey bar from one to the other."""
    for _, row in table[table["method"].str.startswith("chance (")].iterrows():
        k = int(row["method"].split("k=")[1].rstrip(")"))
        top = table[table["method"] == f"attainable (k={k})"]["percent"]
        if not len(top) or not np.isfinite(row["percent"]):
            continue
        ax.vlines(k, row["percent"], float(top.iloc[0]), color="0.3", linewidth=3, alpha=0.35,
                  zorder=0)
        ax.plot([k], [row["percent"]], marker="_", color="0.3", markersize=14,
                label=f"chance … attainable (k = {k})")
        ax.plot([k], [float(top.iloc[0])], marker="_", color="0.3", markersize=14)


def _rate(percent: float, low: float, high: float) -> str:
    if not np.isfinite(percent):
        return "–"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{percent:.0f}"
    return f"{percent:.0f} [{low:.0f}, {high:.0f}]"


def format_overview(overview: pd.DataFrame) -> pd.DataFrame:
    """The ranked overview for reading: ``% [low, high]`` per setting, means, cost."""
    settings = [c[:-2] for c in overview.columns if c.endswith(" %") and c != "mean %"]
    out = pd.DataFrame({"rank": [f"{r:.0f}" if np.isfinite(r) else "" for r in overview["rank"]]},
                       index=pd.Index([method_name(m) for m in overview["method"]]))
    for setting in settings:
        domain, target = setting.split(" t")
        name = f"{DOMAIN_NAMES.get(domain, domain)} → {TARGET_NAMES[int(target)]}"
        out[name] = [_rate(p, lo, hi) for p, lo, hi in zip(
            overview[f"{setting} %"], overview[f"{setting} ci_low"],
            overview[f"{setting} ci_high"], strict=True)]
    out["mean"] = [f"{v:.1f}" if np.isfinite(v) else "–" for v in overview["mean %"]]
    out["vs chance (pp)"] = [f"{v:+.1f}" if np.isfinite(v) else "–"
                             for v in overview["mean vs chance"]]
    out["vs energy (pp)"] = [f"{v:+.1f}" if np.isfinite(v) else "–"
                             for v in overview["mean area_vs_energy"]]
    out["s / expl."] = [f"{v:.2g}" if np.isfinite(v) else "–"
                        for v in overview["mean s / explanation"]]
    return out


def format_setting(table: pd.DataFrame) -> pd.DataFrame:
    """One setting's full benchmark table for reading: every rate with its song interval."""
    def rate(row: pd.Series, name: str) -> str:
        if f"{name} %" not in row:
            return "–"
        return _rate(row[f"{name} %"], row[f"{name} ci_low"], row[f"{name} ci_high"])

    rows = []
    for _, row in table.iterrows():
        rows.append({
            "method": method_name(row["method"]),
            "Table 1 %": _rate(row["percent"], row["ci_low"], row["ci_high"]),
            "vs chance (pp)": _rate(row.get("vs chance", np.nan),
                                    row.get("vs chance ci_low", np.nan),
                                    row.get("vs chance ci_high", np.nan)),
            "vs energy (pp)": _rate(row.get("area_vs_energy", np.nan),
                                         row.get("area ci_low", np.nan),
                                         row.get("area ci_high", np.nan)),
            "Table 2 %": rate(row, "table2"),
            "Table 2 k": f"{row['table2 mean k']:.1f}" if np.isfinite(
                row.get("table2 mean k", np.nan)) else "–",
            "subset recov. %": rate(row, "subset recovery"),
            "top k ⊇ smallest %": rate(row, "contains smallest"),
            "s / expl.": f"{row['s / explanation']:.2g}" if np.isfinite(
                row.get("s / explanation", np.nan)) else "–"})
    out = pd.DataFrame(rows).set_index("method")
    out.index.name = None
    return out
