"""Training every seed of a run, resumable."""

from __future__ import annotations

from pathlib import Path

from svdlib.detector.checkpoint import load_model
from svdlib.detector.training import CHECKPOINT, train_detector
from svdlib.devices import best_device
from svdlib.digests import artifact_done
from svdlib.experiments.config import Config
from svdlib.experiments.splits import load_store_split
from svdlib.experiments.store import Store
from svdlib.files import save_json


def train_all(cfg: Config, store: Store, seeds: list[int] | None = None,
              validate_each_epoch: bool | None = None, save_errors: bool = False) -> list[Path]:
    """Train one detector per seed (``cfg.train.seeds`` by default); skips finished ones.

    Returns
    -------
    list of Path
        The model files, in seed order.
    """
    seeds = list(cfg.train.seeds if seeds is None else seeds)
    store.activate()
    pending = [s for s in seeds if not _finished(store, s)]
    paths = []
    if pending:
        progress = cfg.run.progress
        train_songs = load_store_split(store, "train", progress)
        do_validate = cfg.train.validate if validate_each_epoch is None else validate_each_epoch
        valid_songs = load_store_split(store, "valid", progress) if do_validate else []
        device = best_device(cfg.run.device)
    for seed in seeds:
        out_dir = store.model_dir(seed)
        if seed in pending:
            save_json(out_dir / "config.json", cfg.to_dict())
            train_detector(cfg.model, cfg.frontend, cfg.train, train_songs, valid_songs, out_dir,
                           seed, device, smooth_width=cfg.evaluate.smooth_width,
                           smooth_method=cfg.evaluate.smooth_method,
                           validate_each_epoch=validate_each_epoch, save_errors=save_errors,
                           progress=cfg.run.progress)
            store.write_provenance(out_dir, "train", seed=seed,
                                   songs={split: store.split_files(split) for split in
                                          (["train", "valid"] if do_validate else ["train"])})
        paths.append(out_dir / "model.safetensors")
    return paths


def _finished(store: Store, seed: int) -> bool:
    """Whether a seed's model and history exist and load; a damaged one is an error.

    Raises
    ------
    SvdError
        If the model file or the history does not match its recorded digest, is truncated or
        otherwise unreadable, or comes from another numeric environment.
    """
    path = store.model_dir(seed) / "model.safetensors"
    if not artifact_done(path):
        artifact_done(path.parent / CHECKPOINT)   # a damaged one is reported before any write
        return False
    store.check_reuse(path.parent)
    load_model(path, store.cfg.model, store.cfg.frontend, "cpu")
    return artifact_done(path.parent / "history.json")
