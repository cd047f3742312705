"""Decision rules: when a model's output counts as flipped for its pair, and by what margin.

One type, :class:`DecisionRule`, answers both questions every measure asks of a model's
outputs: :meth:`~DecisionRule.flipped` (the flip curve, Tables 1 and 2, subset recovery, the
exhaustive search) and :meth:`~DecisionRule.margin` (how clearly it flipped: the exhaustive
search's choice among equally small flipping subsets). A rule is also called directly,
``rule(outputs, pair)``, which is :meth:`~DecisionRule.flipped`; a plain callable with that
signature serves as a rule without a margin.

* :func:`threshold_rule` for a binary model whose ``predict`` returns P(class 1) ``(M,)`` (the
  paper: P(sing) against the detector's threshold, towards the attack's target class);
* :func:`class_change_rule` for a multi-class model whose ``predict`` returns ``(M, C)`` scores:
  flipped when the predicted class differs from the pair's original class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from svdlib.veracity.flips import is_flipped

#: ``(M, frames, bands)`` float32 excerpts → the model's outputs ``(M,)`` or ``(M, C)``.
Predict = Callable[[np.ndarray], np.ndarray]


class DecisionRule:
    """Whether each output flipped its pair's decision, and how clearly.

    Subclasses implement :meth:`flipped` and :meth:`margin`; a positive margin means flipped.

    Examples
    --------
    A rule for a model that returns logits, with a margin (used to choose among equally small
    flipping subsets):

    >>> import numpy as np
    >>> from svdlib import DecisionRule
    >>> class PositiveLogit(DecisionRule):
    ...     def flipped(self, outputs, pair):
    ...         return np.asarray(outputs) > 0
    ...     def margin(self, outputs, pair):
    ...         return np.asarray(outputs, dtype=float)
    >>> rule = PositiveLogit()
    >>> rule(np.array([-1.0, 2.0]), pair=np.array([0, 0]))
    array([False,  True])
    """

    def flipped(self, outputs: np.ndarray, pair: np.ndarray) -> np.ndarray:
        """Whether each output counts as flipped for its pair: bool ``(M,)``."""
        raise NotImplementedError

    def margin(self, outputs: np.ndarray, pair: np.ndarray) -> np.ndarray:
        """How far each output lies beyond the decision, float ``(M,)`` (larger: clearer)."""
        raise NotImplementedError

    def __call__(self, outputs: np.ndarray, pair: np.ndarray) -> np.ndarray:
        """The same as :meth:`flipped`."""
        return self.flipped(outputs, pair)


#: A :class:`DecisionRule`, or any ``(outputs, pair) -> bool (M,)`` callable (no margin).
Decision = DecisionRule | Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ThresholdRule(DecisionRule):
    """A binary model's decision: P(class 1) beyond the threshold towards ``target``."""

    target: int
    threshold: float

    def flipped(self, outputs: np.ndarray, pair: np.ndarray) -> np.ndarray:
        """``p > threshold`` for target 1, ``p < threshold`` for 0."""
        del pair
        return is_flipped(np.asarray(outputs, dtype=float).reshape(-1), self.target,
                          self.threshold)

    def margin(self, outputs: np.ndarray, pair: np.ndarray) -> np.ndarray:
        """``p − threshold`` for target 1, ``threshold − p`` for 0."""
        del pair
        sign = 1.0 if self.target == 1 else -1.0
        return sign * (np.asarray(outputs, dtype=float).reshape(-1) - self.threshold)


@dataclass(frozen=True, eq=False)
class ClassChangeRule(DecisionRule):
    """A multi-class model's decision: the predicted class is not the pair's original class."""

    original_classes: np.ndarray

    def _scores(self, outputs: np.ndarray) -> np.ndarray:
        scores = np.array(outputs, dtype=float)
        if scores.ndim != 2:
            raise ValueError(f"class_change_rule needs (M, C) outputs, got {scores.shape}")
        return scores

    def flipped(self, outputs: np.ndarray, pair: np.ndarray) -> np.ndarray:
        """The highest score is not the pair's original class."""
        scores = self._scores(outputs)
        return scores.argmax(axis=1) != self.original_classes[np.asarray(pair, dtype=int)]

    def margin(self, outputs: np.ndarray, pair: np.ndarray) -> np.ndarray:
        """The best other class's score minus the original class's."""
        scores = self._scores(outputs)
        rows, own = np.arange(len(scores)), self.original_classes[np.asarray(pair, dtype=int)]
        mine, scores[rows, own] = scores[rows, own].copy(), -np.inf
        return scores.max(axis=1) - mine


def threshold_rule(target: int, threshold: float) -> ThresholdRule:
    """A binary model's decision: P(class 1) beyond the threshold towards ``target``.

    Parameters
    ----------
    target : {0, 1}
        The class the attack drives towards: flipped means ``p > threshold`` for 1 and
        ``p < threshold`` for 0.
    threshold : float
        The model's decision threshold.

    Returns
    -------
    ThresholdRule
        ``rule(outputs, pair)`` for outputs ``(M,)`` of P(class 1); its margin is
        ``p − threshold`` for target 1 and ``threshold − p`` for 0.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import threshold_rule
    >>> rule = threshold_rule(1, 0.5)             # the attack drives towards class 1
    >>> p = np.array([0.2, 0.7])                  # P(class 1) of two partial adversaries
    >>> rule(p, pair=np.array([0, 1])), rule.margin(p, pair=np.array([0, 1]))
    (array([False,  True]), array([-0.3,  0.2]))
    """
    if target not in (0, 1):
        raise ValueError(f"target must be 0 or 1, got {target!r}")
    return ThresholdRule(int(target), float(threshold))


def class_change_rule(original_classes: Sequence[int] | np.ndarray) -> ClassChangeRule:
    """A multi-class model's decision: the predicted class is not the pair's original class.

    Parameters
    ----------
    original_classes : array-like of int
        ``(N,)`` the class the model predicts for each pair's original excerpt.

    Returns
    -------
    ClassChangeRule
        ``rule(outputs, pair)`` for outputs ``(M, C)`` of class scores; its margin is the best
        other class's score minus the original class's.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import class_change_rule
    >>> rule = class_change_rule([0, 2])          # the original excerpts' classes
    >>> scores = np.array([[0.1, 0.8, 0.1],       # pair 0: class 1 now wins, flipped
    ...                    [0.2, 0.1, 0.7]])      # pair 1: still class 2
    >>> rule(scores, pair=np.array([0, 1])), rule.margin(scores, pair=np.array([0, 1]))
    (array([ True, False]), array([ 0.7, -0.5]))
    """
    return ClassChangeRule(np.asarray(original_classes, dtype=int))
