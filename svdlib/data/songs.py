"""Songs as spectrograms with frame targets (cached per audio content), and excerpt sampling."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svdlib.audio.frontend import spectrogram_np
from svdlib.audio.io import load_audio
from svdlib.audio.settings import FrontEndConfig
from svdlib.data.jamendo import (
    LABEL_TOLERANCE_S,
    Layout,
    frame_targets,
    label_path,
    read_filelist,
    read_lab_numbered,
)
from svdlib.digests import artifact_done
from svdlib.errors import DataError
from svdlib.files import atomic_path


@dataclass
class Song:
    """One audio file: its linear-magnitude spectrogram and per-frame targets.

    ``labelled`` is false when its ``.lab`` file has no label lines (every frame "no sing").
    """

    name: str
    path: Path
    spec: np.ndarray
    targets: np.ndarray
    labelled: bool = True

    @property
    def n_frames(self) -> int:
        """Number of STFT frames."""
        return len(self.targets)


def _cache_name(name: str, path: Path) -> str:
    """The cache file of a song: its name and a hash of its name and its audio's contents."""
    from svdlib.provenance import file_fingerprint

    audio = path if path.is_file() else path.with_suffix(".wav")
    content = file_fingerprint(audio) if audio.is_file() else "missing"
    digest = hashlib.sha1(f"{name}\0{content}".encode()).hexdigest()[:10]
    return f"{Path(name).stem[:60]}-{digest}.npy"


def load_song(layout: Layout, name: str, frontend: FrontEndConfig,
              cache_dir: Path | None = None) -> Song:
    """Load (or read from the cache) one song's spectrogram and targets.

    The cache (``cache_dir``) is an artifact: its files carry digests, and a cached
    spectrogram that does not match its digest is an error, never used.

    Raises
    ------
    SvdError
        If a cached spectrogram does not read back as written, if the audio or the ``.lab``
        file is bad (see :func:`svdlib.audio.io.load_audio` and
        :func:`read_lab`), or a label ends more than ``LABEL_TOLERANCE_S`` (1.0 s) after the
        audio, whose duration is taken as ``n_frames / fps`` (the same with or without the
        spectrogram cache).
    """
    path = layout.audio / name
    lab = label_path(layout, name)
    numbered = read_lab_numbered(lab)
    segments = [(start, end, sing) for start, end, sing, _ in numbered]
    spec = None
    cache = cache_dir / _cache_name(name, path) if cache_dir is not None else None
    if cache is not None and artifact_done(cache):
        try:
            spec = np.load(cache, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError):
            spec = None
    if spec is None:
        signal = load_audio(path, frontend.sample_rate)
        if len(signal) <= frontend.frame_len // 2:
            raise DataError(f"audio file '{path}' is too short ({len(signal)} samples)")
        spec = spectrogram_np(signal, frontend)
        if cache is not None:
            with atomic_path(cache, suffix=".npy", digest=True) as tmp:
                np.save(tmp, spec)
    duration = spec.shape[0] / frontend.fps
    if numbered:
        _, end, _, line = max(numbered, key=lambda s: s[1])
        if end > duration + LABEL_TOLERANCE_S:
            raise DataError(f"{lab}:{line}: label ends at {end:g} s, but the audio '{path.name}' "
                           f"lasts {duration:.2f} s (tolerance {LABEL_TOLERANCE_S:g} s); fix the "
                           "label times or replace the audio")
    targets = frame_targets(segments, spec.shape[0], frontend.fps)
    return Song(name=name, path=path, spec=spec, targets=targets, labelled=bool(numbered))


def load_split(layout: Layout, split: str, frontend: FrontEndConfig,
               cache_dir: Path | None = None, progress: bool = False) -> list[Song]:
    """Load every song of a split (see :func:`load_song`)."""
    names = read_filelist(layout, split)
    iterator: Iterator[str] = iter(names)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(names, desc=f"loading {split}", unit="song", leave=False)
    return [load_song(layout, name, frontend, cache_dir) for name in iterator]


def short_songs(songs: list[Song], frames: int) -> list[str]:
    """The names of the songs shorter than ``frames`` (they contribute no excerpt that long)."""
    return [song.name for song in songs if song.n_frames < frames]


def unlabelled_songs(songs: list[Song]) -> list[str]:
    """The names of the songs whose ``.lab`` file has no label lines."""
    return [song.name for song in songs if not song.labelled]


class ExcerptSampler:
    """Random training excerpts: every ``(song, start)`` pair once per pass, shuffled.

    Songs shorter than ``frames`` contribute none (:func:`short_songs` names them).

    Parameters
    ----------
    songs : list of Song
        The training songs.
    frames : int
        Excerpt length (164 with stretch augmentation, else 115).
    rng : np.random.Generator
        Source of the shuffles.
    """

    def __init__(self, songs: list[Song], frames: int, rng: np.random.Generator) -> None:
        self.songs = [s for s in songs if s.n_frames >= frames]
        if not self.songs:
            raise DataError(f"no training song is at least {frames} frames long")
        self.frames = frames
        self.rng = rng
        self.index = np.concatenate([
            np.stack([np.full(s.n_frames - frames + 1, i), np.arange(s.n_frames - frames + 1)], 1)
            for i, s in enumerate(self.songs)
        ])
        self.order = self.rng.permutation(len(self.index))
        self.position = 0

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``size`` excerpts ``(size, frames, bins)`` and their centre-frame targets."""
        picks = []
        while len(picks) < size:
            if self.position >= len(self.order):
                self.order = self.rng.permutation(len(self.index))
                self.position = 0
            take = min(size - len(picks), len(self.order) - self.position)
            picks.extend(self.order[self.position:self.position + take])
            self.position += take
        specs = np.empty((size, self.frames, self.songs[0].spec.shape[1]), dtype=np.float32)
        labels = np.empty(size, dtype=np.float32)
        for row, pick in enumerate(picks):
            song_index, start = self.index[pick]
            song = self.songs[song_index]
            specs[row] = song.spec[start:start + self.frames]
            labels[row] = song.targets[start + self.frames // 2]
        return specs, labels
