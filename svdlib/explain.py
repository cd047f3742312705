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

import copy
import functools
import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from lime.lime_base import LimeBase
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances
from torch import nn
from tqdm.auto import tqdm

from .config import LimeConfig
from .model import BLOCKLEN, SingingVoiceDetector, ZeroMeanConv2d, best_device
from .segments import Segmentation, TimeFrequencyFactorization

PredictFn = Callable[[torch.Tensor], Any]
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
# model outputs


def _tune_for(device: torch.device) -> torch.device:
    """Let cuDNN pick its fastest kernels on CUDA (LIME repeats one batch shape); else no-op."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device


def _resolve_device(predict_fn: PredictFn, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return _tune_for(torch.device(device))
    own = getattr(predict_fn, "device", None)
    return _tune_for(torch.device(own) if own is not None else best_device("auto"))


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """One host-to-device copy; from pinned memory and asynchronous when ``device`` is CUDA."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def _device_rows(out: torch.Tensor, n: int) -> torch.Tensor:
    """A predict function's tensor result checked for ``n`` rows, left where it was computed."""
    if out.dim() not in (1, 2) or out.shape[0] != n:
        raise ValueError(f"the predict function returned shape {tuple(out.shape)} for {n} "
                         "inputs; it must return (B,) probabilities or (B, n_classes)")
    return out.detach()


def _outputs(out: Any, n: int) -> np.ndarray:
    """A predict function's result as an ``(n, C)`` float64 array; ``(n,)`` → ``[1−p, p]``."""
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1:
        arr = np.stack([1.0 - arr, arr], axis=1)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"the predict function returned shape {np.shape(out)} for {n} inputs; "
                         "it must return (B,) probabilities or (B, n_classes)")
    return arr


def predict_neighborhood(predict_fn: PredictFn, factorization: TimeFrequencyFactorization,
                         masks: np.ndarray, batch_size: int = 256,
                         device: torch.device | str | None = None,
                         progress: bool = False) -> np.ndarray:
    """Model outputs for every neighbourhood row, batched on the compute device.

    The 0/1 rows go to the device once (pinned, asynchronous on CUDA); each batch's inputs
    are built there as ``where(mask, excerpt, baseline)`` and passed to ``predict_fn`` in one
    call. Tensor outputs stay on the device and are copied to the host once at the end, so
    the batches queue up on a GPU without a synchronisation per batch.

    Parameters
    ----------
    predict_fn : callable
        ``(B, frames, bands)`` float32 tensor on ``device`` → ``(B,)`` P(class 1) (turned into
        ``[1 − p, p]``) or ``(B, C)`` scores.
    factorization : TimeFrequencyFactorization
        The excerpt, its grid and its baseline.
    masks : np.ndarray
        ``(S, n_components)`` 0/1 rows.
    batch_size : int
        Inputs per ``predict_fn`` call. Does not change the results.
    device : torch.device or str, optional
        Where to build the inputs; default ``predict_fn.device`` if it has one, else the best
        device (a GPU when present).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    np.ndarray
        ``(S, C)`` float64 outputs.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    dev = _resolve_device(predict_fn, device)
    seg = factorization.segmentation
    selection = _to_device(np.asarray(masks) != 0, dev)
    excerpt = _to_device(np.asarray(factorization.excerpt), dev)
    baseline = _to_device(np.asarray(factorization.baseline), dev)
    rows: list[Any] = []
    with tqdm(total=len(selection), disable=not progress, unit="sample", desc="LIME") as bar, \
            torch.inference_mode():
        for start in range(0, len(selection), batch_size):
            chunk = selection[start:start + batch_size]
            inputs = torch.where(seg.masks(chunk, dtype=torch.bool), excerpt, baseline)
            out = predict_fn(inputs)
            rows.append(_device_rows(out, len(chunk)) if isinstance(out, torch.Tensor)
                        else _outputs(out, len(chunk)))
            bar.update(len(chunk))
        if all(isinstance(r, torch.Tensor) for r in rows) and \
                len({(r.dim(), *r.shape[1:]) for r in rows}) == 1:
            return _outputs(torch.cat(rows) if len(rows) > 1 else rows[0], len(selection))
    return np.concatenate([_outputs(r, len(r)) if isinstance(r, torch.Tensor) else r
                           for r in rows], axis=0)


def predict_neighborhood_per_sample(predict_fn: PredictFn,
                                    factorization: TimeFrequencyFactorization,
                                    masks: np.ndarray,
                                    device: torch.device | str | None = None,
                                    progress: bool = False) -> np.ndarray:
    """Reference path: one forward pass per row, as audioLIME with ``batch_size=1``.

    Each input is ``factorization.retrieve_components(ids of the ones)`` built with numpy and
    sent to the device as a ``(1, frames, bands)`` tensor. Slow; for tests and benchmarks.

    Parameters
    ----------
    predict_fn : callable
        As for :func:`predict_neighborhood`.
    factorization : TimeFrequencyFactorization
        The excerpt, its grid and its baseline.
    masks : np.ndarray
        ``(S, n_components)`` 0/1 rows.
    device : torch.device or str, optional
        Where the inputs go (default as for :func:`predict_neighborhood`).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    np.ndarray
        ``(S, C)`` float64 outputs.
    """
    dev = _resolve_device(predict_fn, device)
    rows = []
    with torch.inference_mode():
        for row in tqdm(np.asarray(masks), disable=not progress, unit="sample", desc="LIME"):
            composed = factorization.retrieve_components(np.where(row != 0)[0])
            rows.append(_outputs(predict_fn(torch.from_numpy(composed)[None].to(dev)), 1))
    return np.concatenate(rows, axis=0)


# --------------------------------------------------------------------------------------------
# the detector as a predict function


def _fold(weight: torch.Tensor, bias: torch.Tensor | None,
          bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BatchNorm that follows a convolution into the convolution."""
    weight = weight.detach().double()
    bias = (torch.zeros(weight.shape[0], dtype=torch.float64) if bias is None
            else bias.detach().double())
    if isinstance(bn, nn.BatchNorm2d):
        scale = 1.0 / torch.sqrt(bn.running_var.double() + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight.detach().double()
        shift = -bn.running_mean.double() * scale
        if bn.bias is not None:
            shift = shift + bn.bias.detach().double()
        weight = weight * scale[:, None, None, None]
        bias = bias * scale + shift
    elif not isinstance(bn, nn.Identity):
        raise TypeError(f"cannot fold a {type(bn).__name__}")
    return weight.float(), bias.float()


class FoldedDetector(nn.Module):
    """An inference-only copy of the detector for single 115-frame excerpts.

    BatchNorm is folded into the convolutions (in float64, then rounded), the zero-mean first
    kernel is centred once, the input normalisation is one multiply-add, and the weights are
    stored channels-last. Outputs equal ``net(x, preprocess=False)`` in eval mode to about
    1e-6. It is a snapshot: later changes to ``net`` do not reach it.

    Parameters
    ----------
    net : SingingVoiceDetector
        The trained detector (its running BatchNorm statistics are used).
    channels_last : bool
        Store weights and activations channels-last (faster with oneDNN on CPUs).
    """

    def __init__(self, net: SingingVoiceDetector, channels_last: bool = True) -> None:
        super().__init__()
        self.channels_last = channels_last
        norm = net.freq_norm
        scale = 1.0 / torch.sqrt(norm.running_var.double() + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight.detach().double()
        shift = -norm.running_mean.double() * scale
        if norm.bias is not None:
            shift = shift + norm.bias.detach().double()
        self.register_buffer("in_scale", scale.float())
        self.register_buffer("in_shift", shift.float())
        w1 = net.conv1.weight.detach()
        if isinstance(net.conv1, ZeroMeanConv2d):
            w1 = w1 - w1.mean(dim=(1, 2, 3), keepdim=True)
        layers = [(w1, net.conv1.bias, net.bn1), (net.conv2.weight, net.conv2.bias, net.bn2),
                  (net.conv3.weight, net.conv3.bias, net.bn3),
                  (net.conv4.weight, net.conv4.bias, net.bn4),
                  (net.fc1.weight, net.fc1.bias, net.bn_d1),
                  (net.fc2.weight, net.fc2.bias, net.bn_d2),
                  (net.fc3.weight, net.fc3.bias, nn.Identity())]
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for i, (w, b, bn) in enumerate(layers):
            w, b = _fold(w, b, bn)
            self.register_buffer(f"w{i}", w.contiguous(memory_format=fmt))
            self.register_buffer(f"b{i}", b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,)`` for log-mel excerpts ``(B, 115, bands)``."""
        if x.dim() != 3 or x.shape[1] != BLOCKLEN:
            raise ValueError(f"expected (B, {BLOCKLEN}, bands) excerpts, got {tuple(x.shape)}")
        x = (x * self.in_scale + self.in_shift).unsqueeze(1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        act = F.leaky_relu
        x = act(F.conv2d(x, self.w0, self.b0), 0.01)
        x = act(F.conv2d(x, self.w1, self.b1), 0.01)
        x = F.max_pool2d(x, 3, stride=3)
        x = act(F.conv2d(x, self.w2, self.b2), 0.01)
        x = act(F.conv2d(x, self.w3, self.b3), 0.01)
        x = F.max_pool2d(x, 3, stride=3)
        x = act(F.conv2d(x, self.w4, self.b4), 0.01)
        x = act(F.conv2d(x, self.w5, self.b5), 0.01)
        x = F.conv2d(x, self.w6, self.b6)
        return x.reshape(x.shape[0])


class DetectorPredictor:
    """The detector as a LIME predict function: log-mel excerpts → P(sing).

    Call it with a ``(B, 115, 80)`` float tensor; it returns ``(B,)`` probabilities
    ``sigmoid(net(x, preprocess=False))`` on its device, computed in eval mode under
    ``torch.inference_mode``. It holds a snapshot of the weights.

    Parameters
    ----------
    net : SingingVoiceDetector
        The detector (not modified; a copy is used).
    device : torch.device or str, optional
        Where to compute (default: the best device, a GPU when present).
    fast : bool
        Use :class:`FoldedDetector` (BatchNorm folded, channels-last); equal to the plain
        forward within 1e-5. ``False`` runs the plain module.
    micro_batch : int, optional
        Split every call into chunks of this many excerpts. On CPUs small chunks keep the
        conv1/conv2 activations (about 3.3 MB per excerpt) in the last-level cache; 8 was
        fastest in ``bench/bench_lime.py --sweep``. Default 8 on CPU, no split (0) on GPU.
    compile : bool
        Run the folded module through ``torch.compile`` (fixed chunk shapes; the last chunk
        is padded). It costs about 20 s of compilation per process and gained about 10 % on
        the 2-core CPU, so it is off by default; worth it only for long runs.
    """

    def __init__(self, net: SingingVoiceDetector, device: torch.device | str | None = None,
                 fast: bool = True, micro_batch: int | None = None,
                 compile: bool = False) -> None:
        self.device = _tune_for(best_device("auto") if device is None else torch.device(device))
        net = copy.deepcopy(net).cpu().eval()
        self.module: nn.Module = FoldedDetector(net) if fast else net
        self.module = self.module.to(self.device).eval()
        self.fast = fast
        if micro_batch is None:
            micro_batch = 8 if self.device.type == "cpu" else 0
        self.micro_batch = int(micro_batch)
        self.compiled = compile
        if compile:
            if not fast:
                raise ValueError("compile=True needs fast=True")
            self.module = torch.compile(self.module, dynamic=False)

    def _run(self, chunk: torch.Tensor) -> torch.Tensor:
        if not self.fast:
            return self.module(chunk, preprocess=False).reshape(-1)
        n = len(chunk)
        if self.compiled and 0 < n < self.micro_batch:
            chunk = torch.cat([chunk, chunk[-1:].expand(self.micro_batch - n, -1, -1)])
        return self.module(chunk)[:n]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,)`` of ``(B, 115, bands)`` log-mel excerpts."""
        x = torch.as_tensor(x, dtype=torch.float32).to(self.device)
        with torch.inference_mode():
            chunks = x.split(self.micro_batch) if self.micro_batch > 0 else (x,)
            outs = [self._run(c) for c in chunks]
            return torch.cat(outs) if len(outs) > 1 else outs[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """P(sing) ``(B,)`` of ``(B, 115, bands)`` log-mel excerpts."""
        return torch.sigmoid(self.logits(x))


def detector_predict_fn(net: SingingVoiceDetector, device: torch.device | str | None = None,
                        fast: bool = True, micro_batch: int | None = None,
                        compile: bool = False) -> DetectorPredictor:
    """Turn the detector into a LIME predict function (see :class:`DetectorPredictor`).

    Parameters
    ----------
    net : SingingVoiceDetector
        The trained detector.
    device : torch.device or str, optional
        Where to compute (default: the best device).
    fast : bool
        Fold BatchNorm and use channels-last (default) or run the plain module.
    micro_batch : int, optional
        Chunk size inside one call (default 8 on CPU, no split on GPU).
    compile : bool
        Also ``torch.compile`` the folded module (about 20 s once per process).

    Returns
    -------
    DetectorPredictor
        ``(B, 115, 80)`` tensor → ``(B,)`` P(sing).
    """
    return DetectorPredictor(net, device=device, fast=fast, micro_batch=micro_batch,
                             compile=compile)


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
    def segmentation(self) -> Segmentation:
        """The time-frequency grid."""
        return self.factorization.segmentation

    @property
    def excerpt(self) -> np.ndarray:
        """The explained excerpt ``(frames, bands)``."""
        return self.factorization.excerpt

    @property
    def baseline(self) -> np.ndarray:
        """The baseline ``(frames, bands)`` that switched-off components show."""
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
            ``(frames, bands)``: the excerpt on the chosen components, the baseline elsewhere;
            and the ids if asked.
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
        """The explanation as plain numpy arrays (for :func:`~svdlib.store.save_arrays`).

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
        meta = {"settings": self.settings, "baseline_kind": self.factorization.baseline_kind,
                "top_labels": self.top_labels,
                "segmentation": {"n_frames": seg.n_frames, "n_bands": seg.n_bands,
                                 "n_time": seg.n_time, "n_freq": seg.n_freq,
                                 "time_borders": list(seg.time_borders),
                                 "freq_borders": list(seg.freq_borders)},
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
        seg_meta = meta["segmentation"]
        seg = Segmentation(seg_meta["n_frames"], seg_meta["n_bands"], seg_meta["n_time"],
                           seg_meta["n_freq"], tuple(seg_meta["time_borders"]),
                           tuple(seg_meta["freq_borders"]))
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


def lime_settings(lime: LimeConfig, n_frames: int = BLOCKLEN,
                  n_bands: int = 80) -> dict[str, Any]:
    """Keyword arguments of :func:`explain_excerpt` from a :class:`~svdlib.config.LimeConfig`.

    Parameters
    ----------
    lime : LimeConfig
        The profile's LIME section.
    n_frames, n_bands : int
        Shape of the excerpts.

    Returns
    -------
    dict
        ``segmentation``, ``baseline``, ``num_samples``, ``kernel_width``,
        ``distance_metric``, ``feature_selection`` and ``batch_size``; add ``seed``.
    """
    return {"segmentation": Segmentation.from_config(lime, n_frames, n_bands),
            "baseline": lime.baseline, "num_samples": lime.num_samples,
            "kernel_width": lime.kernel_width, "distance_metric": lime.distance_metric,
            "feature_selection": lime.feature_selection, "batch_size": lime.batch_size}
