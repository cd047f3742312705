"""Perturbation explainers over segments: KernelSHAP and occlusion (segment ablation).

Both switch segments to the baseline (captum's ``feature_mask`` is the segment id of every
cell, :meth:`~svdlib.explain.segments.Segmentation.cell_ids`) and only call the model, so any
callable works, differentiable or not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from svdlib.explain.model_output import (
    BatchedExplainer,
    Model,
    feature_mask,
    segment_values,
)
from svdlib.explain.segments import Segmentation


@contextlib.contextmanager
def seeded_torch(seed: int | None) -> Iterator[None]:
    """Run a block on torch's CPU generator seeded with ``seed``, restoring its state after.

    Other devices' generators are not touched; ``None`` leaves the generator unseeded (but
    still restores it).
    """
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.default_generator.manual_seed(int(seed))
        yield


class KernelShapExplainer(BatchedExplainer):
    """KernelSHAP over segments (captum ``KernelShap``): Shapley values of the segments.

    Coalitions are drawn with the Shapley kernel's distribution from torch's CPU generator,
    seeded with ``seed`` for every excerpt (as LIME draws the same masks for every excerpt of
    one seed); the empty and full coalitions are always included, so the relevances add up
    to about ``f(x) − f(baseline)``. Excerpts are explained one at a time.

    Parameters
    ----------
    model, segmentation, label, seed, baseline, device
        As for :class:`~svdlib.explain.model_output.BatchedExplainer`.
    n_samples : int
        Coalitions per excerpt (the budget of LIME's ``num_samples``, 8192 by default).
    perturbations_per_eval : int
        Perturbed inputs per model call; does not change the results.
    """

    name = "kernelshap"

    def __init__(self, model: Model, segmentation: Segmentation, *, n_samples: int = 8192,
                 perturbations_per_eval: int = 256, **common: Any) -> None:
        common.pop("batch_size", None)
        super().__init__(model, segmentation, batch_size=1, **common)
        if n_samples < 2 or perturbations_per_eval < 1:
            raise ValueError("n_samples must be at least 2 and perturbations_per_eval positive")
        self.n_samples = int(n_samples)
        self.perturbations_per_eval = int(perturbations_per_eval)

    def _attribute(self, x: torch.Tensor, baseline: torch.Tensor
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        from captum.attr import KernelShap

        with torch.no_grad(), seeded_torch(self.seed):
            weights = KernelShap(self.target).attribute(
                x, baselines=baseline, feature_mask=feature_mask(self.segmentation, x.device),
                n_samples=self.n_samples, perturbations_per_eval=self.perturbations_per_eval,
                return_input_shape=False)
        weights = weights.detach().double().cpu().numpy()
        return weights.reshape(len(x), self.segmentation.n_components), None


class OcclusionExplainer(BatchedExplainer):
    """Occlusion: ``f(x) − f(x with segment s at the baseline)``, one segment at a time.

    captum ``FeatureAblation`` with the segments as features; ``n_components`` model inputs
    per excerpt, ``perturbations_per_eval`` of them (times the excerpts of a batch) per call.

    Parameters
    ----------
    model, segmentation, label, seed, baseline, device, batch_size
        As for :class:`~svdlib.explain.model_output.BatchedExplainer`.
    perturbations_per_eval : int
        Ablated copies of every excerpt per model call; does not change the results.
    """

    name = "occlusion"

    def __init__(self, model: Model, segmentation: Segmentation, *,
                 perturbations_per_eval: int = 20, **common: Any) -> None:
        super().__init__(model, segmentation, **common)
        if perturbations_per_eval < 1:
            raise ValueError("perturbations_per_eval must be positive")
        self.perturbations_per_eval = int(perturbations_per_eval)

    def _attribute(self, x: torch.Tensor, baseline: torch.Tensor
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        from captum.attr import FeatureAblation

        with torch.no_grad():
            maps = FeatureAblation(self.target).attribute(
                x, baselines=baseline, feature_mask=feature_mask(self.segmentation, x.device),
                perturbations_per_eval=self.perturbations_per_eval)
        return segment_values(maps.detach().double().cpu().numpy(), self.segmentation), None
