"""LIME with audioLIME's semantics: :class:`LimeExplainer`, the one way to run LIME.

:func:`~svdlib.explain.explainers.make_explainer` builds it as ``'lime'``; the LIME variants
of :mod:`svdlib.explain.variants` wrap it with another surrogate or masking.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from svdlib.explain.attribution import Relevance, SegmentExplainer, as_excerpts
from svdlib.explain.explanation import Explanation
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.lime import LimeAudioExplainer
from svdlib.explain.model_output import Model, TargetOutput, model_device
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
