"""KernelSHAP's pieces, batched: coalitions, Shapley-kernel weights, the weighted linear fit.

The semantics are captum 0.9's ``KernelShap`` (``captum/attr/_core/kernel_shap.py`` on top of
``lime.py``), with the per-sample Python loop replaced by array operations:

* Coalitions (:func:`sample_coalitions`): row 0 is the full coalition, row 1 the empty one;
  every other row draws a size ``k`` in ``1 … M−1`` with ``p(k) ∝ (M−1) / (k (M−k))`` and
  then one of the ``C(M, k)`` coalitions of that size uniformly (captum: ``Categorical``
  over the sizes, then the top ``k`` of ``M`` normal draws). Since every size-``k``
  coalition is equally likely, the rows are distributed with the Shapley kernel
  ``(M−1) / (k (M−k) C(M, k))``. Drawn in one step from a local ``np.random.Generator``, so
  the coalitions are captum's in distribution, not draw for draw;
  :func:`sample_coalitions_captum` draws captum's very rows for a seed (one at a time).
* Weights (:func:`shapley_weights`): captum's ``kernel_shap_similarity_kernel``, 1 for every
  row except the empty and full coalitions, which get :data:`INF_WEIGHT` (10⁶) so the fit
  passes (almost) through ``f(baseline)`` and ``f(x)`` and the coefficients add up to about
  ``f(x) − f(baseline)``.
* Fit (:func:`weighted_linear_fit`): captum's ``SkLearnLinearRegression``, i.e. sklearn's
  ``LinearRegression(fit_intercept=True)`` with the weights as ``sample_weight``: weighted
  centring, rows scaled by ``√w``, one least-squares solve (here of the normal equations in
  float64, for every explained output at once).
"""

from __future__ import annotations

import numpy as np
import torch

#: captum's ``KernelShap.inf_weight``: the weight of the empty and full coalitions.
INF_WEIGHT = 1e6


def size_distribution(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Coalition sizes ``1 … M−1`` and their probabilities ``∝ (M−1) / (k (M−k))``."""
    sizes = np.arange(1, n_features)
    probs = (n_features - 1) / (sizes * (n_features - sizes)).astype(np.float64)
    return sizes, probs / probs.sum()


def sample_coalitions(n_features: int, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``(num_samples, n_features)`` uint8 coalitions: full, empty, then Shapley-kernel draws.

    Parameters
    ----------
    n_features : int
        ``M``, the number of players (segments).
    num_samples : int
        Rows, the full and empty coalitions included (at least 2).
    rng : np.random.Generator
        The randomness (consumed).

    Returns
    -------
    np.ndarray
        1 where a segment is kept (shows the excerpt), 0 where it shows the baseline.
    """
    if n_features < 1 or num_samples < 2:
        raise ValueError("need at least one feature and two samples")
    rows = np.empty((num_samples, n_features), dtype=np.uint8)
    rows[0], rows[1] = 1, 0
    drawn = num_samples - 2
    if n_features == 1:  # no size strictly between 0 and M: only full and empty exist
        rows[2:] = (np.arange(drawn) % 2 == 0)[:, None]
        return rows
    sizes, probs = size_distribution(n_features)
    k = rng.choice(sizes, size=drawn, p=probs)
    ranks = rng.random((drawn, n_features)).argsort(axis=1).argsort(axis=1)
    rows[2:] = ranks < k[:, None]
    return rows


def shapley_weights(coalitions: np.ndarray) -> np.ndarray:
    """The kernel of captum: :data:`INF_WEIGHT` for the empty and full coalitions, else 1."""
    size = np.asarray(coalitions).sum(axis=1)
    edge = (size == 0) | (size == coalitions.shape[1])
    return np.where(edge, INF_WEIGHT, 1.0)


def weighted_linear_fit(design: np.ndarray, targets: np.ndarray, weights: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares with an intercept (sklearn ``LinearRegression``'s method).

    Parameters
    ----------
    design : np.ndarray
        ``(S, M)`` coalitions.
    targets : np.ndarray
        ``(S,)`` or ``(S, B)`` model outputs (one column per explained excerpt).
    weights : np.ndarray
        ``(S,)`` sample weights.

    Returns
    -------
    coef : np.ndarray
        ``(M,)`` or ``(M, B)`` coefficients (the Shapley value estimates).
    intercept : np.ndarray
        ``()`` or ``(B,)``.
    r2 : np.ndarray
        The weighted coefficient of determination (sklearn ``score`` with the weights).
    """
    x = np.asarray(design, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    x_mean = w @ x / w.sum()
    y_mean = w @ y / w.sum()
    root = np.sqrt(w)
    xc = (x - x_mean) * root[:, None]
    yc = (y - y_mean) * (root[:, None] if y.ndim == 2 else root)
    # the normal equations, solved by least squares (min-norm where rank-deficient): on the
    # small (M, M) Gram matrix; LAPACK on the tall (S, M) matrix costs ~100 ms here
    coef = np.linalg.lstsq(xc.T @ xc, xc.T @ yc, rcond=None)[0]
    intercept = y_mean - x_mean @ coef
    residual = ((yc - xc @ coef) ** 2).sum(axis=0)
    total = (yc ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1.0 - residual / total, np.where(residual > 0, 0.0, 1.0))
    return coef, intercept, r2


def sample_coalitions_captum(n_features: int, num_samples: int, seed: int | None) -> np.ndarray:
    """The coalitions of captum's ``KernelShap`` after ``manual_seed(seed)``, draw for draw.

    The same rows as :func:`sample_coalitions` in distribution, but drawn one at a time as
    captum's ``kernel_shap_perturb_generator`` does (a size from ``Categorical``, then the
    top ``k`` of ``M`` normal draws), from a local ``torch.Generator``. A Python loop: a few
    hundredths of a second for thousands of rows.
    """
    if n_features < 2 or num_samples < 2:
        raise ValueError("captum's sampler needs at least two features and two samples")
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    counts = torch.arange(n_features, dtype=torch.float)
    probs = torch.tensor(n_features - 1) / (counts * (n_features - counts))
    probs[0] = 0.0
    probs = (probs / probs.sum(-1, keepdim=True))[None]  # as torch's Categorical
    rows = np.empty((num_samples, n_features), dtype=np.uint8)
    rows[0], rows[1] = 1, 0
    for i in range(2, num_samples):
        k = int(torch.multinomial(probs, 1, True, generator=generator))
        values = torch.randn(1, n_features, generator=generator)
        threshold = torch.kthvalue(values, n_features - k).values.item()
        rows[i] = (values[0] > threshold).numpy()
    return rows
