"""Captum's infidelity and sensitivity on the segment grid (proxy metrics, lower is better).

* :func:`segment_infidelity`: ``captum.metrics.infidelity`` with perturbations that switch
  random segments to the baseline. The excerpt ``x`` is the input; each perturbation draws
  every segment off independently with probability ``p_off``, shows the baseline ``b`` there
  (``x̃ = where(off, b, x)``) and hands captum ``I``, the 0/1 mask of the cells switched off;
  the segment relevances ``R_s`` (oriented to the target) are spread evenly over their cells,
  ``a = R_s / |s|``, so that ``Iᵀa = Σ_{s off} R_s``. captum then computes
  ``E[(Iᵀa − (f(x) − f(x̃)))²]``: how well the summed relevance of the removed segments
  predicts the drop of the target output. With ``normalize=True`` (the default here, and in
  Yeh et al.'s own code; captum's default is False) ``Iᵀa`` is first scaled by captum's
  ``β = E[Iᵀa · Δf] / E[(Iᵀa)²]``, which makes the value independent of the relevances' scale
  (LIME's probability units, saliency's gradient sums, random normal draws) and also of
  their sign: β may be negative, so a relevance that is exactly reversed scores as well as
  the right one. The same perturbations serve every explainer of a pair; with ``p_off = 0.5``
  they are LIME's own neighbourhood distribution, which a linear surrogate fits by design.
* :func:`segment_sensitivity`: ``captum.metrics.sensitivity_max``, the largest relative
  change ``‖R(x + ε) − R(x)‖ / ‖R(x)‖`` of the segment relevances under uniform noise
  ``ε ∈ [−radius, radius]`` per cell (captum's default perturbation, from a seeded local
  generator), over ``n_perturb_samples`` draws. It explains the perturbed excerpts again, so
  it needs the explainer; methods given only as stored relevances get NaN (said once).
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
    segment_sizes,
)

LOG = logging.getLogger(__name__)


def _pair_seed(seed: int | None, pair: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(None if seed is None else [int(seed), int(pair)])


def _removal_perturbation(removed: np.ndarray, segmentation: Segmentation) -> Callable:
    """Captum's ``perturb_func(inputs, baselines)``: the removed segments at the baseline.

    It returns captum's pair ``(I, x̃)``: ``I`` the 0/1 mask of the removed cells, ``x̃`` the
    input with those cells at the baseline; successive calls take the next rows.
    """
    cells = torch.from_numpy(segmentation.masks_np(removed, dtype=bool))
    used = [0]

    def perturb(inputs: torch.Tensor, baselines: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        rows = cells[used[0]:used[0] + len(inputs)].to(inputs.device)
        used[0] += len(inputs)
        return rows.to(torch.float64), torch.where(rows, baselines, inputs)
    return perturb


def _checked_removals(removals: np.ndarray | None, p_off: float,
                      n_components: int) -> np.ndarray | None:
    if not 0 < p_off <= 1:
        raise ValueError(f"p_off must be in (0, 1], got {p_off}")
    if removals is None:
        return None
    removals = np.asarray(removals, dtype=bool)
    if removals.ndim != 2 or removals.shape[1] != n_components:
        raise ValueError(f"removals are {removals.shape}, expected (S, {n_components})")
    return removals


def segment_infidelity(excerpts: np.ndarray, relevances: Mapping[str, Any],
                       segmentation: Segmentation, predict: Callable[[np.ndarray], Any],
                       target: int = 1, baseline: str | float | np.ndarray = "mean",
                       label: int | None = None, n_perturb_samples: int = 32,
                       p_off: float = 0.5, normalize: bool = True, seed: int | None = 0,
                       removals: np.ndarray | None = None,
                       outputs: TargetOutputs | None = None) -> pd.DataFrame:
    """Captum's infidelity of segment relevances, perturbations removing random segments.

    Parameters
    ----------
    excerpts, relevances, segmentation, predict, target, baseline, label, outputs
        As in :func:`~svdlib.veracity.proxies.deletion_insertion`.
    n_perturb_samples : int
        Random removals per excerpt (the same for every method of the excerpt).
    p_off : float
        The probability that a segment is removed, in (0, 1].
    normalize : bool
        captum's ``normalize``: scale ``Iᵀa`` by the best β first (see the module).
    seed : int or None
        Randomness of the removals (per excerpt ``[seed, pair]``).
    removals : np.ndarray, optional
        ``(S, n_components)`` bool: the segments each perturbation removes, the same for
        every excerpt, instead of random draws (``n_perturb_samples`` and ``p_off`` unused).

    Returns
    -------
    pandas.DataFrame
        ``pair, method, infidelity`` (lower is better).

    Examples
    --------
    A linear model of two segments: occlusion-like relevances (each segment's effect) have
    zero infidelity; the reversed ones too once normalised (β < 0), not without.

    >>> import numpy as np
    >>> from svdlib import Segmentation, segment_infidelity
    >>> seg = Segmentation()
    >>> x = np.zeros((1, 115, 80), np.float32); x[0, :23, :20] = 1.0; x[0, 92:, 60:] = 1.0
    >>> predict = lambda e: e[:, :23, :20].mean(axis=(1, 2)) + e[:, 92:, 60:].mean(axis=(1, 2)) / 2
    >>> right = np.zeros((1, 20)); right[0, 0], right[0, 19] = 1.0, 0.5
    >>> methods = {"right": right, "reversed": -right}
    >>> raw = segment_infidelity(x, methods, seg, predict, baseline="zero", normalize=False)
    >>> scaled = segment_infidelity(x, methods, seg, predict, baseline="zero")
    >>> (raw.infidelity.round(6) + 0.0).tolist(), (scaled.infidelity.round(6) + 0.0).tolist()
    ([0.0, 3.1875], [0.0, 0.0])
    """
    from captum.metrics import infidelity

    removals = _checked_removals(removals, p_off, segmentation.n_components)
    x, parts = checked_inputs(excerpts, relevances, segmentation)
    outputs = outputs or TargetOutputs(predict, target, label)
    base = excerpt_baselines(x, baseline, seed)
    sizes = segment_sizes(segmentation)

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(outputs(inputs.detach().cpu().numpy()))

    rows = []
    for pair in range(len(x)):
        off = removals if removals is not None else np.random.default_rng(
            _pair_seed(seed, pair)).random((n_perturb_samples, segmentation.n_components)) < p_off
        count = len(off)
        for name, (weights, signed, _) in parts.items():
            spread = oriented_weights(weights[pair], target, signed) / sizes
            cells = torch.from_numpy(segmentation.masks_np(spread[None], dtype=np.float64))
            value = infidelity(forward, _removal_perturbation(off, segmentation),
                               torch.from_numpy(x[pair:pair + 1]), cells,
                               baselines=torch.from_numpy(base[pair:pair + 1]),
                               n_perturb_samples=count, normalize=normalize)
            rows.append({"pair": pair, "method": name, "infidelity": float(value[0])})
    return pd.DataFrame(rows, columns=["pair", "method", "infidelity"])


def _explanations(explainer: Callable) -> Callable[[torch.Tensor], tuple[torch.Tensor]]:
    """Captum's ``explanation_func``: the explainer's segment relevances of every input."""
    def explain(inputs: torch.Tensor | tuple) -> tuple[torch.Tensor]:
        inputs = inputs[0] if isinstance(inputs, tuple) else inputs
        batch = inputs.detach().cpu().numpy().astype(np.float32)
        many = getattr(explainer, "explain_many", None)
        found = many(batch) if many is not None else [explainer(e) for e in batch]
        # a tuple: captum iterates over the explanations as over its formatted inputs
        return (torch.from_numpy(np.stack([np.asarray(getattr(r, "weights", r), np.float64)
                                           for r in found])),)
    return explain


def segment_sensitivity(excerpts: np.ndarray, methods: Mapping[str, Any],
                        segmentation: Segmentation, radius: float = 0.02,
                        n_perturb_samples: int = 8, seed: int | None = 0,
                        norm_ord: str = "fro") -> pd.DataFrame:
    """Captum's ``sensitivity_max`` of each explainer's segment relevances.

    Parameters
    ----------
    excerpts : np.ndarray
        ``(N, frames, bands)`` the explained excerpts.
    methods : mapping of str to explainer or relevances
        Name → an explainer ``excerpt -> Relevance`` (explained again on each noisy excerpt:
        ``n_perturb_samples + 1`` explanations per excerpt) or stored relevances (NaN).
    segmentation : Segmentation
        The grid (checks the excerpts' shape).
    radius : float
        The noise's half-width per cell, in the excerpts' units (captum's default 0.02).
    n_perturb_samples : int
        Noisy copies per excerpt; the largest relative change counts.
    seed : int or None
        Randomness of the noise (per excerpt ``[seed, pair]``, the same for every method).
    norm_ord : str
        captum's ``norm_ord`` over the segment relevances.

    Returns
    -------
    pandas.DataFrame
        ``pair, method, sensitivity_max`` (lower is better).

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import Relevance, Segmentation, segment_sensitivity
    >>> seg = Segmentation()
    >>> x = np.ones((2, 115, 80), np.float32)
    >>> steady = lambda e: Relevance(np.arange(20.0))            # ignores the noise
    >>> brightness = lambda e: Relevance(seg.energy(e))          # moves with it, slightly
    >>> table = segment_sensitivity(x, {"steady": steady, "brightness": brightness,
    ...                                 "stored": np.zeros((2, 20))}, seg)
    >>> table.groupby("method", sort=False).sensitivity_max.max().round(2).tolist()
    [0.0, 0.0, nan]
    """
    from captum.metrics import sensitivity_max

    x, _ = checked_inputs(excerpts, {}, segmentation)
    stored = [name for name, method in methods.items() if not callable(method)]
    if stored:
        LOG.warning("sensitivity_max needs an explainer to call; NaN for the stored "
                    "relevances of %s", ", ".join(stored))
    rows = []
    for pair in range(len(x)):
        entropy = _pair_seed(seed, pair).generate_state(1)[0]
        for name, method in methods.items():
            value = np.nan
            if callable(method):
                generator = torch.Generator().manual_seed(int(entropy))

                def noise(inputs: torch.Tensor | tuple, perturb_radius: float,
                          generator: torch.Generator = generator) -> torch.Tensor:
                    inputs = inputs[0] if isinstance(inputs, tuple) else inputs
                    draw = torch.rand(inputs.shape, generator=generator, dtype=inputs.dtype)
                    return inputs + (2 * draw - 1) * perturb_radius
                value = float(sensitivity_max(_explanations(method),
                                              torch.from_numpy(x[pair:pair + 1]),
                                              perturb_func=noise, perturb_radius=radius,
                                              n_perturb_samples=n_perturb_samples,
                                              norm_ord=norm_ord)[0])
            rows.append({"pair": pair, "method": name, "sensitivity_max": value})
    return pd.DataFrame(rows, columns=["pair", "method", "sensitivity_max"])
