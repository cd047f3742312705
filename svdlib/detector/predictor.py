"""Fast batched inference for explainers: batch norm folded into the convolutions."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from svdlib.detector.model import BLOCKLEN, SingingVoiceDetector, ZeroMeanConv2d
from svdlib.devices import best_device, tune_for

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
        self.device = tune_for(best_device("auto") if device is None else torch.device(device))
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

    Examples
    --------
    The folded predictor gives the module's probabilities on log-mel excerpts:

    >>> import torch
    >>> from svdlib import FrontEndConfig, ModelConfig, build_model, detector_predict_fn
    >>> _ = torch.manual_seed(0)
    >>> net = build_model(ModelConfig(width=0.25), FrontEndConfig()).eval()
    >>> predict = detector_predict_fn(net, device="cpu")
    >>> excerpts = torch.randn(4, 115, 80)                       # (B, frames, bands) log-mel
    >>> p = predict(excerpts)
    >>> with torch.no_grad():
    ...     reference = net.probabilities(excerpts, preprocess=False)[:, 0]
    >>> tuple(p.shape), bool(torch.allclose(p, reference, atol=1e-4))
    ((4,), True)
    """
    return DetectorPredictor(net, device=device, fast=fast, micro_batch=micro_batch,
                             compile=compile)


def predict_logmel(predictor: DetectorPredictor, logmel: np.ndarray,
                   batch: int = 512) -> np.ndarray:
    """P(sing) ``(N,)`` of log-mel excerpts ``(N, frames, bands)``, in batches."""
    logmel = np.asarray(logmel, dtype=np.float32)
    out = [predictor(torch.from_numpy(logmel[s:s + batch])).float().cpu().numpy()
           for s in range(0, len(logmel), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)
