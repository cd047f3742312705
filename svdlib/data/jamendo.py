"""Datasets in the Jamendo-VAD layout: file lists, ``.lab`` labels, spectrograms, excerpts.

A corpus folder holds ``audio/`` (any format :func:`svdlib.audio.io.load_audio` reads),
``filelists/{train,valid,test}`` (one audio file name per line; the original README's spelling
``filelist/`` is accepted too) and ``labels/<name without extension>.lab`` with lines
``start end sing|nosing`` in seconds; lists and labels are UTF-8, with or without a byte-order
mark. Each song is listed once, in one split (unless allowed on purpose). The real Jamendo
corpus and the embedded one read the same way. Spectrograms are computed once per file and
cached as ``.npy`` in the store.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svdlib.constants import SPLITS
from svdlib.errors import DataError

LABELS = ("sing", "nosing")
"""The two labels of a ``.lab`` line (Jamendo's spelling)."""
LABEL_TOLERANCE_S = 1.0
"""How far (seconds) a label may run past the end of its audio before it is an error."""
BOM = "\ufeff"
"""The byte-order mark some editors write at the start of a UTF-8 file (allowed there only)."""


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


def read_text_lines(path: Path, what: str) -> list[str]:
    """The lines of a UTF-8 text file, with or without a byte-order mark at its start.

    Parameters
    ----------
    path : Path
        The file (a file list or a ``.lab`` file).
    what : str
        What it is, for the messages (``"file list"``, ``"label file"``).

    Raises
    ------
    SvdError
        If the file is not UTF-8, or holds a byte-order mark (U+FEFF) anywhere but at its very
        start (two files joined together), naming the line.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{what} '{path}' is not UTF-8 text; save it as UTF-8") from None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if BOM in line:
            raise DataError(f"{path}:{number}: a byte-order mark (U+FEFF) inside the text, not at "
                            "its start (were two files joined?); remove it")
    return lines


def describe_absent(path: Path) -> str:
    """Why ``path`` is not a readable file: a directory, a broken link, or nothing there.

    Returns
    -------
    str
        ``"is a directory"``, ``"is a broken link to '<target>'"``, ``"is not a regular
        file"`` or ``"does not exist"``; empty if ``path`` is a file.
    """
    if path.is_file():
        return ""
    if path.is_dir():
        return "is a directory"
    if path.is_symlink():
        return f"is a broken link to '{os.readlink(path)}'"
    if path.exists():
        return "is not a regular file"
    return "does not exist"


def audio_file(layout: Layout, name: str) -> Path:
    """The audio file a file-list entry names (a missing name may stand for its ``.wav``)."""
    path = layout.audio / name
    alternative = path.with_suffix(".wav")
    return alternative if not path.is_file() and alternative.is_file() else path


def read_filelist_entries(layout: Layout, split: str) -> list[tuple[int, str]]:
    """Read one split's file list as ``(line number, audio file name)`` pairs, checked.

    The list is UTF-8 (a byte-order mark at its start is allowed); blank lines are skipped
    and whitespace around a name is dropped. Every entry must be an audio file (or stand for
    the ``.wav`` of its stem) and appear once.

    Raises
    ------
    SvdError
        If the list is missing, empty or not UTF-8; if an entry names nothing, a directory or
        a broken link; or if two entries name the same file (with both line numbers).
    """
    path = layout.filelists / split
    absent = describe_absent(path)
    if absent:
        raise DataError(f"file list '{path}' {absent}; the corpus needs filelists/train, "
                        "filelists/valid and filelists/test")
    entries = [(number, line.strip())
               for number, line in enumerate(read_text_lines(path, "file list"), start=1)
               if line.strip()]
    if not entries:
        raise DataError(f"file list '{path}' is empty; list one audio file per line")
    seen: dict[str, tuple[int, str]] = {}
    for number, name in entries:
        audio = audio_file(layout, name)
        absent = describe_absent(audio)
        if absent == "does not exist":
            raise DataError(f"file list '{path}' names '{name}', which is not in "
                            f"'{layout.audio}'")
        if absent:
            raise DataError(f"file list '{path}' names '{name}', but '{audio}' {absent}, not "
                            "an audio file; replace it or remove the entry")
        key = os.path.normpath(audio)
        if key in seen:
            first, earlier = seen[key]
            what = (f"'{name}' twice (lines {first} and {number})" if earlier == name else
                    f"the same audio file twice: '{earlier}' (line {first}) and '{name}' "
                    f"(line {number})")
            raise DataError(f"file list '{path}' names {what}; list each song once")
        seen[key] = (number, name)
    return entries


def read_filelist(layout: Layout, split: str) -> list[str]:
    """Read the audio file names of one split and check them (see :func:`read_filelist_entries`).

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
    return [name for _, name in read_filelist_entries(layout, split)]


def check_splits(layout: Layout, allow_shared: bool = False) -> None:
    """Read and check every file list; refuse a song listed in two splits.

    Parameters
    ----------
    layout : Layout
        The corpus.
    allow_shared : bool
        Allow a song in two splits (the setting ``paths.allow_shared_songs``), e.g. to train
        on the validation songs on purpose.

    Raises
    ------
    SvdError
        On a bad file list (see :func:`read_filelist_entries`), or a song in two splits,
        naming the song and both lists with their lines.
    """
    seen: dict[str, tuple[str, int, str]] = {}
    for split in SPLITS:
        path = layout.filelists / split
        for number, name in read_filelist_entries(layout, split):
            key = os.path.normpath(audio_file(layout, name))
            if key in seen and not allow_shared:
                other, first, earlier = seen[key]
                raise DataError(
                    f"song '{name}' is in two splits: file list '{other}' line {first}"
                    + ("" if earlier == name else f" (as '{earlier}')")
                    + f" and '{path}' line {number}; a song in two splits leaks what the "
                    "detector is tested on into what it learns from; remove it from one list "
                    "(or set paths.allow_shared_songs: true to allow it on purpose)")
            seen.setdefault(key, (str(path), number, name))


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
    return [(start, end, sing) for start, end, sing, _ in read_lab_numbered(path)]


def read_lab_numbered(path: str | Path) -> list[tuple[float, float, bool, int]]:
    """:func:`read_lab`, with each segment's line number as a fourth field."""
    path = Path(path)
    absent = describe_absent(path)
    if absent == "does not exist":
        raise DataError(f"label file '{path}' does not exist; every audio file needs "
                        "labels/<name>.lab")
    if absent:
        raise DataError(f"label file '{path}' {absent}; every audio file needs "
                        "labels/<name>.lab as a file")
    segments: list[tuple[float, float, bool, int]] = []
    for number, line in enumerate(read_text_lines(path, "label file"), start=1):
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
