"""The primitives of the measures: flags, top-k selections, partial adversaries, outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from svdlib.explain.model_output import model_device
from svdlib.explain.segmentations.base import BaseSegmentation


def is_flipped(p_sing: np.ndarray, target: int, threshold: float) -> np.ndarray:
    """Whether P(sing) is on the target's side of the threshold (> for 1, < for 0)."""
    p = np.asarray(p_sing)
    return p > threshold if target == 1 else p < threshold


def positive_count(weights: np.ndarray, target: int) -> np.ndarray:
    """Per pair, the number of segments relevant for the target class (Table 2's k)."""
    weights = np.atleast_2d(weights)
    return (weights > 0).sum(-1) if target == 1 else (weights < 0).sum(-1)


def top_selection(ranking: np.ndarray, ks: np.ndarray | int, n_components: int) -> np.ndarray:
    """``(N, n_components)`` uint8 selections of each row's first ``k`` ranked segments."""
    ranking = np.atleast_2d(ranking)
    ks = np.broadcast_to(np.asarray(ks), (len(ranking),))
    selection = np.zeros((len(ranking), n_components), dtype=np.uint8)
    for row, (order, k) in enumerate(zip(ranking, ks, strict=True)):
        selection[row, order[:int(k)]] = 1
    return selection


def selection_masks(ranking: np.ndarray, ks: np.ndarray | int,
                    segmentation: BaseSegmentation) -> np.ndarray:
    """Masks ``(N, *view_shape)`` of each row's first ``k`` ranked components (bool)."""
    selection = top_selection(ranking, ks, segmentation.n_components)
    return segmentation.masks_np(selection).astype(bool)


def check_pairs(original: np.ndarray, adversarial: np.ndarray,
                segmentation: BaseSegmentation) -> tuple[np.ndarray, np.ndarray]:
    """The pairs as arrays, after checking that they match each other and the segmentation.

    Parameters
    ----------
    original, adversarial : array-like
        ``(N, *shape)`` with ``shape`` the segmentation's (any number of axes).
    segmentation : BaseSegmentation
        Gives the shape.

    Returns
    -------
    tuple of np.ndarray
        The two arrays.
    """
    original, adversarial = np.asarray(original), np.asarray(adversarial)
    if original.shape != adversarial.shape:
        raise ValueError(f"original {original.shape} and adversarial {adversarial.shape} "
                         "excerpts differ in shape")
    shape = tuple(segmentation.shape)
    if len(original) and original.shape[1:] != shape:
        raise ValueError(f"excerpts are {original.shape[1:]}, the segmentation is "
                         f"{shape}: give (N, {', '.join(map(str, shape))}) arrays")
    return original, adversarial


def compose_partial(original: np.ndarray, adversarial: np.ndarray,
                    mask: np.ndarray) -> np.ndarray:
    """``original + δ · mask``, computed exactly as ``where(mask, adversarial, original)``."""
    return np.where(mask, adversarial, original).astype(np.float32)


def predict_outputs(predict: Callable[[Any], Any], excerpts: np.ndarray) -> np.ndarray:
    """A predict callable's outputs of ``(M, *shape)`` float32 excerpts, as a numpy array.

    A ``torch.nn.Module`` is called on a tensor on its device, without gradients; any other
    callable on the numpy array. A tensor result is detached and moved to the CPU.

    Parameters
    ----------
    predict : callable
        ``(M, *shape)`` excerpts → ``(M,)`` or ``(M, C)`` outputs.
    excerpts : np.ndarray
        The inputs.

    Returns
    -------
    np.ndarray
        The outputs.
    """
    if isinstance(predict, torch.nn.Module):
        x = torch.from_numpy(np.ascontiguousarray(excerpts, dtype=np.float32))
        with torch.no_grad():
            out = predict(x.to(model_device(predict)))
    else:
        out = predict(excerpts)
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().numpy()
    return np.asarray(out)
