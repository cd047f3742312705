"""The experiment tables of a run: flip counts, Table 2, subsets, fidelity, horses."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from svdlib.detector.predictor import predict_logmel
from svdlib.errors import MissingArtifactError
from svdlib.experiments.artifacts.detectors import detector
from svdlib.experiments.artifacts.explanations import pair_logmel, stacked_weights
from svdlib.experiments.artifacts.picks import load_picks
from svdlib.experiments.artifacts.subsets import subset_results
from svdlib.experiments.config.checks import check_setting
from svdlib.experiments.config.factories import segmentation_from
from svdlib.experiments.config.settings import Config
from svdlib.experiments.storage.store import Store
from svdlib.files import load_csv, save_csv, save_json
from svdlib.veracity import tables as paper_tables
from svdlib.veracity.measures import (
    attribution_ranking,
    energy_ranking,
    flip_curve,
    table2_rows,
)
from svdlib.veracity.rules import threshold_rule
from svdlib.veracity.tables import FLIP_COLUMNS, paper_methods, paper_table2_pairs


def _paper_inputs(store: Store, domain: str, target: int) -> dict[str, Any]:
    """The stored pairs, the paper's two methods, the detector and its decision rule."""
    check_setting(domain, target)
    segmentation = segmentation_from(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    weights, _ = stacked_weights(store, domain, target, "adv")
    _, predictor = detector(store)
    return {"original": original, "adversarial": adversarial, "segmentation": segmentation,
            "methods": paper_methods(original, adversarial, weights, segmentation),
            "predict": functools.partial(predict_logmel, predictor),
            "decide": threshold_rule(target, store.cfg.evaluate.threshold)}


def flip_counts(store: Store, domain: str, target: int) -> pd.DataFrame:
    """Flip results per pair, k = 1 … n_components, and selection method (Fig. 2).

    The stored pairs, the *adversarial* excerpts' LIME weights and the energy of δ go through
    :func:`~svdlib.veracity.measures.flip_curve` with the detector.

    Returns
    -------
    pandas.DataFrame
        Columns ``domain, target, pair, song, frame, k, method`` (``LIME`` or
        ``norm-based``), ``p_sing``, ``flipped``.
    """
    inputs = _paper_inputs(store, domain, target)
    picks = load_picks(store, domain, target)
    table = flip_curve(**inputs, target=target)
    if table.empty:
        return pd.DataFrame(columns=FLIP_COLUMNS)
    pairs = table["pair"].to_numpy()
    table = table.rename(columns={"output": "p_sing"})
    table.insert(0, "domain", domain)
    table.insert(1, "target", target)
    table.insert(3, "song", picks.songs[pairs])
    table.insert(4, "frame", picks.frames[pairs])
    return table


def table2_pairs(store: Store, domain: str, target: int) -> pd.DataFrame:
    """Per pair, Table 2's k and the flips of both selections with that k.

    k is the number of segments LIME finds relevant for the target class (positive "sing"
    weights for target 1, negative ones for target 0) in the *adversarial* excerpt's
    explanation; see :func:`~svdlib.veracity.measures.table2_rows`.
    """
    inputs = _paper_inputs(store, domain, target)
    inputs["methods"] = {paper_tables.LIME: inputs["methods"][paper_tables.LIME]}
    table = paper_table2_pairs(table2_rows(**inputs, target=target))
    table.insert(0, "domain", domain)
    table.insert(1, "target", target)
    table.insert(3, "song", load_picks(store, domain, target).songs[table["pair"].to_numpy()])
    return table


# -- running everything --------------------------------------------------------------------------
def settings() -> list[tuple[str, int]]:
    """The four (attack domain, target) settings in the paper's panel order."""
    return [("wave", 1), ("spec", 1), ("wave", 0), ("spec", 0)]


def segment_profile(store: Store, domain: str, target: int) -> dict[str, Any]:
    """Where the perturbation has its energy and where LIME puts its weight, per segment.

    Parameters
    ----------
    store : Store
        The artifact store (explanations of the setting computed).
    domain, target
        The setting.

    Returns
    -------
    dict
        ``energy_share`` ``(n_components,)``: mean share of δ's energy per segment;
        ``lime_weight``: mean class-"sing" weight of the adversarial explanations, sign-flipped
        for target 0 so that positive means "towards the target"; ``energy_top3_share``: mean
        share of δ's energy in its 3 strongest segments; ``top1_agreement``: share of pairs
        whose strongest segment is LIME's top segment; ``n``.
    """
    segmentation = segmentation_from(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    weights, _ = stacked_weights(store, domain, target, "adv")
    n = segmentation.n_components
    if not len(original):
        return {"energy_share": np.full(n, np.nan), "lime_weight": np.full(n, np.nan),
                "energy_top3_share": np.nan, "top1_agreement": np.nan, "n": 0}
    energy = np.atleast_2d(segmentation.energy(adversarial - original))
    share = energy / np.maximum(energy.sum(-1, keepdims=True), 1e-30)
    toward = weights if target == 1 else -weights
    top3 = -np.sort(-share, axis=-1)[:, :3].sum(-1)
    agreement = energy_ranking(original, adversarial, segmentation)[:, 0] == \
        attribution_ranking(weights, target)[:, 0]
    return {"energy_share": share.mean(0), "lime_weight": toward.mean(0),
            "energy_top3_share": float(top3.mean()), "top1_agreement": float(agreement.mean()),
            "n": len(original)}


TABLE_GROUPS = {
    "flips": ("flip_counts", "flip_curves", "flip_differences", "table1"),
    "table2": ("table2_pairs", "table2"),
    "subset": ("subset", "subset_recovery", "detected_counts", "fidelity"),
}
"""Which tables each group of :func:`compute_tables` gives."""


def compute_tables(store: Store, chosen: Sequence[tuple[str, int]] | None = None,
                   groups: Sequence[str] = tuple(TABLE_GROUPS)) -> dict[str, pd.DataFrame]:
    """The experiments' tables for some settings, from the stored artifacts.

    Every interval's seed is derived from the setting alone (Figure 3's: and k); for Figure 2
    and Tables 1 and 2 it is the benchmark's (:func:`~svdlib.veracity.tables.setting_seed`).
    So the rows of a setting are the same whether it is computed alone (a section notebook)
    or with the others (:func:`experiment_tables`, the results page), and equal the
    benchmark's rows of the same methods.

    Parameters
    ----------
    store : Store
        The artifact store.
    chosen : sequence of (domain, target), optional
        The settings (default all four).
    groups : sequence of str
        Which tables (keys of :data:`TABLE_GROUPS`): ``flips`` needs the explanations,
        ``table2`` too, ``subset`` the subset explanations.

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables of the chosen groups by name.
    """
    cfg: Config = store.cfg
    chosen = list(settings() if chosen is None else chosen)
    n_boot, seed = cfg.experiment.bootstrap, cfg.seed
    tables: dict[str, pd.DataFrame] = {}
    if "flips" in groups:
        flips = pd.concat([flip_counts(store, *s) for s in chosen], ignore_index=True)
        tables.update({
            "flip_counts": flips,
            "flip_curves": paper_tables.flip_curves(flips, n_boot, seed),
            "flip_differences": paper_tables.flip_differences(flips, n_boot, seed),
            "table1": paper_tables.table1(flips, cfg.experiment.table1_k, n_boot, seed,
                                          chosen)})
    if "table2" in groups:
        rows = pd.concat([table2_pairs(store, *s) for s in chosen], ignore_index=True)
        tables.update({"table2_pairs": rows,
                       "table2": paper_tables.table2(rows, n_boot, seed, chosen)})
    if "subset" in groups:
        subsets = {s: subset_results(store, *s) for s in chosen}
        subset = pd.concat(list(subsets.values()), ignore_index=True)
        counts = []
        for (domain, target), part in subsets.items():
            count = paper_tables.detected_counts(part)
            count.insert(0, "target", target)
            count.insert(0, "domain", domain)
            counts.append(count)
        tables.update({
            "subset": subset,
            "subset_recovery": paper_tables.recovery_rates(subset, n_boot, seed),
            "detected_counts": pd.concat(counts, ignore_index=True),
            "fidelity": paper_tables.fidelity_table(subset, n_boot, seed)})
    return tables


def experiment_tables(store: Store) -> dict[str, Path]:
    """Compute every experiment's tables (:func:`compute_tables`) and write them as CSV.

    The per-pair tables (``flip_counts``, ``table2_pairs``, ``subset``) carry each pair's song;
    the summary tables (:mod:`svdlib.veracity.tables`) give song-level intervals and paired tests.

    Returns
    -------
    dict of str to Path
        The CSV files by name (every table of :data:`TABLE_GROUPS`).
    """
    out_dir = store.experiments_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in compute_tables(store).items():
        path = out_dir / f"{name}.csv"
        save_csv(path, table, index=False)
        paths[name] = path
    save_json(out_dir / "config.json", store.cfg.to_dict())
    return paths


def load_table(store: Store, name: str) -> pd.DataFrame:
    """Read one experiment table written by :func:`experiment_tables`, checked."""
    path = store.experiments_dir() / f"{name}.csv"
    if not path.is_file():
        raise MissingArtifactError(f"no table '{path}'", "experiment all")
    return load_csv(path)
