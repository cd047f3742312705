"""Seven explainers behind one interface, each giving one relevance per segment.

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
  :meth:`LimeExplainer.explanation` gives the whole explanation);
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
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from svdlib.constants import EXPLAINERS
from svdlib.explain.attribution import Relevance, SegmentExplainer, as_excerpts
from svdlib.explain.explanation import Explanation
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.gradients import (
    GradientXInputExplainer,
    IntegratedGradientsExplainer,
    SaliencyExplainer,
)
from svdlib.explain.lime import LimeAudioExplainer
from svdlib.explain.model_output import Model, TargetOutput, model_device
from svdlib.explain.perturbation import KernelShapExplainer, OcclusionExplainer
from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.explain.segments import Segmentation


class LimeExplainer(SegmentExplainer):
    """LIME with audioLIME's semantics: the one way to run LIME on an excerpt.

    ``explainer(excerpt)`` gives the :class:`~svdlib.explain.attribution.Relevance` the
    veracity measures and the benchmark use (the surrogate's weights for the explained class
    and its R²); ``explainer.explanation(excerpt)`` the whole audioLIME-style
    :class:`~svdlib.explain.explanation.Explanation` (neighbourhood, model outputs and, per
    label, weights, intercept, R² and local prediction) that the paper's pipeline stores. The
    engine is :class:`~svdlib.explain.lime.LimeAudioExplainer`; both calls draw the same masks
    and fit the same surrogate, so the weights of one label are equal bit for bit.

    The model is evaluated as it is given, in batches of ``batch_size`` perturbed inputs:
    give it the fastest inference path of the model (for the detector the
    :class:`~svdlib.detector.predictor.DetectorPredictor`, not its differentiable module);
    LIME then costs about the model's forward passes over its ``num_samples`` inputs.

    Parameters
    ----------
    model : callable
        ``(B, *shape)`` float32 tensor on ``device`` → ``(B,)`` P(class 1) (LIME explains
        ``[1 − p, p]``), or ``(B, C)`` scores; torch (detached here, so a module or a
        function that keeps its gradient serves) or numpy results.
    segmentation : BaseSegmentation, optional
        The segments (default: the paper's 5 × 4 grid over 115 × 80; any segmentation of
        :mod:`svdlib.explain.segmentations` for other shapes).
    label : int
        The output column whose weights ``explainer(excerpt)`` returns; a binary model's
        class-1 weights are returned whatever ``label`` (class 0 ranks ascending). For
        ``label`` other than 1 the model's output form is probed once, on the first excerpt.
    seed : int, Generator, RandomState or None
        Randomness of the masks (and of the 'unif' / 'shuffle' baselines). An int draws the
        same masks for every excerpt; a generator is consumed.
    baseline : str, array or float
        What a switched-off segment shows: ``'mean'`` (the excerpt's mean, the paper's),
        ``'zero'``, ``'min'``, ``'max'``, ``'unif'``, ``'shuffle'``, an array or a constant.
    device : torch.device or str, optional
        Where the perturbed inputs are built (default: the model's device, else the best).
    num_samples : int or 'exhaustive'
        Neighbourhood size, row 0 the unperturbed excerpt (the paper: 8192).
    batch_size : int
        Perturbed inputs per model call; does not change the results.
    **engine
        ``kernel_width``, ``kernel``, ``feature_selection``, ``absolute_feature_sort``,
        ``sampler``, ``highest_weights_alpha``, ``verbose``: as for
        :class:`~svdlib.explain.lime.LimeAudioExplainer` (``sampler='audiolime'`` gives
        audioLIME's masks); ``num_features``, ``distance_metric``, ``model_regressor``,
        ``fit_intercept``, ``progress``, ``per_sample``: as for
        :meth:`~svdlib.explain.lime.LimeAudioExplainer.explain_instance` (``per_sample``:
        one forward per sample, audioLIME's slow path, for reference).

    Examples
    --------
    A toy model whose P(class 1) depends only on segment 0: LIME finds it.

    >>> import numpy as np
    >>> import torch
    >>> from svdlib import LimeExplainer, Segmentation
    >>> model = lambda x: torch.sigmoid(10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2))
    >>> excerpt = np.zeros((115, 80), np.float32); excerpt[:23, :20] = 1.0
    >>> explain = LimeExplainer(model, Segmentation(), num_samples=256, seed=0)
    >>> relevance = explain(excerpt)
    >>> relevance.weights.shape, int(relevance.weights.argmax()), relevance.score > 0.9
    ((20,), 0, True)
    """

    name = "lime"

    def __init__(self, model: Model, segmentation: BaseSegmentation | None = None, *,
                 label: int = 1, seed: int | np.random.Generator | np.random.RandomState
                 | None = 0, baseline: str | np.ndarray | float = "mean",
                 device: torch.device | str | None = None, num_samples: int | str = 8192,
                 batch_size: int = 256, **engine: Any) -> None:
        unknown = set(engine) - _LIME_ENGINE - _LIME_FIT
        if unknown:
            raise TypeError(f"unknown LIME setting(s) {', '.join(sorted(unknown))}; choose "
                            f"from {', '.join(sorted(_LIME_ENGINE | _LIME_FIT))}")
        if not callable(model):
            raise TypeError(f"the model must be callable, got {type(model).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model = model
        self.segmentation = segmentation if segmentation is not None else Segmentation()
        self.label = int(label)
        self.seed = seed
        self.baseline = baseline
        self.device = model_device(model, device)
        self.num_samples = num_samples
        self.batch_size = int(batch_size)
        self.engine = {k: v for k, v in engine.items() if k in _LIME_ENGINE}
        self.fit = {k: v for k, v in engine.items() if k in _LIME_FIT}
        self._engine()                       # an unknown sampler or selection fails here
        self._target = TargetOutput(model, label)

    def _engine(self) -> LimeAudioExplainer:
        """A fresh engine: an int seed draws the same masks on every call."""
        return LimeAudioExplainer(random_state=self.seed, **self.engine)

    def explanation(self, excerpt: np.ndarray | torch.Tensor,
                    labels: Iterable[int] | None = (0, 1),
                    top_labels: int | None = None) -> Explanation:
        """The whole LIME explanation of one excerpt.

        Parameters
        ----------
        excerpt : array or tensor
            One excerpt of the segmentation's shape (``(frames, bands)`` for the grid).
        labels : iterable of int, optional
            Output columns to fit a surrogate for (``(0, 1)``: "no sing" and "sing" of a
            probability model); ignored with ``top_labels``.
        top_labels : int, optional
            Fit the K highest outputs on the unperturbed excerpt instead.

        Returns
        -------
        Explanation
            Masks, outputs, and per label intercept, weights, R², local prediction.
        """
        x = as_excerpts(excerpt, self.segmentation)
        if len(x) != 1:
            raise ValueError("explain one excerpt at a time")
        seed = self.seed if isinstance(self.seed, (int, np.integer, np.random.Generator)) \
            else None
        factorization = TimeFrequencyFactorization(x[0], self.segmentation, self.baseline,
                                                   seed=seed)
        return self._engine().explain_instance(
            factorization, self.model, labels=labels, top_labels=top_labels,
            num_samples=self.num_samples, batch_size=self.batch_size, device=self.device,
            **self.fit)

    def explained_label(self, excerpt: np.ndarray) -> int:
        """The output column whose weights are returned: 1 for a binary model, else label."""
        if self.label == 1:
            return 1                 # column 1 of [1 − p, p] and of (B, C) alike: no probe
        if self._target.binary is None:
            with torch.no_grad():
                self._target(torch.from_numpy(as_excerpts(excerpt, self.segmentation))
                             .to(self.device))
        return 1 if self._target.binary else self.label

    def __call__(self, excerpt: np.ndarray) -> Relevance:
        """Explain one excerpt: the explained label's weights and R²."""
        x = as_excerpts(excerpt, self.segmentation)
        if len(x) != 1:
            raise ValueError("call explain_many for several excerpts")
        label = self.explained_label(x)
        explanation = self.explanation(x[0], labels=(label,))
        return Relevance(explanation.weights(label),
                           float(explanation.metrics(label)["fidelity"]))


#: Settings of :class:`LimeAudioExplainer` and of its ``explain_instance``.
_LIME_ENGINE = frozenset({"kernel_width", "kernel", "verbose", "feature_selection",
                          "absolute_feature_sort", "sampler", "highest_weights_alpha"})
_LIME_FIT = frozenset({"num_features", "distance_metric", "model_regressor", "fit_intercept",
                       "progress", "per_sample"})


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
        ``'lime'``, ``'kernelshap'``, ``'occlusion'``, ``'integrated_gradients'``,
        ``'saliency'``, ``'gradient_x_input'`` or ``'random'``.
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
        ``kernel_width``, ...); ``kernelshap``: ``num_samples``, ``perturbations_per_eval``;
        ``occlusion``: ``perturbations_per_eval``, ``batch_size``; ``integrated_gradients``:
        ``n_steps`` (32), ``internal_batch_size``, ``method``, ``batch_size``; ``saliency``,
        ``gradient_x_input``: ``batch_size`` (excerpts per call).

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
    ('lime', 'kernelshap', 'occlusion', 'integrated_gradients', 'saliency',
     'gradient_x_input', 'random')
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
