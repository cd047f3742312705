"""The attack stage: one work item per song, resumable, on any executor."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from svdlib.attacks.optimise import AttackResult, Callback, attack_spectrogram, attack_waveform
from svdlib.attacks.records import (
    adversary_path,
    check_domain,
    distortion_text,
    load_record,
    record_path,
    save_result,
    write_log,
)
from svdlib.attacks.settings import AttackDomainConfig
from svdlib.attacks.statistics import write_summary
from svdlib.audio.io import load_audio
from svdlib.detector.model import SingingVoiceDetector
from svdlib.digests import artifact_done, remove_artifact
from svdlib.experiments.execution.executors import run_items
from svdlib.experiments.execution.work import WorkItem, raise_failures
from svdlib.experiments.storage.store import Store
from svdlib.files import save_json

#: The files an attack folder merges from its songs' records, the summary last.
MERGED = ("logger.csv", "summary.json")

# -- running an attack over a split ---------------------------------------------------------


def _progress_callback(bar: Any, domain: str, x: np.ndarray | None, every: int) -> Callback:
    def report(step: int, n_flipped: int, delta: torch.Tensor) -> None:
        if step % every == 0:
            d2 = float(delta.double().pow(2).sum())
            if domain == "wave" and x is not None:
                value = f"{10 * math.log10(max(float(np.dot(x, x)), 1e-24) / max(d2, 1e-24)):.1f}"
                bar.set_postfix(flipped=n_flipped, snr=value, refresh=False)
            else:
                bar.set_postfix(flipped=n_flipped, d2=f"{d2:.3g}", refresh=False)
        if step > bar.n:
            bar.update(step - bar.n)

    return report


def attack_items(store: Store, domain: str) -> list[WorkItem]:
    """One work item per song of ``cfg.attack.subset``: attack it and store its record."""
    from svdlib.data.jamendo import read_filelist
    from svdlib.experiments.storage.store import corpus_layout

    check_domain(domain)
    names = read_filelist(corpus_layout(store), store.cfg.attack.subset)
    folder = store.attack_dir(domain)
    return [WorkItem("attack", f"attack {domain} {name}", str(record_path(folder, name)),
                     {"domain": domain, "song": name, "index": index, "count": len(names)},
                     also=(str(adversary_path(folder, name, domain)),))
            for index, name in enumerate(names, start=1)]


def discard_stale_records(store: Store, domain: str) -> list[str]:
    """Delete the records (and adversaries) of songs whose audio or labels changed since.

    Returns
    -------
    list of str
        The songs whose records were discarded; with any, the merged log and summary go too.
    """
    folder = store.attack_dir(domain)
    subset = store.cfg.attack.subset
    stale = []
    for name, fingerprint in store.split_files(subset).items():
        path = record_path(folder, name)
        if path.is_file() and load_record(folder, name).get("source") != fingerprint:
            remove_artifact(adversary_path(folder, name, domain))
            remove_artifact(path)
            stale.append(name)
    if stale:
        for merged in MERGED:
            remove_artifact(folder / merged)
    return stale


def attack_worker(cfg_dict: dict, item: WorkItem) -> None:
    """Work item: attack one song and save its adversary and per-frame record."""
    from svdlib.data.songs import load_song
    from svdlib.experiments.artifacts.detectors import load_trained
    from svdlib.experiments.config.loading import config_from_dict
    from svdlib.experiments.storage.store import corpus_layout

    cfg = config_from_dict(cfg_dict)
    store = Store(cfg)
    domain, name = item.params["domain"], item.params["song"]
    index, count = item.params["index"], item.params["count"]
    params: AttackDomainConfig = getattr(cfg.attack, domain)
    net = load_trained(store)
    layout = corpus_layout(store)
    song = load_song(layout, name, cfg.frontend, store.spectra_dir())
    signal = load_audio(song.path, cfg.frontend.sample_rate) if domain == "wave" else None
    bar = None
    callback = None
    if cfg.run.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=params.max_iterations, unit="it", leave=False,
                   desc=f"{domain} {index}/{count} {Path(name).stem[:30]}")
        callback = _progress_callback(bar, domain, signal, 10)
    try:
        result = attack_song(net, domain, params, cfg.evaluate.threshold, spec=song.spec,
                             signal=signal, callback=callback)
    finally:
        if bar is not None:
            bar.close()
    save_result(store.attack_dir(domain), name, result, song.targets, cfg.frontend.sample_rate,
                source=store.song_fingerprint(cfg.attack.subset, name))
    if cfg.run.progress:
        from tqdm.auto import tqdm

        tqdm.write(f"{domain} {index}/{count} {name}: {result.n_flipped}/{result.n_frames} "
                   f"frames flipped in {result.iterations} it, "
                   f"{distortion_text(domain, result.distortion)}")


def run_attack(store: Store, domain: str, progress: bool | None = None) -> Path:
    """Attack every song of ``cfg.attack.subset``; resumable song by song.

    Each song is a work item (:func:`attack_items`, run in-process or on Dask): its adversary
    and per-song ``.npz`` record go to ``store.attack_dir(domain)``, and a song whose record
    and adversary exist (and match their digests) is skipped. Then the merged per-frame
    ``logger.csv``, ``config.json`` and ``summary.json`` are written. A file of the folder that
    does not match its recorded digest is an error, never reused.

    Parameters
    ----------
    store : Store
        The artifact store; its configuration names model, split, threshold and attack settings.
    domain : {"wave", "spec"}
        The attack domain.
    progress : bool, optional
        Show progress bars (default: ``cfg.run.progress``).

    Returns
    -------
    Path
        The attack folder.
    """
    from svdlib.experiments.artifacts.detectors import load_trained

    check_domain(domain)
    cfg = store.cfg
    folder = store.attack_dir(domain)
    store.check_reuse(folder)
    items = attack_items(store, domain)
    if folder.is_dir():
        discard_stale_records(store, domain)
    if all([artifact_done(folder / name) for name in ("config.json", *MERGED)]) and \
            all([item.done for item in items]):
        return folder
    load_trained(store)  # a damaged model is reported once, not once per song
    folder.mkdir(parents=True, exist_ok=True)
    save_json(folder / "config.json", cfg.to_dict())
    raise_failures(run_items(items, attack_worker, cfg, desc=f"attack {domain}",
                             progress=progress), "attack")
    names = [item.params["song"] for item in items]
    write_log(folder, names)
    write_summary(folder, names, domain, cfg.attack.subset, cfg.evaluate.threshold,
                  cfg.to_dict()["attack"][domain])
    store.write_provenance(folder, f"attack {domain}", model=store.model_dir().name,
                           songs=store.split_files(cfg.attack.subset))
    return folder


def attack_song(net: SingingVoiceDetector, domain: str, params: AttackDomainConfig,
                threshold: float, spec: np.ndarray | None = None,
                signal: np.ndarray | None = None,
                callback: Callback | None = None) -> AttackResult:
    """Attack one song in ``domain`` (``signal`` is needed for wave, ``spec`` for spec).

    Returns
    -------
    AttackResult
        See :func:`attack_waveform` and :func:`attack_spectrogram`.
    """
    check_domain(domain)
    if domain == "wave":
        if signal is None:
            raise ValueError("the waveform attack needs the song's samples")
        return attack_waveform(net, signal, params, threshold, callback=callback)
    if spec is None:
        raise ValueError("the spectrogram attack needs the song's spectrogram")
    return attack_spectrogram(net, np.asarray(spec), params, threshold, callback=callback)
