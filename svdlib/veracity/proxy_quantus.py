"""Quantus's ``FaithfulnessCorrelation`` and ``MonotonicityCorrelation`` over the segments.

Quantus 0.6 perturbs *features*: the flattened entries of ``x_batch``. Given an excerpt as
``(1, frames, bands)`` it would perturb single cells: ``FaithfulnessCorrelation`` switches
``subset_size`` random cells (224 by default) scattered over the whole excerpt to a constant
and ``MonotonicityCorrelation`` steps through all 9,200 cells one ``features_in_step`` block
at a time; neither takes a segmentation mask, and a block of ``features_in_step`` cells is a
stretch of the flattened array, not one of our rectangles. So the features given to Quantus
here are the segments themselves: each excerpt is the vector ``(1, n_components)`` of its
segment switches, a relevance per segment is its attribution (``a_batch``), a perturbation
switches a segment off (shows the baseline, as LIME does) and the model Quantus calls
(:class:`SegmentSwitchModel`) composes the excerpt from the switches and returns the target
output. Quantus's own code then computes both metrics unchanged:

* ``faithfulness_correlation`` (Bhatt et al. 2020): over ``nr_runs`` random subsets of
  ``subset_size`` segments, the Pearson correlation between the summed relevance of the
  subset and the drop ``f(x) − f(x without the subset)``; higher is better. ``abs=False``.
* ``monotonicity_correlation`` (Nguyen & Martínez 2020): each segment removed on its own (in
  order of ascending relevance, ``features_in_step=1``), the Spearman correlation between its
  relevance and the squared change of ``f`` (Quantus's variance, scaled by ``1/f(x)²``);
  higher is better. Quantus's default ``abs=True`` is kept (the change is unsigned), and one
  sample per step (``nr_samples=1``): removal to the baseline is deterministic.

Relevances are oriented to the target first (:func:`~svdlib.veracity.proxies.oriented_weights`);
``normalise=False`` (a scale does not change a correlation) and ``softmax=False`` (the wrapped
model returns the one target output; ``MonotonicityCorrelation`` would otherwise apply a
softmax, which over one column is always 1). Quantus draws its subsets from
numpy's global generator: it is seeded with ``seed`` for each method (the same subsets for
every method) and restored afterwards. Quantus is optional (the ``quantus`` extra): without
it the metrics are skipped with one logged line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from svdlib.explain.segments import Segmentation
from svdlib.veracity.proxies import (
    TargetOutputs,
    checked_inputs,
    excerpt_baselines,
    oriented_weights,
)

LOG = logging.getLogger(__name__)
QUANTUS_COLUMNS = ["pair", "method", "faithfulness_correlation", "monotonicity_correlation"]


class SegmentSwitchModel(torch.nn.Module):
    """The model seen by Quantus: ``(B, 1, n_components)`` segment switches → ``(B, 1)``.

    A kept segment of excerpt ``i`` holds the value ``i + 1``, a switched-off one 0, so every
    row says which excerpt it perturbs (Quantus batches the excerpts); the row's input is that
    excerpt with the switched-off segments at its baseline, and the output the target output.

    Parameters
    ----------
    excerpts, baselines : np.ndarray
        ``(N, frames, bands)``.
    segmentation : Segmentation
        The grid.
    outputs : TargetOutputs
        The model's target output (memoised).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from svdlib import Segmentation, TargetOutputs
    >>> from svdlib.veracity.proxy_quantus import SegmentSwitchModel
    >>> seg = Segmentation()
    >>> x = np.ones((2, 115, 80), np.float32)
    >>> model = SegmentSwitchModel(x, np.zeros_like(x), seg,
    ...                            TargetOutputs(lambda e: e.mean(axis=(1, 2))))
    >>> switches = torch.tensor([[[1.0] * 20], [[2.0] * 10 + [0.0] * 10]])
    >>> model(switches)[:, 0].tolist()                # excerpt 1 keeps half its segments
    [1.0, 0.5]
    """

    def __init__(self, excerpts: np.ndarray, baselines: np.ndarray,
                 segmentation: Segmentation, outputs: TargetOutputs) -> None:
        super().__init__()
        self.excerpts, self.baselines = excerpts, baselines
        self.segmentation, self.outputs = segmentation, outputs

    def forward(self, switches: torch.Tensor) -> torch.Tensor:
        """The target output of every row of switches."""
        codes = switches.detach().cpu().numpy().reshape(len(switches), -1)
        which = np.rint(codes.max(axis=1)).astype(int) - 1
        if (which < 0).any() or (which >= len(self.excerpts)).any():
            raise ValueError("a row of segment switches names no excerpt (all switched off?)")
        keep = self.segmentation.masks_np(codes > 0.5, dtype=bool)
        inputs = np.where(keep, self.excerpts[which], self.baselines[which])
        return torch.from_numpy(self.outputs(inputs))[:, None]


def switch_off(arr: np.ndarray, indices: np.ndarray, **_: Any) -> np.ndarray:
    """Quantus's ``perturb_func``: the segments at ``indices`` switched off (set to 0).

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib.veracity.proxy_quantus import switch_off
    >>> switch_off(np.full((2, 4), 3.0), np.array([[0], [3]])).tolist()
    [[0.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 0.0]]
    """
    out = np.array(arr, copy=True)
    out[np.arange(len(out))[:, None], np.asarray(indices).reshape(len(out), -1)] = 0
    return out


def _metrics(quantus: Any, subset_size: int, nr_runs: int) -> dict[str, Any]:
    common = {"normalise": False, "perturb_func": switch_off, "return_aggregate": False,
              "disable_warnings": True}
    return {"faithfulness_correlation": quantus.FaithfulnessCorrelation(
                nr_runs=nr_runs, subset_size=subset_size, abs=False, **common),
            "monotonicity_correlation": quantus.MonotonicityCorrelation(
                nr_samples=1, features_in_step=1, abs=True, **common)}


def _seeded_call(metric: Any, seed: int | None, **arguments: Any) -> np.ndarray:
    """Call a Quantus metric with numpy's global generator seeded, then restore it.

    Quantus draws from the global generator (``np.random.choice``): there is no other way
    to make its subsets reproducible.
    """
    state = np.random.get_state()  # noqa: NPY002
    try:
        if seed is not None:
            np.random.seed(int(seed))  # noqa: NPY002
        return np.asarray(metric(**arguments), dtype=np.float64)
    finally:
        np.random.set_state(state)  # noqa: NPY002


def quantus_faithfulness(excerpts: np.ndarray, relevances: Mapping[str, Any],
                         segmentation: Segmentation, predict: Callable[[np.ndarray], Any],
                         target: int = 1, baseline: str | float | np.ndarray = "mean",
                         label: int | None = None, subset_size: int | None = None,
                         nr_runs: int = 100, seed: int | None = 0, batch_size: int = 64,
                         outputs: TargetOutputs | None = None) -> pd.DataFrame:
    """Quantus's faithfulness and monotonicity correlations with the segments as features.

    Parameters
    ----------
    excerpts, relevances, segmentation, predict, target, baseline, label, outputs
        As in :func:`~svdlib.veracity.proxies.deletion_insertion`.
    subset_size : int, optional
        Segments removed per run of ``FaithfulnessCorrelation`` (default a quarter of them,
        5 of 20; Quantus requires fewer than all).
    nr_runs : int
        Random subsets per excerpt.
    seed : int or None
        Seed of numpy's global generator during each call (restored afterwards).
    batch_size : int
        Quantus's batch of excerpts.

    Returns
    -------
    pandas.DataFrame
        ``pair, method, faithfulness_correlation, monotonicity_correlation`` (higher is
        better); empty, with one logged line, when Quantus is not installed.

    Examples
    --------
    A linear model of two segments; relevances that are its coefficients correlate fully.

    >>> import numpy as np
    >>> from svdlib import Segmentation, quantus_faithfulness
    >>> seg = Segmentation()
    >>> x = np.zeros((1, 115, 80), np.float32); x[0, :23, :20] = 1.0; x[0, 92:, 60:] = 1.0
    >>> predict = lambda e: e[:, :23, :20].mean(axis=(1, 2)) + e[:, 92:, 60:].mean(axis=(1, 2)) / 2
    >>> right = np.zeros((1, 20)); right[0, 0], right[0, 19] = 1.0, 0.5
    >>> table = quantus_faithfulness(x, {"right": right}, seg, predict, baseline="zero",
    ...                              nr_runs=20)
    >>> table.round(3)
       pair method  faithfulness_correlation  monotonicity_correlation
    0     0  right                       1.0                       1.0
    """
    try:
        import quantus
    except ImportError:
        LOG.warning("Quantus is not installed (pip install 'svdlib[quantus]'): "
                    "faithfulness_correlation and monotonicity_correlation are skipped")
        return pd.DataFrame(columns=QUANTUS_COLUMNS)
    x, parts = checked_inputs(excerpts, relevances, segmentation)
    if not len(x) or not parts:
        return pd.DataFrame(columns=QUANTUS_COLUMNS)
    n = segmentation.n_components
    subset = max(1, n // 4) if subset_size is None else int(subset_size)
    model = SegmentSwitchModel(x, excerpt_baselines(x, baseline, seed), segmentation,
                               outputs or TargetOutputs(predict, target, label)).eval()
    switches = np.repeat(np.arange(1, len(x) + 1, dtype=np.float32)[:, None], n, axis=1)
    table = pd.DataFrame({"pair": np.tile(np.arange(len(x)), len(parts)),
                          "method": np.repeat(list(parts), len(x))})
    for column, metric in _metrics(quantus, subset, nr_runs).items():
        values = [_seeded_call(metric, seed, model=model, x_batch=switches[:, None],
                               y_batch=np.zeros(len(x), dtype=np.int64),
                               a_batch=oriented_weights(w, target, signed)[:, None],
                               channel_first=True, softmax=False, batch_size=batch_size,
                               device="cpu")
                  for w, signed, _ in parts.values()]
        table[column] = np.concatenate(values) if values else np.zeros(0)
    return table[QUANTUS_COLUMNS]
