"""What every explainer returns: one relevance per segment, and the interface to call one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

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
    """

    weights: np.ndarray
    score: float = float("nan")


#: ``(frames, bands)`` excerpt → its :class:`Attribution`.
Explainer = Callable[[np.ndarray], Attribution]


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
