"""Exact references by exhaustive search: every subset of at most ``max_k`` segments.

A ranking's top k is one k-subset of the segments. Which k-subsets of ``δ = adversarial −
original`` flip the decision is a property of the pair and the model alone: the reference a
ranking is measured against:

* the **chance rate** at k: the share of k-subsets that flip (what a ranking drawn at random
  achieves on average, :func:`chance_rate`);
* **attainability** at k: whether some k-subset flips (the best any ranking can do,
  :func:`attainable_rate`);
* the pair's **smallest flipping subset**, and whether a ranking's top k contains it
  (:func:`contains_smallest`).

:func:`exhaustive_flips` evaluates, for every pair and every k = 1 … ``max_k``, all
``C(n, k)`` partial adversaries (the original with δ kept only in the subset's segments, the
segmentation's :meth:`~svdlib.explain.segmentations.base.BaseSegmentation.keep`: for the grid
exactly :func:`~svdlib.veracity.flips.compose_partial`): 20 + 190 + 1140 = 1350 per pair on the
paper's 5 × 4 grid with ``max_k = 3``. The forward passes are batched across pairs. Excerpts
have any shape the segmentation describes (``(N, frames, bands)``, waveforms ``(N, L)``).

The order of the subsets is fixed: k ascending, and within one k lexicographic by segment ids
(the order of :func:`itertools.combinations`). The smallest flipping subset is the first
flipping subset of the smallest k in that order; with ``by_margin`` it is, among the flipping
subsets of the smallest k, the one with the largest margin of the decision rule
(:meth:`~svdlib.veracity.rules.DecisionRule.margin`; ties still go to the lexicographically
first).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.veracity.flips import predict_outputs
from svdlib.veracity.rules import Decision, Predict


def k_subsets(n_components: int, k: int) -> np.ndarray:
    """All k-subsets of ``range(n_components)``, lexicographic: ``(C(n, k), k)`` int64 ids."""
    rows = list(itertools.combinations(range(n_components), k))
    return np.array(rows, dtype=np.int64).reshape(len(rows), k)


@dataclass(frozen=True, eq=False)
class ExhaustiveResult:
    """Which subsets of at most ``max_k`` segments flip each pair (:func:`exhaustive_flips`).

    Attributes
    ----------
    n_components, max_k : int
        The segmentation's number of segments and the largest subset size searched.
    subsets : tuple of np.ndarray
        Per k = 1 … ``max_k``, ``(C(n, k), k)`` segment ids in lexicographic order.
    flips : tuple of np.ndarray
        Per k, ``(N, C(n, k))`` bool: whether that subset's partial adversary flips the pair.
    smallest : tuple
        Per pair, the smallest flipping subset (a sorted tuple of segment ids) or None when no
        subset of at most ``max_k`` segments flips (order: see the module docstring).
    smallest_margin : np.ndarray
        ``(N,)`` the margin of the smallest subset (NaN without a margin or a subset).
    order : str
        ``"lexicographic"`` or ``"margin"``: how the smallest subset was chosen.
    """

    n_components: int
    max_k: int
    subsets: tuple[np.ndarray, ...]
    flips: tuple[np.ndarray, ...]
    smallest: tuple[tuple[int, ...] | None, ...]
    smallest_margin: np.ndarray
    order: str

    @property
    def n_pairs(self) -> int:
        """Number of pairs N."""
        return len(self.smallest)

    @property
    def n_subsets(self) -> np.ndarray:
        """``(max_k,)`` the number of k-subsets, ``C(n, k)``."""
        return np.array([len(s) for s in self.subsets], dtype=np.int64)

    @property
    def n_flipping(self) -> np.ndarray:
        """``(N, max_k)`` the number of flipping k-subsets of each pair."""
        return np.stack([f.sum(axis=1) for f in self.flips], axis=1).astype(np.int64)

    @property
    def chance(self) -> np.ndarray:
        """``(N, max_k)`` the share of k-subsets that flip (a random top k's flip chance)."""
        return self.n_flipping / self.n_subsets

    @property
    def attainable(self) -> np.ndarray:
        """``(N, max_k)`` whether some subset of exactly k segments flips."""
        return self.n_flipping > 0

    @property
    def smallest_k(self) -> np.ndarray:
        """``(N,)`` the size of each pair's smallest flipping subset, 0 where there is none."""
        return np.array([len(s) if s is not None else 0 for s in self.smallest], dtype=np.int64)

    def flipping(self, pair: int, k: int) -> np.ndarray:
        """The flipping k-subsets of one pair: ``(n_flipping, k)`` ids, lexicographic."""
        self._check_k(k)
        return self.subsets[k - 1][self.flips[k - 1][pair]]

    def _check_k(self, k: int) -> int:
        if not 1 <= int(k) <= self.max_k:
            raise ValueError(f"k must be in 1..{self.max_k} (the search's max_k), got {k}")
        return int(k)

    def to_frame(self) -> pd.DataFrame:
        """A tidy table: one row per pair and k.

        Returns
        -------
        pandas.DataFrame
            ``pair, k, n_subsets, n_flipping, chance, attainable, smallest``, ordered by pair,
            then k; ``smallest`` is the pair's smallest flipping subset as space-separated ids
            (the same on each of its rows), None where there is none.
        """
        pairs = np.repeat(np.arange(self.n_pairs), self.max_k)
        names = [" ".join(map(str, s)) if s is not None else None for s in self.smallest]
        return pd.DataFrame({
            "pair": pairs, "k": np.tile(np.arange(1, self.max_k + 1), self.n_pairs),
            "n_subsets": np.tile(self.n_subsets, self.n_pairs),
            "n_flipping": self.n_flipping.reshape(-1), "chance": self.chance.reshape(-1),
            "attainable": self.attainable.reshape(-1),
            "smallest": pd.Series([names[p] for p in pairs], dtype=object)})


def _check_inputs(original: np.ndarray, adversarial: np.ndarray,
                  segmentation: BaseSegmentation, max_k: int,
                  batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    original, adversarial = np.asarray(original), np.asarray(adversarial)
    if original.shape != adversarial.shape:
        raise ValueError(f"original {original.shape} and adversarial {adversarial.shape} "
                         "excerpts differ in shape")
    shape = tuple(segmentation.shape)
    if original.ndim != len(shape) + 1 or original.shape[1:] != shape:
        raise ValueError(f"excerpts must be (N, *{shape}), got {original.shape}")
    if not 1 <= max_k <= segmentation.n_components:
        raise ValueError(f"max_k must be in 1..{segmentation.n_components}, got {max_k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return original, adversarial


def _evaluate(original: np.ndarray, adversarial: np.ndarray, selection: np.ndarray,
              segmentation: BaseSegmentation, predict: Predict, decide: Decision,
              by_margin: bool, batch_size: int,
              progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Flags and margins ``(N, S)`` of every pair × selection, in batches across pairs."""
    n_sel, total = len(selection), len(original) * len(selection)
    flags, scores = np.zeros((len(original), n_sel), bool), np.full((len(original), n_sel), np.nan)
    with tqdm(total=total, disable=not progress, unit="excerpt", desc="exhaustive") as bar:
        for start in range(0, total, batch_size):
            pair, sub = np.divmod(np.arange(start, min(start + batch_size, total)), n_sel)
            outputs = predict_outputs(predict, segmentation.keep(
                original, adversarial, selection[sub], pairs=pair))
            if len(outputs) != len(pair):
                raise ValueError(f"predict gave {len(outputs)} outputs for {len(pair)} excerpts")
            flags[pair, sub] = np.asarray(decide(outputs, pair), dtype=bool).reshape(-1)
            if by_margin:
                scores[pair, sub] = np.asarray(decide.margin(outputs, pair),
                                               dtype=float).reshape(-1)
            bar.update(len(pair))
    return flags, scores


def _smallest(flips: Sequence[np.ndarray], scores: Sequence[np.ndarray],
              subsets: Sequence[np.ndarray],
              by_margin: bool) -> tuple[list[tuple[int, ...] | None], np.ndarray]:
    """Per pair, the chosen flipping subset of the smallest k and its margin."""
    n_pairs = len(flips[0])
    chosen: list[tuple[int, ...] | None] = [None] * n_pairs
    margins = np.full(n_pairs, np.nan)
    for pair in range(n_pairs):
        for flag, score, ids in zip(flips, scores, subsets, strict=True):
            candidates = np.flatnonzero(flag[pair])     # lexicographic
            if not len(candidates):
                continue
            best = np.argmax(np.nan_to_num(score[pair, candidates], nan=-np.inf)) \
                if by_margin else 0                     # argmax: the first of equal maxima
            index = int(candidates[best])
            chosen[pair] = tuple(int(c) for c in ids[index])
            margins[pair] = score[pair, index]
            break
    return chosen, margins


def exhaustive_flips(original: np.ndarray, adversarial: np.ndarray,
                     segmentation: BaseSegmentation, predict: Predict, decide: Decision,
                     max_k: int = 3, batch_size: int = 512, progress: bool = False,
                     by_margin: bool = False) -> ExhaustiveResult:
    """Whether δ kept in each subset of at most ``max_k`` segments flips the decision.

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, *shape)`` excerpts of the pairs (``(N, frames, bands)``, waveforms ``(N, L)``).
    segmentation : BaseSegmentation
        The segments of the excerpts (the grid, labels, time or STFT segments).
    predict : callable
        ``(M, *shape)`` float32 → outputs ``(M,)`` or ``(M, C)`` (a ``torch.nn.Module`` is
        given a tensor; tensor outputs are detached).
    decide : DecisionRule or callable
        The decision rule (:func:`~svdlib.veracity.rules.threshold_rule`,
        :func:`~svdlib.veracity.rules.class_change_rule`); called with each output's pair.
    max_k : int
        The largest subset size (3: ``C(20, 1) + C(20, 2) + C(20, 3) = 1350`` partial
        adversaries per pair on the 5 × 4 grid).
    batch_size : int
        Partial adversaries per call of ``predict`` (a batch may span several pairs); the
        results do not depend on it.
    progress : bool
        Show a tqdm progress bar over the partial adversaries.
    by_margin : bool
        Choose the smallest flipping subset by the rule's margin (a
        :class:`~svdlib.veracity.rules.DecisionRule`): the one of largest margin among those
        of the smallest k; otherwise the lexicographically first one.

    Returns
    -------
    ExhaustiveResult
        Per pair and k the flipping subsets, their counts, and the smallest flipping subset.

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
    >>> from svdlib import exhaustive_flips
    >>> result = exhaustive_flips(original, adversarial, seg, predict, rule, max_k=2)
    >>> [flips.shape for flips in result.flips]      # per k: pairs × subsets of k segments
    [(4, 20), (4, 190)]
    >>> result.smallest                              # each pair's smallest flipping subset
    ((0,), (0,), (0,), (0,))
    """
    original, adversarial = _check_inputs(original, adversarial, segmentation, max_k,
                                          batch_size)
    if by_margin and not callable(getattr(decide, "margin", None)):
        raise ValueError("by_margin needs a decision rule with a margin (threshold_rule, "
                         "class_change_rule)")
    n = segmentation.n_components
    subsets = [k_subsets(n, k) for k in range(1, max_k + 1)]
    selection = np.concatenate([np.eye(n, dtype=bool)[s].any(axis=1) for s in subsets])
    flags, scores = _evaluate(original, adversarial, selection, segmentation, predict,
                              decide, by_margin, batch_size, progress)
    bounds = np.cumsum([0] + [comb(n, k) for k in range(1, max_k + 1)])
    flips = tuple(flags[:, a:b] for a, b in itertools.pairwise(bounds))
    per_k = [scores[:, a:b] for a, b in itertools.pairwise(bounds)]
    smallest, margins = _smallest(flips, per_k, subsets, by_margin)
    return ExhaustiveResult(n, max_k, tuple(subsets), flips, tuple(smallest), margins,
                            "margin" if by_margin else "lexicographic")


@dataclass(frozen=True, eq=False)
class ReferenceRate:
    """A reference rate over pairs, with the per-pair values a song bootstrap resamples.

    Attributes
    ----------
    k : int
        The subset size.
    mean : float
        The mean of ``values`` over pairs (NaN without pairs); a share, not a percentage.
    values : np.ndarray
        ``(N,)`` per pair: the share of flipping k-subsets (:func:`chance_rate`) or whether
        one flips (:func:`attainable_rate`).
    songs : np.ndarray
        ``(N,)`` the song of each pair (default: every pair its own song), ready for
        :func:`~svdlib.veracity.statistics.song_rate` and friends.
    """

    k: int
    mean: float
    values: np.ndarray
    songs: np.ndarray


def _reference(values: np.ndarray, k: int,
               songs: Sequence | np.ndarray | None) -> ReferenceRate:
    song_ids = np.asarray(songs) if songs is not None else np.arange(len(values))
    if len(song_ids) != len(values):
        raise ValueError(f"{len(song_ids)} songs for {len(values)} pairs")
    return ReferenceRate(int(k), float(np.mean(values)) if len(values) else float("nan"),
                         values, song_ids)


def chance_rate(result: ExhaustiveResult, k: int,
                songs: Sequence | np.ndarray | None = None) -> ReferenceRate:
    """The chance rate at k: the mean over pairs of the share of k-subsets that flip.

    Parameters
    ----------
    result : ExhaustiveResult
        An :func:`exhaustive_flips` search.
    k : int
        The subset size, ``1 <= k <= result.max_k``.
    songs : array-like, optional
        ``(N,)`` the song of each pair, carried along for a song-level interval.

    Returns
    -------
    ReferenceRate
        ``mean`` and the per-pair shares ``values`` (float).

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
    >>> from svdlib import chance_rate, exhaustive_flips
    >>> result = exhaustive_flips(original, adversarial, seg, predict, rule, max_k=2)
    >>> chance_rate(result, 1).mean, chance_rate(result, 2).mean    # 1 of 20, 19 of 190
    (0.05, 0.1)
    """
    k = result._check_k(k)
    return _reference(result.chance[:, k - 1], k, songs)


def attainable_rate(result: ExhaustiveResult, k: int,
                    songs: Sequence | np.ndarray | None = None) -> ReferenceRate:
    """The attainable rate at k: the share of pairs for which some k-subset flips.

    Parameters
    ----------
    result, k, songs
        As in :func:`chance_rate` (exactly k segments, as a top k keeps).

    Returns
    -------
    ReferenceRate
        ``mean`` and the per-pair flags ``values`` (bool).

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
    >>> from svdlib import attainable_rate, exhaustive_flips
    >>> result = exhaustive_flips(original, adversarial, seg, predict, rule, max_k=2)
    >>> rate = attainable_rate(result, 1)
    >>> rate.mean, rate.values.tolist()
    (1.0, [True, True, True, True])
    """
    k = result._check_k(k)
    return _reference(result.attainable[:, k - 1], k, songs)


def contains_smallest(ranking: np.ndarray, result: ExhaustiveResult, k: int) -> np.ndarray:
    """Whether each ranking's top k segments contain the pair's smallest flipping subset.

    Parameters
    ----------
    ranking : np.ndarray
        ``(N, n_components)`` segment ids, most relevant first, one row per pair.
    result : ExhaustiveResult
        An :func:`exhaustive_flips` search of the same pairs.
    k : int
        The top k, ``k >= 1`` (it may exceed ``result.max_k``).

    Returns
    -------
    np.ndarray
        ``(N,)`` bool; False where the pair has no flipping subset of at most ``max_k``
        segments, and where its smallest subset is larger than k.

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
    >>> from svdlib import attribution_ranking, contains_smallest, exhaustive_flips
    >>> result = exhaustive_flips(original, adversarial, seg, predict, rule, max_k=2)
    >>> weights = np.zeros((4, 20)); weights[:2, 0] = 1; weights[2:, 19] = 1
    >>> contains_smallest(attribution_ranking(weights), result, k=1)
    array([ True,  True, False, False])
    """
    ranking = np.atleast_2d(np.asarray(ranking))
    if ranking.shape != (result.n_pairs, result.n_components):
        raise ValueError(f"ranking is {ranking.shape}, the result has {result.n_pairs} pairs "
                         f"of {result.n_components} segments")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return np.array([s is not None and set(s) <= set(ranking[i, :k].tolist())
                     for i, s in enumerate(result.smallest)], dtype=bool)
