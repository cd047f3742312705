"""What every explainer returns: one relevance per segment, and the interface to call one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from svdlib.explain.segments import Segmentation


class Attribution(NamedTuple):
    """One explanation of one excerpt, as the veracity measures use it.

    Attributes
    ----------
    weights : np.ndarray
        ``(n_components,)`` relevance of each segment for class 1 (binary models) or for the
        explained class (multi-class models); positive means "for" the class.
    score : float
        The explainer's own fidelity (LIME's R² of its surrogate), NaN where it has none.
    bin_map : np.ndarray or None
        ``(frames, bands)`` per-bin attribution that ``weights`` were summed from (gradient
        methods); None where the method has none (LIME, KernelSHAP, occlusion, random).
    signed : bool
        False for relevances without a sign (saliency's ``|gradient|``): the segments are then
        ranked by descending relevance for either target, and none counts "against" a class.
    """

    weights: np.ndarray
    score: float = float("nan")
    bin_map: np.ndarray | None = None
    signed: bool = True


#: ``(frames, bands)`` excerpt → its :class:`Attribution`.
Explainer = Callable[[np.ndarray], Attribution]


def as_excerpts(excerpts: Any, segmentation: Segmentation) -> np.ndarray:
    """``(N, frames, bands)`` (or one ``(frames, bands)``) excerpts as float32 ``(N, F, B)``."""
    if isinstance(excerpts, torch.Tensor):
        excerpts = excerpts.detach().cpu().numpy()
    x = np.asarray(excerpts, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != segmentation.shape:
        raise ValueError(f"expected (N, {segmentation.n_frames}, {segmentation.n_bands}) "
                         f"excerpts for this segmentation, got shape {x.shape}")
    return x


class SegmentExplainer:
    """An :data:`Explainer` over the segments of one :class:`Segmentation`.

    Subclasses set :attr:`name` and implement ``__call__``; :meth:`explain_many` loops
    unless a subclass batches (the gradient methods and occlusion do).
    """

    name: str = "explainer"
    #: Whether the relevances have a sign (see :attr:`Attribution.signed`).
    signed: bool = True
    segmentation: Segmentation

    def __call__(self, excerpt: np.ndarray) -> Attribution:
        """Explain one ``(frames, bands)`` excerpt."""
        raise NotImplementedError

    def explain_many(self, excerpts: np.ndarray) -> list[Attribution]:
        """Explain ``(N, frames, bands)`` excerpts; equal to calling one by one."""
        return [self(x) for x in as_excerpts(excerpts, self.segmentation)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, segmentation={self.segmentation})"


def lime_explainer(predict_fn: Callable[..., Any], segmentation: Segmentation | None = None,
                   label: int = 1, **settings: Any) -> Explainer:
    """LIME with audioLIME's semantics, as an :data:`Explainer`.

    Parameters
    ----------
    predict_fn : callable
        ``(B, frames, bands)`` float32 tensor → ``(B,)`` P(class 1) or ``(B, C)`` scores.
    segmentation : Segmentation, optional
        The grid (default: the paper's 5 × 4 over the excerpt).
    label : int
        The output column whose weights are returned (1: class 1 of a binary model).
    **settings
        Passed to :func:`~svdlib.explain.lime.explain_excerpt` (``num_samples``, ``seed``,
        ``baseline``, ``kernel_width``, ...).

    Returns
    -------
    callable
        ``explain(excerpt) -> Attribution`` with LIME's weights and its surrogate's R².
    """
    from svdlib.explain.lime import explain_excerpt

    labels = settings.pop("labels", (0, 1) if label in (0, 1) else (label,))

    def explain(excerpt: np.ndarray) -> Attribution:
        explanation = explain_excerpt(predict_fn, excerpt, segmentation, labels=labels,
                                      **settings)
        return Attribution(explanation.weights(label),
                           float(explanation.metrics(label)["fidelity"]))

    return explain
