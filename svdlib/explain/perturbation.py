"""Perturbation explainers over segments: KernelSHAP and occlusion (segment ablation).

Both switch segments to the baseline and only call the model, so any callable works,
differentiable or not. A perturbed input is the segmentation's
:meth:`~svdlib.explain.segmentations.base.BaseSegmentation.compose`: ``where(kept, x,
baseline)`` for a pointwise segmentation, ``b + istft(M_S · stft(x − b))`` for an STFT one.
KernelSHAP is captum's estimator, batched (:mod:`svdlib.explain.kernelshap`); occlusion of a
pointwise segmentation is captum's ``FeatureAblation`` with the segment id of every cell as
``feature_mask`` (:meth:`~svdlib.explain.segments.Segmentation.cell_ids`), of any other the
same difference ``f(x) − f(x with s at the baseline)`` over composed inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from svdlib.explain.attribution import Relevance, as_excerpts
from svdlib.explain.kernelshap import (
    sample_coalitions,
    sample_coalitions_captum,
    shapley_weights,
    weighted_linear_fit,
)
from svdlib.explain.model_output import (
    BatchedExplainer,
    Model,
    baselines_for,
    feature_mask,
)
from svdlib.explain.segmentations.base import BaseSegmentation


class KernelShapExplainer(BatchedExplainer):
    """KernelSHAP over segments, batched: the segments' Shapley values.

    captum ``KernelShap``'s estimator (:mod:`svdlib.explain.kernelshap`) without its
    per-sample loop: the coalitions are drawn in one step from the Shapley kernel's
    distribution (a local ``np.random.Generator`` seeded with ``seed`` for every excerpt, as
    LIME draws the same masks for every excerpt of one seed; global generators untouched),
    the perturbed inputs ``where(segment kept, x, baseline)`` are built on the compute device
    ``perturbations_per_eval`` at a time and passed to the model in one call each, and one
    weighted least-squares solve (captum's ``LinearRegression`` with the Shapley weights and
    an intercept) gives the relevances. The empty and full coalitions are always included
    and weighted 10⁶, so the relevances add up to about ``f(x) − f(baseline)``. The score is
    the fit's weighted R². Excerpts are explained one at a time.

    Parameters
    ----------
    model, segmentation, label, seed, baseline, device
        As for :class:`~svdlib.explain.model_output.BatchedExplainer`.
    num_samples : int
        Coalitions per excerpt, the full and empty ones included (8192 by default, as LIME's).
    perturbations_per_eval : int
        Perturbed inputs per model call; does not change the results.
    sampler : str
        ``'numpy'`` (one vectorised draw) or ``'captum'``: captum's coalitions for the same
        seed draw for draw (:func:`~svdlib.explain.kernelshap.sample_coalitions_captum`, a
        Python loop), so the relevances equal captum's ``KernelShap`` to float rounding.
    """

    name = "kernelshap"
    samplers = ("numpy", "captum")

    def __init__(self, model: Model, segmentation: BaseSegmentation, *, num_samples: int = 8192,
                 perturbations_per_eval: int = 256, sampler: str = "numpy",
                 **common: Any) -> None:
        common.pop("batch_size", None)
        super().__init__(model, segmentation, batch_size=1, **common)
        if num_samples < 2 or perturbations_per_eval < 1:
            raise ValueError("num_samples must be at least 2 and perturbations_per_eval positive")
        if sampler not in self.samplers:
            raise ValueError(f"unknown sampler '{sampler}'; choose one of "
                             f"{', '.join(self.samplers)}")
        self.sampler = sampler
        self.num_samples = int(num_samples)
        self.perturbations_per_eval = int(perturbations_per_eval)

    def explain_many(self, excerpts: np.ndarray) -> list[Relevance]:
        """Explain ``(N, *shape)`` excerpts; the score is the fit's weighted R²."""
        x = as_excerpts(excerpts, self.segmentation)
        out: list[Relevance] = []
        if not len(x):
            return out
        for excerpt, base in zip(x, baselines_for(x, self.baseline, self.seed), strict=True):
            weights, score = self._shapley(self._tensor(excerpt[None]), self._tensor(base[None]))
            out.append(Relevance(weights, score, None, self.signed))
        return out

    def _attribute(self, x: torch.Tensor, baseline: torch.Tensor
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        rows = [self._shapley(x[i:i + 1], baseline[i:i + 1])[0] for i in range(len(x))]
        return np.stack(rows).reshape(len(x), self.segmentation.n_components), None

    def _shapley(self, x: torch.Tensor, baseline: torch.Tensor) -> tuple[np.ndarray, float]:
        """The relevances ``(n,)`` and the fit's R² for one ``(1, *shape)`` excerpt."""
        n = self.segmentation.n_components
        coalitions = (sample_coalitions_captum(n, self.num_samples, self.seed)
                      if self.sampler == "captum" else
                      sample_coalitions(n, self.num_samples, np.random.default_rng(self.seed)))
        outputs = self._predict(coalitions, x, baseline)
        coef, _, r2 = weighted_linear_fit(coalitions, outputs, shapley_weights(coalitions))
        return coef, float(r2)

    def _predict(self, coalitions: np.ndarray, x: torch.Tensor, baseline: torch.Tensor
                 ) -> np.ndarray:
        """The explained output of every coalition, ``(S,)`` float64, batched on the device."""
        keep = torch.from_numpy(coalitions != 0).to(x.device)
        step = self.perturbations_per_eval
        outputs = []
        with torch.no_grad():
            for start in range(0, len(keep), step):
                inputs = self.segmentation.compose(x[0], baseline[0], keep[start:start + step])
                outputs.append(self.target(inputs).detach().reshape(-1))
        return torch.cat(outputs).double().cpu().numpy()


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

    def __init__(self, model: Model, segmentation: BaseSegmentation, *,
                 perturbations_per_eval: int = 20, **common: Any) -> None:
        super().__init__(model, segmentation, **common)
        if perturbations_per_eval < 1:
            raise ValueError("perturbations_per_eval must be positive")
        self.perturbations_per_eval = int(perturbations_per_eval)

    def _attribute(self, x: torch.Tensor, baseline: torch.Tensor
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        from captum.attr import FeatureAblation

        seg = self.segmentation
        if not seg.pointwise:
            return self._ablate(x, baseline), None
        with torch.no_grad():
            maps = FeatureAblation(self.target).attribute(
                x, baselines=baseline, feature_mask=feature_mask(seg, x.device),
                perturbations_per_eval=self.perturbations_per_eval)
        return seg.segment_values(maps.detach().double().cpu().numpy()), None

    def _ablate(self, x: torch.Tensor, baseline: torch.Tensor) -> np.ndarray:
        """``f(x) − f(x with s at the baseline)`` of every segment s, composed inputs."""
        n = self.segmentation.n_components
        ablated = torch.from_numpy(~np.eye(n, dtype=bool)).to(x.device)
        rows = []
        with torch.no_grad():
            for excerpt, base in zip(x, baseline, strict=True):
                full = self.target(excerpt[None]).detach().double().reshape(-1)
                outs = [self.target(self.segmentation.compose(
                    excerpt, base, ablated[i:i + self.perturbations_per_eval]))
                    .detach().double().reshape(-1)
                    for i in range(0, n, self.perturbations_per_eval)]
                rows.append((full - torch.cat(outs)).cpu().numpy())
        return np.stack(rows)
