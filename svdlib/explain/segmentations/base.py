"""The protocol every segmentation follows: what the explainers and the veracity measures call.

A segmentation cuts an excerpt of a fixed :attr:`~BaseSegmentation.shape` (without the batch
axis: ``(frames, bands)`` for a log-mel excerpt, ``(L,)`` for a waveform, any shape) into
:attr:`~BaseSegmentation.n_components` segments. Every operation goes through one linear
*view* of the excerpt:

* :meth:`~BaseSegmentation.to_view` / :meth:`~BaseSegmentation.from_view`: a linear map of
  ``(..., *shape)`` excerpts to ``(..., *view_shape)`` real coefficients and back
  (``from_view(to_view(x)) == x`` to float precision). It is the identity for the pointwise
  segmentations (:class:`PointwiseSegmentation`: the grid, a label array, time segments) and an
  STFT for :class:`~svdlib.explain.segmentations.stft.StftSegmentation`;
* :meth:`~BaseSegmentation.view_labels`: the segment id of every view coefficient;
* the part of a perturbation δ in a set S of segments is
  ``P_S(δ) = from_view(M_S · to_view(δ))``, ``M_S`` the 0/1 mask of S in the view: linear in
  δ, and the parts over all segments add up to δ.

On top of it, what the method needs, each for a batch:

* :meth:`~BaseSegmentation.keep`: ``original + P_S(adversarial − original)`` (the partial
  adversaries of the measures and of the exhaustive search);
* :meth:`~BaseSegmentation.compose`: ``baseline + P_S(excerpt − baseline)`` (the perturbed
  inputs of LIME, KernelSHAP and occlusion);
* :meth:`~BaseSegmentation.energy`: ``‖P_{s}(δ)‖²`` per segment s (for an STFT view: the
  energy of the waveform part, what the model hears, not of the coefficients);
* :meth:`~BaseSegmentation.segment_sums`: view-shaped attribution maps summed per segment (the
  gradient methods attribute in the view: the model is fed ``from_view(z)``).

A selection is ``(S, n_components)`` (or ``(n_components,)``), nonzero where a segment is kept.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from svdlib.explain.arrays import ArrayLike, to_numpy
from svdlib.explain.segmentations.pair_rows import keep_inputs, rows_by_pair
from svdlib.explain.segmentations.parts_cache import PartsCache

#: Rows :meth:`BaseSegmentation.keep` and :meth:`BaseSegmentation.energy` transform at once
#: (bounds their memory; the results do not depend on it).
CHUNK = 64


class BaseSegmentation(abc.ABC):
    """A segmentation of excerpts of one shape: the protocol of explainers and measures.

    Subclasses give :attr:`shape`, :attr:`n_components`, :meth:`view_labels` and
    :meth:`to_meta`, and, unless the view is the identity, :attr:`view_shape`,
    :meth:`to_view` and :meth:`from_view`; every other operation follows from these (the
    pointwise ones, :class:`PointwiseSegmentation`, and the grid override some with faster
    paths that give the same numbers).

    Attributes
    ----------
    pointwise : bool
        True when the view is the identity and ``P_S`` multiplies by a 0/1 mask: a segment is a
        set of the excerpt's own cells (samples, bins), and keeping δ in S is
        ``where(mask, adversarial, original)``.

    Examples
    --------
    Three time segments of a waveform of 12 samples; δ kept in segment 1, its energy per
    segment, and inputs that show the excerpt in the kept segments and the baseline elsewhere:

    >>> import numpy as np
    >>> from svdlib import TimeSegmentation
    >>> seg = TimeSegmentation(12, 3)                 # samples 0-3, 4-7, 8-11
    >>> seg.shape, seg.n_components, seg.pointwise
    ((12,), 3, True)
    >>> original, adversarial = np.zeros((1, 12)), np.ones((1, 12))
    >>> seg.keep(original, adversarial, [[0, 1, 0]])
    array([[0., 0., 0., 0., 1., 1., 1., 1., 0., 0., 0., 0.]], dtype=float32)
    >>> seg.energy(adversarial - original)
    array([[4., 4., 4.]])
    >>> seg.compose(np.arange(12.0), np.zeros(12), [[1, 0, 1]]).tolist()
    [[0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 8.0, 9.0, 10.0, 11.0]]
    """

    pointwise: ClassVar[bool] = False

    # -- what a subclass gives ----------------------------------------------------------------
    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Shape of one excerpt (without the batch axis)."""

    @property
    @abc.abstractmethod
    def n_components(self) -> int:
        """Number of segments."""

    @abc.abstractmethod
    def view_labels(self) -> np.ndarray:
        """The segment id of every view coefficient: int64 of :attr:`view_shape`."""

    @abc.abstractmethod
    def to_meta(self) -> dict[str, Any]:
        """A JSON-able description with a ``kind`` (rebuilt by ``segmentation_from_meta``)."""

    @property
    def view_shape(self) -> tuple[int, ...]:
        """Shape of the view of one excerpt (:attr:`shape` for the identity view)."""
        return self.shape

    def to_view(self, x: torch.Tensor) -> torch.Tensor:
        """The view of ``(..., *shape)`` excerpts, ``(..., *view_shape)``; differentiable."""
        return x

    def from_view(self, z: torch.Tensor) -> torch.Tensor:
        """Excerpts ``(..., *shape)`` of view coefficients ``(..., *view_shape)``."""
        return z

    def component_names(self) -> list[str]:
        """Names of the segments in id order (``S0``, ``S1``, ... unless a subclass names)."""
        return [f"S{c}" for c in range(self.n_components)]

    # -- checks -------------------------------------------------------------------------------
    def batch(self, excerpts: Any) -> np.ndarray:
        """Excerpts ``(N, *shape)`` (or one of :attr:`shape`) as float32 ``(N, *shape)``."""
        x = np.asarray(to_numpy(excerpts), dtype=np.float32)
        if x.shape == self.shape:
            x = x[None]
        if x.shape[1:] != self.shape:
            raise ValueError(f"expected (N, {', '.join(map(str, self.shape))}) excerpts for "
                             f"this segmentation, got shape {x.shape}")
        return x

    def check_selection(self, selection: Any) -> Any:
        """``selection`` after checking that its last axis has one column per segment.

        An array or tensor is returned as it is; a list becomes an array.
        """
        if not hasattr(selection, "shape"):
            selection = np.asarray(selection)
        if selection.shape[-1] != self.n_components:
            raise ValueError(f"selection has {selection.shape[-1]} columns, the segmentation "
                             f"has {self.n_components} components")
        return selection

    def check_ids(self, ids: Any) -> np.ndarray:
        """Segment ids as int64, checked to lie in ``0 .. n_components - 1``."""
        arr = np.asarray(ids if ids is not None else [], dtype=np.int64).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_components):
            raise ValueError(f"component ids {arr.tolist()} outside 0..{self.n_components - 1}")
        return arr

    # -- masks in the view --------------------------------------------------------------------
    def _labels_on(self, device: torch.device | str) -> torch.Tensor:
        cache = self.__dict__.setdefault("_label_tensors", {})
        key = str(torch.device(device))
        if key not in cache:
            cache[key] = torch.as_tensor(np.array(self.view_labels()), device=device)
        return cache[key]

    def masks(self, selection: ArrayLike, device: torch.device | str | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """0/1 masks of selections in the view, ``(S, *view_shape)`` (a tensor).

        Parameters
        ----------
        selection : array or tensor
            ``(S, n_components)`` or ``(n_components,)``: 1 (or True) where a segment is
            kept (other values are broadcast to the segment's coefficients as they are).
        device : torch.device or str, optional
            Where the masks live (default: the selection's device, CPU for numpy).
        dtype : torch.dtype
            ``torch.bool`` or a float type.

        Returns
        -------
        torch.Tensor
            1 on the view coefficients of the selected segments.
        """
        sel = torch.as_tensor(self.check_selection(selection), device=device)
        return sel.to(dtype)[..., self._labels_on(sel.device)]

    def masks_np(self, selection: ArrayLike, dtype: Any = np.float32) -> np.ndarray:
        """:meth:`masks` as a numpy array of ``dtype``."""
        sel = np.asarray(self.check_selection(np.asarray(to_numpy(selection))))
        return sel.astype(dtype)[..., self.view_labels()]

    def mask_of(self, ids: Sequence[int] | np.ndarray | None,
                dtype: Any = np.float32) -> np.ndarray:
        """The ``view_shape`` mask of a set of segment ids (their union; empty: all zero)."""
        selection = np.zeros(self.n_components, dtype=np.uint8)
        selection[self.check_ids(ids)] = 1
        return self.masks_np(selection, dtype=dtype)

    # -- the operations -----------------------------------------------------------------------
    def project(self, delta: torch.Tensor, selection: ArrayLike) -> torch.Tensor:
        """``P_S(δ)``: the part of δ in the selected segments, per row.

        Parameters
        ----------
        delta : torch.Tensor
            ``(S, *shape)`` (or ``(1, *shape)``, broadcast over the selections).
        selection : array or tensor
            ``(S, n_components)``.

        Returns
        -------
        torch.Tensor
            ``(S, *shape)`` in δ's dtype, on δ's device.
        """
        sel = torch.as_tensor(self.check_selection(selection), device=delta.device)
        if len(delta) == 1 and len(sel) > self.n_components:
            return self._combine_parts(delta, sel)
        masks = self.masks(sel, device=delta.device, dtype=delta.dtype)
        return self.from_view(self.to_view(delta) * masks)

    def _combine_parts(self, delta: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
        """``P_S(δ)`` of one δ for many selections: ``Σ_c s_c · P_{c}(δ)``.

        The view is linear and a selection's mask is the sum of its segments' masks, so δ's
        part in every segment is computed once (:meth:`_segment_parts`) and each selection is
        a weighted sum of the parts: for S selections a matrix product instead of S round trips
        through the view (for an STFT view, S inverse STFTs).
        """
        parts = self._segment_parts(delta)
        return (sel.to(delta.dtype) @ parts).reshape(len(sel), *self.shape)

    def _segment_parts(self, delta: torch.Tensor) -> torch.Tensor:
        """δ's part in every segment, ``(n_components, numel)``, for one δ ``(1, *shape)``.

        Kept in a :class:`~svdlib.explain.segmentations.parts_cache.PartsCache` (a δ that
        requires grad is never kept): the same δ is split many times.
        """
        cache = self.__dict__.setdefault("_parts_cache", PartsCache())
        parts = cache.get(delta)
        if parts is None:
            unit = torch.eye(self.n_components, dtype=delta.dtype, device=delta.device)
            masks = self.masks(unit, device=delta.device, dtype=delta.dtype)
            parts = self.from_view(self.to_view(delta) * masks).reshape(self.n_components, -1)
            if not delta.requires_grad:
                cache.put(delta, parts)
        return parts

    def keep(self, original: np.ndarray, adversarial: np.ndarray, selection: ArrayLike,
             pairs: ArrayLike | None = None) -> np.ndarray:
        """``original + P_S(adversarial − original)`` per row, float32 ``(N, *shape)``.

        Parameters
        ----------
        original, adversarial : np.ndarray
            ``(P, *shape)`` the pairs.
        selection : array or tensor
            ``(N, n_components)``: which segments of each row's δ are kept.
        pairs : array of int, optional
            ``(N,)``: row ``i`` keeps the δ of pair ``pairs[i]`` (default: row ``i`` is pair
            ``i``, ``N == P``). The exhaustive search keeps one pair in many subsets this way,
            without repeating the pair's arrays.

        Returns
        -------
        np.ndarray
            The partial adversaries (computed in float64, returned as float32).
        """
        original, adversarial, sel, pairs = keep_inputs(self, original, adversarial,
                                                        selection, pairs)
        out = np.empty((len(pairs), *self.shape), dtype=np.float32)  # float64 sums, rounded
        cache = self.__dict__.setdefault("_parts_cache", PartsCache())
        few = []
        for rows in rows_by_pair(pairs):
            base = torch.from_numpy(original[pairs[rows[:1]]].astype(np.float64))
            delta = torch.from_numpy(adversarial[pairs[rows[:1]]].astype(np.float64)) - base
            if len(rows) <= self.n_components and cache.get(delta) is None:
                few.append(rows)               # a few rows and no parts yet: one trip each
                continue
            for i in range(0, len(rows), CHUNK):  # δ's parts once, each row a sum of parts
                chunk = rows[i:i + CHUNK]
                kept = self._combine_parts(delta, torch.from_numpy(sel[chunk]))
                out[chunk] = kept.add_(base).numpy()
        rest = np.concatenate(few) if few else np.zeros(0, dtype=np.int64)
        for i in range(0, len(rest), CHUNK):
            chunk = rest[i:i + CHUNK]
            base = torch.from_numpy(original[pairs[chunk]].astype(np.float64))
            delta = torch.from_numpy(adversarial[pairs[chunk]].astype(np.float64)) - base
            out[chunk] = self.project(delta, torch.from_numpy(sel[chunk])).add_(base).numpy()
        return out

    def compose(self, excerpt: ArrayLike, baseline: ArrayLike | float, selection: ArrayLike,
                device: torch.device | str | None = None) -> torch.Tensor:
        """Perturbed inputs ``baseline + P_S(excerpt − baseline)``, one per selection.

        Parameters
        ----------
        excerpt : array or tensor
            One excerpt of :attr:`shape`.
        baseline : array, tensor or float
            What a switched-off segment shows, broadcastable to the excerpt.
        selection : array or tensor
            ``(S, n_components)``, nonzero where the excerpt is kept.
        device : torch.device or str, optional
            Where to build them (default: the selection's device, CPU for numpy).

        Returns
        -------
        torch.Tensor
            ``(S, *shape)`` in the excerpt's dtype (float32 for numpy).
        """
        sel = torch.as_tensor(self.check_selection(selection), device=device)
        x = torch.as_tensor(excerpt, device=sel.device)
        x = x if x.is_floating_point() else x.float()
        b = torch.as_tensor(baseline, device=sel.device, dtype=x.dtype)
        return self.project((x - b)[None], sel).add_(b)     # b + P_S(x − b), in place

    def parts(self, delta: ArrayLike) -> np.ndarray:
        """The part of δ in every segment: ``(..., n_components, *shape)`` float64.

        For every segmentation the parts add up to δ (to float precision).
        """
        d = torch.from_numpy(np.asarray(to_numpy(delta), dtype=np.float64))
        lead = d.shape[:d.dim() - len(self.shape)]
        rows = d.reshape(-1, *self.shape)
        out = [self._segment_parts(row[None]).reshape(self.n_components, *self.shape)
               for row in rows]
        stacked = torch.stack(out) if out else torch.zeros(0, self.n_components, *self.shape)
        return stacked.reshape(*lead, self.n_components, *self.shape).numpy()

    def energy(self, perturbation: ArrayLike) -> np.ndarray:
        """``‖P_{s}(δ)‖²`` of every segment s: ``(..., n_components)`` float64.

        Parameters
        ----------
        perturbation : array or tensor
            ``(..., *shape)``, e.g. adversarial − original.

        Returns
        -------
        np.ndarray
            Energies indexed by segment id.
        """
        p = np.asarray(to_numpy(perturbation), dtype=np.float64)
        self._check_trailing(p.shape, "perturbation")
        lead = p.shape[:p.ndim - len(self.shape)]
        rows = p.reshape(-1, *self.shape)
        axes = tuple(range(2, 2 + len(self.shape)))
        out = [(self.parts(rows[i:i + CHUNK]) ** 2).sum(axis=axes)
               for i in range(0, len(rows), CHUNK)]
        flat = np.concatenate(out) if out else np.zeros((0, self.n_components))
        return flat.reshape(*lead, self.n_components)

    def segment_sums(self, maps: np.ndarray) -> np.ndarray:
        """``(N, *view_shape)`` attribution maps summed inside every segment: ``(N, n)``."""
        m = np.asarray(maps, dtype=np.float64)
        self._check_trailing(m.shape, "attribution maps", self.view_shape)
        flat = m.reshape(len(m), math.prod(self.view_shape))       # no pairs: (0, cells)
        n = self.n_components
        ids = self.view_labels().reshape(-1)[None] + n * np.arange(len(m))[:, None]
        sums = np.bincount(ids.reshape(-1), weights=flat.reshape(-1), minlength=n * len(m))
        return sums.astype(np.float64, copy=False).reshape(len(m), n)   # int64 when empty

    def _check_trailing(self, shape: tuple[int, ...], what: str,
                        own: tuple[int, ...] | None = None) -> None:
        own = self.shape if own is None else own
        if tuple(shape[len(shape) - len(own):]) != own or len(shape) < len(own):
            raise ValueError(f"{what} shape {shape} does not end with {own}")
