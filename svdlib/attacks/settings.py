"""An attack's hyper-parameters: plain values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AttackDomainConfig:
    """Hyper-parameters of one attack domain (waveform or spectrogram).

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import AttackDomainConfig, attack_excerpts
    >>> params = AttackDomainConfig(lr=0.05, alpha=100.0, clip_eps=1.0, max_iterations=50)
    >>> logit = lambda x: 10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2)
    >>> attack = attack_excerpts(logit, np.zeros((2, 115, 80), np.float32), params)
    >>> bool(attack.flipped.all()), attack.iterations <= params.max_iterations
    (True, True)
    """

    lr: float = 3e-4
    alpha: float = 2.0
    clip_eps: float = 0.01
    max_iterations: int = 1000
    sign: bool = True
    clipping: bool = True
    req_change_factor: float = 1.0
