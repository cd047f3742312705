"""The rows of a ``keep``: each a selection of one pair's δ, checked and grouped by pair."""

from __future__ import annotations

from typing import Any

import numpy as np

from svdlib.explain.arrays import ArrayLike, to_numpy


def keep_inputs(segmentation: Any, original: ArrayLike, adversarial: ArrayLike,
                selection: ArrayLike, pairs: ArrayLike | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``keep``'s inputs checked: the pairs, the selections ``(N, n)`` and each row's pair.

    Parameters
    ----------
    segmentation : BaseSegmentation
        Gives ``n_components`` and ``check_selection``.
    original, adversarial : array
        ``(P, *shape)`` the pairs.
    selection : array or tensor
        ``(N, n_components)``; one selection ``(n_components,)`` applies to every pair.
    pairs : array of int or None
        ``(N,)`` the pair of every row (None: row ``i`` is pair ``i``).

    Returns
    -------
    tuple of np.ndarray
        ``original``, ``adversarial``, the selections ``(N, n)``, the pair indices ``(N,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import TimeSegmentation
    >>> _, _, sel, index = keep_inputs(TimeSegmentation(4, 2), np.zeros((2, 4)),
    ...                                np.ones((2, 4)), [1, 0], None)
    >>> sel.tolist(), index.tolist()
    ([[1, 0], [1, 0]], [0, 1])
    """
    original, adversarial = np.asarray(original), np.asarray(adversarial)
    if original.shape != adversarial.shape:
        raise ValueError(f"original {original.shape} and adversarial {adversarial.shape} "
                         f"differ in shape")
    n = segmentation.n_components
    sel = np.asarray(segmentation.check_selection(np.asarray(to_numpy(selection))))
    if sel.ndim == 1 and pairs is None:                      # one selection for every pair
        sel = np.broadcast_to(sel, (len(original), n))
    sel = sel.reshape(-1, n)
    if pairs is None:
        if len(sel) != len(original):
            raise ValueError(f"{len(sel)} selections for {len(original)} pairs: give `pairs`, "
                             f"the pair of every selection row")
        return original, adversarial, sel, np.arange(len(sel))
    index = np.asarray(to_numpy(pairs)).reshape(-1)
    if index.size and not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"pairs must be integer indices, got {index.dtype}")
    index = index.astype(np.int64)
    if len(index) != len(sel):
        raise ValueError(f"{len(index)} pair indices for {len(sel)} selections")
    if index.size and (index.min() < 0 or index.max() >= len(original)):
        raise ValueError(f"pair indices outside 0..{len(original) - 1}")
    return original, adversarial, sel, index


def rows_by_pair(index: np.ndarray) -> list[np.ndarray]:
    """The row numbers of every pair that has rows, pairs ascending, rows in their order.

    Examples
    --------
    >>> [rows.tolist() for rows in rows_by_pair(np.array([2, 0, 2, 2]))]
    [[1], [0, 2, 3]]
    """
    order = np.argsort(index, kind="stable")
    return [rows for rows in np.split(order, np.flatnonzero(np.diff(index[order])) + 1)
            if len(rows)]
