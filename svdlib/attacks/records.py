"""Attack records on disk: per-song arrays and JSON, the log and the summary."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from svdlib.attacks.optimise import AttackResult
from svdlib.audio.frontend import spectrogram_np
from svdlib.audio.io import load_audio
from svdlib.audio.settings import FrontEndConfig
from svdlib.constants import DOMAINS
from svdlib.digests import verify_artifact
from svdlib.errors import MissingArtifactError, SvdError
from svdlib.files import atomic_path, load_arrays, load_json, save_arrays, save_csv

#: Columns of the merged per-frame log, as in the original ``logger.csv``.
LOG_COLUMNS = ("file", "frame", "ground truth", "orig pred", "mod pred", "snr", "convergences")


# -- storage ----------------------------------------------------------------------------------


def song_key(name: str) -> str:
    """A file-system-safe, unique stem for a song name (ASCII stem plus a short hash).

    Parameters
    ----------
    name : str
        The song's file name as listed (may hold spaces, accents, apostrophes).

    Returns
    -------
    str
        E.g. ``"01_-_Chanson_d_ete_1-3f2a9c01de"``.
    """
    stem = unicodedata.normalize("NFKD", Path(name).stem).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "song"
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]
    return f"{stem}-{digest}"


def record_path(folder: str | Path, name: str) -> Path:
    """The per-song ``.npz`` record (per-frame arrays and scalars) of an attack folder."""
    return Path(folder) / f"{song_key(name)}.npz"


def adversary_path(folder: str | Path, name: str, domain: str) -> Path:
    """The stored adversary of a song: a float32 WAV (wave) or a ``(T, bins)`` ``.npy`` (spec)."""
    check_domain(domain)
    return Path(folder) / f"{song_key(name)}.{'wav' if domain == 'wave' else 'npy'}"


def check_domain(domain: str) -> None:
    """Raise a one-line error for an unknown attack domain.

    Parameters
    ----------
    domain : str
        ``wave`` or ``spec``.

    Raises
    ------
    SvdError
        For any other value.
    """
    if domain not in DOMAINS:
        raise SvdError(f"unknown attack domain '{domain}'; use wave or spec")


def save_result(folder: str | Path, name: str, result: AttackResult, ground_truth: np.ndarray,
                sample_rate: int = 22050, source: str = "") -> Path:
    """Store one song's adversary and its per-frame record, atomically (record last).

    Both files are artifacts: their digests are recorded beside them.

    Parameters
    ----------
    folder : str or Path
        The attack folder.
    name : str
        The song's name as listed.
    result : AttackResult
        The attack's outcome.
    ground_truth : np.ndarray
        bool ``(T,)`` labels of the song.
    sample_rate : int
        Sample rate of a waveform adversary.
    source : str
        Fingerprint of the song's audio and labels
        (:meth:`svdlib.experiments.storage.store.Store.song_fingerprint`);
        a record whose fingerprint no longer matches the song is computed again.

    Returns
    -------
    Path
        The record file; its existence marks the song as done.
    """
    import soundfile as sf

    target = adversary_path(folder, name, result.domain)
    if result.domain == "wave":
        with atomic_path(target, suffix=".wav", digest=True) as tmp:
            sf.write(str(tmp), result.adversary.astype(np.float32), sample_rate,
                     subtype="FLOAT", format="WAV")
    else:
        with atomic_path(target, suffix=".npy", digest=True) as tmp:
            np.save(tmp, result.adversary.astype(np.float32))
    truth = np.zeros(result.n_frames, dtype=bool)
    given = np.asarray(ground_truth, dtype=bool)[:result.n_frames]
    truth[:len(given)] = given
    path = record_path(folder, name)
    save_arrays(path, name=np.array(name), domain=np.array(result.domain),
                ground_truth=truth, orig_probs=result.orig_probs, adv_probs=result.adv_probs,
                orig_pred=result.orig_pred, adv_pred=result.adv_pred, flipped=result.flipped,
                iterations=np.int64(result.iterations),
                best_iteration=np.int64(result.best_iteration),
                converged=np.bool_(result.converged), distortion=np.float64(result.distortion),
                seconds=np.float64(result.seconds), source=np.array(source))
    return path


def load_record(folder: str | Path, name: str) -> dict[str, Any]:
    """Read one song's per-frame record of an attack folder.

    Returns
    -------
    dict
        ``ground_truth, orig_probs, adv_probs, orig_pred, adv_pred, flipped`` arrays ``(T,)``
        and the scalars ``name, domain, iterations, best_iteration, converged, distortion,
        seconds``.
    """
    data = load_arrays(record_path(folder, name))
    scalars = ("name", "domain", "iterations", "best_iteration", "converged", "distortion",
               "seconds", "source")
    return {key: (value.item() if key in scalars else value) for key, value in data.items()}


def _folder_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise MissingArtifactError(f"attack folder '{folder}' has no config.json", "attack")
    return load_json(path)


def _folder_frontend(folder: Path) -> FrontEndConfig:
    return FrontEndConfig(**_folder_config(folder)["frontend"])


def folder_domain(folder: Path) -> str:
    """The attack domain of a results folder: from its summary, else from its name.

    Parameters
    ----------
    folder : Path
        An attack's folder (``wave-...`` or ``spec-...``).

    Returns
    -------
    str
        ``wave`` or ``spec``.
    """
    summary = folder / "summary.json"
    if summary.is_file():
        return str(load_json(summary)["domain"])
    domain = folder.name.split("-", 1)[0]
    check_domain(domain)
    return domain


def load_adversarial_spectrogram(folder: str | Path, name: str,
                                 frontend: FrontEndConfig | None = None,
                                 domain: str | None = None) -> np.ndarray:
    """The adversarial linear-magnitude spectrogram ``(T, bins)`` of one song.

    For a waveform adversary, the stored WAV is re-read with :func:`svdlib.audio.io.load_audio`
    and its spectrogram computed; a spectrogram adversary is read as stored. Either is first
    checked against the digest recorded when it was written.

    Parameters
    ----------
    folder : str or Path
        The attack folder.
    name : str
        The song's name as listed.
    frontend : FrontEndConfig, optional
        STFT settings (default: those in the folder's ``config.json``).
    domain : {"wave", "spec"}, optional
        The attack domain (default: from the folder).

    Returns
    -------
    np.ndarray
        float32 ``(T, bins)``.
    """
    folder = Path(folder)
    domain = domain or folder_domain(folder)
    path = adversary_path(folder, name, domain)
    if not path.is_file():
        raise MissingArtifactError(f"no adversary for '{name}' at '{path}'",
                                   f"attack --domain {domain}")
    verify_artifact(path)
    if domain == "spec":
        return np.load(path, allow_pickle=False).astype(np.float32)
    frontend = frontend or _folder_frontend(folder)
    return spectrogram_np(load_audio(path, frontend.sample_rate), frontend)


def distortion_text(domain: str, value: float) -> str:
    """How a perturbation's size reads: the SNR of a waveform one, the energy of a spectrogram one.

    Parameters
    ----------
    domain : str
        ``wave`` or ``spec``.
    value : float
        The SNR in dB (wave) or the squared norm of delta (spec).

    Returns
    -------
    str
        E.g. ``SNR 31.2 dB`` or ``|delta|^2 0.0123``.
    """
    return f"SNR {value:.1f} dB" if domain == "wave" else f"|delta|^2 {value:.4g}"


def write_log(folder: str | Path, names: Sequence[str]) -> Path:
    """Merge the per-song records into ``logger.csv`` (one row per frame, original columns).

    Returns
    -------
    Path
        The log file.
    """
    import pandas as pd

    folder = Path(folder)
    frames = []
    for name in names:
        rec = load_record(folder, name)
        n = len(rec["flipped"])
        frames.append(pd.DataFrame({
            "file": [name] * n, "frame": np.arange(n), "ground truth": rec["ground_truth"],
            "orig pred": rec["orig_pred"], "mod pred": rec["adv_pred"],
            "snr": np.full(n, rec["distortion"]), "convergences": rec["flipped"]}))
    log = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=list(LOG_COLUMNS))
    path = folder / "logger.csv"
    save_csv(path, log, index=False, columns=list(LOG_COLUMNS))
    return path


# -- statistics (the original log_analysis) -------------------------------------------------


def read_log(path: str | Path) -> Any:
    """Read an attack's ``logger.csv`` (or the folder holding it) into a pandas DataFrame.

    Parameters
    ----------
    path : str or Path
        The CSV file or its folder.

    Returns
    -------
    pandas.DataFrame
        Columns ``file, frame, ground truth, orig pred, mod pred, snr, convergences``; the three
        prediction columns and ``convergences`` as bool.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / "logger.csv"
    if not path.is_file():
        raise MissingArtifactError(f"attack log '{path}' does not exist", "attack")
    log = pd.read_csv(path, dtype={"file": str}, skipinitialspace=True, keep_default_na=False)
    missing = [c for c in LOG_COLUMNS if c not in log.columns]
    if missing:
        raise SvdError(f"attack log '{path}' lacks the columns {missing}")
    for column in ("ground truth", "orig pred", "mod pred", "convergences"):
        log[column] = log[column].map(_as_bool).astype(bool)
    log["frame"] = log["frame"].astype(int)
    log["snr"] = log["snr"].astype(float)
    return log


def _as_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "1.0"):
        return True
    if text in ("false", "0", "0.0", ""):
        return False
    raise SvdError(f"attack log has a non-boolean value '{value}'")
