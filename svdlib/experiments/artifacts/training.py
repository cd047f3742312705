"""Training every seed of a run, resumable."""

from __future__ import annotations

from pathlib import Path

from svdlib.data.songs import Song
from svdlib.detector.checkpoint import load_detector_file, load_model
from svdlib.detector.training import CHECKPOINT, excerpt_frames, train_detector
from svdlib.devices import best_device
from svdlib.digests import artifact_done
from svdlib.errors import DataError
from svdlib.experiments.config.settings import Config
from svdlib.experiments.storage.splits import load_store_split, warn_unusable_songs
from svdlib.experiments.storage.store import Store, provenance_path
from svdlib.files import load_json, save_json
from svdlib.locks import artifact_lock


def train_all(cfg: Config, store: Store, seeds: list[int] | None = None,
              validate_each_epoch: bool | None = None, save_errors: bool = False) -> list[Path]:
    """Train one detector per seed (``cfg.train.seeds`` by default); skips finished ones.

    With a given detector (``model.checkpoint``) nothing is trained: the file is checked
    against the configuration (an error if it does not fit) and returned alone. Each seed
    trains under its model's lock (:mod:`svdlib.locks`): a second process on the same results
    folder waits for it and then uses the finished model.

    Returns
    -------
    list of Path
        The model files, in seed order (the given file alone).
    """
    if store.given_model() is not None:
        return [given_detector(store)]
    seeds = list(cfg.train.seeds if seeds is None else seeds)
    store.activate()
    do_validate = cfg.train.validate if validate_each_epoch is None else validate_each_epoch
    songs: dict[str, list[Song]] = {}
    paths = []
    for seed in seeds:
        out_dir = store.model_dir(seed)
        if not _finished(store, seed):
            with artifact_lock(out_dir):
                if not _finished(store, seed):
                    if not songs:
                        songs = _training_songs(store, do_validate)
                    save_json(out_dir / "config.json", cfg.to_dict())
                    train_detector(cfg.model, cfg.frontend, cfg.train, songs["train"],
                                   songs.get("valid", []), out_dir, seed,
                                   best_device(cfg.run.device),
                                   smooth_width=cfg.evaluate.smooth_width,
                                   smooth_method=cfg.evaluate.smooth_method,
                                   validate_each_epoch=validate_each_epoch,
                                   save_errors=save_errors, progress=cfg.run.progress)
                    store.write_provenance(out_dir, "train", seed=seed,
                                           songs={split: store.split_files(split)
                                                  for split in songs})
        paths.append(out_dir / "model.safetensors")
    return paths


def _training_songs(store: Store, do_validate: bool) -> dict[str, list[Song]]:
    """The train (and validation) songs, checked: see :func:`_check_songs`."""
    progress = store.cfg.run.progress
    songs = {"train": load_store_split(store, "train", progress)}
    if do_validate:
        songs["valid"] = load_store_split(store, "valid", progress)
    _check_songs(store, songs["train"], songs.get("valid", []))
    return songs


def _check_songs(store: Store, train_songs: list[Song], valid_songs: list[Song]) -> None:
    """Refuse a train split without one song long enough; warn about the songs left out.

    Raises
    ------
    SvdError
        If no training song is as long as one training excerpt.
    """
    frames = excerpt_frames(store.cfg.train)
    if all(song.n_frames < frames for song in train_songs):
        raise DataError(f"no song of the train split is at least {frames} frames "
                        f"({frames / store.cfg.frontend.fps:.2f} s) long, the length of one "
                        "training excerpt; list longer songs in the train file list")
    warn_unusable_songs(store, {"train": train_songs, "valid": valid_songs}, {"train": frames},
                        "training excerpt")


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
    _check_loads(store, path)
    return artifact_done(path.parent / "history.json")


#: Model files this process loaded, by path: their signature and the settings they fit.
_LOADED: dict[str, tuple] = {}


def _check_loads(store: Store, path: Path) -> None:
    """Load the model file once per process (again after it changed on disk): it must fit."""
    stat = path.stat()
    signature = (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev,
                 store.cfg.section_hash("model", "frontend"))
    if _LOADED.get(str(path.resolve())) != signature:
        load_model(path, store.cfg.model, store.cfg.frontend, "cpu")
        _LOADED[str(path.resolve())] = signature


def given_detector(store: Store) -> Path:
    """Check the given detector file against the configuration; record it in its folder.

    Raises
    ------
    SvdError
        If the file is missing or does not fit (one line naming the file and the mismatch).
    """
    path = store.given_model()
    if path is None:
        raise ValueError("no detector is given (model.checkpoint is empty)")
    folder = store.model_dir()
    store.check_reuse(folder)
    load_detector_file(path, store.cfg.model, store.cfg.frontend, "cpu")
    if not provenance_path(folder).is_file():
        store.write_provenance(folder, "given model", file=str(path), digest=store.model_digest())
    return path


def skip_line(store: Store) -> str:
    """Why ``svd train`` trains nothing with a given detector (one line)."""
    path = store.given_model()
    return (f"train: skipped, the detector is given (model.checkpoint = {path}, sha256 "
            f"{store.model_digest()}); nothing is trained, every stage uses that file")


def describe_detector(store: Store) -> str:
    """One sentence on which detector a run shows: trained here (seeds, settings) or loaded.

    Parameters
    ----------
    store : Store
        The run's store.

    Returns
    -------
    str
        Plain text, e.g. for the book's detector chapter.
    """
    cfg = store.cfg
    m, t = cfg.model, cfg.train
    shape = (f"width {m.width:g}, {'zero-mean' if m.firstconv_zeromean else 'plain'} first "
             f"convolution, magnitudes {cfg.frontend.magscale}")
    path = store.given_model()
    if path is not None:
        return (f"The detector is loaded, not trained here: {path.name} (SHA-256 "
                f"{store.model_digest()}), {shape}; train.* settings and seeds do not apply.")
    seeds = ", ".join(str(s) for s in t.seeds)
    return (f"The detector is trained here: seed{'s' if len(t.seeds) > 1 else ''} {seeds}, "
            f"{shape}, {t.epochs} epochs x {t.epochsize} batches of {t.batchsize}, "
            f"augmentation {'on' if t.augment else 'off'}.")


def training_histories(store: Store) -> dict[int, dict]:
    """Each trained seed's per-epoch history (empty for a given detector)."""
    if store.given_model() is not None:
        return {}
    return {seed: load_json(store.model_dir(seed) / "history.json")
            for seed in store.detector_seeds()}
