"""An attack's hyper-parameters: plain values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AttackDomainConfig:
    """Hyper-parameters of one attack domain (waveform or spectrogram)."""

    lr: float = 3e-4
    alpha: float = 2.0
    clip_eps: float = 0.01
    max_iterations: int = 1000
    sign: bool = True
    clipping: bool = True
    req_change_factor: float = 1.0
