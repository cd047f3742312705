"""Predictions of a LIME neighbourhood, batched and on the model's device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from svdlib.devices import best_device, tune_for
from svdlib.explain.factorization import TimeFrequencyFactorization

PredictFn = Callable[[torch.Tensor], Any]


# --------------------------------------------------------------------------------------------
# model outputs



def _resolve_device(predict_fn: PredictFn, device: torch.device | str | None) -> torch.device:
    if device is not None:
        return tune_for(torch.device(device))
    own = getattr(predict_fn, "device", None)
    return tune_for(torch.device(own) if own is not None else best_device("auto"))


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
    are built there by the segmentation's ``compose`` (``where(mask, excerpt, baseline)`` for
    a pointwise one, ``b + istft(M_S · stft(x − b))`` for an STFT one) and passed to
    ``predict_fn`` in one call. Tensor outputs stay on the device and are copied to the host
    once at the end, so the batches queue up on a GPU without a synchronisation per batch.

    Parameters
    ----------
    predict_fn : callable
        ``(B, *shape)`` float32 tensor on ``device`` → ``(B,)`` P(class 1) (turned into
        ``[1 − p, p]``) or ``(B, C)`` scores, torch (detached here) or numpy.
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
            inputs = seg.compose(excerpt, baseline, chunk)
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
    sent to the device as a ``(1, *shape)`` tensor. Slow; for tests and benchmarks.

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
