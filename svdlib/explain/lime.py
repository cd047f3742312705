"""LIME over time-frequency segments: audioLIME v0.0.3's ``LimeAudioExplainer``, batched.

This module is the engine; the one way to run LIME on an excerpt is
:class:`svdlib.explain.explainers.LimeExplainer` (``make_explainer("lime", ...)``), whose
``explainer(excerpt)`` gives the relevances and ``explainer.explanation(excerpt)`` the whole
:class:`Explanation`.

The method is audioLIME's (``reference/audiolime-and-detector-spec.md``, part A), fitted with
PyPI ``lime``'s :class:`lime.lime_base.LimeBase`; the neighbourhood masks, distances and kernel
(steps 1 and 3) live in :mod:`svdlib.explain.sampling`:

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
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from lime.lime_base import LimeBase
from sklearn.linear_model import Ridge

from svdlib.explain.explanation import Explanation
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.neighbourhood import (
    PredictFn,
    predict_neighborhood,
    predict_neighborhood_per_sample,
)
from svdlib.explain.sampling import (
    FEATURE_SELECTION,
    SAMPLERS,
    default_kernel,
    neighborhood_distances,
    sample_masks,
)


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
        settings = self._settings(len(masks), num_features, distance_metric, fit_intercept)
        explanation = Explanation(factorization, masks, outputs, settings=settings)
        chosen = _chosen_labels(outputs, labels, top_labels)
        if top_labels:
            explanation.top_labels = chosen
        for label in chosen:
            self._fit_label(explanation, masks, outputs, distances, label, num_features,
                            model_regressor, fit_intercept)
        return explanation

    def _settings(self, num_samples: int, num_features: int, distance_metric: str,
                  fit_intercept: bool) -> dict[str, Any]:
        """The settings an :class:`Explanation` records."""
        return {"kernel_width": self.kernel_width, "num_samples": num_samples,
                "num_features": num_features, "feature_selection": self.feature_selection,
                "distance_metric": distance_metric, "fit_intercept": fit_intercept,
                "absolute_feature_sort": self.absolute_feature_sort,
                "sampler": self.sampler, "seed": None if self.seed is None else int(self.seed),
                "highest_weights_alpha": self.highest_weights_alpha}

    def _fit_label(self, explanation: Explanation, masks: np.ndarray, outputs: np.ndarray,
                   distances: np.ndarray, label: int, num_features: int, model_regressor: Any,
                   fit_intercept: bool) -> None:
        """Fit the surrogate for one output column and store it in ``explanation``."""
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


def _chosen_labels(outputs: np.ndarray, labels: Iterable[int] | None,
                   top_labels: int | None) -> list[int]:
    """The output columns to explain: the ``top_labels`` highest on row 0, else ``labels``."""
    if top_labels:
        return [int(i) for i in np.argsort(outputs[0])[-int(top_labels):][::-1]]
    if labels is not None:
        return [int(k) for k in labels]
    raise ValueError("give labels or top_labels")
