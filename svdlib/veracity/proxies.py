"""Proxy metrics of faithfulness: what practitioners measure when they have no ground truth.

Every function here takes relevances already computed, one row per excerpt and one column per
segment (an ``(N, n_components)`` array, or any object with ``weights``, ``signed`` and
``scores`` such as :class:`~svdlib.veracity.measures.StoredRelevances` and the benchmark's
``BenchmarkRun.weights``), the excerpts they explain (the adversarial ones of the benchmark's
pairs), the segmentation and the model's ``predict``; none explains anything again.
:mod:`svdlib.veracity.proxy_captum` adds captum's infidelity and sensitivity,
:mod:`svdlib.veracity.proxy_quantus` Quantus's correlations, and
:mod:`svdlib.veracity.metaeval` asks whether any of them agrees with the planted truth.

Every metric is reported as measured (``value``) and oriented so that higher means a better
explanation (``oriented = direction × value``, :data:`METRICS`):

============================  =========  ==================================================
metric                        direction  better explanation
============================  =========  ==================================================
``deletion_aopc``             +1         removing its top segments first lowers f faster
``insertion_area``            +1         inserting its top segments first raises f faster
``infidelity``                −1         relevances predict the output change of removals
``sensitivity_max``           −1         relevances change little under small noise
``faithfulness_correlation``  +1         summed relevance correlates with the output drop
``monotonicity_correlation``  +1         relevance correlates with a segment's effect
``surrogate_r2``              +1         the local surrogate fits the model (LIME, SHAP)
============================  =========  ==================================================

``f`` is the model's output for the target class: P(class 1) for target 1 and 1 − P(class 1)
for target 0 of a binary model whose ``predict`` returns ``(M,)``, column ``label`` (default:
``target``) of ``(M, C)`` outputs. Relevances are ordered as the flip curve orders them
(:func:`~svdlib.veracity.measures.attribution_ranking`: descending for target 1, ascending
for target 0, descending for unsigned ones).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from svdlib.explain.segments import Segmentation, make_baseline
from svdlib.veracity.measures import attribution_ranking

#: Each proxy metric and its direction: +1 where higher is better, −1 where lower is.
METRICS: dict[str, int] = {"deletion_aopc": 1, "insertion_area": 1, "infidelity": -1,
                           "sensitivity_max": -1, "faithfulness_correlation": 1,
                           "monotonicity_correlation": 1, "surrogate_r2": 1}

#: The columns of every metric table (:func:`long_metrics`).
METRIC_COLUMNS = ["pair", "method", "metric", "value", "oriented"]


class TargetOutputs:
    """The model's output for the target class, each distinct input evaluated once.

    Proxy metrics evaluate many inputs that several explainers share (the excerpt itself, the
    all-baseline excerpt, equal prefixes of their rankings, the same random perturbations):
    outputs are kept by a hash of the input's float32 bytes, so the model sees each input once.

    Parameters
    ----------
    predict : callable
        ``(M, frames, bands)`` float32 → ``(M,)`` P(class 1) or ``(M, C)`` outputs.
    target : int
        The class the attack pushes towards.
    label : int, optional
        The column of ``(M, C)`` outputs (default ``target``).
    batch_size : int
        Inputs per ``predict`` call.

    Attributes
    ----------
    evaluated : int
        How many inputs the model has seen.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import TargetOutputs
    >>> outputs = TargetOutputs(lambda x: x.mean(axis=(1, 2)), target=0)   # 1 − P(class 1)
    >>> x = np.full((3, 4, 2), 0.25, np.float32)
    >>> outputs(x).tolist(), outputs.evaluated                # three equal inputs: one call
    ([0.75, 0.75, 0.75], 1)
    """

    def __init__(self, predict: Callable[[np.ndarray], Any], target: int = 1,
                 label: int | None = None, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.predict = predict
        self.target = int(target)
        self.label = self.target if label is None else int(label)
        self.batch_size = int(batch_size)
        self.evaluated = 0
        self._known: dict[bytes, float] = {}

    def _column(self, outputs: Any) -> np.ndarray:
        out = np.asarray(outputs, dtype=np.float64)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim == 1:
            return out if self.target == 1 else 1.0 - out
        if out.ndim == 2 and 0 <= self.label < out.shape[1]:
            return out[:, self.label]
        raise ValueError(f"predict returned shape {out.shape}; expected (M,) P(class 1) or "
                         f"(M, C) outputs with column {self.label}")

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """``(M, ...)`` inputs → ``(M,)`` float64 target outputs."""
        x = np.ascontiguousarray(inputs, dtype=np.float32)
        keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x]
        missing = list(dict.fromkeys(k for k in keys if k not in self._known))
        if missing:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            rows = np.array([first[k] for k in missing])
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start:start + self.batch_size]
                values = self._column(self.predict(x[chunk]))
                if len(values) != len(chunk):
                    raise ValueError(f"predict returned {len(values)} outputs for "
                                     f"{len(chunk)} inputs")
                self._known.update(zip((keys[i] for i in chunk), values.tolist(), strict=True))
            self.evaluated += len(rows)
        return np.array([self._known[k] for k in keys], dtype=np.float64)


def relevance_parts(method: Any) -> tuple[np.ndarray, bool, np.ndarray | None]:
    """``(weights, signed, scores)`` of stored relevances or of an ``(N, n)`` array.

    Parameters
    ----------
    method : array or object with ``weights`` (and optionally ``signed``, ``scores``)
        E.g. :class:`~svdlib.veracity.measures.StoredRelevances`; an array counts as signed.

    Returns
    -------
    tuple
        float64 ``(N, n)`` weights, whether they have a sign, ``(N,)`` scores or None.
    """
    weights = np.atleast_2d(np.asarray(getattr(method, "weights", method), dtype=np.float64))
    scores = getattr(method, "scores", None)
    return (weights, bool(getattr(method, "signed", True)),
            None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1))


def oriented_weights(weights: np.ndarray, target: int = 1, signed: bool = True) -> np.ndarray:
    """Relevances for the target: class-1 relevances negated for target 0 (signed ones only).

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import oriented_weights
    >>> oriented_weights(np.array([0.5, -1.0]), target=0).tolist()
    [-0.5, 1.0]
    """
    w = np.asarray(weights, dtype=np.float64)
    return -w if signed and int(target) == 0 else w


def segment_sizes(segmentation: Segmentation) -> np.ndarray:
    """The number of cells of every segment, ``(n_components,)`` float64."""
    eye = np.eye(segmentation.n_components, dtype=bool)
    return segmentation.masks_np(eye, dtype=bool).reshape(segmentation.n_components, -1) \
        .sum(axis=1).astype(np.float64)


def excerpt_baselines(excerpts: np.ndarray, baseline: str | float | np.ndarray = "mean",
                      seed: int | None = 0) -> np.ndarray:
    """What a removed segment shows, per excerpt: ``(N, frames, bands)`` float32.

    Parameters
    ----------
    excerpts : np.ndarray
        ``(N, frames, bands)``.
    baseline : str, float or array
        A kind of :func:`~svdlib.explain.segments.make_baseline` computed from each excerpt
        (``'mean'``: its mean, LIME's and the paper's), or a constant or array for all.
    seed : int or None
        Randomness of the ``'unif'`` and ``'shuffle'`` kinds.

    Returns
    -------
    np.ndarray
        One baseline per excerpt.
    """
    x = np.asarray(excerpts, dtype=np.float32)
    if isinstance(baseline, str):
        return np.stack([make_baseline(e, baseline, seed) for e in x]) if len(x) else x.copy()
    return np.broadcast_to(np.asarray(baseline, dtype=np.float32), x.shape).copy()


def checked_inputs(excerpts: np.ndarray, relevances: Mapping[str, Any],
                   segmentation: Segmentation) -> tuple[np.ndarray, dict[str, tuple]]:
    """The excerpts as float32 and each method's :func:`relevance_parts`, shapes checked."""
    x = np.asarray(excerpts, dtype=np.float32)
    if x.ndim != 3 or x.shape[1:] != tuple(segmentation.shape):
        raise ValueError(f"excerpts are {x.shape}, expected (N, *{tuple(segmentation.shape)})")
    parts = {}
    for name, method in relevances.items():
        parts[name] = relevance_parts(method)
        if parts[name][0].shape != (len(x), segmentation.n_components):
            raise ValueError(f"relevances of '{name}' are {parts[name][0].shape}, expected "
                             f"({len(x)}, {segmentation.n_components})")
    return x, parts


def insertion_selections(ranking: np.ndarray) -> np.ndarray:
    """``(n + 1, n)`` bool: row k keeps the first k segments of ``ranking`` (insertion order).

    The deletion steps are its complement: row k removes the first k segments.
    """
    ranking = np.asarray(ranking)
    steps = np.zeros((len(ranking) + 1, len(ranking)), dtype=bool)
    for k in range(1, len(ranking) + 1):
        steps[k:, ranking[k - 1]] = True
    return steps


def deletion_insertion(excerpts: np.ndarray, relevances: Mapping[str, Any],
                       segmentation: Segmentation, predict: Callable[[np.ndarray], Any],
                       target: int = 1, baseline: str | float | np.ndarray = "mean",
                       label: int | None = None, seed: int | None = 0,
                       outputs: TargetOutputs | None = None) -> pd.DataFrame:
    """Deletion and insertion curves over the segments, most relevant first.

    With the segments ranked by relevance for the target, ``r_1, …, r_n``, step ``k = 0 … n``
    of the deletion curve shows the excerpt ``x`` with ``r_1 … r_k`` replaced by the baseline
    ``b``, step k of the insertion curve shows ``b`` with ``r_1 … r_k`` taken from ``x``; each
    step records ``f`` of that input, the model's output for the target class.

    Parameters
    ----------
    excerpts : np.ndarray
        ``(N, frames, bands)`` the explained excerpts (the benchmark's adversarial ones).
    relevances : mapping of str to relevances
        Name → ``(N, n_components)`` relevances of these excerpts (an array, signed, or an
        object with ``weights`` and ``signed``).
    segmentation : Segmentation
        The grid the relevances are given for.
    predict : callable
        ``(M, frames, bands)`` → ``(M,)`` P(class 1) or ``(M, C)`` outputs.
    target : int
        The class the attack pushes towards: orders signed relevances and chooses ``f``.
    baseline : str, float or array
        What a removed segment shows (:func:`excerpt_baselines`; ``'mean'`` as LIME).
    label : int, optional
        The column of ``(M, C)`` outputs (default ``target``).
    seed : int or None
        Randomness of random baselines.
    outputs : TargetOutputs, optional
        A shared memo of model outputs (made from ``predict`` otherwise).

    Returns
    -------
    pandas.DataFrame
        ``pair, method, k, deletion, insertion``: ``n + 1`` rows per pair and method.

    Examples
    --------
    A linear model: f is the mean of segment 0 plus half the mean of segment 19.

    >>> import numpy as np
    >>> from svdlib import Segmentation, deletion_insertion
    >>> seg = Segmentation()
    >>> x = np.zeros((1, 115, 80), np.float32); x[0, :23, :20] = 1.0; x[0, 92:, 60:] = 1.0
    >>> predict = lambda e: e[:, :23, :20].mean(axis=(1, 2)) + e[:, 92:, 60:].mean(axis=(1, 2)) / 2
    >>> weights = np.zeros((1, 20)); weights[0, 0], weights[0, 19] = 2.0, 1.0
    >>> curves = deletion_insertion(x, {"right": weights}, seg, predict, baseline="zero")
    >>> curves.query("k <= 2")[["k", "deletion", "insertion"]]
       k  deletion  insertion
    0  0       1.5        0.0
    1  1       0.5        1.0
    2  2       0.0        1.5
    """
    x, parts = checked_inputs(excerpts, relevances, segmentation)
    outputs = outputs or TargetOutputs(predict, target, label)
    base = excerpt_baselines(x, baseline, seed)
    steps = np.arange(segmentation.n_components + 1)
    frames = []
    for name, (weights, signed, _) in parts.items():
        rankings = attribution_ranking(weights, target, signed)
        for pair, (excerpt, ranking) in enumerate(zip(x, rankings, strict=True)):
            keep = segmentation.masks_np(insertion_selections(ranking), dtype=bool)
            inserted = outputs(np.where(keep, excerpt, base[pair]))
            deleted = outputs(np.where(keep, base[pair], excerpt))
            frames.append(pd.DataFrame({"pair": pair, "method": name, "k": steps,
                                        "deletion": deleted, "insertion": inserted}))
    columns = ["pair", "method", "k", "deletion", "insertion"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def curve_areas(curves: pd.DataFrame) -> pd.DataFrame:
    """AOPC of the deletion curve (Samek et al. 2017) and the area of the insertion curve.

    With the steps ``k = 0 … n`` of :func:`deletion_insertion` (``x_k``: the excerpt after
    step k, ``f``: the target output):

    * ``deletion_aopc = 1 / (n + 1) · Σ_k (f(x) − f(x_k^deletion))`` (``x_0 = x``): the
      average drop of the output as the most relevant segments go first; higher is better;
    * ``insertion_area = 1 / (n + 1) · Σ_k f(x_k^insertion)``: the mean output as the most
      relevant segments come back first (a left Riemann sum over the steps); higher is better.

    Parameters
    ----------
    curves : pandas.DataFrame
        :func:`deletion_insertion`.

    Returns
    -------
    pandas.DataFrame
        ``pair, method, deletion_aopc, insertion_area``.

    Examples
    --------
    >>> import pandas as pd
    >>> from svdlib import curve_areas
    >>> curves = pd.DataFrame({"pair": 0, "method": "m", "k": [0, 1, 2],
    ...                        "deletion": [0.9, 0.3, 0.0], "insertion": [0.0, 0.6, 0.9]})
    >>> curve_areas(curves).round(3)
       pair method  deletion_aopc  insertion_area
    0     0      m            0.5             0.5
    """
    ordered = curves.sort_values(["pair", "method", "k"], kind="stable")
    first = ordered.groupby(["pair", "method"], sort=False)["deletion"].transform("first")
    return (ordered.assign(drop=first - ordered["deletion"])
            .groupby(["pair", "method"], sort=False)
            .agg(deletion_aopc=("drop", "mean"), insertion_area=("insertion", "mean"))
            .reset_index())


def surrogate_scores(relevances: Mapping[str, Any]) -> pd.DataFrame:
    """The explainers' own fidelity: the R² of LIME's and KernelSHAP's local surrogates.

    LIME's score is the kernel-weighted R² of its ridge surrogate on its neighbourhood, and
    KernelSHAP's the weighted R² of its linear fit (``Relevance.score``, carried by
    ``StoredRelevances.scores``); the paper calls it fidelity. Methods without scores, or with
    NaN scores (occlusion, the gradient methods, random), are left out.

    Parameters
    ----------
    relevances : mapping of str to relevances
        Name → an object with ``scores`` ``(N,)`` (others are skipped).

    Returns
    -------
    pandas.DataFrame
        ``pair, method, surrogate_r2``.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import StoredRelevances, surrogate_scores
    >>> lime = StoredRelevances(np.zeros((2, 20)), scores=np.array([0.9, 0.4]))
    >>> surrogate_scores({"lime": lime, "saliency": np.zeros((2, 20))})
       pair method  surrogate_r2
    0     0   lime           0.9
    1     1   lime           0.4
    """
    frames = []
    for name, method in relevances.items():
        _, _, scores = relevance_parts(method)
        if scores is not None and np.isfinite(scores).any():
            keep = np.flatnonzero(np.isfinite(scores))
            frames.append(pd.DataFrame({"pair": keep, "method": name,
                                        "surrogate_r2": scores[keep]}))
    columns = ["pair", "method", "surrogate_r2"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def long_metrics(table: pd.DataFrame) -> pd.DataFrame:
    """A wide table ``pair, method, <metric>…`` as long rows, oriented by :data:`METRICS`.

    The rows are ``pair, method, metric, value, oriented`` with ``oriented = direction ×
    value``; a column that is no known metric fails.

    Examples
    --------
    >>> import pandas as pd
    >>> from svdlib import long_metrics
    >>> wide = pd.DataFrame({"pair": [0], "method": ["m"], "infidelity": [0.2]})
    >>> long_metrics(wide)
       pair method      metric  value  oriented
    0     0      m  infidelity    0.2      -0.2
    """
    names = [c for c in table.columns if c not in ("pair", "method")]
    unknown = sorted(set(names) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: "
                         f"{', '.join(METRICS)}")
    if not names or not len(table):
        return pd.DataFrame(columns=METRIC_COLUMNS)
    out = table.melt(id_vars=["pair", "method"], value_vars=names, var_name="metric")
    out["value"] = out["value"].astype(float)
    out["oriented"] = out["value"] * out["metric"].map(METRICS).astype(float)
    return out[METRIC_COLUMNS]
