"""Picking (original, adversarial) pairs of a setting, and the run's detector."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svdlib.attacks.records import load_adversarial_spectrogram, load_record, record_path
from svdlib.constants import EXCERPT_FRAMES
from svdlib.detector.model import HALF_BLOCK, SingingVoiceDetector
from svdlib.detector.predictor import DetectorPredictor, predict_logmel
from svdlib.digests import artifact_done
from svdlib.errors import MissingArtifactError
from svdlib.experiments.artifacts.detectors import detector, to_logmel
from svdlib.experiments.config.checks import check_setting
from svdlib.experiments.storage.splits import PICKED, load_store_split, warn_unusable_songs
from svdlib.experiments.storage.store import Store
from svdlib.files import (
    load_arrays,
    save_arrays,
)
from svdlib.veracity.flips import is_flipped


# -- picking -----------------------------------------------------------------------------------
@dataclass
class Picks:
    """Picked (original, adversarial) excerpt pairs of one attack domain and direction.

    Attributes
    ----------
    songs : np.ndarray
        Song name of each pair.
    frames : np.ndarray
        Centre frame of each excerpt in its song.
    ground_truth : np.ndarray
        Label of the centre frame.
    original, adversarial : np.ndarray
        ``(N, 115, bins)`` linear-magnitude excerpts.
    orig_prob, adv_prob : np.ndarray
        P(sing) of the original and adversarial excerpts, re-predicted.
    """

    songs: np.ndarray
    frames: np.ndarray
    ground_truth: np.ndarray
    original: np.ndarray
    adversarial: np.ndarray
    orig_prob: np.ndarray
    adv_prob: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


#: The fields of a picks file, in order.
_FIELDS = ("songs", "frames", "ground_truth", "original", "adversarial", "orig_prob",
           "adv_prob")


def pick_adversaries(store: Store, domain: str, target: int) -> Path:
    """Pick up to ``lime.pick_per_file`` successful excerpts per song (the original's rules).

    For every attacked song, in file-list order, candidate frames are those the attack flipped
    to ``target`` whose 115-frame window lies inside the song. They are visited in a random
    order (seeded once from ``lime.pick_seed``; no repeats) and accepted while the re-predicted
    original excerpt is not on the target's side of the threshold and the adversarial one is.
    Songs without any accepted excerpt contribute nothing (the original crashed on them).

    Returns
    -------
    Path
        The picks file (skipped if it exists and matches its recorded digest).
    """
    check_setting(domain, target)
    path = store.picks_path(domain, target)
    if artifact_done(path):
        return path
    cfg = store.cfg
    folder = _finished_attack(store, domain)
    net, predictor = detector(store)
    threshold = cfg.evaluate.threshold
    rng = np.random.default_rng(cfg.lime.pick_seed)
    rows: dict[str, list] = {k: [] for k in _FIELDS}
    songs = load_store_split(store, cfg.attack.subset)
    warn_unusable_songs(store, {cfg.attack.subset: songs}, {cfg.attack.subset: EXCERPT_FRAMES},
                        PICKED)
    for song in songs:
        if not record_path(folder, song.name).is_file():
            continue
        record = load_record(folder, song.name)
        order = _draw_frames(record, target, rng, cfg.lime.pick_max_draws)
        if not len(order):
            continue
        adversarial = load_adversarial_spectrogram(folder, song.name, cfg.frontend, domain)
        accepted = _accept_frames(net, predictor, np.asarray(song.spec), adversarial, order,
                                  target, threshold, cfg.lime.pick_per_file)
        for frame, orig, adv, p_orig, p_adv in accepted:
            row = (song.name, frame, bool(record["ground_truth"][frame]), orig, adv, p_orig,
                   p_adv)
            for key, value in zip(_FIELDS, row, strict=True):
                rows[key].append(value)
    _save_picks(path, rows, cfg.frontend.n_bins)
    return path


def _finished_attack(store: Store, domain: str) -> Path:
    """The attack folder of ``domain``; raises if the attack is missing or unfinished."""
    folder = store.attack_dir(domain)
    if not artifact_done(folder / "summary.json"):
        raise MissingArtifactError(f"attack '{folder}' is missing or unfinished",
                                   f"attack --domain {domain}")
    return folder


def _draw_frames(record: dict[str, np.ndarray], target: int, rng: np.random.Generator,
                 max_draws: int) -> np.ndarray:
    """Up to ``max_draws`` frames the attack flipped to ``target``, in a random order.

    Only frames whose excerpt lies inside the song count; one permutation is drawn from
    ``rng`` per call, even when there are none.
    """
    n = len(record["flipped"])
    candidates = np.flatnonzero(record["flipped"] & (record["adv_pred"] == bool(target)))
    candidates = candidates[(candidates >= HALF_BLOCK) & (candidates < n - HALF_BLOCK)]
    return rng.permutation(candidates)[:max_draws]


def _accept_frames(net: SingingVoiceDetector, predictor: DetectorPredictor,
                   original: np.ndarray, adversarial: np.ndarray, order: np.ndarray,
                   target: int, threshold: float, limit: int
                   ) -> list[tuple[int, np.ndarray, np.ndarray, float, float]]:
    """The first ``limit`` frames of ``order`` whose pair the detector sees as flipped.

    Frames are re-predicted in batches of 64; a pair is accepted when the adversarial excerpt
    is on the target's side of the threshold and the original is not.

    Returns
    -------
    list of (int, np.ndarray, np.ndarray, float, float)
        Per accepted frame: the frame, its linear original and adversarial excerpts and their
        P(sing), in the order of ``order``.
    """
    accepted: list[tuple[int, np.ndarray, np.ndarray, float, float]] = []
    for start in range(0, len(order), 64):
        chunk = order[start:start + 64]
        orig = np.stack([original[f - HALF_BLOCK:f + HALF_BLOCK + 1] for f in chunk])
        adv = np.stack([adversarial[f - HALF_BLOCK:f + HALF_BLOCK + 1] for f in chunk])
        p_orig = predict_logmel(predictor, to_logmel(net, orig))
        p_adv = predict_logmel(predictor, to_logmel(net, adv))
        ok = is_flipped(p_adv, target, threshold) & ~is_flipped(p_orig, target, threshold)
        for i in np.flatnonzero(ok):
            if len(accepted) == limit:
                break
            accepted.append((int(chunk[i]), orig[i], adv[i], float(p_orig[i]),
                             float(p_adv[i])))
        if len(accepted) == limit:
            break
    return accepted


def _save_picks(path: Path, rows: dict[str, list], bins: int) -> None:
    """Write the picked rows (an empty file, rightly shaped, if there are none)."""
    empty = np.zeros((0, 2 * HALF_BLOCK + 1, bins), np.float32)
    save_arrays(path, songs=np.array(rows["songs"], dtype=str),
                frames=np.array(rows["frames"], dtype=np.int64),
                ground_truth=np.array(rows["ground_truth"], dtype=bool),
                original=np.stack(rows["original"]) if rows["original"] else empty,
                adversarial=np.stack(rows["adversarial"]) if rows["adversarial"] else empty,
                orig_prob=np.array(rows["orig_prob"], dtype=np.float32),
                adv_prob=np.array(rows["adv_prob"], dtype=np.float32))


def load_picks(store: Store, domain: str, target: int) -> Picks:
    """Read the picked pairs of one setting (run :func:`pick_adversaries` first)."""
    check_setting(domain, target)
    path = store.picks_path(domain, target)
    if not path.is_file():
        raise MissingArtifactError(f"no picked adversaries at '{path}'",
                                   f"pick --domain {domain} --target {target}")
    data = load_arrays(path)
    return Picks(**{k: data[k] for k in ("songs", "frames", "ground_truth", "original",
                                         "adversarial", "orig_prob", "adv_prob")})
