"""Subset recovery (Figure 3), in two steps, so that the explanations can be made elsewhere.

Keep δ only in a pair's k highest-energy segments; where that partial adversary still flips
the decision, explain it and see whether the explanation ranks exactly those k segments first.

1. :func:`subset_partials`: which partial adversaries must be explained (those that flip), with
   their excerpts and the k modified segments;
2. :func:`subset_recovery`: how the explanations of those partial adversaries rank the modified
   segments. It takes an explainer (called on the partial excerpts) or relevances computed
   before, one row per partial adversary in :func:`subset_partials`' order: a pipeline can
   explain the partial adversaries in its own work items and hand the relevances back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.veracity.flips import predict_outputs
from svdlib.veracity.measures import (
    Method,
    attribution_ranking,
    check_pairs,
    energy_ranking,
    keep_top_k,
    stack_relevances,
    stored_relevances,
)
from svdlib.veracity.rules import Decision, Predict

COLUMNS = ["k", "pair", "modified", "top", "detected", "all_detected", "top1_correct",
           "fidelity"]


@dataclass(frozen=True, eq=False)
class PartialAdversaries:
    """The partial adversaries subset recovery explains, ordered by k, then pair.

    Attributes
    ----------
    k, pair : np.ndarray
        ``(M,)`` each one's number of modified segments and its pair.
    modified : tuple of np.ndarray
        Per partial adversary, the ids of its k modified segments, highest energy first.
    excerpts : np.ndarray or None
        ``(M, *shape)`` the partial adversaries (None when only stored results are at
        hand: enough for stored relevances).
    """

    k: np.ndarray
    pair: np.ndarray
    modified: tuple[np.ndarray, ...]
    excerpts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pair)


def energy_partials(original: np.ndarray, adversarial: np.ndarray,
                    segmentation: BaseSegmentation, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's δ kept only in its k highest-energy segments.

    Returns
    -------
    tuple of np.ndarray
        The partial adversaries ``(N, *shape)`` float32 and the kept segments
        ``(N, k)``, highest energy first.
    """
    ranking = energy_ranking(original, adversarial, segmentation)
    return keep_top_k(original, adversarial, ranking, k, segmentation), ranking[:, :k]


def subset_partials(original: np.ndarray, adversarial: np.ndarray,
                    segmentation: BaseSegmentation, predict: Predict, decide: Decision,
                    ks: Sequence[int] = (1, 3, 5)) -> PartialAdversaries:
    """The partial adversaries to explain: δ in its k highest-energy segments still flips.

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, *shape)`` excerpts of the pairs.
    segmentation, predict, decide
        As in :func:`~svdlib.veracity.measures.flip_curve`.
    ks : sequence of int
        The numbers of modified segments.

    Returns
    -------
    PartialAdversaries
        Those that flip, ordered by k (in the order of ``ks``), then pair.

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import subset_partials
    >>> partials = subset_partials(original, adversarial, seg, predict, rule, ks=(1, 2))
    >>> partials.k.tolist(), partials.pair.tolist()
    ([1, 1, 1, 1, 2, 2, 2, 2], [0, 1, 2, 3, 0, 1, 2, 3])
    >>> partials.modified[0].tolist(), partials.modified[4].tolist(), partials.excerpts.shape
    ([0], [0, 19], (8, 115, 80))
    """
    original, adversarial = check_pairs(original, adversarial, segmentation)
    pairs = np.arange(len(original))
    ks_out, pairs_out, modified, excerpts = [], [], [], []
    for k in ks:
        if not len(original):
            break
        partial, kept = energy_partials(original, adversarial, segmentation, k)
        chosen = np.flatnonzero(decide(predict_outputs(predict, partial), pairs))
        ks_out.append(np.full(len(chosen), int(k)))
        pairs_out.append(chosen)
        modified += [kept[i] for i in chosen]
        excerpts.append(partial[chosen])
    if not ks_out:
        return PartialAdversaries(np.zeros(0, int), np.zeros(0, int), (),
                                  np.zeros((0, *segmentation.shape), np.float32))
    return PartialAdversaries(np.concatenate(ks_out), np.concatenate(pairs_out),
                              tuple(modified), np.concatenate(excerpts))


def subset_recovery(partials: PartialAdversaries, method: Method,
                    segmentation: BaseSegmentation, target: int = 1) -> pd.DataFrame:
    """Figure 3: does each explanation of a partial adversary rank its modified segments first.

    Parameters
    ----------
    partials : PartialAdversaries
        From :func:`subset_partials` (or rebuilt from stored results).
    method : callable, np.ndarray or StoredRelevances
        An explainer (called on ``partials.excerpts``, one at a time) or the relevances
        ``(M, n_components)`` of the partial adversaries in their order (with fidelities in
        :class:`~svdlib.veracity.measures.StoredRelevances` ``scores``).
    segmentation : BaseSegmentation
        The segments the relevances are given for.
    target : {0, 1}
        Orders signed relevances as :func:`~svdlib.veracity.measures.attribution_ranking`.

    Returns
    -------
    pandas.DataFrame
        ``k, pair, modified, top`` (segment ids, space-separated), ``detected`` (how many of
        the k are in the top k), ``all_detected``, ``top1_correct`` (k = 1 only) and
        ``fidelity`` (the explainer's score).

    Examples
    --------
    Four pairs: the toy model reads only segment 0, where δ flips its decision; a weaker part
    of δ in segment 19 does not matter to it.

    >>> import numpy as np
    >>> from svdlib import Segmentation, threshold_rule
    >>> seg = Segmentation()                       # 5 × 4 segments of 115 × 80
    >>> original = np.zeros((4, 115, 80), np.float32)
    >>> adversarial = original.copy()
    >>> adversarial[:, :23, :20] = 1.0             # δ in segment 0 ...
    >>> adversarial[:, 92:, 60:] = 0.5             # ... and in segment 19
    >>> predict = lambda x: x[:, :23, :20].mean(axis=(1, 2))          # P(class 1)
    >>> rule = threshold_rule(1, 0.5)
    >>> from svdlib import Relevance, subset_partials, subset_recovery
    >>> partials = subset_partials(original, adversarial, seg, predict, rule, ks=(1, 2))
    >>> brightness = lambda excerpt: Relevance(seg.energy(excerpt))    # an explainer
    >>> recovery = subset_recovery(partials, brightness, seg)
    >>> recovery.groupby("k").all_detected.mean()
    k
    1    1.0
    2    1.0
    Name: all_detected, dtype: float64
    """
    if callable(method):
        if partials.excerpts is None:
            raise ValueError("these partial adversaries carry no excerpts to explain: give "
                             "their stored relevances")
        stored = stack_relevances(method, [method(e) for e in partials.excerpts], segmentation)
    else:
        stored = stored_relevances(method, len(partials), segmentation)
    ranking = attribution_ranking(stored.weights, target, stored.signed)
    scores = stored.scores if stored.scores is not None else np.full(len(partials), np.nan)
    rows = []
    for j in range(len(partials)):
        k = int(partials.k[j])
        top, modified = ranking[j, :k].tolist(), np.asarray(partials.modified[j]).tolist()
        detected = len(set(modified) & set(top))
        rows.append({"k": k, "pair": int(partials.pair[j]),
                     "modified": " ".join(map(str, modified)), "top": " ".join(map(str, top)),
                     "detected": detected, "all_detected": detected == k,
                     "top1_correct": top[0] == modified[0] if k == 1 else None,
                     "fidelity": float(scores[j])})
    return pd.DataFrame(rows, columns=COLUMNS)

