"""LIME's neighbourhood and kernel (audioLIME v0.0.3 semantics): masks, distances, weights.

Steps 1 and 3 of :mod:`svdlib.explain.lime`:

* :func:`sample_masks`: an ``(num_samples, n_components)`` matrix of i.i.d. fair coin flips,
  row 0 set to all ones (the unperturbed excerpt), or all ``2**n`` rows (``'exhaustive'``).
  Masks come from a seeded ``np.random.Generator`` by default; ``sampler='audiolime'``
  reproduces audioLIME's masks for an integer seed exactly (``RandomState(seed)``, one
  discarded ``randint(0, 1000)``, then ``randint(0, 2, N·n)``), ``sampler='randomstate'``
  audioLIME's masks when it is given ``random_seed`` (no discarded draw).
* :func:`neighborhood_distances`: the distance of each row to the all-ones row (cosine).
* :func:`default_kernel`: ``sqrt(exp(-d²/w²))`` with ``w = kernel_width`` (0.25).

:data:`FEATURE_SELECTION` and :data:`SAMPLERS` name the accepted feature selections (lime's)
and mask samplers.
"""

from __future__ import annotations

import itertools

import numpy as np
from sklearn.metrics import pairwise_distances

FEATURE_SELECTION = ("none", "auto", "forward_selection", "highest_weights", "lasso_path")
SAMPLERS = ("generator", "audiolime", "randomstate")


def default_kernel(distances: np.ndarray, kernel_width: float) -> np.ndarray:
    """The audioLIME kernel ``sqrt(exp(-d² / w²))`` (= ``exp(-d² / (2 w²))``).

    Parameters
    ----------
    distances : np.ndarray
        Distances of the neighbourhood rows to the unperturbed row.
    kernel_width : float
        ``w`` (audioLIME and the paper: 0.25).

    Returns
    -------
    np.ndarray
        Sample weights in ``(0, 1]``.
    """
    return np.sqrt(np.exp(-(distances ** 2) / kernel_width ** 2))


def sample_masks(n_components: int, num_samples: int | str,
                 rng: int | np.random.Generator | np.random.RandomState | None = None,
                 sampler: str = "generator") -> np.ndarray:
    """The LIME neighbourhood: 0/1 rows with row 0 all ones.

    Parameters
    ----------
    n_components : int
        Number of interpretable components (columns).
    num_samples : int or 'exhaustive'
        Number of rows; ``'exhaustive'`` gives all ``2**n`` rows in ``itertools.product``
        order over ``[1, 0]`` (row 0 all ones, the last row all zeros).
    rng : int, Generator, RandomState or None
        The randomness. An int seeds a new generator of the sampler's kind; a generator or
        RandomState object is consumed (so repeated calls differ, as in audioLIME).
    sampler : str
        ``'generator'``: ``rng.integers(0, 2)`` from a ``np.random.Generator``.
        ``'audiolime'``: audioLIME's default path, ``RandomState``: one discarded
        ``randint(0, 1000)``, then ``randint(0, 2, num_samples * n)``.
        ``'randomstate'``: audioLIME with ``random_seed`` given (no discarded draw).

    Returns
    -------
    np.ndarray
        ``(num_samples, n_components)`` uint8; each entry an independent fair coin flip
        except row 0, which is all ones.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler '{sampler}'; choose one of {', '.join(SAMPLERS)}")
    if num_samples == "exhaustive":
        if n_components > 24:
            raise ValueError(f"'exhaustive' needs 2**{n_components} samples; too many")
        rows = np.array(list(itertools.product([1, 0], repeat=n_components)), dtype=np.uint8)
        return rows.reshape(-1, n_components)
    if isinstance(num_samples, str) or int(num_samples) < 1:
        raise ValueError(f"num_samples must be a positive integer or 'exhaustive', "
                         f"got {num_samples!r}")
    num_samples = int(num_samples)
    if sampler == "generator":
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        data = gen.integers(0, 2, size=(num_samples, n_components), dtype=np.uint8)
    else:
        rs = rng if isinstance(rng, np.random.RandomState) else np.random.RandomState(rng)
        if sampler == "audiolime":
            rs.randint(0, 1000)
        data = rs.randint(0, 2, num_samples * n_components).reshape(num_samples, n_components)
        data = data.astype(np.uint8)
    data[0, :] = 1
    return data


def neighborhood_distances(data: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Distance of every neighbourhood row to row 0 (sklearn ``pairwise_distances``).

    Parameters
    ----------
    data : np.ndarray
        ``(S, n)`` 0/1 rows; row 0 is the unperturbed instance.
    metric : str
        Any sklearn metric name. With ``'cosine'`` a row with ``k`` of ``n`` ones is at
        ``1 − sqrt(k / n)``; the all-zero row is at 1.

    Returns
    -------
    np.ndarray
        ``(S,)`` distances.
    """
    return pairwise_distances(data, data[0:1], metric=metric).ravel()
