"""Pointwise segmentations of any excerpt: by an integer label array, and time segments.

:class:`LabelSegmentation` takes a label array of the excerpt's shape, labels ``0 .. n − 1``,
every label present: segment ``c`` is the cells labelled ``c`` (superpixels of a spectrogram,
onsets of a waveform, the paper's grid as :meth:`~svdlib.explain.segments.Segmentation.cell_ids`).
:class:`TimeSegmentation` cuts a waveform ``(L,)`` into consecutive time segments, ``n`` equal
parts (the last absorbs the remainder) or explicit borders in samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from svdlib.explain.arrays import check_borders, equal_borders
from svdlib.explain.segmentations.pointwise import PointwiseSegmentation


class LabelSegmentation(PointwiseSegmentation):
    """The segments of an integer label array of the excerpt's shape.

    Parameters
    ----------
    labels : array-like of int
        The segment id of every cell, of the excerpt's shape (any number of axes); the ids
        are ``0 .. n − 1`` and each occurs at least once.
    names : sequence of str, optional
        One name per segment (default ``S0``, ``S1``, ...).

    Notes
    -----
    Pointwise: keeping δ in segments S is ``where(mask_S, adversarial, original)``, a perturbed
    input ``where(mask_S, excerpt, baseline)``, and a segment's energy is the sum of δ² over its
    cells. With the labels of a grid (``Segmentation().cell_ids()``) every mask and partial
    adversary equals the grid's.

    Examples
    --------
    Two segments of a 2 × 4 spectrogram that a grid cannot cut (a diagonal):

    >>> import numpy as np
    >>> from svdlib import LabelSegmentation
    >>> seg = LabelSegmentation([[0, 0, 0, 1], [0, 1, 1, 1]], names=["low", "high"])
    >>> seg.shape, seg.n_components, seg.component_names()
    ((2, 4), 2, ['low', 'high'])
    >>> delta = np.array([[1.0, 1.0, 1.0, 2.0], [1.0, 2.0, 2.0, 2.0]])
    >>> seg.energy(delta)                           # 4 cells of 1², 4 cells of 2²
    array([ 4., 16.])
    >>> seg.keep(np.zeros((1, 2, 4)), delta[None], [[0, 1]])[0]
    array([[0., 0., 0., 2.],
           [0., 2., 2., 2.]], dtype=float32)
    """

    def __init__(self, labels: Any, names: Sequence[str] | None = None) -> None:
        arr = np.asarray(labels)
        if arr.ndim < 1 or arr.size == 0:
            raise ValueError(f"labels must be a non-empty array of the excerpt's shape, got "
                             f"shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            raise ValueError(f"labels must be integers, got {arr.dtype}")
        arr = arr.astype(np.int64)
        n = int(arr.max()) + 1
        present = np.bincount(arr.reshape(-1)[arr.reshape(-1) >= 0], minlength=n) > 0
        if arr.min() < 0 or not present.all():
            missing = np.flatnonzero(~present).tolist()[:5]
            raise ValueError(f"labels must be 0..n-1 with every label present; got minimum "
                             f"{int(arr.min())}, missing {missing}")
        arr.setflags(write=False)
        self._labels = arr
        self._n = n
        self._names = [str(name) for name in names] if names is not None else None
        if self._names is not None and len(self._names) != n:
            raise ValueError(f"{len(self._names)} names for {n} segments")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one excerpt: the labels' shape."""
        return tuple(self._labels.shape)

    @property
    def n_components(self) -> int:
        """Number of segments (the largest label + 1)."""
        return self._n

    def view_labels(self) -> np.ndarray:
        """The labels (read-only)."""
        return self._labels

    def component_names(self) -> list[str]:
        """The names given, else ``S0``, ``S1``, ..."""
        return list(self._names) if self._names is not None else super().component_names()

    def to_meta(self) -> dict[str, Any]:
        """``kind`` ``'labels'``, the labels as nested lists and the names."""
        return {"kind": "labels", "labels": self._labels.tolist(), "names": self._names}

    def _key(self) -> tuple:
        digest = hashlib.blake2b(self._labels.tobytes(), digest_size=16).hexdigest()
        return (type(self).__name__, self.shape, digest, tuple(self._names or ()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSegmentation) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, n_components={self.n_components})"


class TimeSegmentation(LabelSegmentation):
    """Consecutive time segments of a waveform ``(L,)``.

    Parameters
    ----------
    length : int
        Number of samples ``L`` of an excerpt.
    n_segments : int
        Number of segments: equal parts of ``L // n`` samples, the last absorbing the rest
        (ignored when ``borders`` are given).
    borders : sequence of int, optional
        Explicit borders in samples, increasing from 0 to ``length``.

    Notes
    -----
    Segment ``c`` covers samples ``borders[c] : borders[c + 1]`` and is named ``T<c>``.

    Examples
    --------
    One second at 16 kHz in five parts; δ kept in the second one:

    >>> import numpy as np
    >>> from svdlib import TimeSegmentation
    >>> seg = TimeSegmentation(16000, 5)
    >>> seg.borders, seg.component_names()[:2]
    ((0, 3200, 6400, 9600, 12800, 16000), ['T0', 'T1'])
    >>> delta = np.ones((1, 16000), np.float32)
    >>> partial = seg.keep(np.zeros((1, 16000)), delta, [[0, 1, 0, 0, 0]])
    >>> float(partial.sum()), seg.energy(delta)[0].tolist()
    (3200.0, [3200.0, 3200.0, 3200.0, 3200.0, 3200.0])
    """

    def __init__(self, length: int, n_segments: int = 5,
                 borders: Sequence[int] | None = None) -> None:
        length = int(length)
        self.borders = (check_borders(borders, length, "time") if borders is not None
                        else equal_borders(length, int(n_segments)))
        self.length = length
        super().__init__(np.repeat(np.arange(len(self.borders) - 1), np.diff(self.borders)),
                         names=[f"T{c}" for c in range(len(self.borders) - 1)])

    def to_meta(self) -> dict[str, Any]:
        """``kind`` ``'time'``, the length and the borders."""
        return {"kind": "time", "length": self.length, "borders": list(self.borders)}

    def __repr__(self) -> str:
        return f"TimeSegmentation(length={self.length}, borders={self.borders})"
