"""Figures 1–4 of a run, drawn from its stored tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from svdlib.experiments.config.factories import segmentation_from
from svdlib.viz.figures import (
    fidelity_figure,
    flip_count_figure,
    horses_figure,
    save_figure,
    segment_profile_figure,
    subset_figure,
)


def paper_figures(store) -> dict[str, list[Path]]:
    """Draw Figures 1–4 from the stored tables and horses into the experiments folder.

    Parameters
    ----------
    store : Store
        The artifact store (run ``svd experiment all`` first).

    Returns
    -------
    dict of str to list of Path
        ``figure1`` … ``figure4`` and ``segment_profiles``, each as PNG and SVG.
    """
    from svdlib.experiments.artifacts.horses import load_horses
    from svdlib.experiments.artifacts.tables import load_table, segment_profile
    from svdlib.experiments.config.checks import settings

    out_dir = store.experiments_dir()
    figures = {
        "figure2": flip_count_figure(load_table(store, "flip_curves"),
                                     differences=load_table(store, "flip_differences")),
        "figure3": subset_figure(load_table(store, "detected_counts")),
        "figure4": fidelity_figure(load_table(store, "subset")),
        "segment_profiles": segment_profile_figure(
            {s: segment_profile(store, *s) for s in settings()},
            segmentation_from(store.cfg.lime)),
    }
    horses = load_horses(store)
    first = {}
    for horse in horses:              # one row per shape; a flipped horse wherever there is one
        if horse.shape not in first or (horse.flipped and not first[horse.shape].flipped):
            first[horse.shape] = horse
    figures["figure1"] = horses_figure(list(first.values()),
                                       segmentation_from(store.cfg.lime))
    paths = {}
    for name, fig in figures.items():
        paths[name] = save_figure(fig, out_dir / name)
        plt.close(fig)
    return paths
