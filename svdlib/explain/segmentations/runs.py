"""Rows of pairs grouped for :meth:`BaseSegmentation.keep`: one pair repeated, or distinct ones.

The exhaustive search keeps δ of one pair in many subsets, one row per subset; a segmentation
whose view is not the excerpt itself (an STFT) then computes δ's part in every segment once
and combines the parts, instead of one round trip through the view per row.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch


def pair_runs(base: torch.Tensor, delta: torch.Tensor,
              chunk: int = 64) -> list[tuple[int, int, bool]]:
    """Runs of equal consecutive rows of (base, δ): ``(start, stop, repeated)``.

    Parameters
    ----------
    base, delta : torch.Tensor
        ``(N, ...)`` the originals and their perturbations, row by row.
    chunk : int
        The most distinct rows in one run.

    Returns
    -------
    list of (int, int, bool)
        ``repeated`` runs hold one pair two or more times; between them the distinct rows,
        ``chunk`` at a time.

    Examples
    --------
    >>> import torch
    >>> base = torch.zeros(6, 2)
    >>> delta = torch.tensor([[1.], [1.], [1.], [2.], [3.], [3.]]).repeat(1, 2)
    >>> pair_runs(base, delta)
    [(0, 3, True), (3, 4, False), (4, 6, True)]
    """
    n = len(base)
    if n == 0:
        return []
    same = np.zeros(n, dtype=bool)
    if n > 1:
        same[1:] = ((base[1:] == base[:-1]).reshape(n - 1, -1).all(dim=1)
                    & (delta[1:] == delta[:-1]).reshape(n - 1, -1).all(dim=1)).numpy()
    starts = [*np.flatnonzero(~same).tolist(), n]
    runs, single = [], None
    for start, stop in itertools.pairwise(starts):
        if stop - start > 1:
            if single is not None:
                runs.append((single, start, False))
                single = None
            runs.append((start, stop, True))
        elif single is None:
            single = start
        elif start - single >= chunk:
            runs.append((single, start, False))
            single = start
    if single is not None:
        runs.append((single, n, False))
    return runs
