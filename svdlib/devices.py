"""Where to compute: a GPU when present (or as requested), tuned for repeated shapes."""

from __future__ import annotations

import torch

from svdlib.errors import SvdError


def best_device(requested: str = "auto") -> torch.device:
    """The device to compute on: a GPU when one is present (or as requested), else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise SvdError(f"device '{requested}' requested but no CUDA GPU is available; use "
                       "run.device=auto or cpu")
    return torch.device(requested)


def tune_for(device: torch.device) -> torch.device:
    """Let cuDNN pick its fastest kernels on CUDA (LIME repeats one batch shape); else no-op."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device
