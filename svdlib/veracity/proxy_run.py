"""Every proxy metric at once, and the meta-evaluation of a benchmark run.

:func:`proxy_metrics` computes all proxy metrics of :mod:`svdlib.veracity.proxies`,
:mod:`~svdlib.veracity.proxy_captum` and :mod:`~svdlib.veracity.proxy_quantus` from
relevances computed before, sharing one memo of model outputs. :func:`evaluate_run` takes a
benchmark run (:class:`~svdlib.veracity.benchmark.BenchmarkRun` or anything with its
``curve``, ``weights`` and ``signed``, such as a run read back from
``results/benchmark/<setting>/``: ``curve.csv`` and ``attributions.npz``) and asks whether
each metric orders the explainers as the planted truth does (:mod:`svdlib.veracity.metaeval`).

For the pipeline, the benchmark stage's tables would come from a setting's stored run, with
no new explanation (sensitivity aside, which needs the explainers): ::

    run = load_run(store, domain, target)            # curve.csv, attributions.npz
    _, adversarial = pair_logmel(store, domain, target)
    result = evaluate_run(run, adversarial, segmentation_from(cfg.lime),
                          functools.partial(predict_logmel, predictor),
                          songs=load_picks(store, domain, target).songs, target=target,
                          seed=setting_seed(cfg.seed, domain, target),
                          n_boot=cfg.experiment.bootstrap, baseline=cfg.lime.baseline)

LIME's and KernelSHAP's R² reach :func:`surrogate_scores` from the run's ``scores`` (which
:class:`~svdlib.veracity.benchmark.BenchmarkRun` keeps, and the benchmark stage stores as
``scores_<i>`` in ``attributions.npz``) or from ``scores=``. The pipeline's stage is
:mod:`svdlib.experiments.artifacts.proxies`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from svdlib.explain.segments import Segmentation
from svdlib.veracity.metaeval import (
    agreement_summary,
    agreement_verdicts,
    metric_agreement,
    metric_leaderboard,
    planted_scores,
)
from svdlib.veracity.proxies import (
    TargetOutputs,
    curve_areas,
    deletion_insertion,
    long_metrics,
    surrogate_scores,
)
from svdlib.veracity.proxy_captum import segment_infidelity, segment_sensitivity
from svdlib.veracity.proxy_quantus import quantus_faithfulness


class RunRelevances(NamedTuple):
    """One explainer's stored relevances: ``(N, n)`` weights, their sign, ``(N,)`` scores."""

    weights: np.ndarray
    signed: bool = True
    scores: np.ndarray | None = None


def proxy_metrics(excerpts: np.ndarray, relevances: Mapping[str, Any],
                  segmentation: Segmentation, predict: Callable[[np.ndarray], Any],
                  target: int = 1, baseline: str | float | np.ndarray = "mean",
                  label: int | None = None, seed: int | None = 0,
                  explainers: Mapping[str, Callable] | None = None, quantus: bool = True,
                  settings: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """All proxy metrics of every method, oriented so that higher is better.

    Parameters
    ----------
    excerpts, relevances, segmentation, predict, target, baseline, label, seed
        As in :func:`~svdlib.veracity.proxies.deletion_insertion` (``relevances``: the
        explanations of ``excerpts`` computed before; with ``scores``, the surrogate R²).
    explainers : mapping of str to explainer, optional
        The explainers behind some of the relevances, by the same names: only
        ``sensitivity_max`` calls them (the others get NaN, said once).
    quantus : bool
        Compute Quantus's correlations (skipped, said once, when Quantus is missing).
    settings : mapping, optional
        Keyword arguments per function: ``{"infidelity": {...}, "sensitivity": {...},
        "quantus": {...}}`` for :func:`~svdlib.veracity.proxy_captum.segment_infidelity`,
        :func:`~svdlib.veracity.proxy_captum.segment_sensitivity` and
        :func:`~svdlib.veracity.proxy_quantus.quantus_faithfulness`.

    Returns
    -------
    pandas.DataFrame
        ``pair, method, metric, value, oriented`` (:func:`~svdlib.veracity.proxies.long_metrics`).

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import Segmentation, proxy_metrics
    >>> seg = Segmentation()
    >>> x = np.zeros((2, 115, 80), np.float32); x[:, :23, :20] = 1.0
    >>> predict = lambda e: e[:, :23, :20].mean(axis=(1, 2))
    >>> right = np.zeros((2, 20)); right[:, 0] = 1.0
    >>> table = proxy_metrics(x, {"right": right, "wrong": -right}, seg, predict,
    ...                       baseline="zero", quantus=False)
    >>> table.groupby(["metric", "method"]).oriented.mean().unstack().round(2) + 0.0
    method           right  wrong
    metric
    deletion_aopc     0.95   0.05
    infidelity        0.00   0.00
    insertion_area    0.95   0.05
    sensitivity_max    NaN    NaN

    Normalised infidelity does not see that ``wrong`` is ``right`` reversed (its β is −1);
    sensitivity needs the explainers themselves (``explainers=``).
    """
    settings = settings or {}
    outputs = TargetOutputs(predict, target, label)
    common = {"target": target, "baseline": baseline, "label": label, "seed": seed,
              "outputs": outputs}
    wide = curve_areas(deletion_insertion(excerpts, relevances, segmentation, predict,
                                          **common))
    tables = [segment_infidelity(excerpts, relevances, segmentation, predict, **common,
                                 **settings.get("infidelity", {})),
              segment_sensitivity(excerpts, {name: (explainers or {}).get(name, method)
                                             for name, method in relevances.items()},
                                  segmentation, seed=seed, **settings.get("sensitivity", {})),
              surrogate_scores(relevances)]
    if quantus:
        tables.append(quantus_faithfulness(excerpts, relevances, segmentation, predict,
                                           **common, **settings.get("quantus", {})))
    for table in tables:
        if len(table):
            wide = wide.merge(table, on=["pair", "method"], how="outer")
    return long_metrics(wide.sort_values(["method", "pair"], kind="stable"))


@dataclass
class ProxyEvaluation:
    """The meta-evaluation of one benchmark run.

    Attributes
    ----------
    metrics : pandas.DataFrame
        ``pair, method, metric, value, oriented``.
    planted : pandas.DataFrame
        ``pair, method, planted`` (the judge).
    agreement : pandas.DataFrame
        ``metric, pair, tau, n_methods, reason``.
    summary : pandas.DataFrame
        Mean τ per metric with its song-level interval and verdict.
    leaderboard : pandas.DataFrame
        Each metric's ranking of the explainers beside the planted one.
    """

    metrics: pd.DataFrame
    planted: pd.DataFrame
    agreement: pd.DataFrame
    summary: pd.DataFrame
    leaderboard: pd.DataFrame


def run_relevances(run: Any, scores: Mapping[str, np.ndarray] | None = None
                   ) -> dict[str, RunRelevances]:
    """The explainers' relevances of a run (``weights``, ``signed``, optional ``scores``)."""
    scores = {**(getattr(run, "scores", None) or {}), **(scores or {})}
    return {name: RunRelevances(np.asarray(weights, dtype=np.float64),
                                bool(run.signed.get(name, True)), scores.get(name))
            for name, weights in run.weights.items()}


def evaluate_run(run: Any, adversarial: np.ndarray, segmentation: Segmentation,
                 predict: Callable[[np.ndarray], Any], songs: Sequence | np.ndarray | None = None,
                 target: int = 1, judge: str = "area", k: int = 3, n_boot: int = 2000,
                 seed: int = 0, scores: Mapping[str, np.ndarray] | None = None,
                 **options: Any) -> ProxyEvaluation:
    """Which proxy metric agrees with the planted truth on a benchmark run.

    Parameters
    ----------
    run : BenchmarkRun or alike
        ``curve`` (the flip curves), ``weights`` (``(N, n)`` relevances of the adversarial
        excerpts per explainer) and ``signed`` (per explainer).
    adversarial : np.ndarray
        ``(N, frames, bands)`` the run's adversarial excerpts.
    segmentation, predict, target
        The run's.
    songs : array-like, optional
        The song of each pair (the bootstrap's unit).
    judge, k
        The planted judge (:func:`~svdlib.veracity.metaeval.planted_scores`).
    n_boot, seed
        Bootstrap samples and seed (``seed`` also seeds the metrics' randomness).
    scores : mapping of str to np.ndarray, optional
        ``(N,)`` surrogate R² per explainer (the run's own ``scores`` if it has them).
    **options
        ``baseline``, ``label``, ``explainers``, ``quantus``, ``settings`` of
        :func:`proxy_metrics`.

    Returns
    -------
    ProxyEvaluation
        The metrics, the judge, τ per pair, the summary with verdicts, the leaderboards.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import (Relevance, Segmentation, evaluate_run, make_explainer,
    ...                     run_benchmark, threshold_rule)
    >>> seg = Segmentation()
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0; adversarial[:, 92:, 60:] = 0.5
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))
    >>> methods = {"brightness": lambda e: Relevance(seg.energy(e)),
    ...            "random": make_explainer("random", None, seg)}
    >>> run = run_benchmark(original, adversarial, seg, predict, threshold_rule(1, 0.5), methods,
    ...                     exhaustive=False)
    >>> result = evaluate_run(run, adversarial, seg, predict, n_boot=200, quantus=False)
    >>> result.summary[["metric", "mean_tau", "n_pairs"]]
               metric  mean_tau  n_pairs
    0   deletion_aopc       1.0        4
    1  insertion_area       1.0        4
    2      infidelity       ...        4
    3  sensitivity_max      NaN        0
    """
    metrics = proxy_metrics(adversarial, run_relevances(run, scores), segmentation, predict,
                            target=target, seed=seed, **options)
    planted = planted_scores(run.curve, judge, k)
    agreement = metric_agreement(metrics, planted)
    summary = agreement_verdicts(agreement_summary(agreement, songs, n_boot, seed))
    return ProxyEvaluation(metrics, planted, agreement, summary,
                           metric_leaderboard(metrics, planted))
