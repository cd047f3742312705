"""More spread in the explainer pool: LIME with another surrogate or another masking operator.

Three variants of :class:`~svdlib.explain.explainers.LimeExplainer`, each the same LIME
(neighbourhood, kernel, feature selection) with one thing changed:

* :class:`LimeForestExplainer` (``lime_forest``): the local surrogate is a random forest
  (:class:`ForestSurrogate`, sklearn's ``RandomForestRegressor`` fitted with LIME's kernel
  weights) instead of the ridge regression. A forest has no coefficients; a segment's
  relevance is its impurity importance (``feature_importances_``: the share of the forest's
  variance reduction due to splits on that segment, ≥ 0, summing to 1) signed by the
  kernel-weighted correlation between the segment's presence and the model's output
  (positive: keeping the segment raises the explained output). The importances need no
  permutations (no extra model calls); the sign says in which direction the segment
  acts, which the importances alone do not. The score is the forest's kernel-weighted R² on
  the neighbourhood it was fitted to (LIME's definition of fidelity); for a forest, which can
  nearly interpolate its training data, it is optimistic.
* :class:`MaskedLimeExplainer` with ``masking``: what a switched-off segment shows:
  ``'mean'`` (the excerpt's mean: LIME's and the paper's), ``'zero'`` or ``'noise'``
  (normal noise with the excerpt's mean and standard deviation, drawn per cell, seeded by
  ``seed`` and the excerpt's bytes, so the same excerpt gets the same noise). Its
  subclasses :class:`LimeZeroExplainer` (``lime_zero``) and :class:`LimeNoiseExplainer`
  (``lime_noise``) fix the masking, for a place among the named explainers.

Each takes :func:`~svdlib.explain.explainers.make_explainer`'s arguments (``model,
segmentation, label, seed, baseline, device, **settings``); the masking variants ignore
``baseline`` (their masking replaces it).

``lime_forest`` draws the same neighbourhood as LIME with the same seed, samples and
baseline: the same masks, the same perturbed inputs, the same model outputs. Given one
:class:`OutputMemo` around the model, the two explainers evaluate each neighbourhood once and
only the forest's fit is extra (the explainer benchmark does this when it runs both).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from sklearn.ensemble import RandomForestRegressor

from svdlib.explain.attribution import Relevance, SegmentExplainer
from svdlib.explain.lime_explainer import LimeExplainer
from svdlib.explain.segments import Segmentation

MASKINGS = ("mean", "zero", "noise")


class ForestSurrogate:
    """A random forest as LIME's surrogate, with the ``coef_`` and ``intercept_`` LIME reads.

    Parameters
    ----------
    n_estimators, min_samples_leaf, max_features
        As for ``sklearn.ensemble.RandomForestRegressor``.
    seed : int or None
        The forest's ``random_state`` (one job: the result does not depend on threads).

    Attributes
    ----------
    coef_ : np.ndarray
        ``(n_features,)`` impurity importances signed by the kernel-weighted correlation of
        each feature with the target (0 where the feature or the target is constant).
    intercept_ : float
        The forest's prediction with every feature off (all zeros), as a linear surrogate's
        intercept is.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib.explain.variants import ForestSurrogate
    >>> rng = np.random.default_rng(0)
    >>> masks = rng.integers(0, 2, (200, 4)).astype(float)
    >>> outputs = 0.8 * masks[:, 0] - 0.4 * masks[:, 2]       # feature 0 for, feature 2 against
    >>> forest = ForestSurrogate(n_estimators=20).fit(masks, outputs, np.ones(200))
    >>> np.sign(forest.coef_[[0, 2]]).tolist(), int(np.abs(forest.coef_).argmax())
    ([1.0, -1.0], 0)
    >>> bool(np.abs(forest.coef_[[1, 3]]).max() < 0.05)     # the others barely matter
    True
    """

    def __init__(self, n_estimators: int = 50, min_samples_leaf: int = 5,
                 max_features: float | str | None = 1.0, seed: int | None = 0) -> None:
        self.forest = RandomForestRegressor(n_estimators=n_estimators,
                                            min_samples_leaf=min_samples_leaf,
                                            max_features=max_features, random_state=seed,
                                            n_jobs=1)

    def fit(self, data: np.ndarray, target: np.ndarray,
            sample_weight: np.ndarray | None = None) -> ForestSurrogate:
        """Fit the forest; set ``coef_`` and ``intercept_``."""
        x, y = np.asarray(data, dtype=np.float64), np.asarray(target, dtype=np.float64)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        self.forest.fit(x, y, sample_weight=w)
        xc = x - w @ x / w.sum()
        yc = y - w @ y / w.sum()
        self.coef_ = self.forest.feature_importances_ * np.sign(w * yc @ xc)
        self.intercept_ = float(self.forest.predict(np.zeros((1, x.shape[1])))[0])
        return self

    def predict(self, data: np.ndarray) -> np.ndarray:
        """The forest's predictions."""
        return self.forest.predict(np.asarray(data, dtype=np.float64))

    def score(self, data: np.ndarray, target: np.ndarray,
              sample_weight: np.ndarray | None = None) -> float:
        """The weighted R² of the predictions (on the data given: LIME gives its own)."""
        return float(self.forest.score(data, target, sample_weight=sample_weight))


class OutputMemo:
    """A model whose outputs are kept per batch of inputs: the same batch is evaluated once.

    The key is the SHA-256 of the batch's bytes (and its shape and dtype), so only a batch
    equal bit for bit reuses an output. LIME and :class:`LimeForestExplainer` with the same
    seed, ``num_samples``, ``batch_size`` and baseline build the same batches; given one memo,
    the second of them evaluates nothing.

    Parameters
    ----------
    model : callable
        ``(B, ...)`` tensor → outputs (a tensor or an array), e.g. the detector's predictor.
    max_batches : int
        Outputs kept at most (the oldest go first); a batch's outputs are ``B`` numbers.

    Attributes
    ----------
    evaluated, reused : int
        Batches the model evaluated, and batches answered from the memo.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from svdlib import LimeExplainer, Segmentation
    >>> from svdlib.explain.variants import LimeForestExplainer, OutputMemo
    >>> model = lambda x: torch.sigmoid(10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2))
    >>> memo = OutputMemo(model)
    >>> excerpt = np.zeros((115, 80), np.float32); excerpt[:23, :20] = 1.0
    >>> lime = LimeExplainer(memo, Segmentation(), num_samples=256, batch_size=128, seed=0)
    >>> forest = LimeForestExplainer(memo, Segmentation(), num_samples=256, batch_size=128,
    ...                              seed=0, n_estimators=10)
    >>> _ = lime(excerpt), forest(excerpt)
    >>> memo.evaluated, memo.reused                  # two batches, evaluated once
    (2, 2)
    """

    def __init__(self, model: Any, max_batches: int = 100_000) -> None:
        if not callable(model):
            raise TypeError(f"the model must be callable, got {type(model).__name__}")
        if max_batches < 1:
            raise ValueError(f"max_batches must be positive, got {max_batches}")
        self.model = model
        self.max_batches = int(max_batches)
        self.evaluated = 0
        self.reused = 0
        self._known: dict[bytes, Any] = {}

    @property
    def device(self) -> Any:
        """The wrapped model's device (its ``.device``, or its first parameter's), if any."""
        if isinstance(self.model, torch.nn.Module):
            for tensor in self.model.parameters():
                return tensor.device
        return getattr(self.model, "device", None)

    def __call__(self, inputs: Any) -> Any:
        """The model's outputs on ``inputs``, evaluated unless this batch was seen before."""
        array = (inputs.detach().cpu().numpy() if isinstance(inputs, torch.Tensor)
                 else np.asarray(inputs))
        digest = hashlib.sha256(f"{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(array).data)
        key = digest.digest()
        if key in self._known:
            self.reused += 1
            return self._known[key]
        out = self.model(inputs)
        out = out.detach().clone() if isinstance(out, torch.Tensor) else np.array(out)
        if len(self._known) >= self.max_batches:
            del self._known[next(iter(self._known))]
        self._known[key] = out
        self.evaluated += 1
        return out


class LimeForestExplainer(SegmentExplainer):
    """LIME with a random-forest surrogate (see the module): relevance = signed importance.

    Parameters
    ----------
    model, segmentation, label, seed, baseline, device
        As for :class:`~svdlib.explain.explainers.LimeExplainer`.
    n_estimators, min_samples_leaf, max_features
        The forest's (:class:`ForestSurrogate`).
    **settings
        LIME's own (``num_samples``, ``batch_size``, ``kernel_width``, ...).

    Examples
    --------
    A toy model whose P(class 1) depends only on segment 0: the forest finds it.

    >>> import numpy as np
    >>> import torch
    >>> from svdlib import LimeForestExplainer, Segmentation
    >>> model = lambda x: torch.sigmoid(10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2))
    >>> excerpt = np.zeros((115, 80), np.float32); excerpt[:23, :20] = 1.0
    >>> explain = LimeForestExplainer(model, Segmentation(), num_samples=256, n_estimators=20)
    >>> relevance = explain(excerpt)
    >>> int(relevance.weights.argmax()), bool(relevance.weights[0] > 0.5), relevance.score > 0.9
    (0, True, True)
    """

    name = "lime_forest"

    def __init__(self, model: Any, segmentation: Segmentation | None = None, *,
                 label: int = 1, seed: int | None = 0, baseline: Any = "mean",
                 device: Any = None, n_estimators: int = 50, min_samples_leaf: int = 5,
                 max_features: float | str | None = 1.0, **settings: Any) -> None:
        surrogate = ForestSurrogate(n_estimators, min_samples_leaf, max_features,
                                    seed if isinstance(seed, (int, np.integer)) else None)
        self.lime = LimeExplainer(model, segmentation, label=label, seed=seed,
                                  baseline=baseline, device=device,
                                  model_regressor=surrogate, **settings)
        self.segmentation = self.lime.segmentation

    def __call__(self, excerpt: np.ndarray) -> Relevance:
        """Explain one ``(frames, bands)`` excerpt: signed importances and the forest's R²."""
        return self.lime(excerpt)


def noise_baseline(excerpt: np.ndarray, seed: int | None = 0) -> np.ndarray:
    """Normal noise with the excerpt's mean and standard deviation, seeded by the excerpt.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib.explain.variants import noise_baseline
    >>> excerpt = np.arange(12, dtype=np.float32).reshape(3, 4)
    >>> a, b = noise_baseline(excerpt), noise_baseline(excerpt)
    >>> a.shape, a.dtype, bool((a == b).all())
    ((3, 4), dtype('float32'), True)
    """
    x = np.ascontiguousarray(excerpt, dtype=np.float32)
    digest = int.from_bytes(hashlib.blake2b(x.tobytes(), digest_size=8).digest(), "little")
    entropy = [digest] if seed is None else [int(seed), digest]
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    return rng.normal(float(x.mean()), float(x.std()), x.shape).astype(np.float32)


class MaskedLimeExplainer(SegmentExplainer):
    """LIME whose switched-off segments show another masking (see the module).

    Parameters
    ----------
    model, segmentation, label, seed, device
        As for :class:`~svdlib.explain.explainers.LimeExplainer`.
    masking : {'mean', 'zero', 'noise'}
        What a switched-off segment shows (default: the class's :attr:`masking`).
    baseline
        Ignored (accepted for :func:`~svdlib.explain.explainers.make_explainer`).
    **settings
        LIME's own (``num_samples``, ``batch_size``, ``kernel_width``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from svdlib import MaskedLimeExplainer, Segmentation
    >>> model = lambda x: torch.sigmoid(10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2))
    >>> excerpt = np.zeros((115, 80), np.float32); excerpt[:23, :20] = 1.0
    >>> for masking in ("mean", "zero", "noise"):
    ...     explain = MaskedLimeExplainer(model, Segmentation(), masking=masking, num_samples=256)
    ...     print(masking, int(explain(excerpt).weights.argmax()))
    mean 0
    zero 0
    noise 0
    """

    name = "lime_masked"
    masking = "mean"

    def __init__(self, model: Any, segmentation: Segmentation | None = None, *,
                 masking: str | None = None, label: int = 1, seed: int | None = 0,
                 baseline: Any = None, device: Any = None, **settings: Any) -> None:
        masking = masking or self.masking
        if masking not in MASKINGS:
            raise ValueError(f"unknown masking '{masking}'; choose one of {', '.join(MASKINGS)}")
        self.masking = masking
        self.seed = seed
        self.options = {"label": label, "seed": seed, "device": device, **settings}
        self.lime = LimeExplainer(model, segmentation, baseline="zero" if masking == "zero"
                                  else "mean", **self.options)
        self.segmentation = self.lime.segmentation

    def __call__(self, excerpt: np.ndarray) -> Relevance:
        """Explain one ``(frames, bands)`` excerpt."""
        if self.masking != "noise":
            return self.lime(excerpt)
        x = np.asarray(excerpt, dtype=np.float32)
        noisy = LimeExplainer(self.lime.model, self.segmentation,
                              baseline=noise_baseline(x.reshape(self.segmentation.shape),
                                                      self.seed), **self.options)
        return noisy(x)


class LimeZeroExplainer(MaskedLimeExplainer):
    """LIME with switched-off segments at zero (``lime_zero``; see the module).

    Examples
    --------
    >>> from svdlib.explain.variants import LimeZeroExplainer
    >>> LimeZeroExplainer.name, LimeZeroExplainer.masking
    ('lime_zero', 'zero')
    """

    name = "lime_zero"
    masking = "zero"


class LimeNoiseExplainer(MaskedLimeExplainer):
    """LIME with switched-off segments showing noise (``lime_noise``; see the module).

    Examples
    --------
    >>> from svdlib.explain.variants import LimeNoiseExplainer
    >>> LimeNoiseExplainer.name, LimeNoiseExplainer.masking
    ('lime_noise', 'noise')
    """

    name = "lime_noise"
    masking = "noise"
