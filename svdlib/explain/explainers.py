"""Seven explainers behind one interface, each giving one relevance per segment.

:func:`make_explainer` builds any of :data:`EXPLAINERS` for any torch model
``(B, frames, bands) float tensor → (B,)`` P(class 1) or ``(B, C)`` scores, over one
:class:`~svdlib.explain.segments.Segmentation`. Every explainer is a
:class:`~svdlib.explain.attribution.SegmentExplainer`: ``explainer(excerpt)`` returns an
:class:`~svdlib.explain.attribution.Attribution`, ``explainer.explain_many(excerpts)`` a list
of them.

What a relevance means, per method (binary models: for class 1's probability; ``(B, C)``
models: for column ``label``):

* ``lime``: audioLIME's surrogate weight (:func:`~svdlib.explain.lime.explain_excerpt`,
  numbers unchanged);
* ``kernelshap``: the segment's Shapley value (captum ``KernelShap``);
* ``occlusion``: ``f(x) − f(x with s at the baseline)`` (captum ``FeatureAblation``);
* ``integrated_gradients``: ``Σ_{bins in s} (x − b) · ∫ ∂f/∂x`` (captum);
* ``saliency``: ``Σ_{bins in s} |∂f/∂x|``, unsigned (captum ``Saliency``);
* ``gradient_x_input``: ``Σ_{bins in s} x · ∂f/∂x`` (captum ``InputXGradient``);
* ``random``: a standard normal draw, seeded by ``seed`` and the excerpt (the floor).

Positive means "for" the explained class; for target 0 of a binary model the ranking is
ascending, as for LIME's class-1 weights. Unsigned relevances (``Attribution.signed`` False)
rank descending for either target.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from svdlib.constants import EXPLAINERS
from svdlib.explain.attribution import (
    Attribution,
    SegmentExplainer,
    as_excerpts,
    lime_explainer,
)
from svdlib.explain.gradients import (
    GradientXInputExplainer,
    IntegratedGradientsExplainer,
    SaliencyExplainer,
)
from svdlib.explain.model_output import Model, TargetOutput, model_device
from svdlib.explain.perturbation import KernelShapExplainer, OcclusionExplainer
from svdlib.explain.segments import Segmentation


class LimeExplainer(SegmentExplainer):
    """LIME with audioLIME's semantics, as a :class:`SegmentExplainer`.

    Exactly :func:`~svdlib.explain.attribution.lime_explainer` (hence
    :func:`~svdlib.explain.lime.explain_excerpt`) with the same seed and settings.

    The model's output form is probed once (one forward of the first excerpt): a binary
    model's class-1 weights are returned whatever ``label``, a ``(B, C)`` model's column
    ``label``.

    Parameters
    ----------
    model, segmentation, label, seed, baseline, device
        As for :func:`make_explainer`; ``device`` is where LIME builds its inputs.
    **settings
        Passed to :func:`~svdlib.explain.lime.explain_excerpt` (``num_samples`` (8192),
        ``kernel_width``, ``batch_size``, ``sampler``, ...).
    """

    name = "lime"

    def __init__(self, model: Model, segmentation: Segmentation, *, label: int = 1,
                 seed: int | None = 0, baseline: str | np.ndarray | float = "mean",
                 device: torch.device | str | None = None, **settings: Any) -> None:
        self.model = model
        self.segmentation = segmentation
        self.label = int(label)
        self.device = model_device(model, device)
        self.settings = {**settings, "seed": seed, "baseline": baseline}
        self._target = TargetOutput(model, label)

    def explained_label(self, excerpt: np.ndarray) -> int:
        """The output column whose weights are returned: 1 for a binary model, else label."""
        if self._target.binary is None:
            with torch.no_grad():
                self._target(torch.from_numpy(as_excerpts(excerpt, self.segmentation))
                             .to(self.device))
        return 1 if self._target.binary else self.label

    def __call__(self, excerpt: np.ndarray) -> Attribution:
        """Explain one ``(frames, bands)`` excerpt."""
        x = as_excerpts(excerpt, self.segmentation)
        if len(x) != 1:
            raise ValueError("call explain_many for several excerpts")
        explain = lime_explainer(self.model, self.segmentation, label=self.explained_label(x),
                                 device=self.device, **self.settings)
        return explain(x[0])


class RandomExplainer(SegmentExplainer):
    """The floor: a standard normal relevance per segment, the model unused.

    The draw is seeded by ``seed`` and a hash of the excerpt's float32 bytes, so a seed gives
    the same relevances for the same excerpt (and :meth:`explain_many` equals calling one by
    one) while different seeds or excerpts give different rankings. Signed: about half the
    segments are positive.
    """

    name = "random"

    def __init__(self, model: Model | None, segmentation: Segmentation, *, label: int = 1,
                 seed: int | None = 0, baseline: Any = "mean", device: Any = None) -> None:
        self.segmentation = segmentation
        self.seed = seed

    def __call__(self, excerpt: np.ndarray) -> Attribution:
        """Explain one ``(frames, bands)`` excerpt."""
        x = as_excerpts(excerpt, self.segmentation)
        if len(x) != 1:
            raise ValueError("call explain_many for several excerpts")
        digest = int.from_bytes(hashlib.blake2b(x.tobytes(), digest_size=8).digest(), "little")
        entropy = [digest] if self.seed is None else [int(self.seed), digest]
        rng = np.random.default_rng(np.random.SeedSequence(entropy))
        return Attribution(rng.standard_normal(self.segmentation.n_components), float("nan"),
                           None, True)


_CLASSES: dict[str, type[SegmentExplainer]] = {
    "lime": LimeExplainer,
    "kernelshap": KernelShapExplainer,
    "occlusion": OcclusionExplainer,
    "integrated_gradients": IntegratedGradientsExplainer,
    "saliency": SaliencyExplainer,
    "gradient_x_input": GradientXInputExplainer,
    "random": RandomExplainer,
}

assert tuple(_CLASSES) == EXPLAINERS   # the names, defined once in svdlib.constants


def make_explainer(name: str, model: Model | None, segmentation: Segmentation, *,
                   label: int = 1, seed: int | None = 0,
                   baseline: str | np.ndarray | float = "mean",
                   device: torch.device | str | None = None,
                   **settings: Any) -> SegmentExplainer:
    """One of :data:`EXPLAINERS` for a model over a segmentation.

    Parameters
    ----------
    name : str
        ``'lime'``, ``'kernelshap'``, ``'occlusion'``, ``'integrated_gradients'``,
        ``'saliency'``, ``'gradient_x_input'`` or ``'random'``.
    model : callable
        ``(B, frames, bands)`` float tensor → ``(B,)`` P(class 1) or ``(B, C)`` scores. The
        gradient methods need it differentiable (a module in eval mode, not a predictor
        running under ``torch.inference_mode``); ``'random'`` does not use it.
    segmentation : Segmentation
        The segments the relevances are given for.
    label : int
        The explained column of a ``(B, C)`` model; a binary model's class-1 probability is
        always explained (target 0 ranks ascending).
    seed : int or None
        Randomness of LIME's masks, KernelSHAP's coalitions, the random relevances and the
        'unif' / 'shuffle' baselines; local to each call (global generators are untouched).
    baseline : str, array or float
        What a switched-off segment shows (LIME, KernelSHAP, occlusion) and where integrated
        gradients start: ``'mean'`` (the excerpt's mean, the paper's), another kind of
        :func:`~svdlib.explain.segments.make_baseline`, an array or a constant.
    device : torch.device or str, optional
        Where to compute; default the model's device (its parameters' or ``.device``), else
        :func:`~svdlib.devices.best_device`.
    **settings
        The method's own: ``lime``: :func:`~svdlib.explain.lime.explain_excerpt`'s
        (``num_samples``, ...); ``kernelshap``: ``n_samples``, ``perturbations_per_eval``;
        ``occlusion``: ``perturbations_per_eval``, ``batch_size``; ``integrated_gradients``:
        ``n_steps`` (32), ``internal_batch_size``, ``method``, ``batch_size``; ``saliency``,
        ``gradient_x_input``: ``batch_size`` (excerpts per call).

    Returns
    -------
    SegmentExplainer
        ``explainer(excerpt) -> Attribution``; ``explainer.explain_many(excerpts)``.
    """
    if name not in _CLASSES:
        raise ValueError(f"unknown explainer '{name}'; choose one of {', '.join(EXPLAINERS)}")
    if name != "random" and model is None:
        raise ValueError(f"explainer '{name}' needs a model")
    return _CLASSES[name](model, segmentation, label=label, seed=seed, baseline=baseline,
                          device=device, **settings)
