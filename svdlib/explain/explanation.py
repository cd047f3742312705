"""The explanation object: weights, intercept, score, samples; to and from arrays."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.explain.segmentations.meta import segmentation_from_meta
from svdlib.explain.segments import Segmentation

# --------------------------------------------------------------------------------------------
# the explanation


class Explanation:
    """A LIME explanation of one excerpt (audioLIME's ``AudioExplanation``).

    Attributes
    ----------
    factorization : TimeFrequencyFactorization
        The excerpt, its segmentation and its baseline.
    neighborhood_data : np.ndarray or None
        ``(S, n_components)`` uint8 masks; row 0 all ones. None if not stored.
    neighborhood_labels : np.ndarray or None
        ``(S, C)`` model outputs (``[1 − p, p]`` for a probability model). None if not stored.
    instance_output : np.ndarray
        ``(C,)`` the model outputs on the unperturbed excerpt (``neighborhood_labels[0]``).
    intercept, score, local_pred : dict of int to float
        Per explained label: the surrogate's intercept, its kernel-weighted in-sample R²
        ("fidelity") and its prediction at the unperturbed point.
    local_exp : dict of int to list of (int, float)
        Per label: ``(component id, weight)``, sorted by signed weight descending (or by
        ``|weight|`` with ``absolute_feature_sort``).
    top_labels : list of int or None
        The labels chosen by ``top_labels``, highest output first.
    settings : dict
        The explainer's settings (JSON-able).

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from svdlib import LimeExplainer, Segmentation
    >>> model = lambda x: torch.sigmoid(10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2))
    >>> excerpt = np.zeros((115, 80), np.float32); excerpt[:23, :20] = 1.0
    >>> explanation = LimeExplainer(model, num_samples=256, seed=0).explanation(excerpt)
    >>> explanation.labels, explanation.n_components, explanation.neighborhood_data.shape
    ([0, 1], 20, (256, 20))
    >>> component, weight = explanation.local_exp[1][0]          # the top segment for class 1
    >>> component, weight > 0.5
    (0, True)
    >>> sorted(explanation.metrics(label=1))
    ['fidelity', 'global', 'intercept', 'local']
    """

    def __init__(self, factorization: TimeFrequencyFactorization,
                 neighborhood_data: np.ndarray | None, neighborhood_labels: np.ndarray | None,
                 instance_output: np.ndarray | None = None,
                 settings: dict[str, Any] | None = None) -> None:
        self.factorization = factorization
        self.neighborhood_data = neighborhood_data
        self.neighborhood_labels = neighborhood_labels
        if instance_output is None:
            if neighborhood_labels is None:
                raise ValueError("need the neighbourhood outputs or the instance output")
            instance_output = neighborhood_labels[0]
        self.instance_output = np.asarray(instance_output, dtype=np.float64)
        self.intercept: dict[int, float] = {}
        self.local_exp: dict[int, list[tuple[int, float]]] = {}
        self.score: dict[int, float] = {}
        self.local_pred: dict[int, float] = {}
        self.top_labels: list[int] | None = None
        self.settings: dict[str, Any] = dict(settings or {})

    # -- views ------------------------------------------------------------------------------
    @property
    def segmentation(self) -> BaseSegmentation:
        """The segmentation (the time-frequency grid for the paper's explanations)."""
        return self.factorization.segmentation

    @property
    def excerpt(self) -> np.ndarray:
        """The explained excerpt (of the segmentation's shape)."""
        return self.factorization.excerpt

    @property
    def baseline(self) -> np.ndarray:
        """The baseline (of the excerpt's shape) that switched-off components show."""
        return self.factorization.baseline

    @property
    def labels(self) -> list[int]:
        """The explained labels, in the order they were explained."""
        return list(self.local_exp)

    @property
    def n_components(self) -> int:
        """Number of interpretable components."""
        return self.factorization.n_components

    def _check_label(self, label: int) -> int:
        if label not in self.local_exp:
            raise KeyError(f"label {label} was not explained (explained: {self.labels})")
        return label

    def weights(self, label: int = 1) -> np.ndarray:
        """The surrogate's weights indexed by component id (0 for unselected features).

        Parameters
        ----------
        label : int
            An explained label.

        Returns
        -------
        np.ndarray
            ``(n_components,)`` float64.
        """
        out = np.zeros(self.n_components, dtype=np.float64)
        for c, w in self.local_exp[self._check_label(label)]:
            out[c] = w
        return out

    def model_output(self, label: int = 1) -> float:
        """The model's output for ``label`` on the unperturbed excerpt ("global")."""
        return float(self.instance_output[label])

    def metrics(self, label: int = 1) -> dict[str, float]:
        """The paper's per-explanation numbers for one label.

        Parameters
        ----------
        label : int
            An explained label (the paper: 1, "sing").

        Returns
        -------
        dict
            ``fidelity`` (score), ``local`` (local_pred), ``global`` (model output on the
            unperturbed excerpt) and ``intercept``.
        """
        self._check_label(label)
        return {"fidelity": self.score[label], "local": self.local_pred[label],
                "global": self.model_output(label), "intercept": self.intercept[label]}

    def get_sorted_components(self, label: int, positive_components: bool = True,
                              negative_components: bool = True,
                              num_components: int | str = "all", min_abs_weight: float = 0.0,
                              return_indices: bool = False
                              ) -> np.ndarray | tuple[np.ndarray, list[int]]:
        """The excerpt showing only the chosen components (audioLIME's semantics).

        Starting from ``local_exp[label]`` in its stored order: with
        ``negative_components=False`` keep weights ``> 0``; otherwise with
        ``positive_components=False`` keep weights ``< 0`` (exact zeros are dropped by both);
        then, if ``min_abs_weight`` is not 0, keep ``|w| >= min_abs_weight``; then take the
        first ``num_components``.

        Pitfall (as in audioLIME): with the default signed sort, negative-only selection runs
        from the least to the most negative weight, so "top-1 negative" is the *weakest*
        negative component. Use ``absolute_feature_sort=True`` to get the strongest.

        Parameters
        ----------
        label : int
            An explained label.
        positive_components, negative_components : bool
            Which signs to keep (not both False).
        num_components : int or 'all'
            How many of the filtered components to keep.
        min_abs_weight : float
            Drop components with a smaller absolute weight (0 = keep all).
        return_indices : bool
            Also return the chosen component ids.

        Returns
        -------
        np.ndarray or (np.ndarray, list of int)
            The excerpt on the chosen components, the baseline elsewhere (of the excerpt's
            shape); and the ids if asked.
        """
        exp = self.local_exp[self._check_label(label)]
        if not positive_components and not negative_components:
            raise ValueError("positive_components and negative_components cannot both be False")
        if num_components == "auto":
            raise ValueError("num_components='auto' was removed.")
        if not negative_components:
            exp = [e for e in exp if e[1] > 0]
        elif not positive_components:
            exp = [e for e in exp if e[1] < 0]
        if min_abs_weight != 0:
            exp = [e for e in exp if abs(e[1]) >= min_abs_weight]
        if num_components != "all":
            if isinstance(num_components, bool) or not isinstance(num_components,
                                                                  (int, np.integer)):
                raise ValueError(f"num_components must be an int or 'all', "
                                 f"got {num_components!r}")
            if num_components < 0:
                raise ValueError(f"num_components must be >= 0, got {num_components}")
            exp = exp[:int(num_components)]
        ids = [int(c) for c, _ in exp]
        composed = self.factorization.retrieve_components(ids)
        return (composed, ids) if return_indices else composed

    # -- storage ----------------------------------------------------------------------------
    def to_arrays(self, neighborhood: bool = True) -> dict[str, np.ndarray]:
        """The explanation as plain numpy arrays (for :func:`~svdlib.files.save_arrays`).

        Parameters
        ----------
        neighborhood : bool
            Include the masks (bit-packed) and the model outputs of all samples.

        Returns
        -------
        dict of str to np.ndarray
            ``excerpt``, ``baseline``, ``instance_output``, per explained label (in order)
            ``labels``, ``intercept``, ``score``, ``local_pred``, ``weights`` (by component id),
            ``order`` (the ``local_exp`` order, padded with −1), ``meta`` (a JSON string), and
            with ``neighborhood`` ``masks_packed`` and ``outputs``.
        """
        n = self.n_components
        labels = self.labels
        order = np.full((len(labels), n), -1, dtype=np.int64)
        for i, label in enumerate(labels):
            ids = [c for c, _ in self.local_exp[label]]
            order[i, :len(ids)] = ids
        seg = self.segmentation
        # the grid's description without a kind: the paper's stored explanations are unchanged
        described = {k: v for k, v in seg.to_meta().items() if k != "kind"} \
            if isinstance(seg, Segmentation) else seg.to_meta()
        meta = {"settings": self.settings, "baseline_kind": self.factorization.baseline_kind,
                "top_labels": self.top_labels, "segmentation": described,
                "num_samples": (None if self.neighborhood_data is None
                                else len(self.neighborhood_data))}
        arrays = {
            "excerpt": self.excerpt,
            "baseline": self.baseline,
            "instance_output": self.instance_output,
            "labels": np.asarray(labels, dtype=np.int64),
            "intercept": np.asarray([self.intercept[k] for k in labels], dtype=np.float64),
            "score": np.asarray([self.score[k] for k in labels], dtype=np.float64),
            "local_pred": np.asarray([self.local_pred[k] for k in labels], dtype=np.float64),
            "weights": (np.stack([self.weights(k) for k in labels]) if labels
                        else np.zeros((0, n))),
            "order": order,
            "meta": np.asarray(json.dumps(meta, sort_keys=True)),
        }
        if neighborhood and self.neighborhood_data is not None:
            arrays["masks_packed"] = np.packbits(self.neighborhood_data.astype(np.uint8), axis=1)
            arrays["outputs"] = np.asarray(self.neighborhood_labels, dtype=np.float64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Explanation:
        """Rebuild an explanation from :meth:`to_arrays`' output.

        Parameters
        ----------
        arrays : dict of str to np.ndarray
            As written by :meth:`to_arrays` (e.g. read back with ``load_arrays``).

        Returns
        -------
        Explanation
            Equal to the original (weights, order, scores and neighbourhood bit for bit).
        """
        meta = json.loads(str(np.asarray(arrays["meta"])[()]))
        seg = segmentation_from_meta(meta["segmentation"])
        fact = TimeFrequencyFactorization(arrays["excerpt"], seg, baseline=arrays["baseline"])
        fact.baseline_kind = meta["baseline_kind"]
        data = outputs = None
        if "masks_packed" in arrays:
            data = np.unpackbits(arrays["masks_packed"], axis=1, count=seg.n_components)
            outputs = np.asarray(arrays["outputs"], dtype=np.float64)
        exp = cls(fact, data, outputs, instance_output=arrays["instance_output"],
                  settings=meta["settings"])
        exp.top_labels = meta["top_labels"]
        weights = np.asarray(arrays["weights"], dtype=np.float64)
        for i, label in enumerate(np.asarray(arrays["labels"]).tolist()):
            ids = [int(c) for c in arrays["order"][i] if c >= 0]
            exp.local_exp[label] = [(c, float(weights[i, c])) for c in ids]
            exp.intercept[label] = float(arrays["intercept"][i])
            exp.score[label] = float(arrays["score"][i])
            exp.local_pred[label] = float(arrays["local_pred"][i])
        return exp


def stack_explanations(explanations: Sequence[Explanation],
                       neighborhood: bool = True) -> dict[str, np.ndarray]:
    """Many explanations as one dict of arrays with a leading axis (one file, no pickles).

    Parameters
    ----------
    explanations : sequence of Explanation
        Explanations with equal shapes (same grid, labels and number of samples).
    neighborhood : bool
        Include the masks and outputs of every sample.

    Returns
    -------
    dict of str to np.ndarray
        The keys of :meth:`Explanation.to_arrays`, each stacked along a new axis 0.
    """
    if not explanations:
        raise ValueError("nothing to stack")
    parts = [e.to_arrays(neighborhood=neighborhood) for e in explanations]
    keys = parts[0].keys()
    for part in parts[1:]:
        if part.keys() != keys or any(part[k].shape != parts[0][k].shape for k in keys
                                      if k != "meta"):
            raise ValueError("explanations differ in shape (grid, labels or samples); "
                             "store them separately")
    return {k: np.stack([p[k] for p in parts]) for k in keys}


def unstack_explanations(arrays: dict[str, np.ndarray]) -> list[Explanation]:
    """Split :func:`stack_explanations`' arrays back into explanations.

    Parameters
    ----------
    arrays : dict of str to np.ndarray
        Stacked arrays (e.g. from ``load_arrays``).

    Returns
    -------
    list of Explanation
        In stacking order.
    """
    count = len(arrays["meta"])
    return [Explanation.from_arrays({k: v[i] for k, v in arrays.items()}) for i in range(count)]
