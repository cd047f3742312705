"""A corpus in the Jamendo layout as fixed-length 16 kHz excerpts with the VAD's decision.

Silero VAD reads 16 kHz; the songs of a corpus (the embedded one is 22.05 kHz) are read and
resampled by :func:`svdlib.audio.io.load_audio` (soxr, high quality) and cut into consecutive
excerpts of ``length`` samples (a tail shorter than that is left out). Each excerpt gets the
VAD's P(voice) and chunk probabilities, run on the excerpt alone (the LSTM's state starts from
zeros at its first sample, as for an attack or an explanation of that excerpt), and the
corpus's own singing label of each 32 ms chunk, taken from the song's ``.lab`` file at the
chunk's centre: what the VAD says about voice next to what the corpus says about singing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from svdlib.audio.io import load_audio
from svdlib.data.jamendo import audio_file, label_path, open_layout, read_filelist, read_lab
from svdlib.pretrained.silero_vad import CHUNK, SAMPLE_RATE, SileroVad, load_silero_vad

EXCERPT_SAMPLES = 64 * CHUNK
"""The default excerpt: 32768 samples, 64 chunks, 2.05 s at 16 kHz."""


@dataclass
class VadExcerpts:
    """Excerpts of a corpus's songs at 16 kHz, the VAD's outputs and the corpus's labels.

    Attributes
    ----------
    waveforms : np.ndarray
        float32 ``(N, length)`` at 16 kHz.
    songs : np.ndarray
        ``(N,)`` the audio file name of each excerpt's song.
    starts : np.ndarray
        ``(N,)`` each excerpt's start in its song, in seconds.
    chunk_probabilities : np.ndarray
        float32 ``(N, length / 512)``: the VAD's speech probability of each 32 ms chunk.
    chunk_singing : np.ndarray
        bool ``(N, length / 512)``: the ``.lab`` label (``sing``) at each chunk's centre.
    """

    waveforms: np.ndarray
    songs: np.ndarray
    starts: np.ndarray
    chunk_probabilities: np.ndarray
    chunk_singing: np.ndarray

    @property
    def probabilities(self) -> np.ndarray:
        """``(N,)`` P(voice): the mean of each excerpt's chunk probabilities."""
        return self.chunk_probabilities.mean(axis=1)

    @property
    def voice(self) -> np.ndarray:
        """``(N,)`` bool: the VAD's decision, P(voice) > 0.5."""
        return self.probabilities > 0.5

    @property
    def singing(self) -> np.ndarray:
        """``(N,)`` the share of each excerpt's chunks that the ``.lab`` labels ``sing``."""
        return self.chunk_singing.mean(axis=1)

    def spread(self, where: np.ndarray, per_song: int) -> np.ndarray:
        """Indices of up to ``per_song`` excerpts of each song where ``where`` holds.

        :func:`spread` over this corpus's songs (see there).
        """
        return spread(self.songs, where, per_song)

    def frame(self) -> pd.DataFrame:
        """One row per excerpt: song, start, singing share, sung, P(voice), voice.

        ``sung`` is a singing share over 0.5 (the corpus's label of the excerpt), ``voice``
        the VAD's decision.
        """
        return pd.DataFrame({"song": self.songs, "start (s)": self.starts,
                             "singing share": self.singing, "sung": self.singing > 0.5,
                             "P(voice)": self.probabilities, "voice": self.voice})


def labels_at(segments: list[tuple[float, float, bool]], times: np.ndarray) -> np.ndarray:
    """Whether each time (s) lies in a ``sing`` segment (``start <= t < end``) of a ``.lab``."""
    sung = np.zeros(times.shape, dtype=bool)
    for start, end, sing in segments:
        if sing:
            sung |= (times >= start) & (times < end)
    return sung


@torch.no_grad()
def vad_chunk_probabilities(vad: SileroVad, waveforms: np.ndarray,
                            batch: int = 64) -> np.ndarray:
    """The VAD's chunk probabilities of ``(N, L)`` waveforms, a batch at a time.

    Returns float32 ``(N, ceil(L / 512))``, computed without gradients.
    """
    out = np.zeros((len(waveforms), -(-waveforms.shape[1] // CHUNK)), np.float32)
    for i in range(0, len(waveforms), batch):
        x = torch.from_numpy(np.ascontiguousarray(waveforms[i:i + batch], np.float32))
        out[i:i + batch] = vad.chunk_probabilities(x).numpy()
    return out


def vad_excerpts(root: str | Path, split: str, vad: SileroVad | None = None,
                 length: int = EXCERPT_SAMPLES, songs: int | None = None,
                 batch: int = 64) -> VadExcerpts:
    """Cut one split of a corpus into 16 kHz excerpts and run the VAD on each.

    Parameters
    ----------
    root : str or Path
        A corpus in the Jamendo layout (audio, file lists, ``.lab`` labels).
    split : {"train", "valid", "test"}
        Which file list.
    vad : SileroVad, optional
        The model (default: :func:`~svdlib.pretrained.silero_vad.load_silero_vad`).
    length : int
        Samples per excerpt, a positive multiple of 512 (default 32768: 64 chunks, 2.05 s).
    songs : int, optional
        Only the first ``songs`` of the file list.
    batch : int
        Excerpts per forward pass.

    Returns
    -------
    VadExcerpts
        Every excerpt of every song, in file-list order and time order.

    Raises
    ------
    SvdError
        On a missing or broken corpus folder, file list, audio or label file (naming it), or
        if the VAD's package is missing (the ``pretrained`` extra).
    """
    if length <= 0 or length % CHUNK:
        raise ValueError(f"length must be a positive multiple of {CHUNK}, got {length}")
    layout = open_layout(root)
    names = read_filelist(layout, split)[:songs]
    vad = vad if vad is not None else load_silero_vad()
    waves, song_of, starts, sung = [], [], [], []
    centres = (np.arange(length // CHUNK) + 0.5) * CHUNK
    for name in names:
        signal = load_audio(audio_file(layout, name), SAMPLE_RATE)
        segments = read_lab(label_path(layout, name))
        for start in range(0, len(signal) - length + 1, length):
            waves.append(signal[start:start + length])
            song_of.append(name)
            starts.append(start / SAMPLE_RATE)
            sung.append(labels_at(segments, (start + centres) / SAMPLE_RATE))
    waveforms = np.array(waves, dtype=np.float32).reshape(len(waves), length)
    return VadExcerpts(waveforms=waveforms, songs=np.array(song_of, dtype=object),
                       starts=np.array(starts, dtype=float),
                       chunk_probabilities=vad_chunk_probabilities(vad, waveforms, batch),
                       chunk_singing=np.array(sung, dtype=bool).reshape(len(waves), -1))


def spread(songs: np.ndarray, where: np.ndarray, per_song: int) -> np.ndarray:
    """Indices of up to ``per_song`` items of each song where ``where`` holds.

    Evenly spaced through the song's qualifying items (the first and the last included when
    at least two are chosen), songs in the order they first come.

    Parameters
    ----------
    songs : np.ndarray
        ``(N,)`` the song of each item (excerpt).
    where : np.ndarray
        ``(N,)`` bool, e.g. ``~excerpts.voice``.
    per_song : int
        At most this many per song (positive).

    Returns
    -------
    np.ndarray
        int indices, in song order and, within a song, in the items' order.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib.pretrained.corpus import spread
    >>> songs = np.array(["a"] * 5 + ["b"] * 2)
    >>> spread(songs, np.ones(7, bool), 3).tolist()
    [0, 2, 4, 5, 6]
    """
    if per_song < 1:
        raise ValueError(f"per_song must be positive, got {per_song}")
    songs, where = np.asarray(songs), np.asarray(where, dtype=bool)
    if where.shape != songs.shape:
        raise ValueError(f"where must be {songs.shape}, got {where.shape}")
    chosen: list[int] = []
    for song in dict.fromkeys(songs.tolist()):
        candidates = np.flatnonzero((songs == song) & where)
        if len(candidates):
            count = min(per_song, len(candidates))
            chosen += candidates[np.linspace(0, len(candidates) - 1, count).round()
                                 .astype(int)].tolist()
    return np.array(chosen, dtype=int)
