"""The embedded default corpus: synthetic songs with singing, generated offline, Jamendo layout.

The real Jamendo corpus cannot be downloaded here, so this module composes songs from a seed and
renders them with pip-installable tools only:

* the **voice** is the Sinsy HMM singing synthesizer (``pysinsy``) with its bundled voice model,
  which was trained on recordings of a real singer. It sings the melody on random hiragana
  syllables. A per-song register and all-pass constant give every song a slightly different
  "singer";
* the **band** is General MIDI from the TimGM6mb SoundFont bundled with ``pretty_midi``, rendered
  offline with ``tinysoundfont``: comping, bass, drums and a pad;
* a **lead instrument** with pitch-bend vibrato plays the melody in the instrumental sections and
  sometimes a counter-line under the voice, so that "a melody is present" or "vibrato is present"
  does not reveal singing;
* the **mix** removes the loudness cue: a random vocal-to-accompaniment ratio, the lead as loud as
  the voice, a slow random gain envelope and a partial automatic gain control.

Labels come from the isolated vocal stem (frame energy at 70 frames per second), smoothed to
phrase-like segments as in Jamendo's annotation. :func:`generate_corpus` writes the Jamendo-VAD
layout::

    root/audio/<name>.flac
    root/filelists/{train,valid,test}
    root/labels/<name without extension>.lab      # "start end sing|nosing" lines
    root/.complete                                # the recipe, written last

Only a folder with ``.complete`` is a finished corpus (:func:`corpus_complete`); an interrupted
generation leaves none, and the next one finishes it with the same files.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import BinaryIO

import numpy as np
import soundfile as sf
from tqdm import tqdm

from svdlib.constants import SPLITS
from svdlib.data.synthetic.mix import Segment, synthesize_song
from svdlib.data.synthetic.plan import SongSpec, corpus_plan
from svdlib.errors import SvdError


def _format_lab(segments: Sequence[Segment]) -> str:
    """Jamendo ``.lab`` text: one ``"start end sing|nosing"`` line per segment, in seconds."""
    return "".join(f"{a:.3f} {b:.3f} {'sing' if on else 'nosing'}\n" for a, b, on in segments)


def generate_corpus(
    root: pathlib.Path,
    seed: int,
    n_train: int,
    n_valid: int,
    n_test: int,
    bars: int,
    sample_rate: int = 22050,
    progress: bool = True,
) -> pathlib.Path:
    """Generate the default corpus under ``root`` in the Jamendo-VAD layout (resumable).

    Each song's FLAC and ``.lab`` are written to temporary files and renamed into place; a song
    whose two files exist is skipped, so an interrupted run can simply be repeated (songs are
    deterministic, so the result is the same as an uninterrupted run). The filelists and then
    the completion marker ``.complete`` (the recipe as JSON) are written last, and the marker is
    removed before any song is (re)made, so :func:`corpus_complete` is true only for a finished
    corpus.

    Parameters
    ----------
    root : pathlib.Path
        Corpus directory; ``audio/``, ``labels/`` and ``filelists/`` are created inside.
    seed : int
        Corpus seed; the same seed gives identical labels and audio samples.
    n_train, n_valid, n_test : int
        Number of songs per split.
    bars : int
        Song length in bars after the one-bar count-in (even, ``>= 4``); 12 bars are ~30 s.
    sample_rate : int
        Sample rate of the FLAC files in Hz.
    progress : bool
        Show a tqdm progress bar over the songs.

    Returns
    -------
    pathlib.Path
        ``root``.
    """
    root = pathlib.Path(root)
    plan = corpus_plan(seed, n_train, n_valid, n_test, bars)
    recipe = _recipe(seed, n_train, n_valid, n_test, bars, sample_rate)
    filelists = {
        split: "".join(f"{spec.name}\n" for spec in plan if spec.split == split) for split in SPLITS
    }
    marker = root / COMPLETE_MARKER
    audio_dir, label_dir, list_dir = _prepare_folders(root, recipe, filelists)
    _write_songs(plan, audio_dir, label_dir, marker, sample_rate, progress)
    for split, text in filelists.items():
        _atomic_write_text(list_dir / split, text)
    _atomic_write_text(marker, json.dumps(recipe, sort_keys=True) + "\n")
    return root


def _prepare_folders(root: pathlib.Path, recipe: dict[str, int],
                     filelists: dict[str, str]) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """Drop a stale marker, create the three folders and clear leftovers of earlier runs.

    Returns the ``audio/``, ``labels/`` and ``filelists/`` folders under ``root``.
    """
    marker = root / COMPLETE_MARKER
    if marker.is_file() and not corpus_complete(root, recipe):
        marker.unlink()
    audio_dir, label_dir, list_dir = (root / d for d in ("audio", "labels", "filelists"))
    for directory in (audio_dir, label_dir, list_dir):
        directory.mkdir(parents=True, exist_ok=True)
        _remove_partial_files(directory)
    _remove_partial_files(root)
    _remove_stale_filelists(list_dir, filelists)
    return audio_dir, label_dir, list_dir


def _write_songs(plan: Sequence[SongSpec], audio_dir: pathlib.Path, label_dir: pathlib.Path,
                 marker: pathlib.Path, sample_rate: int, progress: bool) -> None:
    """Synthesize and write every planned song whose FLAC or ``.lab`` is missing.

    The completion marker is removed before the first song is (re)made.
    """
    for spec in tqdm(plan, desc="default corpus", unit="song", disable=not progress):
        audio_path, lab_path = audio_dir / spec.name, label_dir / f"{spec.stem}.lab"
        if audio_path.is_file() and lab_path.is_file():
            continue
        marker.unlink(missing_ok=True)
        require_corpus_extra()
        audio, segments = synthesize_song(spec, sample_rate)
        _atomic_write(audio_path, functools.partial(_write_flac, audio=audio, rate=sample_rate))
        _atomic_write_text(lab_path, _format_lab(segments))


#: What the ``corpus`` extra installs: the singing synthesis, the SoundFont and its renderer.
CORPUS_EXTRA = ("pysinsy", "pretty_midi", "tinysoundfont")


def require_corpus_extra() -> None:
    """Raise one clear line when the ``corpus`` extra is missing (checked before any song)."""
    missing = [name for name in CORPUS_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise SvdError(f"generating the embedded corpus needs the corpus extra (missing: "
                       f"{', '.join(missing)}): pip install 'svdlib[corpus]', or give your own "
                       "corpus in the Jamendo layout with --data (paths.data)")


COMPLETE_MARKER = ".complete"
"""The file :func:`generate_corpus` writes last into a finished corpus: its recipe as JSON."""


def _recipe(seed: int, n_train: int, n_valid: int, n_test: int, bars: int,
            sample_rate: int) -> dict[str, int]:
    return {"seed": seed, "n_train": n_train, "n_valid": n_valid, "n_test": n_test,
            "bars": bars, "sample_rate": sample_rate}


def corpus_complete(root: str | pathlib.Path, recipe: dict[str, int] | None = None) -> bool:
    """Whether ``root`` holds a corpus that :func:`generate_corpus` finished.

    Parameters
    ----------
    root : str or pathlib.Path
        The corpus folder.
    recipe : dict, optional
        ``seed, n_train, n_valid, n_test, bars, sample_rate``; if given, the finished corpus
        must have been made with exactly these.

    Returns
    -------
    bool
        True iff the completion marker is there (and names ``recipe``) and so are the three
        filelists; a folder left by an interrupted generation gives False.
    """
    root = pathlib.Path(root)
    try:
        written = json.loads((root / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if recipe is not None and written != recipe:
        return False
    return all((root / "filelists" / split).is_file() for split in SPLITS)


_PARTIAL_SUFFIX = ".partial"


def _write_flac(f: BinaryIO, audio: np.ndarray, rate: int) -> None:
    sf.write(f, audio, rate, subtype="PCM_16", format="FLAC")


def _remove_partial_files(directory: pathlib.Path) -> None:
    """Delete temporary files left behind by an interrupted run."""
    for path in directory.glob(f".*{_PARTIAL_SUFFIX}"):
        path.unlink(missing_ok=True)


def _remove_stale_filelists(list_dir: pathlib.Path, filelists: dict[str, str]) -> None:
    """Delete filelists of a different plan, so that no half-made corpus looks complete."""
    paths = [list_dir / split for split in filelists]
    if any(p.is_file() and p.read_bytes() != filelists[p.name].encode("utf-8") for p in paths):
        for path in paths:
            path.unlink(missing_ok=True)


def _atomic_write(path: pathlib.Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file_object)`` on a temporary file next to ``path``, then rename it there."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{_PARTIAL_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_write_text(path: pathlib.Path, text: str) -> None:
    """Write UTF-8 text atomically, leaving the file untouched if it already has that text."""
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return
    _atomic_write(path, lambda f: f.write(data))
