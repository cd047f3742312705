"""The detector's and its training's settings: plain values."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from svdlib.constants import EXCERPT_FRAMES


@dataclass
class ModelConfig:
    """The singing voice detector (Schlüter & Lehner's ismir2015 CNN).

    ``checkpoint`` names a detector file to use instead of training one (this project's
    ``model.safetensors`` or the original's released ``model.pt``); empty: train. It is not
    part of the architecture (:func:`architecture`); the file's contents, not its path, enter
    the identity of what is computed from it.

    Examples
    --------
    >>> from svdlib import ModelConfig
    >>> from dataclasses import replace
    >>> paper = ModelConfig()                         # full width, zero-mean first convolution
    >>> small = replace(paper, width=0.25)
    >>> paper.width, small.width, small.firstconv_zeromean
    (1.0, 0.25, True)
    """

    arch: str = "ismir2015"
    batch_norm: bool = True
    firstconv_zeromean: bool = True
    width: float = 1.0
    blocklen: int = EXCERPT_FRAMES
    convdrop: str = "none"
    checkpoint: str = ""


def architecture(model: ModelConfig) -> dict[str, Any]:
    """The settings that define the network's layers (all but ``checkpoint``)."""
    return {k: v for k, v in asdict(model).items() if k != "checkpoint"}


@dataclass
class TrainConfig:
    """Training schedule and augmentation."""

    learn_scheme: str = "adam"
    batchsize: int = 32
    initial_eta: float = 0.001
    eta_decay: float = 0.85
    eta_decay_every: int = 1
    momentum: float = 0.9
    epochs: int = 20
    epochsize: int = 2000
    l2_decay: float = 0.0
    augment: bool = True
    max_stretch: float = 0.3
    max_shift: float = 0.3
    max_db: float = 10.0
    spline_order: int = 2
    label_low: float = 0.02
    label_high: float = 0.98
    validate: bool = True
    seeds: list[int] = field(default_factory=lambda: [0])
