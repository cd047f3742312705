"""Gradient explainers over segments: integrated gradients, saliency, gradient × input.

Each runs a captum method on a batch of excerpts (the model wrapped by
:class:`~svdlib.explain.model_output.TargetOutput`), keeps the per-coefficient map, and sums it
inside every segment. The methods attribute in the segmentation's view (the same view LIME,
KernelSHAP and occlusion perturb): for a pointwise segmentation (the grid, labels, time
segments) the excerpt itself, ``(frames, bands)`` or ``(L,)``; for an STFT segmentation the
model is fed ``istft(z)`` and the gradients are taken with respect to the STFT coefficients
``z`` (real and imaginary parts), integrated gradients running from the baseline's
coefficients to the excerpt's. The model must be differentiable: a module, or a callable of
torch operations that does not run under ``torch.inference_mode``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from svdlib.explain.model_output import BatchedExplainer, Model, segment_sums
from svdlib.explain.segmentations.base import BaseSegmentation

Forward = Callable[[torch.Tensor], torch.Tensor]


class _GradientExplainer(BatchedExplainer):
    """A captum gradient method; subclasses give :meth:`_bin_maps`."""

    differentiable = True

    def _attribute(self, x: torch.Tensor, baseline: torch.Tensor
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        seg = self.segmentation
        with torch.enable_grad():
            if seg.pointwise:
                maps = self._bin_maps(self.target, x.requires_grad_(), baseline)
            else:
                def in_view(z: torch.Tensor) -> torch.Tensor:
                    return self.target(seg.from_view(z))

                maps = self._bin_maps(in_view, seg.to_view(x).detach().requires_grad_(),
                                      seg.to_view(baseline).detach())
        maps = maps.detach().float().cpu().numpy()
        return segment_sums(maps, seg), maps

    def _bin_maps(self, forward: Forward, x: torch.Tensor,
                  baseline: torch.Tensor) -> torch.Tensor:
        """Per-coefficient attributions of ``forward`` at ``x`` (captum)."""
        raise NotImplementedError


class IntegratedGradientsExplainer(_GradientExplainer):
    """Integrated gradients from the baseline to the excerpt (captum ``IntegratedGradients``).

    The per-bin map ``(x − b) · ∫ ∂f/∂x(b + α(x − b)) dα`` (Gauss-Legendre, ``n_steps``
    points) is summed per segment; the relevances add up to about ``f(x) − f(b)``.

    Parameters
    ----------
    model, segmentation, label, seed, baseline, device, batch_size
        As for :class:`~svdlib.explain.model_output.BatchedExplainer`.
    n_steps : int
        Integration points (32).
    internal_batch_size : int
        Model inputs per forward/backward pass (steps × excerpts are split into chunks of
        it; at least the number of excerpts in a batch is used).
    method : str
        captum's integration rule ('gausslegendre', 'riemann_trapezoid', ...).
    """

    name = "integrated_gradients"

    def __init__(self, model: Model, segmentation: BaseSegmentation, *, n_steps: int = 32,
                 internal_batch_size: int = 512, method: str = "gausslegendre",
                 **common: Any) -> None:
        super().__init__(model, segmentation, **common)
        if n_steps < 1 or internal_batch_size < 1:
            raise ValueError("n_steps and internal_batch_size must be positive")
        self.n_steps = int(n_steps)
        self.internal_batch_size = int(internal_batch_size)
        self.method = method

    def _bin_maps(self, forward: Forward, x: torch.Tensor,
                  baseline: torch.Tensor) -> torch.Tensor:
        from captum.attr import IntegratedGradients

        return IntegratedGradients(forward).attribute(
            x, baselines=baseline, n_steps=self.n_steps, method=self.method,
            internal_batch_size=max(self.internal_batch_size, len(x)))


class SaliencyExplainer(_GradientExplainer):
    """Saliency: ``|∂f/∂x|`` per bin (captum ``Saliency``, ``abs=True``), summed per segment.

    The relevances have no sign (``signed=False``): rank them descending for either target.
    The baseline is not used.
    """

    name = "saliency"
    signed = False

    def _bin_maps(self, forward: Forward, x: torch.Tensor,
                  baseline: torch.Tensor) -> torch.Tensor:
        from captum.attr import Saliency

        return Saliency(forward).attribute(x, abs=True)


class GradientXInputExplainer(_GradientExplainer):
    """Gradient × input: ``x · ∂f/∂x`` per bin (captum ``InputXGradient``), summed per segment.

    The baseline is not used (the product is with the input itself, i.e. a zero reference).
    """

    name = "gradient_x_input"

    def _bin_maps(self, forward: Forward, x: torch.Tensor,
                  baseline: torch.Tensor) -> torch.Tensor:
        from captum.attr import InputXGradient

        return InputXGradient(forward).attribute(x)
