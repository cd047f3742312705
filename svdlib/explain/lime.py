"""LIME over time-frequency segments: audioLIME v0.0.3's ``LimeAudioExplainer``, batched.

The method is audioLIME's (``reference/audiolime-and-detector-spec.md``, part A), fitted with
PyPI ``lime``'s :class:`lime.lime_base.LimeBase`:

1. Neighbourhood: an ``(num_samples, n_components)`` matrix of i.i.d. fair coin flips, row 0
   set to all ones (the unperturbed excerpt); or all ``2**n`` rows (``'exhaustive'``).
2. Model outputs for every row: the excerpt with the switched-off segments replaced by the
   baseline. Here all perturbed inputs are built as tensors on the compute device
   (``where(mask, x, baseline)``) and run through the model in batches; audioLIME built and
   predicted them one by one (:func:`predict_neighborhood_per_sample` keeps that path as a
   reference).
3. Cosine distance of each row to the all-ones row, kernel ``sqrt(exp(-d²/w²))`` with
   ``w = kernel_width`` (0.25).
4. Per label: feature selection and a kernel-weighted ``Ridge(alpha=1)`` surrogate
   (``LimeBase.explain_instance_with_data``); the explanation list is re-sorted by signed
   coefficient, descending (audioLIME's default ``absolute_feature_sort=False``).

Deliberate differences from audioLIME (each keeps the numbers the same unless stated):

* Masks come from a seeded ``np.random.Generator`` by default; ``sampler='audiolime'``
  reproduces audioLIME's masks for an integer seed exactly (``RandomState(seed)``, one
  discarded ``randint(0, 1000)``, then ``randint(0, 2, N·n)``), ``sampler='randomstate'``
  audioLIME's masks when it is given ``random_seed`` (no discarded draw).
* Batched prediction (results equal to one-by-one prediction to float tolerance).
* ``'highest_weights'`` feature selection ranks features with ``Ridge(alpha=0)`` as audioLIME
  does; lime 0.2.0.1 uses ``alpha=0.01`` (``highest_weights_alpha`` chooses). With the
  default ``num_features=100000`` every feature is kept either way.
* ``labels`` defaults to ``(0, 1)``; ``local_pred`` is stored as a float, not a length-1
  array; ``get_sorted_components`` raises ``ValueError`` where audioLIME asserts, and its flag
  is spelled ``return_indices``.
* Explanations are plain arrays (:meth:`Explanation.to_arrays`), never pickles.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from lime.lime_base import LimeBase
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances

from svdlib.explain.explanation import Explanation
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.neighbourhood import (
    PredictFn,
    predict_neighborhood,
    predict_neighborhood_per_sample,
)
from svdlib.explain.segments import Segmentation

"""A model for LIME: ``(B, frames, bands)`` float tensor → ``(B,)`` P(class 1) or ``(B, C)``."""

FEATURE_SELECTION = ("none", "auto", "forward_selection", "highest_weights", "lasso_path")
SAMPLERS = ("generator", "audiolime", "randomstate")


# --------------------------------------------------------------------------------------------
# neighbourhood, distances, kernel


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


# --------------------------------------------------------------------------------------------
# the explainer


class _AudioLimeBase(LimeBase):
    """lime's LimeBase with audioLIME's ``Ridge(alpha=0)`` for 'highest_weights' ranking."""

    def __init__(self, kernel_fn: Callable, verbose: bool = False, random_state: Any = None,
                 highest_weights_alpha: float = 0.0) -> None:
        super().__init__(kernel_fn, verbose=verbose, random_state=random_state)
        self.highest_weights_alpha = highest_weights_alpha

    def feature_selection(self, data: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                          num_features: int, method: str) -> np.ndarray:
        """Select features; 'highest_weights' on dense data uses ``highest_weights_alpha``."""
        if method == "highest_weights" and not sp.issparse(data):
            clf = Ridge(alpha=self.highest_weights_alpha, fit_intercept=True,
                        random_state=self.random_state)
            clf.fit(data, labels, sample_weight=weights)
            weighted = clf.coef_ * data[0]
            ranked = sorted(zip(range(data.shape[1]), weighted, strict=True),
                            key=lambda x: np.abs(x[1]), reverse=True)
            return np.array([i for i, _ in ranked[:num_features]])
        return super().feature_selection(data, labels, weights, num_features, method)


class LimeAudioExplainer:
    """audioLIME's explainer over a :class:`TimeFrequencyFactorization`, batched.

    Parameters
    ----------
    kernel_width : float
        Kernel width ``w`` (0.25).
    kernel : callable, optional
        ``kernel(distances, kernel_width)``; default :func:`default_kernel`.
    verbose : bool
        Let lime print the intercept, local prediction and true value.
    feature_selection : str
        One of :data:`FEATURE_SELECTION` (lime's semantics; 'auto' = 'forward_selection' for
        ``num_features <= 6``, else 'highest_weights').
    absolute_feature_sort : bool
        Sort explanations by ``|weight|`` instead of signed weight (audioLIME default False).
    random_state : int, Generator, RandomState or None
        The neighbourhood's randomness; it is kept and consumed, so a second
        :meth:`explain_instance` call draws new masks (as in audioLIME).
    sampler : str
        One of :data:`SAMPLERS` (see :func:`sample_masks`).
    highest_weights_alpha : float
        Ridge alpha of the 'highest_weights' ranking: 0 (audioLIME) or 0.01 (lime 0.2.0.1).
    """

    def __init__(self, kernel_width: float = 0.25, kernel: Callable | None = None,
                 verbose: bool = False, feature_selection: str = "auto",
                 absolute_feature_sort: bool = False,
                 random_state: int | np.random.Generator | np.random.RandomState | None = None,
                 sampler: str = "generator", highest_weights_alpha: float = 0.0) -> None:
        if feature_selection not in FEATURE_SELECTION:
            raise ValueError(f"unknown feature_selection '{feature_selection}'; choose one of "
                             f"{', '.join(FEATURE_SELECTION)}")
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler '{sampler}'; choose one of {', '.join(SAMPLERS)}")
        self.kernel_width = float(kernel_width)
        self.kernel_fn = functools.partial(kernel or default_kernel,
                                           kernel_width=self.kernel_width)
        self.verbose = verbose
        self.feature_selection = feature_selection
        self.absolute_feature_sort = absolute_feature_sort
        self.sampler = sampler
        self.seed = random_state if isinstance(random_state, (int, np.integer)) else None
        if sampler == "generator":
            self.rng: Any = (random_state if isinstance(random_state, np.random.Generator)
                             else np.random.default_rng(random_state))
            ridge_state: Any = np.random.RandomState(0)  # unused by Ridge's default solvers
        else:
            if isinstance(random_state, np.random.Generator):
                raise ValueError(f"sampler '{sampler}' needs an int or a RandomState")
            self.rng = (random_state if isinstance(random_state, np.random.RandomState)
                        else np.random.RandomState(random_state))
            ridge_state = self.rng  # shared, as in audioLIME
        self.base = _AudioLimeBase(self.kernel_fn, verbose=verbose, random_state=ridge_state,
                                   highest_weights_alpha=highest_weights_alpha)
        self.highest_weights_alpha = highest_weights_alpha

    def data_labels(self, factorization: TimeFrequencyFactorization, predict_fn: PredictFn,
                    num_samples: int | str, batch_size: int = 256,
                    device: torch.device | str | None = None, progress: bool = False,
                    per_sample: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Draw the neighbourhood masks and predict them.

        Parameters
        ----------
        factorization : TimeFrequencyFactorization
            The excerpt, its grid and its baseline.
        predict_fn : callable
            See :data:`PredictFn`.
        num_samples : int or 'exhaustive'
            Neighbourhood size.
        batch_size : int
            Inputs per model call (batched path).
        device : torch.device or str, optional
            Compute device (default: ``predict_fn.device`` or the best device).
        progress : bool
            Show a progress bar.
        per_sample : bool
            Use the one-by-one reference path.

        Returns
        -------
        masks : np.ndarray
            ``(S, n)`` uint8.
        outputs : np.ndarray
            ``(S, C)`` float64.
        """
        masks = sample_masks(factorization.n_components, num_samples, self.rng, self.sampler)
        if per_sample:
            outputs = predict_neighborhood_per_sample(predict_fn, factorization, masks,
                                                      device=device, progress=progress)
        else:
            outputs = predict_neighborhood(predict_fn, factorization, masks,
                                           batch_size=batch_size, device=device,
                                           progress=progress)
        return masks, outputs

    def explain_instance(self, factorization: TimeFrequencyFactorization,
                         predict_fn: PredictFn, labels: Iterable[int] | None = (0, 1),
                         top_labels: int | None = None, num_features: int = 100000,
                         num_samples: int | str = 1000, batch_size: int = 256,
                         distance_metric: str = "cosine", model_regressor: Any = None,
                         fit_intercept: bool = True, device: torch.device | str | None = None,
                         progress: bool = False, per_sample: bool = False) -> Explanation:
        """Explain the model's outputs on one factorized excerpt.

        Parameters
        ----------
        factorization : TimeFrequencyFactorization
            The excerpt, its grid and its baseline.
        predict_fn : callable
            ``(B, frames, bands)`` tensor → ``(B,)`` P(class 1) or ``(B, C)``.
        labels : iterable of int, optional
            Output columns to explain (ignored with ``top_labels``).
        top_labels : int, optional
            Explain the K highest outputs on the unperturbed excerpt instead.
        num_features : int
            Maximum number of features kept by the feature selection.
        num_samples : int or 'exhaustive'
            Neighbourhood size (the paper: 8192).
        batch_size : int
            Perturbed inputs per model call; does not change the results.
        distance_metric : str
            sklearn metric for the distance to the unperturbed row.
        model_regressor : sklearn regressor, optional
            Surrogate; default ``Ridge(alpha=1, fit_intercept=fit_intercept)``.
        fit_intercept : bool
            Whether the default surrogate fits an intercept.
        device : torch.device or str, optional
            Compute device.
        progress : bool
            Show a progress bar.
        per_sample : bool
            Predict one sample per call (the slow reference path).

        Returns
        -------
        Explanation
            Masks, outputs, and per label intercept, weights, score, local prediction.
        """
        masks, outputs = self.data_labels(factorization, predict_fn, num_samples, batch_size,
                                          device, progress, per_sample)
        distances = neighborhood_distances(masks, distance_metric)
        settings = {"kernel_width": self.kernel_width, "num_samples": len(masks),
                    "num_features": num_features, "feature_selection": self.feature_selection,
                    "distance_metric": distance_metric, "fit_intercept": fit_intercept,
                    "absolute_feature_sort": self.absolute_feature_sort,
                    "sampler": self.sampler, "seed": None if self.seed is None else int(self.seed),
                    "highest_weights_alpha": self.highest_weights_alpha}
        explanation = Explanation(factorization, masks, outputs, settings=settings)
        if top_labels:
            chosen = [int(i) for i in np.argsort(outputs[0])[-int(top_labels):][::-1]]
            explanation.top_labels = chosen
        elif labels is not None:
            chosen = [int(k) for k in labels]
        else:
            raise ValueError("give labels or top_labels")
        for label in chosen:
            if not 0 <= label < outputs.shape[1]:
                raise ValueError(f"label {label} outside the model's {outputs.shape[1]} outputs")
            regressor = model_regressor if model_regressor is not None else Ridge(
                alpha=1, fit_intercept=fit_intercept, random_state=self.base.random_state)
            intercept, exp, score, local_pred = self.base.explain_instance_with_data(
                masks, outputs, distances, label, num_features,
                feature_selection=self.feature_selection, model_regressor=regressor)
            exp = [(int(c), float(w)) for c, w in exp]  # lime sorted by |w|, ties stable
            if not self.absolute_feature_sort:
                exp = sorted(exp, key=lambda e: e[1], reverse=True)
            explanation.intercept[label] = float(intercept)
            explanation.local_exp[label] = exp
            explanation.score[label] = float(score)
            explanation.local_pred[label] = float(np.asarray(local_pred).reshape(-1)[0])
        return explanation


def explain_excerpt(predict_fn: PredictFn, excerpt: np.ndarray | torch.Tensor,
                    segmentation: Segmentation | None = None,
                    baseline: str | np.ndarray | float = "mean", *, num_samples: int | str = 8192,
                    kernel_width: float = 0.25, labels: Iterable[int] | None = (0, 1),
                    top_labels: int | None = None, num_features: int = 100000,
                    feature_selection: str = "auto", distance_metric: str = "cosine",
                    fit_intercept: bool = True, absolute_feature_sort: bool = False,
                    seed: int | np.random.Generator | np.random.RandomState | None = 0,
                    sampler: str = "generator", batch_size: int = 256,
                    device: torch.device | str | None = None, progress: bool = False,
                    per_sample: bool = False, kernel: Callable | None = None,
                    model_regressor: Any = None, highest_weights_alpha: float = 0.0,
                    verbose: bool = False) -> Explanation:
    """Explain a model's prediction on one log-mel excerpt with LIME (audioLIME semantics).

    Parameters
    ----------
    predict_fn : callable
        ``(B, frames, bands)`` float32 tensor → ``(B,)`` P(class 1) or ``(B, C)`` scores, e.g.
        :func:`detector_predict_fn`.
    excerpt : array or tensor
        ``(frames, bands)`` log-mel excerpt (time first).
    segmentation : Segmentation, optional
        The grid (default 5 × 4 over the excerpt).
    baseline : str, array or float
        ``'mean'`` (the paper's), ``'zero'``, ``'min'``, ``'max'``, ``'unif'``, ``'shuffle'``,
        or an explicit baseline.
    num_samples : int or 'exhaustive'
        Neighbourhood size (the paper: 8192).
    kernel_width : float
        Kernel width (0.25).
    labels : iterable of int, optional
        Output columns to explain; ``(0, 1)`` = "no sing", "sing" for a probability model.
    top_labels : int, optional
        Explain the K highest outputs instead.
    num_features : int
        Maximum number of features the selection keeps.
    feature_selection : str
        One of :data:`FEATURE_SELECTION`.
    distance_metric : str
        sklearn metric (``'cosine'``).
    fit_intercept : bool
        Whether the Ridge surrogate fits an intercept.
    absolute_feature_sort : bool
        Sort by ``|weight|`` instead of signed weight.
    seed : int, Generator, RandomState or None
        Randomness of the masks (and of the 'unif' / 'shuffle' baselines).
    sampler : str
        ``'generator'`` (default), or ``'audiolime'`` / ``'randomstate'`` for audioLIME's
        exact masks (see :func:`sample_masks`).
    batch_size : int
        Perturbed inputs per model call (does not change the results).
    device : torch.device or str, optional
        Where inputs are built (default: ``predict_fn.device`` or the best device).
    progress : bool
        Show a tqdm progress bar.
    per_sample : bool
        One model call per sample (the slow reference path).
    kernel : callable, optional
        ``kernel(distances, kernel_width)``.
    model_regressor : sklearn regressor, optional
        Surrogate instead of ``Ridge(alpha=1)``.
    highest_weights_alpha : float
        Ridge alpha of 'highest_weights' ranking (0 = audioLIME, 0.01 = lime).
    verbose : bool
        Let lime print its summary per label.

    Returns
    -------
    Explanation
        The explanation (see :class:`Explanation`).
    """
    baseline_seed = seed if isinstance(seed, (int, np.integer, np.random.Generator)) else None
    factorization = TimeFrequencyFactorization(excerpt, segmentation, baseline,
                                               seed=baseline_seed)
    explainer = LimeAudioExplainer(kernel_width=kernel_width, kernel=kernel, verbose=verbose,
                                   feature_selection=feature_selection,
                                   absolute_feature_sort=absolute_feature_sort,
                                   random_state=seed, sampler=sampler,
                                   highest_weights_alpha=highest_weights_alpha)
    return explainer.explain_instance(factorization, predict_fn, labels=labels,
                                      top_labels=top_labels, num_features=num_features,
                                      num_samples=num_samples, batch_size=batch_size,
                                      distance_metric=distance_metric,
                                      model_regressor=model_regressor,
                                      fit_intercept=fit_intercept, device=device,
                                      progress=progress, per_sample=per_sample)
