"""The explainer benchmark of a run: every explainer on the picked pairs of every setting.

One work item per setting (resumable, on any executor): it explains the setting's adversarial
excerpts with every explainer of ``benchmark.explainers``, runs
:func:`svdlib.veracity.benchmark.run_benchmark` (flip curves, Tables 1 and 2, subset
recovery, costs, the exhaustive references) and writes the per-pair tables as CSV into the
setting's benchmark folder. The paper's own LIME explanations (the explanation stage's) join
every table as the method ``LIME (paper)``, given as stored relevances.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from svdlib.detector.predictor import predict_logmel
from svdlib.digests import verify_artifact
from svdlib.experiments.artifacts.detectors import detector
from svdlib.experiments.artifacts.explanations import pair_logmel, stacked_weights
from svdlib.experiments.artifacts.picks import load_picks
from svdlib.experiments.config.checks import check_setting
from svdlib.experiments.config.factories import segmentation_from
from svdlib.experiments.config.loading import config_from_dict
from svdlib.experiments.execution.executors import run_items
from svdlib.experiments.execution.work import WorkItem, raise_failures
from svdlib.experiments.storage.store import Store
from svdlib.explain.attribution import SegmentExplainer
from svdlib.explain.explainers import make_explainer, needs_gradient
from svdlib.explain.variants import OutputMemo
from svdlib.files import load_arrays, load_csv, save_arrays, save_csv, save_json
from svdlib.seeding import item_seed
from svdlib.veracity.benchmark import BenchmarkRun, benchmark_table, run_benchmark
from svdlib.veracity.benchmark_summary import curve_rates
from svdlib.veracity.measures import StoredRelevances
from svdlib.veracity.rules import threshold_rule
from svdlib.veracity.tables import setting_seed

#: The per-pair tables a setting's folder holds.
TABLES = ("curve", "table2", "subsets", "costs", "smallest", "exhaustive")
PAPER_LIME = "LIME (paper)"


def explainers_of(store: Store, predictor: object, domain: str, target: int,
                  names: Sequence[str] | None = None) -> dict[str, SegmentExplainer]:
    """The profile's explainers for the detector, seeded per setting (or those of ``names``).

    The gradient methods get the differentiable folded module, the others (which only
    evaluate the model) the inference-mode predictor (:func:`needs_gradient`). LIME and
    ``lime_forest`` draw the same neighbourhood (same seed, samples and baseline): when both
    run, they share one :class:`~svdlib.explain.variants.OutputMemo` around the predictor, so
    each neighbourhood is evaluated once and ``lime_forest`` costs its forest's fit.
    """
    cfg = store.cfg
    bench = cfg.benchmark
    segmentation = segmentation_from(cfg.lime)
    module = predictor.module            # the folded detector: differentiable, on its device

    def probability(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(module(x))

    lime = {"num_samples": cfg.lime.num_samples, "kernel_width": cfg.lime.kernel_width,
            "distance_metric": cfg.lime.distance_metric,
            "feature_selection": cfg.lime.feature_selection, "batch_size": cfg.lime.batch_size}
    settings = {
        "lime": lime, "lime_zero": lime, "lime_noise": lime,
        "lime_forest": {**lime, "n_estimators": bench.forest_trees},
        "kernelshap": {"num_samples": bench.kernelshap_samples or cfg.lime.num_samples},
        "integrated_gradients": {"n_steps": bench.ig_steps},
    }
    models = {name: probability if needs_gradient(name) else predictor
              for name in (bench.explainers if names is None else names)}
    if {"lime", "lime_forest"} <= set(models):
        models["lime"] = models["lime_forest"] = OutputMemo(predictor)
    seed = item_seed(cfg.seed, "benchmark", domain, target)
    return {name: make_explainer(name, models[name], segmentation, seed=seed,
                                 baseline=cfg.lime.baseline, **settings.get(name, {}))
            for name in models}


def benchmark_items(store: Store) -> list[WorkItem]:
    """One work item per setting."""
    from svdlib.experiments.config.checks import settings

    return [WorkItem("benchmark", f"benchmark {domain} t{target}",
                     str(store.benchmark_dir(domain, target) / "costs.csv"),
                     {"domain": domain, "target": target},
                     also=tuple(str(store.benchmark_dir(domain, target) / name)
                                for name in ("attributions.npz",
                                             *(f"{t}.csv" for t in TABLES if t != "costs"))))
            for domain, target in settings()]


def _write(folder: Path, run: BenchmarkRun) -> None:
    tables = {"curve": run.curve, "table2": run.table2, "subsets": run.subsets,
              "smallest": run.smallest, "exhaustive": run.exhaustive.to_frame()
              if run.exhaustive is not None else pd.DataFrame()}
    folder.mkdir(parents=True, exist_ok=True)
    methods = list(run.weights)
    save_arrays(folder / "attributions.npz", methods=np.array(methods, dtype=str),
                signed=np.array([run.signed[m] for m in methods], dtype=bool),
                **{f"weights_{i}": run.weights[m] for i, m in enumerate(methods)},
                **{f"scores_{i}": run.scores[m] for i, m in enumerate(methods)
                   if m in run.scores})
    for name, table in (*tables.items(), ("costs", run.costs)):   # costs last: the marker
        save_csv(folder / f"{name}.csv", table, index=False)


def benchmark_worker(cfg_dict: dict, item: WorkItem) -> None:
    """Work item: every explainer on one setting's pairs."""
    store = Store(config_from_dict(cfg_dict))
    domain, target = item.params["domain"], item.params["target"]
    cfg = store.cfg
    original, adversarial = pair_logmel(store, domain, target)
    _, predictor = detector(store)
    weights, _ = stacked_weights(store, domain, target, "adv")
    methods = {**explainers_of(store, predictor, domain, target),
               PAPER_LIME: StoredRelevances(weights)}
    run = run_benchmark(original, adversarial, segmentation_from(cfg.lime),
                        functools.partial(predict_logmel, predictor),
                        threshold_rule(target, cfg.evaluate.threshold), methods, target,
                        subset_ks=cfg.experiment.subset_ks, max_k=cfg.benchmark.max_k)
    _write(Path(item.output).parent, run)
    store.write_provenance(Path(item.output).parent, "benchmark",
                           explanations=store.explanations_path(domain, target).name)


def benchmark(store: Store) -> list[Path]:
    """Run the benchmark of every setting (finished settings are skipped)."""
    items = benchmark_items(store)
    for item in items:
        check_setting(item.params["domain"], item.params["target"])
    raise_failures(run_items(items, benchmark_worker, store.cfg, desc="benchmark"),
                   "benchmark")
    return [Path(item.output).parent for item in items]


def load_attributions(store: Store, domain: str,
                      target: int) -> tuple[dict[str, np.ndarray], dict[str, bool]]:
    """Each benchmarked explainer's ``(N, n_components)`` relevances, and whether signed."""
    weights, signed, _ = load_relevances(store, domain, target)
    return weights, signed


def load_relevances(store: Store, domain: str, target: int
                    ) -> tuple[dict[str, np.ndarray], dict[str, bool], dict[str, np.ndarray]]:
    """The relevances, their signs and the ``(N,)`` surrogate scores of the explainers with one.

    ``attributions.npz`` holds ``scores_<i>`` for the explainers that have a score (LIME's and
    KernelSHAP's R²); a file written before it kept them reads back with none.
    """
    arrays = load_arrays(store.benchmark_dir(domain, target) / "attributions.npz")
    methods = [str(m) for m in arrays["methods"]]
    return ({m: arrays[f"weights_{i}"] for i, m in enumerate(methods)},
            {m: bool(s) for m, s in zip(methods, arrays["signed"], strict=True)},
            {m: arrays[f"scores_{i}"] for i, m in enumerate(methods)
             if f"scores_{i}" in arrays})


def load_run(store: Store, domain: str, target: int) -> BenchmarkRun:
    """A setting's stored per-pair tables (the exhaustive result as its tidy table only)."""
    folder = store.benchmark_dir(domain, target)
    frames = {name: frame for name in TABLES
              if (frame := _stored_table(folder / f"{name}.csv")) is not None}
    weights, signed, scores = load_relevances(store, domain, target)
    return BenchmarkRun(curve=frames["curve"], table2=frames["table2"],
                        subsets=frames.get("subsets", pd.DataFrame(
                            columns=["pair", "method", "all_detected"])),
                        costs=frames["costs"], smallest=frames.get("smallest", pd.DataFrame(
                            columns=["pair", "method", "k", "contains"])),
                        exhaustive=None, weights=weights, signed=signed, scores=scores)


def benchmark_tables(store: Store) -> dict[str, pd.DataFrame]:
    """Per setting: the ranked table with chance and attainable, the curves and their rates."""
    from svdlib.experiments.config.checks import settings

    ranked, curves, rates = [], [], []
    for domain, target in settings():
        run = load_run(store, domain, target)
        songs = load_picks(store, domain, target).songs
        seed = setting_seed(store.cfg.seed, domain, target)
        exp = store.cfg.experiment
        table = benchmark_table(run, songs, k=exp.table1_k, n_boot=exp.bootstrap, seed=seed,
                                references=_exhaustive_frame(store, domain, target))
        ranked.append(table.assign(domain=domain, target=target))
        curves.append(run.curve.assign(domain=domain, target=target,
                                       song=[str(songs[p]) for p in run.curve["pair"]]))
        rates.append(curve_rates(run.curve, songs, exp.bootstrap, seed)
                     .assign(domain=domain, target=target))
    return {"benchmark": pd.concat(ranked, ignore_index=True),
            "benchmark_curves": pd.concat(curves, ignore_index=True),
            "benchmark_curve_rates": pd.concat(rates, ignore_index=True)}


def _exhaustive_frame(store: Store, domain: str, target: int) -> pd.DataFrame | None:
    """The stored exhaustive search (None when it was not run or there were no pairs)."""
    return _stored_table(store.benchmark_dir(domain, target) / "exhaustive.csv")


def _stored_table(path: Path) -> pd.DataFrame | None:
    """A stored per-pair table, checked against its digest (None for an empty one)."""
    verify_artifact(path)
    return load_csv(path) if path.stat().st_size > 1 else None


def write_benchmark_tables(store: Store) -> dict[str, Path]:
    """Write ``benchmark.csv`` and ``benchmark_curves.csv`` into the experiments folder."""
    out = store.experiments_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, table in benchmark_tables(store).items():
        save_csv(out / f"{name}.csv", table, index=False)
        paths[name] = out / f"{name}.csv"
    save_json(out / "benchmark_config.json", store.cfg.to_dict()["benchmark"])
    return paths
