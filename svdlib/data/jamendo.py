"""Datasets in the Jamendo-VAD layout: file lists, ``.lab`` labels, spectrograms, excerpts.

A corpus folder holds ``audio/`` (any format :func:`svdlib.audio.io.load_audio` reads),
``filelists/{train,valid,test}`` (one audio file name per line; the original README's spelling
``filelist/`` is accepted too) and ``labels/<name without extension>.lab`` with lines
``start end sing|nosing`` in seconds. The real Jamendo corpus and the embedded one read the same
way. Spectrograms are computed once per file and cached as ``.npy`` in the store.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svdlib.errors import DataError

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
        raise DataError(f"data folder '{root}' does not exist; give a corpus in the Jamendo "
                        "layout (paths.data, --data)")
    filelists = root / "filelists"
    if not filelists.is_dir() and (root / "filelist").is_dir():
        filelists = root / "filelist"
    for folder in (root / "audio", filelists, root / "labels"):
        if not folder.is_dir():
            raise DataError(f"data folder '{root}' has no '{folder.name}/' subfolder; expected "
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
        raise DataError(f"file list '{path}' does not exist; the corpus needs "
                       "filelists/train, filelists/valid and filelists/test")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"file list '{path}' is not UTF-8 text") from None
    names = [line.strip() for line in lines if line.strip()]
    if not names:
        raise DataError(f"file list '{path}' is empty; list one audio file per line")
    for name in names:
        audio = layout.audio / name
        if not audio.is_file() and not audio.with_suffix(".wav").is_file():
            raise DataError(f"file list '{path}' names '{name}', which is not in '{layout.audio}'")
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
        raise DataError(f"label file '{path}' does not exist; every audio file needs "
                       "labels/<name>.lab")
    segments: list[tuple[float, float, bool, int]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"label file '{path}' is not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise DataError(f"{path}:{number}: expected 'start end sing|nosing', got "
                           f"'{line.strip()}'")
        try:
            start, end = float(fields[0]), float(fields[1])
        except ValueError:
            raise DataError(f"{path}:{number}: start and end must be numbers, got "
                           f"'{line.strip()}'") from None
        if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end < start:
            raise DataError(f"{path}:{number}: need 0 <= start <= end, got '{line.strip()}'")
        if fields[2] not in LABELS:
            raise DataError(f"{path}:{number}: unknown label '{fields[2]}'; use sing or nosing")
        segments.append((start, end, fields[2] == "sing", number))
    segments.sort(key=lambda s: (s[0], s[1]))
    for previous, current in itertools.pairwise(segments):
        if current[0] < previous[1] - 1e-3:
            raise DataError(f"{path}:{current[3]}: segment starting at {current[0]} overlaps the "
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
