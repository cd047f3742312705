"""Ten explainers behind one interface, each giving one relevance per segment.

:func:`make_explainer` builds any of :data:`EXPLAINERS` for any torch model
``(B, *shape) float tensor → (B,)`` P(class 1) or ``(B, C)`` scores, over one segmentation of
excerpts of ``shape`` (:class:`~svdlib.explain.segments.Segmentation`, the grid over
``(frames, bands)``; or any :class:`~svdlib.explain.segmentations.base.BaseSegmentation`:
labels, time segments or STFT segments of a waveform ``(L,)``). The same callable serves all
seven: a module or a function that keeps its gradient is evaluated without gradients by the
perturbation methods and differentiated by the gradient methods. Every explainer is a
:class:`~svdlib.explain.attribution.SegmentExplainer`: ``explainer(excerpt)`` returns an
:class:`~svdlib.explain.attribution.Relevance`, ``explainer.explain_many(excerpts)`` a list
of them.

What a relevance means, per method (binary models: for class 1's probability; ``(B, C)``
models: for column ``label``):

* ``lime``: audioLIME's surrogate weight (:class:`LimeExplainer`, numbers unchanged; its
  :meth:`LimeExplainer.explanation` gives the whole explanation, in
  :mod:`svdlib.explain.lime_explainer`);
* ``lime_forest``, ``lime_zero``, ``lime_noise``: LIME with a random-forest surrogate (signed
  impurity importances), with switched-off segments at zero, or showing noise
  (:mod:`svdlib.explain.variants`);
* ``kernelshap``: the segment's Shapley value (captum ``KernelShap``);
* ``occlusion``: ``f(x) − f(x with s at the baseline)`` (captum ``FeatureAblation``);
* ``integrated_gradients``: ``Σ_{bins in s} (x − b) · ∫ ∂f/∂x`` (captum);
* ``saliency``: ``Σ_{bins in s} |∂f/∂x|``, unsigned (captum ``Saliency``);
* ``gradient_x_input``: ``Σ_{bins in s} x · ∂f/∂x`` (captum ``InputXGradient``);

  (the gradient methods' "bins" are the coefficients of the segmentation's view: the cells of
  a pointwise segmentation, the STFT coefficients of an STFT one, the model fed ``istft(z)``)
* ``random``: a standard normal draw, seeded by ``seed`` and the excerpt (the floor).

Positive means "for" the explained class; for target 0 of a binary model the ranking is
ascending, as for LIME's class-1 weights. Unsigned relevances (``Relevance.signed`` False)
rank descending for either target.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from svdlib.constants import EXPLAINERS
from svdlib.explain.attribution import Relevance, SegmentExplainer, as_excerpts
from svdlib.explain.gradients import (
    GradientXInputExplainer,
    IntegratedGradientsExplainer,
    SaliencyExplainer,
)
from svdlib.explain.lime_explainer import LimeExplainer
from svdlib.explain.model_output import Model
from svdlib.explain.perturbation import KernelShapExplainer, OcclusionExplainer
from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.explain.variants import LimeForestExplainer, LimeNoiseExplainer, LimeZeroExplainer

__all__ = ["EXPLAINERS", "LimeExplainer", "RandomExplainer", "make_explainer",
           "needs_gradient"]


class RandomExplainer(SegmentExplainer):
    """The floor: a standard normal relevance per segment, the model unused.

    The draw is seeded by ``seed`` and a hash of the excerpt's float32 bytes, so a seed gives
    the same relevances for the same excerpt (and :meth:`explain_many` equals calling one by
    one) while different seeds or excerpts give different rankings. Signed: about half the
    segments are positive.
    """

    name = "random"

    def __init__(self, model: Model | None, segmentation: BaseSegmentation, *, label: int = 1,
                 seed: int | None = 0, baseline: Any = "mean", device: Any = None) -> None:
        self.segmentation = segmentation
        self.seed = seed

    def __call__(self, excerpt: np.ndarray) -> Relevance:
        """Explain one excerpt of the segmentation's shape."""
        x = as_excerpts(excerpt, self.segmentation)
        if len(x) != 1:
            raise ValueError("call explain_many for several excerpts")
        digest = int.from_bytes(hashlib.blake2b(x.tobytes(), digest_size=8).digest(), "little")
        entropy = [digest] if self.seed is None else [int(self.seed), digest]
        rng = np.random.default_rng(np.random.SeedSequence(entropy))
        return Relevance(rng.standard_normal(self.segmentation.n_components), float("nan"),
                           None, True)


_CLASSES: dict[str, type[SegmentExplainer]] = {
    "lime": LimeExplainer,
    "lime_forest": LimeForestExplainer,
    "lime_zero": LimeZeroExplainer,
    "lime_noise": LimeNoiseExplainer,
    "kernelshap": KernelShapExplainer,
    "occlusion": OcclusionExplainer,
    "integrated_gradients": IntegratedGradientsExplainer,
    "saliency": SaliencyExplainer,
    "gradient_x_input": GradientXInputExplainer,
    "random": RandomExplainer,
}

assert tuple(_CLASSES) == EXPLAINERS   # the names, defined once in svdlib.constants


def make_explainer(name: str, model: Model | None, segmentation: BaseSegmentation, *,
                   label: int = 1, seed: int | None = 0,
                   baseline: str | np.ndarray | float = "mean",
                   device: torch.device | str | None = None,
                   **settings: Any) -> SegmentExplainer:
    """One of :data:`EXPLAINERS` for a model over a segmentation.

    Parameters
    ----------
    name : str
        ``'lime'``, ``'lime_forest'``, ``'lime_zero'``, ``'lime_noise'``, ``'kernelshap'``,
        ``'occlusion'``, ``'integrated_gradients'``, ``'saliency'``, ``'gradient_x_input'``
        or ``'random'``.
    model : callable
        ``(B, *shape)`` float tensor → ``(B,)`` P(class 1) or ``(B, C)`` scores. The
        gradient methods need it differentiable (a module in eval mode, or a function that
        keeps its gradient, not a predictor running under ``torch.inference_mode``); the same
        callable serves the other methods, which evaluate it without gradients (a faster
        inference-only predictor may be given to them instead); ``'random'`` does not use it.
    segmentation : BaseSegmentation
        The segments the relevances are given for: the grid over ``(frames, bands)``, or
        labels, time or STFT segments (:mod:`svdlib.explain.segmentations`) of excerpts of
        any shape, e.g. waveforms ``(L,)``.
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
        The method's own: ``lime``: :class:`LimeExplainer`'s (``num_samples``, ``batch_size``,
        ``kernel_width``, ...), and the same for the LIME variants (``lime_forest`` also
        ``n_estimators``, ``min_samples_leaf``, ``max_features``); ``kernelshap``:
        ``num_samples``, ``perturbations_per_eval``; ``occlusion``: ``perturbations_per_eval``,
        ``batch_size``; ``integrated_gradients``: ``n_steps`` (32), ``internal_batch_size``,
        ``method``, ``batch_size``; ``saliency``, ``gradient_x_input``: ``batch_size``
        (excerpts per call).

    Returns
    -------
    SegmentExplainer
        ``explainer(excerpt) -> Relevance``; ``explainer.explain_many(excerpts)``.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from svdlib import Segmentation, make_explainer
    >>> from svdlib.constants import EXPLAINERS
    >>> EXPLAINERS
    ('lime', 'lime_forest', 'lime_zero', 'lime_noise', 'kernelshap', 'occlusion',
     'integrated_gradients', 'saliency', 'gradient_x_input', 'random')
    >>> model = lambda x: torch.sigmoid(10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2))
    >>> excerpt = np.zeros((115, 80), np.float32); excerpt[:23, :20] = 1.0
    >>> occlusion = make_explainer("occlusion", model, Segmentation())
    >>> saliency = make_explainer("saliency", model, Segmentation())
    >>> [int(e(excerpt).weights.argmax()) for e in (occlusion, saliency)], saliency.signed
    ([0, 0], False)
    """
    if name not in _CLASSES:
        raise ValueError(f"unknown explainer '{name}'; choose one of {', '.join(EXPLAINERS)}")
    if name != "random" and model is None:
        raise ValueError(f"explainer '{name}' needs a model")
    return _CLASSES[name](model, segmentation, label=label, seed=seed, baseline=baseline,
                          device=device, **settings)


def needs_gradient(name: str) -> bool:
    """Whether explainer ``name`` needs a differentiable model.

    True for the gradient methods, which need a module that records gradients; the others
    only evaluate the model and should get its fastest inference path (for the detector the
    :class:`~svdlib.detector.predictor.DetectorPredictor`: the folded module called on whole
    batches costs LIME about twice as much on a CPU).

    Parameters
    ----------
    name : str
        One of :data:`EXPLAINERS`.

    Returns
    -------
    bool
        Whether ``make_explainer(name, model, ...)`` needs ``model`` differentiable.
    """
    if name not in _CLASSES:
        raise ValueError(f"unknown explainer '{name}'; choose one of {', '.join(EXPLAINERS)}")
    return _CLASSES[name].differentiable
