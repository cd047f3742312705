"""Datasets in the Jamendo-VAD layout: file lists, ``.lab`` labels, spectrograms, excerpts.

A corpus folder holds ``audio/`` (any format :func:`svdlib.audio.load_audio` reads),
``filelists/{train,valid,test}`` (one audio file name per line; the original README's spelling
``filelist/`` is accepted too) and ``labels/<name without extension>.lab`` with lines
``start end sing|nosing`` in seconds. The real Jamendo corpus and the embedded one read the same
way. Spectrograms are computed once per file and cached as ``.npy`` in the store.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio import load_audio, spectrogram_np
from .config import FrontEndConfig
from .errors import SvdError
from .store import Store, atomic_path

SPLITS = ("train", "valid", "test")
LABELS = ("sing", "nosing")
"""The two labels of a ``.lab`` line (Jamendo's spelling)."""
LABEL_TOLERANCE_S = 1.0
"""How far (seconds) a label may run past the end of its audio before it is an error."""


@dataclass(frozen=True)
class Layout:
    """The folders of a corpus in the Jamendo layout."""

    root: Path
    audio: Path
    filelists: Path
    labels: Path


def open_layout(root: str | Path) -> Layout:
    """Check a corpus folder and return its layout.

    Raises
    ------
    SvdError
        If the folder or one of ``audio/``, ``filelists/`` (or ``filelist/``), ``labels/``
        is missing.
    """
    root = Path(root)
    if not root.is_dir():
        raise SvdError(f"data folder '{root}' does not exist; run `svd corpus` or set "
                       "--data to a corpus in the Jamendo layout")
    filelists = root / "filelists"
    if not filelists.is_dir() and (root / "filelist").is_dir():
        filelists = root / "filelist"
    for folder in (root / "audio", filelists, root / "labels"):
        if not folder.is_dir():
            raise SvdError(f"data folder '{root}' has no '{folder.name}/' subfolder; expected "
                           "audio/, filelists/ and labels/ (the Jamendo layout)")
    return Layout(root=root, audio=root / "audio", filelists=filelists, labels=root / "labels")


def read_filelist(layout: Layout, split: str) -> list[str]:
    """Read the audio file names of one split and check that every file exists.

    Parameters
    ----------
    layout : Layout
        The corpus.
    split : {"train", "valid", "test"}
        The file list to read.

    Returns
    -------
    list of str
        File names relative to ``layout.audio``, in file-list order.
    """
    path = layout.filelists / split
    if not path.is_file():
        raise SvdError(f"file list '{path}' does not exist; the corpus needs "
                       "filelists/train, filelists/valid and filelists/test")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise SvdError(f"file list '{path}' is not UTF-8 text") from None
    names = [line.strip() for line in lines if line.strip()]
    if not names:
        raise SvdError(f"file list '{path}' is empty; list one audio file per line")
    for name in names:
        audio = layout.audio / name
        if not audio.is_file() and not audio.with_suffix(".wav").is_file():
            raise SvdError(f"file list '{path}' names '{name}', which is not in '{layout.audio}'")
    return names


def label_path(layout: Layout, name: str) -> Path:
    """The ``.lab`` file of an audio file: its name with the extension replaced."""
    return layout.labels / (Path(name).stem + ".lab")


def read_lab(path: str | Path) -> list[tuple[float, float, bool]]:
    """Read a ``.lab`` file into ``(start, end, is_sing)`` segments, sorted by start.

    A label is ``sing`` (singing) or ``nosing``, the only two spellings of Jamendo's labels;
    anything else (``speech``, ``Sing``) is an error rather than a silent "no singing". Lines
    must have three fields with ``0 <= start <= end``; segments must not overlap (1 ms
    tolerance).

    Raises
    ------
    SvdError
        On a missing file, a malformed line, an unknown label or overlapping segments, naming
        file and line.
    """
    return [(start, end, sing) for start, end, sing, _ in _read_lab_lines(path)]


def _read_lab_lines(path: str | Path) -> list[tuple[float, float, bool, int]]:
    """:func:`read_lab`, with each segment's line number as a fourth field."""
    path = Path(path)
    if not path.is_file():
        raise SvdError(f"label file '{path}' does not exist; every audio file needs "
                       "labels/<name>.lab")
    segments: list[tuple[float, float, bool, int]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SvdError(f"label file '{path}' is not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise SvdError(f"{path}:{number}: expected 'start end sing|nosing', got "
                           f"'{line.strip()}'")
        try:
            start, end = float(fields[0]), float(fields[1])
        except ValueError:
            raise SvdError(f"{path}:{number}: start and end must be numbers, got "
                           f"'{line.strip()}'") from None
        if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end < start:
            raise SvdError(f"{path}:{number}: need 0 <= start <= end, got '{line.strip()}'")
        if fields[2] not in LABELS:
            raise SvdError(f"{path}:{number}: unknown label '{fields[2]}'; use sing or nosing")
        segments.append((start, end, fields[2] == "sing", number))
    segments.sort(key=lambda s: (s[0], s[1]))
    for previous, current in itertools.pairwise(segments):
        if current[0] < previous[1] - 1e-3:
            raise SvdError(f"{path}:{current[3]}: segment starting at {current[0]} overlaps the "
                           f"one on line {previous[3]} ending at {previous[1]}")
    return segments


def frame_targets(segments: list[tuple[float, float, bool]], n_frames: int,
                  fps: float) -> np.ndarray:
    """Per-frame singing targets: frame ``i`` at time ``i / fps`` takes its segment's label.

    Frames from the first index with ``t >= start`` up to (excluding) the first with
    ``t >= end`` get the label; frames outside every segment are "no sing".
    """
    times = np.arange(n_frames) / fps
    targets = np.zeros(n_frames, dtype=bool)
    for start, end, sing in segments:
        a, b = np.searchsorted(times, [start, end], side="left")
        targets[a:b] = sing
    return targets


@dataclass
class Song:
    """One audio file: its linear-magnitude spectrogram and per-frame targets."""

    name: str
    path: Path
    spec: np.ndarray
    targets: np.ndarray

    @property
    def n_frames(self) -> int:
        """Number of STFT frames."""
        return len(self.targets)


def _cache_name(name: str, path: Path) -> str:
    """The cache file of a song: its name and a hash of its name and its audio's contents."""
    from .provenance import file_fingerprint

    audio = path if path.is_file() else path.with_suffix(".wav")
    content = file_fingerprint(audio) if audio.is_file() else "missing"
    digest = hashlib.sha1(f"{name}\0{content}".encode()).hexdigest()[:10]
    return f"{Path(name).stem[:60]}-{digest}.npy"


def load_song(layout: Layout, name: str, frontend: FrontEndConfig,
              cache_dir: Path | None = None) -> Song:
    """Load (or read from the cache) one song's spectrogram and targets.

    Raises
    ------
    SvdError
        If the audio or the ``.lab`` file is bad (see :func:`svdlib.audio.load_audio` and
        :func:`read_lab`), or a label ends more than ``LABEL_TOLERANCE_S`` (1.0 s) after the
        audio, whose duration is taken as ``n_frames / fps`` (the same with or without the
        spectrogram cache).
    """
    path = layout.audio / name
    lab = label_path(layout, name)
    numbered = _read_lab_lines(lab)
    segments = [(start, end, sing) for start, end, sing, _ in numbered]
    spec = None
    cache = cache_dir / _cache_name(name, path) if cache_dir is not None else None
    if cache is not None and cache.is_file():
        try:
            spec = np.load(cache, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError):
            spec = None
    if spec is None:
        signal = load_audio(path, frontend.sample_rate)
        if len(signal) <= frontend.frame_len // 2:
            raise SvdError(f"audio file '{path}' is too short ({len(signal)} samples)")
        spec = spectrogram_np(signal, frontend)
        if cache is not None:
            with atomic_path(cache, suffix=".npy") as tmp:
                np.save(tmp, spec)
    duration = spec.shape[0] / frontend.fps
    if numbered:
        _, end, _, line = max(numbered, key=lambda s: s[1])
        if end > duration + LABEL_TOLERANCE_S:
            raise SvdError(f"{lab}:{line}: label ends at {end:g} s, but the audio '{path.name}' "
                           f"lasts {duration:.2f} s (tolerance {LABEL_TOLERANCE_S:g} s); fix the "
                           "label times or replace the audio")
    targets = frame_targets(segments, spec.shape[0], frontend.fps)
    return Song(name=name, path=path, spec=spec, targets=targets)


def load_split(layout: Layout, split: str, frontend: FrontEndConfig,
               cache_dir: Path | None = None, progress: bool = False) -> list[Song]:
    """Load every song of a split (see :func:`load_song`)."""
    names = read_filelist(layout, split)
    iterator: Iterator[str] = iter(names)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(names, desc=f"loading {split}", unit="song", leave=False)
    return [load_song(layout, name, frontend, cache_dir) for name in iterator]


def pad_spectrogram(spec: np.ndarray, pad: int = 57) -> np.ndarray:
    """Add ``pad`` all-zero frames on both sides, as the detector sees a whole song."""
    return np.pad(np.asarray(spec), ((pad, pad), (0, 0)))


class ExcerptSampler:
    """Random training excerpts: every ``(song, start)`` pair once per pass, shuffled.

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
            raise SvdError(f"no training song is at least {frames} frames long")
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


def corpus_layout(store: Store) -> Layout:
    """The layout of the configured corpus (generated or external), checked."""
    root = store.data_root()
    if not store.external_data:
        from .corpus import corpus_complete

        if not corpus_complete(root):
            raise SvdError(f"the embedded corpus '{root}' has not been generated (or its "
                           "generation was interrupted); run `svd corpus`")
    return open_layout(root)


def load_store_split(store: Store, split: str, progress: bool = False) -> list[Song]:
    """Load one split of the configured corpus, caching spectrograms in the store."""
    return load_split(corpus_layout(store), split, store.cfg.frontend, store.spectra_dir(),
                      progress=progress)


def split_summary(store: Store) -> list[dict]:
    """Per split: number of songs, minutes of audio, share of "sing" frames."""
    rows = []
    for split in SPLITS:
        songs = load_store_split(store, split)
        frames = sum(s.n_frames for s in songs)
        sing = sum(int(s.targets.sum()) for s in songs)
        rows.append({"split": split, "songs": len(songs),
                     "minutes": frames / store.cfg.frontend.fps / 60,
                     "sing %": 100 * sing / max(frames, 1)})
    return rows
