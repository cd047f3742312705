"""Adversarial attacks on whole songs, in the waveform and in the spectrogram domain.

One optimisation loop serves both domains (the original ``raw_attack.py`` / ``spec_attack.py``):
a perturbation ``delta`` of a whole song is optimised with Adam so that **every frame's**
thresholded prediction flips (``p > threshold`` is "sing"; the target is the opposite of the
model's own prediction on the clean song, so both directions mix within one song). The loss is
``sum(delta ** 2) + alpha * BCEWithLogits(logits, target)`` (BCE averaged over frames); with
``sign`` the gradient is replaced by its sign (NaN set to 0) before the Adam step; with
``clipping`` ``delta`` is clamped to ``[-clip_eps, clip_eps]`` after it. The loop stops early once
at least ``req_change_factor * T`` frames are flipped.

* **Waveform** (``wave``): ``delta`` lives on the samples; the spectrogram of ``x + delta`` is
  recomputed through the differentiable :class:`svdlib.audio.frontend.Spectrogram` at every
  step, padded
  with 57 zero frames on each side and fed to the detector (which applies its own log-mel).
  Distortion: the SNR ``20 log10(|x| / |x - x_adv|)`` on samples ``[2048 : L - 2049)``.
* **Spectrogram** (``spec``): ``delta`` lives on the linear STFT magnitudes ``(T, 513)``.
  Distortion: ``|delta|^2`` (the original logs it in its "snr" column).

Deviations from the original, on purpose:

1. *Padding not perturbed (spectrogram).* The original also perturbed the 114 zero-padding frames
   (57 on each side) that stand for silence outside the song, so the adversary could "add sound"
   where there is none. Here ``delta`` covers the song's own ``T`` frames only; the padding stays
   zero. Stored spectrogram adversaries are therefore ``(T, 513)``, not padded.
2. *No negative magnitudes (spectrogram).* The original let ``x + delta`` go negative (the log
   then clamps the negative mel energy). Here ``delta`` is projected after every step so that
   ``x + delta >= 0`` (a magnitude is non-negative), i.e. ``delta >= -x``.
3. *The best perturbation is kept.* With a sign gradient the number of flipped frames oscillates;
   the original kept whatever the last step gave. Here the ``delta`` that flipped the most frames
   is kept (the earliest one on ties); if no frame ever flipped, the final ``delta``.
4. *No extra forward pass per step.* The forward pass of step ``i + 1`` evaluates
   ``x + delta_i``, so its logits decide whether ``delta_i`` succeeded before stepping again; one
   last forward pass evaluates the final ``delta``. The original ran one more forward per step.
5. *Songs where nothing flipped are recorded* (the original saved no adversary, which later
   crashed the picking stage); every song gets its adversary and its per-frame record.

The statistics (the original ``log_analysis.py``) read an attack folder: :func:`read_log`,
:func:`song_statistics`, :func:`overall_statistics`; :func:`iter_successful_excerpts` yields the
flipped frames whose whole 115-frame window lies inside the song, for the explanation stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from svdlib.attacks.settings import AttackDomainConfig
from svdlib.audio.frontend import Spectrogram
from svdlib.detector.model import HALF_BLOCK, SingingVoiceDetector

#: The attack domains.

#: Samples ignored at both ends of a song for the SNR (as the original ``snr``).
SNR_EDGE = 2048

Callback = Callable[[int, int, torch.Tensor], None]


@dataclass
class AttackResult:
    """The outcome of attacking one song.

    Attributes
    ----------
    domain : str
        ``"wave"`` or ``"spec"``.
    adversary : np.ndarray
        float32 adversarial samples ``(L,)`` (wave) or linear magnitudes ``(T, bins)`` (spec).
    orig_probs, adv_probs : np.ndarray
        float32 ``(T,)`` P(sing) of the clean and of the adversarial song.
    orig_pred, adv_pred, flipped : np.ndarray
        bool ``(T,)``: thresholded predictions, and ``adv_pred != orig_pred``.
    iterations : int
        Optimisation steps run.
    best_iteration : int
        Steps after which the kept ``delta`` was reached.
    converged : bool
        Whether at least ``req_change_factor * T`` frames flipped (early stop).
    distortion : float
        SNR in dB (wave) or ``|delta|^2`` (spec).
    seconds : float
        Wall-clock time of the attack.
    """

    domain: str
    adversary: np.ndarray
    orig_probs: np.ndarray
    adv_probs: np.ndarray
    orig_pred: np.ndarray
    adv_pred: np.ndarray
    flipped: np.ndarray
    iterations: int
    best_iteration: int
    converged: bool
    distortion: float
    seconds: float

    @property
    def n_frames(self) -> int:
        """Number of frames of the song."""
        return len(self.flipped)

    @property
    def n_flipped(self) -> int:
        """Number of frames whose prediction flipped."""
        return int(self.flipped.sum())

    @property
    def flip_rate(self) -> float:
        """Fraction of frames whose prediction flipped."""
        return self.n_flipped / max(self.n_frames, 1)


def snr(original: np.ndarray, adversarial: np.ndarray, edge: int = SNR_EDGE) -> float:
    """Signal-to-noise ratio of an adversarial waveform, in dB, as the original computes it.

    Parameters
    ----------
    original, adversarial : np.ndarray
        1-D signals of equal length ``L``.
    edge : int
        Samples ignored at the start; ``edge + 1`` are ignored at the end (``[edge : L-edge-1)``).

    Returns
    -------
    float
        ``20 log10(max(|x|, 1e-12) / (|x - x_adv| + 1e-12))`` over the kept samples. The floor
        on the original's norm keeps silence finite and free of warnings: a silent original
        and a silent adversary give 0 dB, a silent original with added noise ``d`` gives
        ``20 log10(1e-12 / (|d| + 1e-12))`` (very negative, but finite).
    """
    x = np.asarray(original, dtype=np.float64)
    y = np.asarray(adversarial, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"signals differ in shape: {x.shape} vs {y.shape}")
    stop = len(x) - edge - 1
    if stop <= edge:
        edge, stop = 0, len(x)
    x, y = x[edge:stop], y[edge:stop]
    return float(20 * np.log10(max(float(np.linalg.norm(x)), 1e-12)
                               / (np.linalg.norm(x - y) + 1e-12)))


def _adam(delta: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    """Adam over ``delta``: the fused single-pass kernel where the device has one."""
    try:
        return torch.optim.Adam([delta], lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam([delta], lr=lr)


def optimise_delta(logits_of: Callable[[torch.Tensor], torch.Tensor], delta: torch.Tensor,
              params: AttackDomainConfig, threshold: float,
              project: Callable[[torch.Tensor], None] | None,
              callback: Callback | None, margin: float = 0.0) -> dict[str, Any]:
    """The attack loop shared by both domains; see the module docstring.

    An output counts as flipped once its probability is past the threshold by ``margin``
    towards the target (``p > threshold + margin`` for target 1, ``p <= threshold - margin``
    for target 0); ``margin = 0`` is the thresholded decision changing.
    """
    delta.requires_grad_(True)
    optimizer = _adam(delta, params.lr)
    best_n, best_delta, best_probs, best_step = 0, None, None, 0
    orig_probs = orig_pred = target = None
    needed = None
    step = 0
    for step in range(params.max_iterations + 1):
        last = step == params.max_iterations
        with torch.set_grad_enabled(not last):
            logits = logits_of(delta)
        with torch.no_grad():
            probs = torch.sigmoid(logits.detach())
            pred = probs > threshold
            if orig_pred is None:
                orig_probs, orig_pred = probs.clone(), pred
                target = (~pred).to(logits.dtype)
                needed = params.req_change_factor * pred.numel()
            # margin 0: exactly pred != orig_pred (NaN included)
            n_flipped = int(torch.where(orig_pred, ~(probs > threshold - margin),
                                        probs > threshold + margin).sum())
            if n_flipped > best_n or best_n == 0:
                best_n, best_step = n_flipped, step
                best_delta, best_probs = delta.detach().clone(), probs.clone()
        if callback is not None:
            callback(step, n_flipped, delta.detach())
        if n_flipped >= needed or last:
            break
        loss = delta.pow(2).sum() + params.alpha * F.binary_cross_entropy_with_logits(
            logits, target)
        (grad,) = torch.autograd.grad(loss, delta)
        if params.sign:
            grad.sign_()
        delta.grad = grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        optimizer.step()
        with torch.no_grad():
            if params.clipping:
                delta.clamp_(-params.clip_eps, params.clip_eps)
            if project is not None:
                project(delta)
    assert best_delta is not None
    assert best_probs is not None
    assert orig_probs is not None
    return {"delta": best_delta, "orig_probs": orig_probs, "adv_probs": best_probs,
            "iterations": step, "best_iteration": best_step,
            "converged": best_n >= needed}


class Frozen:
    """Eval mode and frozen parameters for the duration of an attack (restored afterwards)."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net = net

    def __enter__(self) -> None:
        self.training = self.net.training
        self.flags = [p.requires_grad for p in self.net.parameters()]
        self.net.eval()
        self.net.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        for param, flag in zip(self.net.parameters(), self.flags, strict=True):
            param.requires_grad_(flag)
        self.net.train(self.training)


def device_of(net: torch.nn.Module, device: torch.device | str | None) -> torch.device:
    """The attack's device; on CUDA also let cuDNN tune for the song's (repeated) shape."""
    dev = torch.device(device) if device is not None else next(net.parameters()).device
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return dev


def _finish(domain: str, out: dict[str, Any], adversary: np.ndarray, distortion: float,
            threshold: float, started: float) -> AttackResult:
    orig_probs = out["orig_probs"].float().cpu().numpy().reshape(-1)
    adv_probs = out["adv_probs"].float().cpu().numpy().reshape(-1)
    orig_pred = orig_probs > threshold
    adv_pred = adv_probs > threshold
    return AttackResult(domain=domain, adversary=adversary, orig_probs=orig_probs,
                        adv_probs=adv_probs, orig_pred=orig_pred, adv_pred=adv_pred,
                        flipped=adv_pred != orig_pred, iterations=int(out["iterations"]),
                        best_iteration=int(out["best_iteration"]),
                        converged=bool(out["converged"]), distortion=float(distortion),
                        seconds=time.perf_counter() - started)


def attack_waveform(net: SingingVoiceDetector, signal: np.ndarray, params: AttackDomainConfig,
                    threshold: float = 0.51, device: torch.device | str | None = None,
                    callback: Callback | None = None) -> AttackResult:
    """Attack a whole song in the waveform domain.

    Parameters
    ----------
    net : SingingVoiceDetector
        The detector; used in eval mode with frozen parameters (restored afterwards).
    signal : np.ndarray
        Mono samples ``(L,)`` at the detector's sample rate.
    params : AttackDomainConfig
        Learning rate, alpha, clipping bound, iterations, sign, early-stop fraction.
    threshold : float
        ``p > threshold`` is "sing".
    device : torch.device or str, optional
        Where to compute (default: where ``net`` lives).
    callback : callable, optional
        Called after every forward pass with ``(step, n_flipped, delta)``.

    Returns
    -------
    AttackResult
        ``adversary`` is the float32 waveform ``x + delta``; ``distortion`` the SNR in dB.

    Examples
    --------
    Two steps on one second of noise (a real attack runs hundreds):

    >>> import numpy as np
    >>> import torch
    >>> from svdlib import AttackDomainConfig, FrontEndConfig, ModelConfig, attack_waveform
    >>> from svdlib import build_model
    >>> _ = torch.manual_seed(0)
    >>> net = build_model(ModelConfig(width=0.25), FrontEndConfig())
    >>> song = np.random.default_rng(0).normal(0, 0.1, 22050).astype(np.float32)
    >>> result = attack_waveform(net, song, AttackDomainConfig(max_iterations=2))
    >>> result.domain, result.adversary.shape, result.flipped.shape, result.iterations
    ('wave', (22050,), (71,), 2)
    """
    started = time.perf_counter()
    device = device_of(net, device)
    x = torch.from_numpy(np.array(signal, dtype=np.float32)).reshape(-1).to(device)
    stft = Spectrogram.from_settings(net.frontend_config).to(device)

    def logits_of(delta: torch.Tensor) -> torch.Tensor:
        spec = stft(x + delta)
        return net(F.pad(spec, (0, 0, HALF_BLOCK, HALF_BLOCK)).unsqueeze(0))[0]

    with Frozen(net):
        out = optimise_delta(logits_of, torch.zeros_like(x), params, threshold, None, callback)
    adversary = (x + out["delta"]).cpu().numpy().astype(np.float32)
    return _finish("wave", out, adversary, snr(np.asarray(signal, np.float32), adversary),
                   threshold, started)


def attack_spectrogram(net: SingingVoiceDetector, spec: np.ndarray, params: AttackDomainConfig,
                       threshold: float = 0.51, device: torch.device | str | None = None,
                       callback: Callback | None = None) -> AttackResult:
    """Attack a whole song in the (linear-magnitude) spectrogram domain.

    ``delta`` covers the song's ``T`` frames only (the zero padding stays zero) and is projected
    after every step so that ``spec + delta >= 0``.

    Parameters
    ----------
    net : SingingVoiceDetector
        The detector; used in eval mode with frozen parameters (restored afterwards).
    spec : np.ndarray
        Linear STFT magnitudes ``(T, bins)`` of the whole song.
    params : AttackDomainConfig
        Learning rate, alpha, clipping bound, iterations, sign, early-stop fraction.
    threshold : float
        ``p > threshold`` is "sing".
    device : torch.device or str, optional
        Where to compute (default: where ``net`` lives).
    callback : callable, optional
        Called after every forward pass with ``(step, n_flipped, delta)``.

    Returns
    -------
    AttackResult
        ``adversary`` is the float32 ``(T, bins)`` spectrogram; ``distortion`` is ``|delta|^2``.

    Examples
    --------
    Two steps on the spectrogram of one second of noise; the adversary stays non-negative:

    >>> import numpy as np
    >>> import torch
    >>> from svdlib import AttackDomainConfig, FrontEndConfig, ModelConfig, Spectrogram
    >>> from svdlib import attack_spectrogram, build_model
    >>> _ = torch.manual_seed(0)
    >>> net = build_model(ModelConfig(width=0.25), FrontEndConfig())
    >>> spec = Spectrogram()(0.1 * torch.randn(22050)).numpy()         # (71, 513)
    >>> result = attack_spectrogram(net, spec, AttackDomainConfig(max_iterations=2))
    >>> result.domain, result.adversary.shape, bool((result.adversary >= 0).all())
    ('spec', (71, 513), True)
    """
    started = time.perf_counter()
    device = device_of(net, device)
    x = torch.from_numpy(np.array(spec, dtype=np.float32)).to(device)   # a writable copy
    if x.dim() != 2:
        raise ValueError(f"expected a (T, bins) spectrogram, got shape {tuple(x.shape)}")
    floor = -x

    def logits_of(delta: torch.Tensor) -> torch.Tensor:
        return net(F.pad(x + delta, (0, 0, HALF_BLOCK, HALF_BLOCK)).unsqueeze(0))[0]

    def project(delta: torch.Tensor) -> None:
        torch.maximum(delta, floor, out=delta)

    with Frozen(net):
        out = optimise_delta(logits_of, torch.zeros_like(x), params, threshold, project,
                        callback)
    delta = out["delta"]
    adversary = torch.clamp(x + delta, min=0).cpu().numpy().astype(np.float32)
    distortion = float(delta.double().pow(2).sum())
    return _finish("spec", out, adversary, distortion, threshold, started)
