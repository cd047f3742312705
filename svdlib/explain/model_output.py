"""What captum-style explainers share: the explained output of any model, baselines, sums.

Any torch model ``(B, *shape) float tensor → (B,) P(class 1)`` or ``(B, C)`` scores (``shape``
the segmentation's: ``(frames, bands)``, ``(L,)`` for waveforms, ...) is wrapped by
:class:`TargetOutput` so that an attribution method sees ``(B, *shape) → (B,)``: class 1's
probability of a binary model (one output, or a ``(B, 1)`` column), column ``label`` of a
multi-class one. The same callable serves every explainer: a module, or a function that keeps
its gradient, is evaluated without gradients by the perturbation methods and differentiated by
the gradient methods; torch or numpy results are accepted. :class:`BatchedExplainer` is the
base of the explainers that run over batches of excerpts on the model's device and hand back
numpy on the CPU.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from svdlib.devices import best_device
from svdlib.explain.arrays import make_baseline, to_numpy
from svdlib.explain.attribution import Relevance, SegmentExplainer, as_excerpts
from svdlib.explain.segmentations.base import BaseSegmentation

Model = Callable[[torch.Tensor], Any]


class TargetOutput:
    """A model seen as ``(B, *shape) → (B,)``: the one output that is explained.

    Parameters
    ----------
    model : callable
        ``(B, *shape)`` float tensor → ``(B,)`` P(class 1), ``(B, 1)``, or ``(B, C)``.
    label : int
        The column explained for ``(B, C)`` outputs (``C > 1``); ignored for binary models,
        whose class-1 probability is always explained (class 0 is its opposite ranking).
    differentiable : bool
        Raise a clear error when the output carries no gradient (gradient methods).

    Attributes
    ----------
    binary : bool or None
        Whether the model returned one output per excerpt; None before the first call.
    """

    def __init__(self, model: Model, label: int = 1, differentiable: bool = False) -> None:
        if not callable(model):
            raise TypeError(f"the model must be callable, got {type(model).__name__}")
        self.model = model
        self.label = int(label)
        self.differentiable = differentiable
        self.binary: bool | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The explained output ``(B,)`` of ``(B, *shape)`` inputs."""
        out = self.model(x)
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(np.asarray(out), device=x.device)
        if out.dim() == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.dim() not in (1, 2) or out.shape[0] != x.shape[0]:
            raise ValueError(f"the model returned shape {tuple(out.shape)} for {x.shape[0]} "
                             "inputs; it must return (B,) probabilities or (B, n_classes)")
        self.binary = out.dim() == 1
        if not self.binary:
            if not 0 <= self.label < out.shape[1]:
                raise ValueError(f"label {self.label} outside the model's {out.shape[1]} "
                                 "outputs")
            out = out[:, self.label]
        if self.differentiable and x.requires_grad and not out.requires_grad:
            raise ValueError("the model's output carries no gradient (does it run under "
                             "torch.inference_mode or no_grad, or leave torch?); gradient "
                             "methods need a differentiable module, e.g. "
                             "lambda x: torch.sigmoid(predictor.module(x))")
        return out


def model_device(model: Any, device: torch.device | str | None = None) -> torch.device:
    """Where to run the model.

    ``device`` if given, else the module's parameters' (or the callable's ``.device``), else
    :func:`~svdlib.devices.best_device`.
    """
    if device is not None:
        return torch.device(device)
    if isinstance(model, torch.nn.Module):
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            return tensor.device
    own = getattr(model, "device", None)
    if own is not None:
        return torch.device(own)
    return best_device("auto")


def baselines_for(excerpts: np.ndarray, baseline: str | np.ndarray | float,
                  seed: int | None) -> np.ndarray:
    """The baseline of every excerpt, ``(N, *shape)`` float32.

    A kind from :data:`~svdlib.explain.segments.BASELINES` is computed per excerpt by
    :func:`~svdlib.explain.segments.make_baseline` (``'mean'``: the excerpt's mean, the
    paper's); an array or a constant is broadcast to every excerpt.
    """
    if isinstance(baseline, str):
        return np.stack([make_baseline(x, baseline, seed) for x in excerpts])
    value = np.asarray(to_numpy(baseline) if isinstance(baseline, torch.Tensor) else baseline,
                       dtype=np.float32)
    return np.broadcast_to(value, excerpts.shape).astype(np.float32)


def segment_sums(bin_maps: np.ndarray, segmentation: BaseSegmentation) -> np.ndarray:
    """``(N, *view_shape)`` per-coefficient maps summed inside every segment: ``(N, n)``.

    The segmentation's own :meth:`~svdlib.explain.segmentations.base.BaseSegmentation.segment_sums`
    (for the grid: ``np.add.reduceat`` over its rectangles, float64).
    """
    return segmentation.segment_sums(bin_maps)


def feature_mask(segmentation: BaseSegmentation, device: torch.device) -> torch.Tensor:
    """The ``feature_mask`` for captum: every cell's segment id, ``(1, *shape)`` int64.

    Only for pointwise segmentations (their view is the excerpt itself).
    """
    return torch.as_tensor(np.array(segmentation.view_labels()), device=device)[None]


class BatchedExplainer(SegmentExplainer):
    """Base of the explainers that run a torch attribution method over batches of excerpts.

    Parameters
    ----------
    model : callable
        ``(B, *shape)`` float tensor → ``(B,)`` P(class 1) or ``(B, C)`` scores.
    segmentation : BaseSegmentation
        The segments the relevances are given for (any shape: a grid, labels, time or STFT
        segments of a waveform).
    label : int
        The explained column of a ``(B, C)`` model (see :class:`TargetOutput`).
    seed : int or None
        Randomness of the method (and of the 'unif' / 'shuffle' baselines).
    baseline : str, array or float
        See :func:`baselines_for` (default ``'mean'``, the paper's).
    device : torch.device or str, optional
        Where to compute (default: :func:`model_device`).
    batch_size : int
        Excerpts per call of the method; does not change the results beyond float rounding.
    """

    def __init__(self, model: Model, segmentation: BaseSegmentation, *, label: int = 1,
                 seed: int | None = 0, baseline: str | np.ndarray | float = "mean",
                 device: torch.device | str | None = None, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model = model
        self.segmentation = segmentation
        self.label = int(label)
        self.seed = seed
        self.baseline = baseline
        self.device = model_device(model, device)
        self.batch_size = int(batch_size)
        self.target = TargetOutput(model, label, differentiable=self.differentiable)

    def __call__(self, excerpt: np.ndarray) -> Relevance:
        """Explain one excerpt of the segmentation's shape."""
        x = as_excerpts(excerpt, self.segmentation)
        if len(x) != 1:
            raise ValueError("call explain_many for several excerpts")
        return self.explain_many(x)[0]

    def explain_many(self, excerpts: np.ndarray) -> list[Relevance]:
        """Explain ``(N, *shape)`` excerpts in batches of :attr:`batch_size`."""
        x = as_excerpts(excerpts, self.segmentation)
        out: list[Relevance] = []
        with torch.inference_mode(False):
            for start in range(0, len(x), self.batch_size):
                chunk = x[start:start + self.batch_size]
                base = baselines_for(chunk, self.baseline, self.seed)
                weights, maps = self._attribute(self._tensor(chunk), self._tensor(base))
                out += [Relevance(weights[i], float("nan"),
                                    None if maps is None else maps[i], self.signed)
                        for i in range(len(chunk))]
        return out

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def _attribute(self, x: torch.Tensor, baseline: torch.Tensor
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(N, n)`` relevances and the ``(N, *view_shape)`` maps (or None) of a batch."""
        raise NotImplementedError
