"""Frame-wise predictions of whole songs, and their files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import median_filter, uniform_filter1d

from svdlib.data.songs import Song
from svdlib.detector.model import HALF_BLOCK, SingingVoiceDetector
from svdlib.errors import SvdError
from svdlib.files import load_arrays, save_arrays


@torch.no_grad()
def predict_song(net: SingingVoiceDetector, spec: np.ndarray | torch.Tensor,
                 device: torch.device | str = "cpu", chunk: int = 4200) -> np.ndarray:
    """P(sing) for every frame of a song.

    Parameters
    ----------
    net : SingingVoiceDetector
        The detector (put in eval mode here).
    spec : array ``(T, bins)``
        Linear-magnitude spectrogram of the whole song.
    device : torch.device or str
        Where to compute.
    chunk : int
        Frames per forward pass; chunks overlap by 114 frames, so the result is exact.

    Returns
    -------
    np.ndarray
        float32 ``(T,)``.
    """
    net.eval()
    spec = torch.as_tensor(np.array(spec, dtype=np.float32, copy=True))
    padded = torch.nn.functional.pad(spec, (0, 0, HALF_BLOCK, HALF_BLOCK))
    total = spec.shape[0]
    out = []
    for start in range(0, total, chunk):
        stop = min(total, start + chunk)
        piece = padded[start:stop + 2 * HALF_BLOCK].unsqueeze(0).to(device)
        out.append(torch.sigmoid(net(piece))[0].float().cpu())
    return torch.cat(out).numpy()


def predict_songs(net: SingingVoiceDetector, songs: Sequence[Song],
                  device: torch.device | str = "cpu", progress: bool = False,
                  desc: str = "predicting") -> dict[str, np.ndarray]:
    """Predict every song; returns ``name -> probabilities``."""
    iterator: Iterable[Song] = songs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(songs, desc=desc, unit="song", leave=False)
    return {song.name: predict_song(net, song.spec, device) for song in iterator}


def save_predictions(path: str | Path, predictions: dict[str, np.ndarray]) -> None:
    """Store per-song predictions in one ``.npz`` (names, lengths, concatenated values)."""
    names = list(predictions)
    lengths = np.array([len(predictions[n]) for n in names], dtype=np.int64)
    values = (np.concatenate([predictions[n] for n in names]) if names
              else np.zeros(0, np.float32))
    save_arrays(path, names=np.array(names, dtype=str), lengths=lengths,
                values=values.astype(np.float32))


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """Read predictions written by :func:`save_predictions`."""
    data = load_arrays(path)
    try:
        splits = np.cumsum(data["lengths"])[:-1]
        return dict(zip(data["names"].tolist(), np.split(data["values"], splits), strict=True))
    except KeyError:
        raise SvdError(f"'{path}' is not a predictions file (needs names, lengths, values)") \
            from None


def smooth(probabilities: np.ndarray, width: int = 56, method: str = "median") -> np.ndarray:
    """Smooth a probability curve over time.

    A median over ``width`` frames; for an even width the window covers frames
    ``i - width/2 ... i + width/2 - 1`` and takes the upper median, with the edges replicated,
    as in the original. ``method="mean"`` averages instead; ``"none"`` or ``width <= 1``
    returns the input.
    """
    p = np.asarray(probabilities, dtype=np.float32)
    if method == "none" or width <= 1 or len(p) <= 1:
        return p
    if method == "median":
        return median_filter(p, size=width, mode="nearest")
    if method == "mean":
        return uniform_filter1d(p, size=width, mode="nearest")
    raise SvdError(f"unknown smoothing method '{method}'; use median, mean or none")
