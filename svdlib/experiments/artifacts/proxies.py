"""Which faithfulness metric can you trust: the proxy metrics of every stored benchmark run.

One work item per setting (resumable, on any executor): it reads the setting's benchmark run
(``curve.csv`` and ``attributions.npz``: the relevances, signs and surrogate scores every
explainer computed), computes every proxy metric of :mod:`svdlib.veracity.proxy_run` from
those relevances (no new explanation, except for ``sensitivity_max``, which explains noisy
copies of each excerpt with the explainers of ``proxies.sensitivity_explainers``), and asks
each metric whether it orders the explainers as the planted truth does
(:func:`~svdlib.veracity.proxy_run.evaluate_run`). It writes the per-pair tables as CSV into
the setting's proxies folder, ``summary.csv`` last. :func:`write_proxies_tables` joins the
settings into the experiments folder, with a pooled row over all of them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from svdlib.detector.predictor import predict_logmel
from svdlib.errors import DataWarning
from svdlib.experiments.artifacts.benchmark import explainers_of, load_run
from svdlib.experiments.artifacts.detectors import detector
from svdlib.experiments.artifacts.explanations import pair_logmel
from svdlib.experiments.artifacts.picks import load_picks
from svdlib.experiments.artifacts.tables import load_table
from svdlib.experiments.config.checks import check_setting, settings
from svdlib.experiments.config.factories import segmentation_from
from svdlib.experiments.config.loading import config_from_dict
from svdlib.experiments.execution.executors import run_items
from svdlib.experiments.execution.work import WorkItem, raise_failures
from svdlib.experiments.storage.store import Store
from svdlib.files import load_csv, save_csv, save_json
from svdlib.seeding import item_seed
from svdlib.veracity.metaeval import agreement_summary, agreement_verdicts, metric_leaderboard
from svdlib.veracity.proxy_run import evaluate_run
from svdlib.veracity.tables import setting_seed

#: The per-pair tables of a setting's folder, ``summary`` last (the item's marker).
TABLES = ("metrics", "planted", "agreement", "leaderboard", "summary")
#: The pooled rows' ``domain`` (all four settings together).
ALL = "all"


def quantus_available() -> bool:
    """Whether Quantus is installed (its two correlations are skipped without it)."""
    return importlib.util.find_spec("quantus") is not None


def proxies_items(store: Store) -> list[WorkItem]:
    """One work item per setting."""
    items = []
    for domain, target in settings():
        folder = store.proxies_dir(domain, target)
        items.append(WorkItem("proxies", f"proxies {domain} t{target}",
                              str(folder / "summary.csv"), {"domain": domain, "target": target},
                              also=tuple(str(folder / f"{t}.csv") for t in TABLES[:-1])))
    return items


@contextlib.contextmanager
def _without_stored_note() -> Iterator[None]:
    """Silence sensitivity's note that stored relevances get NaN: the settings choose that."""
    log = logging.getLogger("svdlib.veracity.proxy_captum")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def proxies_worker(cfg_dict: dict, item: WorkItem) -> None:
    """Work item: every proxy metric of one setting's benchmark run, judged by the plant."""
    store = Store(config_from_dict(cfg_dict))
    cfg, px = store.cfg, store.cfg.proxies
    domain, target = item.params["domain"], item.params["target"]
    run = load_run(store, domain, target)
    _, adversarial = pair_logmel(store, domain, target)
    _, predictor = detector(store)
    again = [name for name in px.sensitivity_explainers if name in run.weights]
    with _without_stored_note():
        result = evaluate_run(
            run, adversarial, segmentation_from(cfg.lime),
            functools.partial(predict_logmel, predictor),
            songs=load_picks(store, domain, target).songs, target=target, judge=px.judge,
            k=cfg.experiment.table1_k, n_boot=cfg.experiment.bootstrap,
            seed=setting_seed(cfg.seed, domain, target), baseline=cfg.lime.baseline,
            explainers=explainers_of(store, predictor, domain, target, again) if again else {},
            quantus=quantus_available(),
            settings={"infidelity": {"n_perturb_samples": px.infidelity_samples,
                                     "p_off": px.p_off},
                      "sensitivity": {"n_perturb_samples": px.sensitivity_samples,
                                      "radius": px.sensitivity_radius},
                      "quantus": {"nr_runs": px.quantus_runs,
                                  "subset_size": px.quantus_subset}})
    folder = Path(item.output).parent
    folder.mkdir(parents=True, exist_ok=True)
    for name in TABLES:                                    # summary last: the marker
        save_csv(folder / f"{name}.csv", getattr(result, name), index=False)
    store.write_provenance(folder, "proxies",
                           benchmark=store.benchmark_dir(domain, target).name)


def proxies(store: Store) -> list[Path]:
    """The proxy metrics of every setting (finished settings are skipped)."""
    items = proxies_items(store)
    for item in items:
        check_setting(item.params["domain"], item.params["target"])
    if not quantus_available() and not all(item.done for item in items):
        warnings.warn("Quantus is not installed (pip install 'svdlib[quantus]'): the proxies "
                      "stage leaves out faithfulness_correlation and monotonicity_correlation",
                      DataWarning, stacklevel=2)
    raise_failures(run_items(items, proxies_worker, store.cfg, desc="proxies"), "proxies")
    return [Path(item.output).parent for item in items]


def load_proxies(store: Store, domain: str, target: int) -> dict[str, pd.DataFrame]:
    """A setting's stored tables (``metrics``, ``planted``, ``agreement``, ...), checked."""
    folder = store.proxies_dir(domain, target)
    tables = {name: load_csv(folder / f"{name}.csv") for name in TABLES}
    tables["agreement"]["reason"] = tables["agreement"]["reason"].fillna("")
    return tables


def _pooled(store: Store, stored: dict[tuple[str, int], dict[str, pd.DataFrame]]
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary and the leaderboard over every setting's pairs at once.

    Pairs get one numbering over the settings; the bootstrap resamples test songs, which the
    settings share (the pairs of one song move together, whatever their setting).
    """
    agreements, metrics, planted, songs = [], [], [], []
    offset = 0
    for (domain, target), tables in stored.items():
        picked = load_picks(store, domain, target).songs
        shift = {"pair": lambda frame, o=offset: frame["pair"] + o}
        agreements.append(tables["agreement"].assign(**shift))
        metrics.append(tables["metrics"].assign(**shift))
        planted.append(tables["planted"].assign(**shift))
        songs += [str(song) for song in picked]
        offset += len(picked)
    cfg = store.cfg
    summary = agreement_verdicts(agreement_summary(
        pd.concat(agreements, ignore_index=True), np.array(songs), cfg.experiment.bootstrap,
        item_seed(cfg.seed, "proxies", ALL)))
    board = metric_leaderboard(pd.concat(metrics, ignore_index=True),
                               pd.concat(planted, ignore_index=True))
    return summary, board


def proxies_tables(store: Store) -> dict[str, pd.DataFrame]:
    """The τ table and the leaderboards per setting and pooled; the per-pair tables."""
    stored = {(domain, target): load_proxies(store, domain, target)
              for domain, target in settings()}
    summaries, boards, metrics, agreements = [], [], [], []
    for (domain, target), tables in stored.items():
        where = {"domain": domain, "target": target}
        song = load_picks(store, domain, target).songs
        summaries.append(tables["summary"].assign(**where))
        boards.append(tables["leaderboard"].assign(**where))
        for name, into in (("metrics", metrics), ("agreement", agreements)):
            into.append(tables[name].assign(
                **where, song=[str(song[p]) for p in tables[name]["pair"]]))
    summary, board = _pooled(store, stored)
    summaries.append(summary.assign(domain=ALL, target=-1))
    boards.append(board.assign(domain=ALL, target=-1))
    first = ["domain", "target"]
    return {name: (lambda frame: frame[first + [c for c in frame if c not in first]])(
                pd.concat(frames, ignore_index=True))
            for name, frames in (("proxies", summaries), ("proxies_leaderboard", boards),
                                 ("proxies_metrics", metrics),
                                 ("proxies_agreement", agreements))}


def write_proxies_tables(store: Store) -> dict[str, Path]:
    """Write ``proxies.csv`` (the τ table), the leaderboards and the per-pair tables."""
    out = store.experiments_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in proxies_tables(store).items():
        save_csv(out / f"{name}.csv", table, index=False)
        paths[name] = out / f"{name}.csv"
    save_json(out / "proxies_config.json", store.cfg.to_dict()["proxies"])
    return paths


def load_proxies_table(store: Store, name: str = "proxies") -> pd.DataFrame:
    """One table of :func:`write_proxies_tables`, checked (a missing reason reads as "")."""
    table = load_table(store, name)
    if "reason" in table:
        table["reason"] = table["reason"].fillna("")
    return table
