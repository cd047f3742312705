"""Figures and tables of the paper, from the experiment tables (the same for notebooks and CLI).

Each figure follows the original's content and look (seaborn "whitegrid", LIME as blue
triangles, norm-based as orange circles, magma spectrograms) and adds what a reader needs to
judge it: song-level bootstrap bands, the numbers of pairs and songs, the paired difference
norm-based − LIME, and the paper's values for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from svdlib.files import atomic_path

PANELS = [("wave", 1, "(a) “no sing” → “sing” (waveform)"),
          ("spec", 1, "(b) “no sing” → “sing” (spectrogram)"),
          ("wave", 0, "(c) “sing” → “no sing” (waveform)"),
          ("spec", 0, "(d) “sing” → “no sing” (spectrogram)")]
METHOD_STYLE = {"LIME": dict(marker="^", color="C0"),
                "norm-based": dict(marker="o", color="C1")}
DETECTED_COLORS = dict(enumerate(sns.color_palette("deep", 6)))


def style() -> None:
    """The figures' common style (seaborn whitegrid, readable at book width)."""
    sns.set_theme(style="whitegrid", font_scale=1.0)


def save_figure(fig: plt.Figure, stem: str | Path) -> list[Path]:
    """Save a figure as PNG (150 dpi) and SVG, atomically, with digests; returns both paths."""
    paths = []
    for suffix in (".png", ".svg"):
        path = Path(stem).with_suffix(suffix)
        with atomic_path(path, suffix=suffix, digest=True) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=suffix[1:])
        paths.append(path)
    return paths


def _panels(settings: Sequence[tuple[str, int]] | None) -> list[tuple[str, int, str]]:
    if settings is None:
        return PANELS
    return [p for p in PANELS if (p[0], p[1]) in set(settings)]


def flip_count_figure(curves: pd.DataFrame, settings: Sequence[tuple[str, int]] | None = None,
                      differences: pd.DataFrame | None = None) -> plt.Figure:
    """Figure 2: % of labels flipped vs number of segments, LIME vs norm-based.

    Parameters
    ----------
    curves : pandas.DataFrame
        ``flip_curves`` (domain, target, method, k, percent, ci_low, ci_high, n, n_songs).
    settings : sequence of (domain, target), optional
        Which panels (default all four, in the paper's order).
    differences : pandas.DataFrame, optional
        ``flip_differences`` (domain, target, k, difference, diff_ci_low, diff_ci_high); when
        given, each panel gets a strip below with the paired difference norm-based − LIME and
        its song-level band.
    """
    style()
    panels = _panels(settings)
    cols = 2 if len(panels) > 1 else 1
    rows = int(np.ceil(len(panels) / cols))
    step = 2 if differences is not None else 1
    ratios = [3, 1.3] * rows if step == 2 else [1] * rows
    fig, axes = plt.subplots(len(ratios), cols,
                             figsize=(5.2 * cols, 3.6 * rows * (1.4 if step == 2 else 1)),
                             squeeze=False, gridspec_kw={"height_ratios": ratios},
                             layout="constrained")
    for index, (domain, target, title) in enumerate(panels):
        row, col = divmod(index, cols)
        ax = axes[row * step, col]
        data = curves[(curves["domain"] == domain) & (curves["target"] == target)]
        for method, kw in METHOD_STYLE.items():
            line = data[data["method"] == method].sort_values("k")
            if line.empty:
                continue
            ax.fill_between(line["k"], line["ci_low"], line["ci_high"], color=kw["color"],
                            alpha=0.15, linewidth=0)
            ax.plot(line["k"], line["percent"], linestyle="--", markersize=6, linewidth=1,
                    label=method, **kw)
        n = int(data["n"].max()) if not data.empty else 0
        songs = int(data["n_songs"].max()) if not data.empty and "n_songs" in data else 0
        ax.set_title(f"{title}\n{n} pair{'' if n == 1 else 's'} from {songs} "
                     f"song{'' if songs == 1 else 's'}", fontsize=10)
        ax.set_ylabel("% labels flipped")
        ax.set_ylim(-2, 102)
        ax.set_yticks(range(0, 101, 20))
        ax.set_xticks([1, 3, 6, 9, 12, 15, 18, 20])
        if differences is None:
            ax.set_xlabel("# segments")
            continue
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)
        _difference_strip(axes[row * step + 1, col], differences, domain, target)
    for ax in list(axes[::step].flat)[len(panels):]:
        ax.set_visible(False)
    if differences is not None:
        for ax in list(axes[1::step].flat)[len(panels):]:
            ax.set_visible(False)
    axes[0, 0].legend(title="Component selection", loc="lower right", fontsize=9,
                      title_fontsize=9)
    return fig


def _difference_strip(ax: plt.Axes, differences: pd.DataFrame, domain: str,
                      target: int) -> None:
    """norm-based − LIME per k with its song-level band, under a Figure 2 panel."""
    data = differences[(differences["domain"] == domain)
                       & (differences["target"] == target)].sort_values("k")
    ax.axhline(0, color="0.3", linewidth=0.8)
    if not data.empty:
        ax.fill_between(data["k"], data["diff_ci_low"], data["diff_ci_high"], color="0.5",
                        alpha=0.25, linewidth=0)
        ax.plot(data["k"], data["difference"], color="0.2", marker=".", linewidth=1)
    ax.set_ylabel("norm − LIME\n(points)", fontsize=9)
    ax.set_xlabel("# segments")
    ax.set_xticks([1, 3, 6, 9, 12, 15, 18, 20])
    bound = max(10.0, float(np.nanmax(np.abs(data[["diff_ci_low", "diff_ci_high"]].to_numpy())))
                if not data.empty else 10.0)
    ax.set_ylim(-1.1 * bound, 1.1 * bound)


def subset_figure(counts: pd.DataFrame,
                  settings: Sequence[tuple[str, int]] | None = None) -> plt.Figure:
    """Figure 3: successful partial adversaries by number of detected modified segments."""
    style()
    panels = _panels(settings)
    ks = sorted(counts["k"].unique()) if not counts.empty else [1, 3, 5]
    fig, axes = plt.subplots(len(panels), len(ks), figsize=(3.1 * len(ks), 2.5 * len(panels)),
                             squeeze=False)
    for row, (domain, target, title) in enumerate(panels):
        data = counts[(counts["domain"] == domain) & (counts["target"] == target)]
        for col, k in enumerate(ks):
            ax = axes[row, col]
            part = data[data["k"] == k].sort_values("detected", ascending=False)
            detected = list(range(k, -1, -1))
            values = [int(part[part["detected"] == d]["count"].sum()) for d in detected]
            ax.bar([str(d) for d in detected], values,
                   color=[DETECTED_COLORS[d % 6] for d in detected], width=0.8)
            ax.set_title(f"Modified segments: {k} (n = {sum(values)})", fontsize=9)
            ax.set_xlabel("Detected segments", fontsize=9)
            ax.set_ylabel("Count" if col == 0 else "")
            ax.yaxis.get_major_locator().set_params(integer=True)
        axes[row, 0].annotate(title, xy=(0, 1.28), xycoords="axes fraction", fontsize=10,
                              fontweight="bold")
    fig.tight_layout(h_pad=2.2)
    return fig


def fidelity_figure(subset: pd.DataFrame, target: int = 1,
                    domains: Sequence[str] = ("wave", "spec")) -> plt.Figure:
    """Figure 4: LIME fidelity at k = 1, by whether the top segment is the modified one."""
    style()
    data = subset[(subset["k"] == 1) & (subset["target"] == target)].copy()
    data["correct"] = data["top1_correct"].map(lambda v: "True" if v in (True, "True", 1)
                                               else "False")
    names = {"wave": "(a) waveform", "spec": "(b) spectrogram"}
    fig, axes = plt.subplots(1, len(domains), figsize=(3.6 * len(domains), 3.4), sharey=True,
                             squeeze=False)
    for ax, domain in zip(axes[0], domains, strict=True):
        name = names[domain]
        part = data[data["domain"] == domain]
        order = ["False", "True"]
        if not part.empty:
            sns.boxplot(data=part, x="correct", y="fidelity", order=order, ax=ax,
                        color="white", linecolor="0.3", width=0.5, fliersize=0)
            sns.stripplot(data=part, x="correct", y="fidelity", order=order, ax=ax,
                          color="C0", size=3.5, alpha=0.7, jitter=0.15)
        counts = part["correct"].value_counts()
        ax.set_xticks([0, 1], [f"{o}\n(n = {int(counts.get(o, 0))})" for o in order])
        ax.set_xlabel("Correct explanation")
        ax.set_ylabel("Fidelity")
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=10)
    fig.tight_layout()
    return fig


def horses_figure(horses: Sequence, segmentation, top: int = 3) -> plt.Figure:
    """Figure 1: original, horse, and the horse's top-3 LIME segments, per horse.

    Titles give the model's P(sing) on the original and the horse, and LIME's fidelity; the
    drawn shape is outlined. Colours share one scale (the min/max of the shown excerpts). A
    shape that flipped nothing (``flipped`` false) is shown by its closest attempt, titled in
    red as "not flipped".

    Parameters
    ----------
    horses : sequence of Horse
        The horses to show, one row each.
    segmentation : Segmentation
        LIME's grid (drawn over the third column).
    top : int
        How many of the most relevant "sing" segments to show.

    Returns
    -------
    matplotlib.figure.Figure
    """
    style()
    sns.set_style("white")
    rows = len(horses)
    fig, axes = plt.subplots(rows, 3, figsize=(10.5, 2.1 * rows + 0.4), squeeze=False)
    shown = []
    for horse in horses:
        composed = horse.explanation.get_sorted_components(1, positive_components=True,
                                                           negative_components=False,
                                                           num_components=top)
        shown.append((horse.original, horse.horse, np.asarray(composed)))
    vmin = min(float(np.min(x)) for triple in shown for x in triple)
    vmax = max(float(np.max(x)) for triple in shown for x in triple)
    image = None
    for row, (horse, triple) in enumerate(zip(horses, shown, strict=True)):
        flipped = getattr(horse, "flipped", True)
        titles = (f"f(original) = {horse.p_original:.2f}",
                  f"f(horse: {horse.shape}) = {horse.p_horse:.2f}" if flipped else
                  f"{horse.shape} NOT flipped: best f = {horse.p_horse:.2f}",
                  f"top-{top} LIME, fidelity = {horse.explanation.score[1]:.2f}")
        for col, (excerpt, title) in enumerate(zip(triple, titles, strict=True)):
            ax = axes[row, col]
            image = ax.imshow(np.asarray(excerpt).T, origin="lower", aspect="auto",
                              cmap="magma", vmin=vmin, vmax=vmax, interpolation="nearest")
            if col > 0:
                ax.contour(np.asarray(horse.mask).T.astype(float), levels=[0.5],
                           colors="cyan", linewidths=0.6)
            ax.set_title(title, fontsize=10, color="black" if flipped or col != 1 else "red")
            ax.set_xticks([])
            ax.set_yticks([])
        for t in segmentation.time_borders[1:-1]:
            axes[row, 2].axvline(t - 0.5, color="white", linewidth=0.4, alpha=0.6)
        for b in segmentation.freq_borders[1:-1]:
            axes[row, 2].axhline(b - 0.5, color="white", linewidth=0.4, alpha=0.6)
    fig.subplots_adjust(right=0.88, hspace=0.45, wspace=0.06)
    cax = fig.add_axes([0.9, 0.15, 0.02, 0.7])
    fig.colorbar(image, cax=cax, label="log magnitude")
    return fig


def explanation_grid(weights: np.ndarray, segmentation, ax: plt.Axes, title: str = "",
                     highlight: Sequence[int] = ()) -> None:
    """Draw LIME weights on the time × frequency grid (red = "sing", blue = "no sing")."""
    grid = np.asarray(weights).reshape(segmentation.n_time, segmentation.n_freq).T
    limit = max(float(np.abs(grid).max()), 1e-9)
    ax.imshow(grid, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.grid(False)
    for c in range(segmentation.n_components):
        t, f = divmod(c, segmentation.n_freq)
        dark = abs(grid[f, t]) > 0.6 * limit
        ax.text(t, f, f"{grid[f, t]:+.2f}", ha="center", va="center", fontsize=7,
                color="white" if dark else "black")
        if c in highlight:
            ax.add_patch(plt.Rectangle((t - 0.5, f - 0.5), 1, 1, fill=False, color="k",
                                       linewidth=2))
    ax.set_xticks(range(segmentation.n_time), [f"t{i}" for i in range(segmentation.n_time)])
    ax.set_yticks(range(segmentation.n_freq), [f"f{i}" for i in range(segmentation.n_freq)])
    ax.set_title(title, fontsize=10)


def segment_profile_figure(profiles: dict[tuple[str, int], dict], segmentation) -> plt.Figure:
    """Per setting: δ's mean energy share per segment (top) and LIME's mean weight (bottom).

    Parameters
    ----------
    profiles : dict
        :func:`svdlib.experiments.artifacts.tables.segment_profile` per ``(domain, target)``.
    segmentation : Segmentation
        The grid the profiles are on.
    """
    style()
    panels = [p for p in PANELS if (p[0], p[1]) in profiles]
    fig, axes = plt.subplots(2, len(panels), figsize=(3.4 * len(panels), 5.2), squeeze=False)
    for col, (domain, target, title) in enumerate(panels):
        profile = profiles[(domain, target)]
        energy = np.asarray(profile["energy_share"]).reshape(segmentation.n_time,
                                                             segmentation.n_freq).T
        ax = axes[0, col]
        ax.imshow(100 * energy, origin="lower", cmap="magma", aspect="auto", vmin=0)
        ax.grid(False)
        for c in range(segmentation.n_components):
            t, f = divmod(c, segmentation.n_freq)
            if not np.isfinite(energy[f, t]):
                continue
            ax.text(t, f, f"{100 * energy[f, t]:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if energy[f, t] < 0.6 * np.nanmax(energy) else "black")
        ax.set_xticks(range(segmentation.n_time), [f"t{i}" for i in range(segmentation.n_time)])
        ax.set_yticks(range(segmentation.n_freq), [f"f{i}" for i in range(segmentation.n_freq)])
        ax.set_title(f"{title}\n% of δ's energy (top 3: "
                     f"{100 * profile['energy_top3_share']:.0f} %)", fontsize=9)
        if not profile["n"]:
            for ax in axes[:, col]:
                ax.set_title(f"{title}\nno pairs", fontsize=9)
                ax.axis("off")
            continue
        explanation_grid(profile["lime_weight"], segmentation, axes[1, col],
                         f"LIME weight toward the target\n(top segment = δ's strongest in "
                         f"{100 * profile['top1_agreement']:.0f} % of {profile['n']} pairs)")
        axes[1, col].title.set_fontsize(9)
    fig.tight_layout()
    return fig


def training_figure(histories: dict[int, dict[str, list[float]]]) -> plt.Figure:
    """Training loss, validation loss and validation error per epoch, one line per seed."""
    style()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for seed, history in histories.items():
        epochs = np.arange(1, len(history["train_loss"]) + 1)
        axes[0].plot(epochs, history["train_loss"], "-o", markersize=3, label=f"train, seed {seed}")
        if history.get("valid_loss"):
            axes[0].plot(epochs, history["valid_loss"], "--s", markersize=3,
                         label=f"valid, seed {seed}")
            axes[1].plot(epochs, 100 * np.asarray(history["valid_error"]), "-o", markersize=3,
                         label=f"seed {seed}")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("cross-entropy")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("validation error (%)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def song_figure(logmel: np.ndarray, curves: dict[str, np.ndarray], targets: np.ndarray,
                threshold: float, fps: float, title: str = "") -> plt.Figure:
    """A song's log-mel spectrogram over its P(sing) curves and the ground truth."""
    style()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.2), sharex=True,
                                      gridspec_kw={"height_ratios": [1.2, 1]})
    seconds = len(logmel) / fps
    top.imshow(np.asarray(logmel).T, origin="lower", aspect="auto", cmap="magma",
               extent=(0, seconds, 0, logmel.shape[1]))
    top.grid(False)
    top.set_ylabel("mel band")
    top.set_title(title, fontsize=10)
    time = np.arange(len(targets)) / fps
    bottom.fill_between(time, 0, np.asarray(targets, float), step="mid", color="0.85",
                        label="ground truth: sing")
    for (name, curve), color in zip(curves.items(), ("C0", "C3", "C2", "C1"), strict=False):
        bottom.plot(time[:len(curve)], curve, color=color, linewidth=1, label=name)
    bottom.axhline(threshold, color="k", linestyle=":", linewidth=1, label="threshold")
    bottom.set_ylim(-0.02, 1.02)
    bottom.set_ylabel("P(sing)")
    bottom.set_xlabel("time (s)")
    bottom.legend(fontsize=8, loc="upper right", ncol=3)
    fig.tight_layout()
    return fig


def side_by_side(table: pd.DataFrame, cells) -> pd.DataFrame:
    """One row per direction, columns (attack, ...) filled by ``cells(row)`` per setting."""
    out = {}
    for direction in ("no sing → sing", "sing → no sing"):
        row = {}
        for attack in ("waveform", "spectrogram"):
            match = table[(table["direction"] == direction) & (table["attack"] == attack)]
            if not match.empty:
                row.update({(attack, *key): text for key, text in cells(match.iloc[0]).items()})
        out[direction] = row
    frame = pd.DataFrame(out).T
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame
