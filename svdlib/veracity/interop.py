"""The planted ground truth as segmentation masks for Quantus's localisation metrics.

The segments where ``δ = adversarial − original`` acts are ground truth the model provably
uses. :func:`segment_masks` turns per-pair collections of segment ids (a pair's k
highest-energy segments, the segments a partial adversary kept, the k an explainer ranked
first) into boolean masks in the layout Quantus's localisation metrics take as ``s_batch``;
:func:`planted_masks` does so for each pair's k highest-energy segments of δ; and
:func:`to_quantus` assembles the ``x_batch``, ``y_batch``, ``a_batch`` and ``s_batch`` of one
metric call.

An excerpt ``(frames, bands)`` is a one-channel image for Quantus: every batch is
channel-first ``(N, 1, frames, bands)``; an excerpt of another shape (a waveform ``(L,)``) is
one channel of that shape, ``(N, 1, L)``. The masks are over the excerpt's own cells, so the
segmentation must be pointwise (the grid, labels, time segments): an STFT segmentation's
segments are not sets of samples, and Quantus's localisation metrics cannot take them.
Quantus 0.6.0 checks ``s_batch`` in ``quantus/helpers/asserts.py::assert_segmentations``
(called by each localisation metric's ``custom_preprocess``): a ``np.ndarray`` with as many
samples as ``x_batch``, shape[1] == 1, shape[2:] equal to ``x_batch``'s (after
:meth:`quantus.Metric.general_preprocess` has made ``x_batch`` channel-first; ``s_batch``
itself is never transposed, so it must be given channel-first), holding only 0/1 or
True/False; the metrics then use ``s_batch.astype(bool).reshape(N, -1)``. The masks here
are ``bool``.

Nothing here imports Quantus (it is optional): a call looks like ::

    import quantus
    batch = to_quantus(adversarial, weights, planted_masks(original, adversarial, seg, 3),
                       segmentation=seg)
    scores = quantus.RelevanceRankAccuracy(abs=False, normalise=False)(**batch.arguments())

Caveats of Quantus 0.6.0 worth knowing: a pair with an empty mask scores NaN, except in
``PointingGame``, whose boolean result turns that NaN into True (drop such pairs first); the
rank metrics (``RelevanceRankAccuracy``, ``TopKIntersection``) sort with an unstable
``argsort``, so bins of equal attribution (a segment relevance broadcast to its bins) are taken
in an arbitrary order where the cut falls inside a tie; the default ``normalise=True`` divides
by the largest absolute attribution of the whole batch (``normalise_by_max``), and
``AttributionLocalisation`` defaults to ``abs=True``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.veracity.measures import energy_ranking

#: One pair's segment ids: ids, one id, a space-separated string of ids (as in
#: :func:`~svdlib.veracity.recovery.subset_recovery`'s columns), or None (no segment).
SegmentIds = Iterable[int] | np.ndarray | int | str | None


class QuantusBatch(NamedTuple):
    """The arrays of one call of a Quantus metric, all channel-first.

    Attributes
    ----------
    x_batch : np.ndarray
        ``(N, 1, frames, bands)`` float32 excerpts.
    y_batch : np.ndarray
        ``(N,)`` int64 labels (the explained class; unused by the localisation metrics).
    a_batch : np.ndarray
        ``(N, 1, frames, bands)`` float64 per-bin attributions.
    s_batch : np.ndarray
        ``(N, 1, frames, bands)`` bool ground-truth masks.
    """

    x_batch: np.ndarray
    y_batch: np.ndarray
    a_batch: np.ndarray
    s_batch: np.ndarray

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of a metric call without a model (precomputed attributions).

        Returns
        -------
        dict
            ``model=None``, the four batches and ``channel_first=True``.
        """
        return {"model": None, **self._asdict(), "channel_first": True}


def _ids_of(entry: SegmentIds, n_components: int, row: int) -> np.ndarray:
    """One pair's segment ids as an int64 vector, checked against the grid."""
    if entry is None or (isinstance(entry, float) and np.isnan(entry)):
        return np.zeros(0, dtype=np.int64)
    if isinstance(entry, str):
        entry = [int(token) for token in entry.split()]
    direct = isinstance(entry, (np.ndarray, np.integer, int))
    ids = np.asarray(entry if direct else list(entry))
    ids = ids.astype(np.int64).reshape(-1) if ids.size else np.zeros(0, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= n_components):
        raise ValueError(f"pair {row}: segment ids {ids.tolist()} outside "
                         f"0..{n_components - 1}")
    return ids


def segment_masks(segment_sets: Sequence[SegmentIds] | np.ndarray,
                  segmentation: BaseSegmentation) -> np.ndarray:
    """Ground-truth masks of per-pair segment sets, in Quantus's ``s_batch`` layout.

    Parameters
    ----------
    segment_sets : sequence of segment-id collections, or an int array ``(N, k)`` or ``(N,)``
        Per pair, the segment ids the mask covers (their union), e.g. a row of
        :func:`~svdlib.veracity.measures.energy_ranking` cut at k, a smallest flipping subset,
        a single id, or a space-separated string of ids; None or an empty entry gives an
        all-False mask.
    segmentation : BaseSegmentation
        The pointwise segmentation the ids refer to (the grid, labels, time segments).

    Returns
    -------
    np.ndarray
        ``(N, 1, *shape)`` bool (``(N, 1, frames, bands)`` for the grid): True on the cells
        of each pair's segments. This is the
        channel-first layout Quantus's localisation metrics check for ``s_batch``
        (``quantus.helpers.asserts.assert_segmentations``: same N and trailing shape as
        ``x_batch``, one channel, values in {0, 1} or {False, True}).

    Examples
    --------
    >>> from svdlib import Segmentation, segment_masks
    >>> masks = segment_masks([[0], [19, 3]], Segmentation())   # pair 0: segment 0; 1: 19 and 3
    >>> masks.shape, masks.dtype, masks.sum(axis=(1, 2, 3)).tolist()   # 23 × 20 bins a segment
    ((2, 1, 115, 80), dtype('bool'), [460, 920])
    """
    _check_pointwise(segmentation)
    selection = np.zeros((len(segment_sets), segmentation.n_components), dtype=bool)
    for row, entry in enumerate(segment_sets):
        selection[row, _ids_of(entry, segmentation.n_components, row)] = True
    return segmentation.masks_np(selection, dtype=bool)[:, None]


def _check_pointwise(segmentation: BaseSegmentation) -> None:
    if not segmentation.pointwise:
        raise ValueError(f"{type(segmentation).__name__} is not pointwise: its segments are no "
                         "sets of the excerpt's cells, so they have no masks for Quantus")


def planted_segments(original: np.ndarray, adversarial: np.ndarray,
                     segmentation: BaseSegmentation, k: int | Sequence[int] | np.ndarray,
                     nonzero: bool = True) -> list[np.ndarray]:
    """Each pair's k highest-energy segments of ``δ = adversarial − original``.

    Parameters
    ----------
    original, adversarial : np.ndarray
        ``(N, *shape)`` excerpts of the pairs.
    segmentation : BaseSegmentation
        The segments (any kind: the ids need no masks).
    k : int or array-like of int
        The number of segments, one for all pairs or ``(N,)`` (e.g. Table 2's per-pair k).
    nonzero : bool
        Leave out segments where δ is exactly zero (δ does not act there; the partial
        adversary of :func:`~svdlib.veracity.measures.keep_top_k` is the same either way), so
        a pair whose δ touches fewer than k segments gets fewer.

    Returns
    -------
    list of np.ndarray
        Per pair, int64 segment ids, highest energy first (ties to the lower id).
    """
    original, adversarial = np.asarray(original), np.asarray(adversarial)
    if original.shape != adversarial.shape or original.shape[1:] != tuple(segmentation.shape):
        raise ValueError(f"original {original.shape} and adversarial {adversarial.shape} must "
                         f"both be (N, {', '.join(map(str, segmentation.shape))})")
    ks = np.broadcast_to(np.asarray(k, dtype=np.int64), (len(original),))
    if ks.size and (ks.min() < 0 or ks.max() > segmentation.n_components):
        raise ValueError(f"k must be in 0..{segmentation.n_components}, got {ks.tolist()}")
    if not len(original):
        return []
    ranking = energy_ranking(original, adversarial, segmentation)
    energy = np.atleast_2d(segmentation.energy(adversarial - original))
    out = []
    for order, row_energy, row_k in zip(ranking, energy, ks, strict=True):
        ids = order[:int(row_k)]
        out.append(ids[row_energy[ids] > 0] if nonzero else ids)
    return out


def planted_masks(original: np.ndarray, adversarial: np.ndarray,
                  segmentation: BaseSegmentation, k: int | Sequence[int] | np.ndarray,
                  nonzero: bool = True) -> np.ndarray:
    """Masks of each pair's k highest-energy segments of δ, in Quantus's ``s_batch`` layout.

    Parameters
    ----------
    original, adversarial, segmentation, k, nonzero
        As in :func:`planted_segments`.

    Returns
    -------
    np.ndarray
        ``(N, 1, *shape)`` bool (see :func:`segment_masks`; a pointwise segmentation).

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
    >>> from svdlib import planted_masks
    >>> masks = planted_masks(original, adversarial, seg, k=1)    # Quantus's s_batch
    >>> masks.shape, bool((masks[:, 0] == seg.mask_of([0], dtype=bool)).all())
    ((4, 1, 115, 80), True)
    """
    return segment_masks(planted_segments(original, adversarial, segmentation, k, nonzero),
                         segmentation)


def bin_attributions(attributions: np.ndarray, segmentation: BaseSegmentation | None = None,
                     n: int | None = None) -> np.ndarray:
    """Per-bin attribution maps ``(N, 1, *shape)`` float64 (``(N, 1, frames, bands)``).

    Parameters
    ----------
    attributions : np.ndarray
        ``(N, n_components)`` segment relevances (each broadcast to its cells with the
        segmentation's ``masks_np``; needs a pointwise ``segmentation``), ``(N, *shape)`` or
        ``(N, 1, *shape)`` per-cell maps (e.g. a gradient method's).
    segmentation : BaseSegmentation, optional
        Needed for segment relevances and used to check the shape of maps; without it, maps
        are ``(N, frames, bands)`` or ``(N, 1, frames, bands)``.
    n : int, optional
        The expected number of pairs.

    Returns
    -------
    np.ndarray
        ``(N, 1, frames, bands)`` float64.
    """
    a = np.asarray(attributions, dtype=np.float64)
    dims = len(segmentation.shape) if segmentation is not None else 2
    if a.ndim == 2 and (segmentation is None or a.shape[1:] != tuple(segmentation.shape)):
        if segmentation is None or a.shape[1] != segmentation.n_components:
            raise ValueError(f"(N, n_components) segment relevances {a.shape} need the "
                             "segmentation they refer to")
        _check_pointwise(segmentation)
        a = segmentation.masks_np(a, dtype=np.float64)
    if a.ndim == dims + 1:
        a = a[:, None]
    if a.ndim != dims + 2 or a.shape[1] != 1:
        raise ValueError(f"attributions must be (N, n_components), (N, *shape) or "
                         f"(N, 1, *shape), got {np.shape(attributions)}")
    if segmentation is not None and a.shape[2:] != tuple(segmentation.shape):
        raise ValueError(f"attribution maps are {a.shape[2:]}, the segmentation is "
                         f"{segmentation.shape}")
    if n is not None and len(a) != n:
        raise ValueError(f"{len(a)} attribution maps for {n} excerpts")
    return a


def to_quantus(excerpts: np.ndarray, attributions: np.ndarray, masks: np.ndarray,
               segmentation: BaseSegmentation | None = None,
               labels: int | Sequence[int] | np.ndarray = 1) -> QuantusBatch:
    """The batches of a Quantus localisation metric called without a model.

    Parameters
    ----------
    excerpts : np.ndarray
        ``(N, *shape)`` (or ``(N, 1, *shape)``) the explained excerpts, e.g. the adversarial
        (or partial adversarial) ones; ``shape`` the segmentation's, else ``(frames, bands)``.
    attributions : np.ndarray
        Segment relevances or per-bin maps (see :func:`bin_attributions`).
    masks : np.ndarray
        ``(N, 1, frames, bands)`` ground truth from :func:`segment_masks` or
        :func:`planted_masks` (``(N, frames, bands)`` boolean or 0/1 masks are accepted too).
    segmentation : BaseSegmentation, optional
        Needed for segment relevances and for excerpts that are not ``(frames, bands)``.
    labels : int or array-like of int
        The explained class of each excerpt (Quantus requires ``y_batch``; its localisation
        metrics do not use it).

    Returns
    -------
    QuantusBatch
        ``x_batch`` float32, ``y_batch`` int64, ``a_batch`` float64, ``s_batch`` bool, all
        channel-first ``(N, 1, frames, bands)`` but ``y_batch`` ``(N,)``; pass
        ``**batch.arguments()`` to a metric.
    """
    dims = len(segmentation.shape) if segmentation is not None else 2
    x = np.asarray(excerpts, dtype=np.float32)
    x = x[:, None] if x.ndim == dims + 1 else x
    if x.ndim != dims + 2 or x.shape[1] != 1:
        raise ValueError(f"excerpts must be (N, *shape), got {np.shape(excerpts)}")
    s = np.asarray(masks)
    s = s[:, None] if s.ndim == dims + 1 else s
    if s.shape != x.shape:
        raise ValueError(f"masks {np.shape(masks)} do not match excerpts {np.shape(excerpts)}")
    if s.dtype != bool and not np.isin(s, (0, 1)).all():
        raise ValueError("masks must be boolean or 0/1")
    a = bin_attributions(attributions, segmentation, n=len(x))
    if a.shape != x.shape:
        raise ValueError(f"attribution maps {a.shape[2:]} do not match excerpts {x.shape[2:]}")
    y = np.broadcast_to(np.asarray(labels, dtype=np.int64), (len(x),)).copy()
    return QuantusBatch(x_batch=x, y_batch=y, a_batch=a, s_batch=s.astype(bool))
