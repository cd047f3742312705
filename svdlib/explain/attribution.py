"""What every explainer returns: one relevance per segment, and the interface to call one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from svdlib.explain.segmentations.base import BaseSegmentation


class Relevance(NamedTuple):
    """One explanation of one excerpt, as the veracity measures use it.

    Attributes
    ----------
    weights : np.ndarray
        ``(n_components,)`` relevance of each segment for class 1 (binary models) or for the
        explained class (multi-class models); positive means "for" the class.
    score : float
        The explainer's own fidelity (LIME's R² of its surrogate), NaN where it has none.
    bin_map : np.ndarray or None
        The per-coefficient attribution that ``weights`` were summed from (gradient methods),
        in the segmentation's view: ``(frames, bands)`` for the grid, ``(L,)`` for time
        segments of a waveform, ``(bins, frames, 2)`` for an STFT segmentation; None where the
        method has none (LIME, KernelSHAP, occlusion, random).
    signed : bool
        False for relevances without a sign (saliency's ``|gradient|``): the segments are then
        ranked by descending relevance for either target, and none counts "against" a class.

    Examples
    --------
    Any callable that returns one ``Relevance`` per excerpt is an explainer; this one scores
    each segment by its mean:

    >>> import numpy as np
    >>> from svdlib import Relevance, Segmentation
    >>> seg = Segmentation()
    >>> masks = seg.masks_np(np.eye(seg.n_components), dtype=bool)          # (20, 115, 80)
    >>> def brightness(excerpt):
    ...     return Relevance(np.array([excerpt[m].mean() for m in masks]))
    >>> excerpt = np.zeros(seg.shape, np.float32); excerpt[:23, :20] = 1.0
    >>> relevance = brightness(excerpt)
    >>> relevance.weights.shape, int(relevance.weights.argmax()), relevance.signed
    ((20,), 0, True)
    """

    weights: np.ndarray
    score: float = float("nan")
    bin_map: np.ndarray | None = None
    signed: bool = True


#: An excerpt (of the segmentation's shape) → its :class:`Relevance`.
Explainer = Callable[[np.ndarray], Relevance]


def as_excerpts(excerpts: Any, segmentation: BaseSegmentation) -> np.ndarray:
    """``(N, *shape)`` (or one excerpt of the segmentation's shape) as float32 ``(N, *shape)``.

    Parameters
    ----------
    excerpts : array or tensor
        Excerpts of ``segmentation.shape``, with or without the batch axis.
    segmentation : BaseSegmentation
        Gives the shape.

    Returns
    -------
    np.ndarray
        ``(N, *shape)`` float32 (a tensor detached and moved to the CPU).
    """
    if isinstance(excerpts, torch.Tensor):
        excerpts = excerpts.detach().cpu().numpy()
    return segmentation.batch(np.asarray(excerpts, dtype=np.float32))


class SegmentExplainer:
    """An :data:`Explainer` over the segments of one segmentation, for excerpts of its shape.

    The segmentation is any :class:`~svdlib.explain.segmentations.base.BaseSegmentation`: the
    grid, labels, time or STFT segments.

    Subclasses set :attr:`name` and implement ``__call__``; :meth:`explain_many` loops
    unless a subclass batches (the gradient methods and occlusion do).

    Examples
    --------
    A subclass gets :meth:`explain_many` (and a place among the run's explainers):

    >>> import numpy as np
    >>> from svdlib import Relevance, SegmentExplainer, Segmentation
    >>> class Brightness(SegmentExplainer):
    ...     name = "brightness"
    ...     def __init__(self, segmentation):
    ...         self.segmentation = segmentation
    ...     def __call__(self, excerpt):
    ...         return Relevance(self.segmentation.energy(excerpt))
    >>> explainer = Brightness(Segmentation())
    >>> excerpts = np.zeros((2, 115, 80), np.float32); excerpts[:, 100:, 60:] = 1.0
    >>> [int(r.weights.argmax()) for r in explainer.explain_many(excerpts)]
    [19, 19]
    """

    name: str = "explainer"
    #: Whether the relevances have a sign (see :attr:`Relevance.signed`).
    signed: bool = True
    #: Whether the method needs the model's gradient (then the model must be a
    #: differentiable module, not an inference-mode predictor); the perturbation methods only
    #: evaluate the model and are fastest with an inference-mode predictor.
    differentiable: bool = False
    segmentation: BaseSegmentation

    def __call__(self, excerpt: np.ndarray) -> Relevance:
        """Explain one excerpt of the segmentation's shape."""
        raise NotImplementedError

    def explain_many(self, excerpts: np.ndarray) -> list[Relevance]:
        """Explain ``(N, *shape)`` excerpts; equal to calling one by one."""
        return [self(x) for x in as_excerpts(excerpts, self.segmentation)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, segmentation={self.segmentation})"
