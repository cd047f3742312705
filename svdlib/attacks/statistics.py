"""Attack statistics per song and overall, and the successfully attacked excerpts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svdlib.attacks.records import (
    folder_domain,
    load_adversarial_spectrogram,
    load_record,
    read_log,
    record_path,
    song_key,
)
from svdlib.audio.settings import FrontEndConfig
from svdlib.detector.model import HALF_BLOCK
from svdlib.errors import SvdError
from svdlib.files import save_json


def _plain(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_summary(folder: str | Path, names: Sequence[str], domain: str, subset: str,
                  threshold: float, params: dict[str, Any]) -> dict:
    """Write ``summary.json``: overall and per-song success statistics of an attack folder.

    Parameters
    ----------
    folder : str or Path
        The attack folder (records and log).
    names : sequence of str
        The attacked songs.
    domain : {"wave", "spec"}
        The attack domain.
    subset : str
        The split the songs come from.
    threshold : float
        The decision threshold of the attack.
    params : dict
        The attack's hyper-parameters, as written.

    Returns
    -------
    dict
        The summary written.
    """
    folder = Path(folder)
    log = read_log(folder)
    per_song = song_statistics(log)
    songs = []
    for name in names:
        rec = load_record(folder, name)
        row = {column: _plain(per_song.at[name, column]) for column in per_song.columns}
        row.update(name=name, key=song_key(name), iterations=rec["iterations"],
                   best_iteration=rec["best_iteration"], converged=rec["converged"],
                   seconds=rec["seconds"])
        songs.append(row)
    overall = {k: _plain(v) for k, v in overall_statistics(log, domain).items()}
    summary = {"domain": domain, "subset": subset, "threshold": threshold,
               "params": params, "overall": overall, "songs": songs,
               "no_flip_songs": [s["name"] for s in songs if not s["flipped"]]}
    save_json(folder / "summary.json", summary)
    return summary


def song_statistics(log: Any) -> Any:
    """Per-song attack success, from a log as returned by :func:`read_log`.

    Parameters
    ----------
    log : pandas.DataFrame or str or Path
        The per-frame log, or the attack folder / CSV to read it from.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``file`` (log order): ``frames, flipped, flip_rate``; for frames the model
        called "sing": ``sing_frames, sing_flipped, sing_to_nosing`` (rate); for "no sing":
        ``nosing_frames, nosing_flipped, nosing_to_sing``; and ``snr`` (the song's value: SNR in
        dB for wave, ``|delta|^2`` for spec). A rate is NaN where a song has no such frames.
    """
    import pandas as pd

    if not isinstance(log, pd.DataFrame):
        log = read_log(log)
    sing = log["orig pred"].to_numpy(bool)
    flip = log["convergences"].to_numpy(bool)
    frame = pd.DataFrame({"file": log["file"], "frames": 1, "flipped": flip, "sing_frames": sing,
                          "sing_flipped": sing & flip, "nosing_frames": ~sing,
                          "nosing_flipped": ~sing & flip, "snr": log["snr"]})
    grouped = frame.groupby("file", sort=False)
    stats = grouped[["frames", "flipped", "sing_frames", "sing_flipped", "nosing_frames",
                     "nosing_flipped"]].sum().astype(int)
    stats["snr"] = grouped["snr"].first()
    with np.errstate(invalid="ignore", divide="ignore"):
        stats["flip_rate"] = stats["flipped"] / stats["frames"]
        stats["sing_to_nosing"] = stats["sing_flipped"] / stats["sing_frames"].where(
            stats["sing_frames"] > 0)
        stats["nosing_to_sing"] = stats["nosing_flipped"] / stats["nosing_frames"].where(
            stats["nosing_frames"] > 0)
    order = ["frames", "flipped", "flip_rate", "sing_frames", "sing_flipped", "sing_to_nosing",
             "nosing_frames", "nosing_flipped", "nosing_to_sing", "snr"]
    return stats[order]


def overall_statistics(log: Any, domain: str | None = None) -> dict[str, Any]:
    """Attack success pooled over all frames of all songs (the original's success rate).

    Parameters
    ----------
    log : pandas.DataFrame or str or Path
        The per-frame log, or the attack folder / CSV to read it from.
    domain : {"wave", "spec"}, optional
        Names the distortion: ``mean_snr_db`` for wave, ``mean_delta_sq`` for spec (else
        ``mean_snr``, the log's column name).

    Returns
    -------
    dict
        ``songs, songs_without_flips, frames, flipped, flip_rate, sing_frames, sing_flipped,
        sing_to_nosing, nosing_frames, nosing_flipped, nosing_to_sing`` (rates pooled over
        frames) and the mean and median over songs of the distortion.
    """
    stats = song_statistics(log)
    totals = {key: int(stats[key].sum()) for key in
              ("frames", "flipped", "sing_frames", "sing_flipped", "nosing_frames",
               "nosing_flipped")}

    def rate(a: int, b: int) -> float:
        return a / b if b else float("nan")

    name = {"wave": "snr_db", "spec": "delta_sq"}.get(domain or "", "snr")
    values = stats["snr"].to_numpy(float)
    return {"songs": len(stats), "songs_without_flips": int((stats["flipped"] == 0).sum()),
            **totals,
            "flip_rate": rate(totals["flipped"], totals["frames"]),
            "sing_to_nosing": rate(totals["sing_flipped"], totals["sing_frames"]),
            "nosing_to_sing": rate(totals["nosing_flipped"], totals["nosing_frames"]),
            f"mean_{name}": float(np.mean(values)) if len(values) else float("nan"),
            f"median_{name}": float(np.median(values)) if len(values) else float("nan")}


@dataclass
class Excerpt:
    """One successful adversarial excerpt: 115 frames centred on a flipped frame.

    Attributes
    ----------
    song : str
        The song's name as listed.
    frame : int
        The centre frame (index into the song).
    ground_truth, orig_pred, adv_pred : bool
        Label and the logged predictions of the centre frame ("sing" is True).
    orig_prob, adv_prob : float
        The logged P(sing) of the centre frame.
    original, adversarial : np.ndarray
        float32 ``(115, bins)`` linear-magnitude excerpts.
    """

    song: str
    frame: int
    ground_truth: bool
    orig_pred: bool
    adv_pred: bool
    orig_prob: float
    adv_prob: float
    original: np.ndarray
    adversarial: np.ndarray


def iter_successful_excerpts(folder: str | Path, songs: Iterable[Any],
                             frontend: FrontEndConfig | None = None,
                             target: int | None = None) -> Iterator[Excerpt]:
    """Yield the flipped frames of an attack whose whole window lies inside the song.

    For every song and every flipped frame ``f`` with ``57 <= f < T - 57`` (so the 115-frame
    window centred on ``f`` needs no padding), in song order and frame order.

    Parameters
    ----------
    folder : str or Path
        The attack folder.
    songs : iterable of Song
        The attacked songs (name and original spectrogram), e.g. from
        :func:`svdlib.experiments.storage.splits.load_store_split`; songs without a record are
        skipped.
    frontend : FrontEndConfig, optional
        STFT settings for waveform adversaries (default: the folder's ``config.json``).
    target : {0, 1}, optional
        Only frames flipped to this prediction (1: no sing -> sing, 0: sing -> no sing).

    Yields
    ------
    Excerpt
        The original and adversarial excerpts and the frame's logged facts.
    """
    folder = Path(folder)
    domain = folder_domain(folder)
    for song in songs:
        if not record_path(folder, song.name).is_file():
            continue
        rec = load_record(folder, song.name)
        flipped = rec["flipped"]
        n = len(flipped)
        frames = np.flatnonzero(flipped)
        frames = frames[(frames >= HALF_BLOCK) & (frames < n - HALF_BLOCK)]
        if target is not None:
            frames = frames[rec["adv_pred"][frames] == bool(target)]
        if not len(frames):
            continue
        adv = load_adversarial_spectrogram(folder, song.name, frontend, domain)
        orig = np.asarray(song.spec)
        if adv.shape[0] != n or orig.shape[0] != n:
            raise SvdError(f"adversary of '{song.name}' has {adv.shape[0]} frames, the song "
                           f"{orig.shape[0]} and its record {n}; re-run the attack")
        for f in frames.tolist():
            window = slice(f - HALF_BLOCK, f + HALF_BLOCK + 1)
            yield Excerpt(song=song.name, frame=f, ground_truth=bool(rec["ground_truth"][f]),
                          orig_pred=bool(rec["orig_pred"][f]), adv_pred=bool(rec["adv_pred"][f]),
                          orig_prob=float(rec["orig_probs"][f]),
                          adv_prob=float(rec["adv_probs"][f]),
                          original=np.array(orig[window], dtype=np.float32),
                          adversarial=np.array(adv[window], dtype=np.float32))
