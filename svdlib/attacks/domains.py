"""What an excerpt attack's input is (waveform or spectrogram) and the defaults that suit it.

:func:`svdlib.attack_excerpts` takes excerpts of any shape ``(B, ...)``. Its step size and
clipping bound are in the units of the input, so the defaults depend on what the excerpts are:

* ``"waveform"``: samples in ``[-1, 1]``; the step and bound of the paper's waveform attack
  (the pipeline's ``attack.wave``): ``clip_eps = 0.01`` keeps every sample of δ at or below
  -40 dBFS, steps of ``3e-4`` (-70 dBFS) overshoot the flip by little. α 100 (per excerpt, as
  for spectrograms: the paper's α 2 weighs a BCE averaged over a whole song's frames).
* ``"spectrogram"``: log-mel values in nats (or any features of that scale): the defaults the
  paper's excerpt attacks always used (lr 0.01, α 100, ``clip_eps`` 1.0, 300 iterations).

``domain="auto"`` decides by shape alone: ``(B, L)`` excerpts are waveforms, excerpts with more
axes (``(B, frames, bands)``, ``(B, 1, frames, bands)``, ...) spectrograms. A waveform with a
channel axis, ``(B, C, L)``, needs ``domain="waveform"``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from svdlib.attacks.settings import AttackDomainConfig

#: The names :func:`svdlib.attack_excerpts` accepts for ``domain``.
EXCERPT_DOMAINS = ("auto", "waveform", "spectrogram")


def attack_defaults(domain: str) -> AttackDomainConfig:
    """The attack settings :func:`svdlib.attack_excerpts` uses when none are given.

    Parameters
    ----------
    domain : {"waveform", "spectrogram"}
        ``"waveform"``: samples in ``[-1, 1]``; lr ``3e-4`` (one step is -70 dBFS), α 100,
        ``clip_eps`` 0.01 (no sample of δ above -40 dBFS), 1000 iterations.
        ``"spectrogram"``: log-mel values in nats; lr 0.01, α 100, ``clip_eps`` 1.0, 300
        iterations (the values excerpt attacks always used).

    Returns
    -------
    AttackDomainConfig
        A fresh copy; change it with :func:`dataclasses.replace`.

    Examples
    --------
    >>> import math
    >>> from dataclasses import replace
    >>> from svdlib import attack_defaults
    >>> wave = attack_defaults("waveform")
    >>> wave.lr, wave.alpha, wave.clip_eps, wave.max_iterations
    (0.0003, 100.0, 0.01, 1000)
    >>> round(20 * math.log10(wave.clip_eps))                    # dBFS of the largest sample
    -40
    >>> replace(attack_defaults("spectrogram"), max_iterations=50).max_iterations
    50
    """
    if domain == "waveform":
        return AttackDomainConfig(lr=3e-4, alpha=100.0, clip_eps=0.01, max_iterations=1000)
    if domain == "spectrogram":
        return AttackDomainConfig(lr=0.01, alpha=100.0, clip_eps=1.0, max_iterations=300)
    raise ValueError(f"domain must be 'waveform' or 'spectrogram', got {domain!r}")


def resolve_domain(excerpts: np.ndarray | torch.Tensor, domain: str) -> str:
    """``"waveform"`` or ``"spectrogram"`` for a batch of excerpts (see the module docstring).

    Raises a one-line ``ValueError`` naming ``domain`` or ``excerpts`` for an unknown domain, a
    batch without an axis per excerpt, or an empty batch.
    """
    if domain not in EXCERPT_DOMAINS:
        raise ValueError(f"domain must be one of {', '.join(map(repr, EXCERPT_DOMAINS))}, "
                         f"got {domain!r}")
    shape = tuple(excerpts.shape)
    if len(shape) < 2:
        raise ValueError(f"excerpts must be a batch (B, ...) with at least one axis per "
                         f"excerpt, got shape {shape}; add a batch axis: excerpts[None]")
    if shape[0] == 0 or math.prod(shape) == 0:
        raise ValueError(f"excerpts are empty (shape {shape}): nothing to attack")
    if domain != "auto":
        return domain
    return "waveform" if len(shape) == 2 else "spectrogram"


def check_attack_settings(params: AttackDomainConfig, threshold: float, margin: float) -> None:
    """One-line ``ValueError`` naming the setting for values the attack cannot use."""
    checks = [
        ("params.lr", params.lr, params.lr > 0, "a number > 0"),
        ("params.alpha", params.alpha, params.alpha >= 0, "a number >= 0"),
        ("params.clip_eps", params.clip_eps, params.clip_eps > 0 or not params.clipping,
         "a number > 0 (or clipping=False)"),
        ("params.max_iterations", params.max_iterations,
         isinstance(params.max_iterations, int) and params.max_iterations >= 0, "an int >= 0"),
        ("params.req_change_factor", params.req_change_factor,
         0 < params.req_change_factor <= 1, "in (0, 1]"),
        ("threshold", threshold, 0 < threshold < 1, "in (0, 1)"),
    ]
    for name, value, ok, want in checks:
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise ValueError(f"{name} must be {want}, got {value!r}")
    if not (0 <= margin < min(threshold, 1 - threshold)):
        raise ValueError(f"margin must be in [0, min(threshold, 1 - threshold)) = "
                         f"[0, {min(threshold, 1 - threshold):g}), got {margin!r}")


def check_waveform_range(x: torch.Tensor) -> None:
    """The waveform defaults are in sample units: refuse samples outside ``[-1, 1]``."""
    peak = float(x.abs().max())
    if peak > 1:
        raise ValueError(f"excerpts reach |x| = {peak:g}, but the waveform defaults are for "
                         f"samples in [-1, 1]: scale them, or pass params in their units")


def delta_norms(original: np.ndarray, adversarial: np.ndarray,
                waveform: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per excerpt ``‖δ‖₂``, ``‖δ‖∞`` and (waveform) ``10 log10(‖x‖² / ‖δ‖²)`` in dB.

    δ is ``adversarial - original`` in float64 over all axes but the first. The SNR is ``inf``
    for ``δ = 0``, ``-inf`` for a silent excerpt with ``δ ≠ 0`` and NaN for both.
    """
    n = len(original)
    x = np.asarray(original, np.float64).reshape(n, -1)
    d = np.asarray(adversarial, np.float64).reshape(n, -1) - x
    l2 = np.sqrt((d * d).sum(axis=1))
    linf = np.abs(d).max(axis=1)
    if not waveform:
        return l2, linf, None
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = 10 * np.log10((x * x).sum(axis=1) / (d * d).sum(axis=1))
    return l2, linf, snr
