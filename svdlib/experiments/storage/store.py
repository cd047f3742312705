"""The artifact store: where every stage's results live, written atomically.

An artifact's folder is named by a hash of exactly the configuration that produced it, chained
through the stages it depends on: changing ``train.epochs`` moves the model, and with it every
attack, explanation and experiment built on it, while leaving the corpus in place. A stage whose
artifact exists is skipped, so an interrupted run resumes where it stopped. Files are written to
a temporary name in the same folder and renamed into place, so a reader never sees half a file.
Nothing here unpickles: arrays go through ``np.load(allow_pickle=False)``, metadata through JSON.
Every file records its digest when it is written and is checked when it is read
(:mod:`svdlib.digests`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from svdlib.data.jamendo import Layout, check_splits, open_layout
from svdlib.errors import DataError, MissingArtifactError, SvdError
from svdlib.experiments.config.paths import resolve_path
from svdlib.experiments.config.settings import Config
from svdlib.files import load_json, save_json, short_hash


class Store:
    """Paths of every artifact of one configuration, and their provenance.

    An artifact's key covers everything that changes its numbers: the settings of its stage
    and of every stage before it, the contents of the audio and label files it was computed
    from, and the numeric environment (torch and numpy versions, device, CPU instruction set,
    thread count; see :mod:`svdlib.provenance`). Each artifact also records all of that in a
    ``provenance.json`` beside it.

    Parameters
    ----------
    cfg : Config
        The configuration; ``cfg.paths.results`` is the root, ``cfg.paths.data`` an optional
        external corpus in the Jamendo layout. Its ``run`` section must be resolved
        (:func:`svdlib.experiments.config.loading.apply_run_settings`, which ``load_config`` calls).
    """

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.root = resolve_path(cfg.paths.results)
        self._split_files: dict[str, dict[str, str]] = {}
        self.warned: set[str] = set()   # data warnings issued, each text once (splits.py)

    # -- numeric environment and inputs ---------------------------------------------------------
    def environment(self) -> dict[str, Any]:
        """The numeric environment the configuration's stages compute in."""
        from svdlib.provenance import numeric_environment

        return numeric_environment(self.cfg.run.device, self.cfg.run.num_threads)

    def activate(self) -> None:
        """Give torch this configuration's thread count (another one may have changed it).

        The stages call this before they compute, so numbers are always computed in the
        environment their keys record, even when configurations with different thread counts
        are used in one process (a notebook, a test session).
        """
        import torch

        if torch.get_num_threads() != self.cfg.run.num_threads:
            torch.set_num_threads(self.cfg.run.num_threads)

    def split_files(self, split: str) -> dict[str, str]:
        """Fingerprint of every song of a split: name -> hash of its audio and ``.lab``.

        The songs are in file-list order. Every file list is checked first (no duplicates, no
        song in two splits unless ``paths.allow_shared_songs``; see
        :func:`svdlib.experiments.storage.store.corpus_layout`).
        """
        if split not in self._split_files:
            from svdlib.data.jamendo import audio_file, label_path, read_filelist, read_lab
            from svdlib.provenance import file_fingerprint

            layout = corpus_layout(self)
            files = {}
            for name in read_filelist(layout, split):
                label = label_path(layout, name)
                read_lab(label)  # a missing or malformed label file is reported here, once
                files[name] = short_hash(file_fingerprint(audio_file(layout, name)),
                                         file_fingerprint(label))
            self._split_files[split] = files
        return self._split_files[split]

    def split_key(self, split: str) -> str:
        """Identity of one split as the stages read it (its entries, in order, and contents).

        Each entry of the file list, in its order, with the contents of its audio and labels:
        reordering the list changes the key. With ``paths.allow_shared_songs`` the setting is
        part of it too.
        """
        entries = list(self.split_files(split).items())
        if self.cfg.paths.allow_shared_songs:
            return short_hash(entries, "songs may be shared between splits")
        return short_hash(entries)

    def song_fingerprint(self, split: str, name: str) -> str:
        """Identity of one song's audio and labels."""
        return self.split_files(split)[name]

    def provenance(self, stage: str, **inputs: Any) -> dict[str, Any]:
        """What an artifact of ``stage`` was computed from (settings, environment, inputs)."""
        import svdlib

        return {"stage": stage, "svdlib": svdlib.__version__, "environment": self.environment(),
                "config": self.cfg.to_dict(), "inputs": inputs}

    def write_provenance(self, artifact: str | Path, stage: str, **inputs: Any) -> Path:
        """Record :meth:`provenance` beside ``artifact`` (a folder or a file).

        The provenance also lists the digests recorded for the artifact's files (the file, or
        the folder's files), under ``files``.
        """
        path = provenance_path(artifact)
        save_json(path, {**self.provenance(stage, **inputs), "files": artifact_files(artifact)})
        return path

    def check_reuse(self, artifact: str | Path) -> None:
        """Refuse to reuse an artifact computed in another numeric environment.

        Keys already keep such artifacts apart; this catches one copied or renamed into place.

        Raises
        ------
        SvdError
            If the artifact's provenance names another environment.
        """
        path = provenance_path(artifact)
        if not path.is_file():
            return
        found = load_json(path).get("environment", {})
        expected = self.environment()
        if found != expected:
            from svdlib.provenance import describe_difference

            raise SvdError(f"artifact '{artifact}' was computed in another numeric environment "
                           f"({describe_difference(found, expected)}); delete it or run with "
                           "the settings it records (e.g. --threads)")

    # -- data ---------------------------------------------------------------------------------
    @property
    def external_data(self) -> bool:
        """Whether the data root is a user-given corpus (e.g. a real Jamendo copy)."""
        return bool(self.cfg.paths.data)

    def data_key(self) -> str:
        """Where the data comes from: the corpus recipe, or the external folder's path."""
        if self.external_data:
            return "ext-" + short_hash(str(resolve_path(self.cfg.paths.data).resolve()))
        return "gen-" + self.cfg.section_hash("corpus", "frontend.sample_rate")

    def data_root(self) -> Path:
        """The corpus folder: the external data root, or the generated corpus's folder."""
        if self.external_data:
            return resolve_path(self.cfg.paths.data)
        return self.root / "corpus" / self.data_key()

    def spectra_dir(self) -> Path:
        """Cache of linear-magnitude spectrograms, one ``.npy`` per audio file and content.

        Spectrograms are computed on the CPU, one frame per FFT, so the thread count does not
        enter; the library versions and instruction set do.
        """
        env = self.environment()
        return self.root / "spectra" / short_hash(self.cfg.section_hash("frontend"),
                                                  env["torch"], env["numpy"],
                                                  _cpu_capability())

    # -- model --------------------------------------------------------------------------------
    def given_model(self) -> Path | None:
        """The detector file of ``model.checkpoint`` (None: the detectors are trained here)."""
        return resolve_path(self.cfg.model.checkpoint) if self.cfg.model.checkpoint else None

    def model_digest(self) -> str:
        """SHA-256 (16 hex digits) of the given detector file's contents.

        Raises
        ------
        SvdError
            If no detector is given, or its file does not exist.
        """
        from svdlib.provenance import file_fingerprint

        path = self.given_model()
        if path is None:
            raise SvdError("no detector is given (model.checkpoint is empty)")
        if not path.is_file():
            raise DataError(f"model file '{path}' (model.checkpoint, --model) does not exist; "
                            "give a model.safetensors of svdlib or the original's model.pt")
        return file_fingerprint(path)

    def detector_seeds(self, seeds: Sequence[int] | None = None) -> list[int]:
        """The seeds whose detectors a stage uses (``seeds``, default ``train.seeds``).

        A given detector is one detector, not one a seed: only the first seed remains.
        """
        seeds = list(self.cfg.train.seeds if seeds is None else seeds)
        return seeds[:1] if self.given_model() is not None else seeds

    def model_key(self, seed: int | None = None) -> str:
        """Identity of one detector (its data, settings, seed and environment).

        A given detector (``model.checkpoint``) replaces the training identity: its key is the
        file's digest, the front end and architecture, and the environment; every seed has it.
        """
        if self.given_model() is not None:
            return short_hash("given", self.model_digest(),
                              self.cfg.section_hash("frontend", "model"), self.environment())
        seed = self.cfg.train.seeds[0] if seed is None else seed
        train = {k: v for k, v in self.cfg.to_dict()["train"].items()
                 if k not in ("seeds", "validate")}
        splits = ["train", "valid"] if self.cfg.train.validate else ["train"]
        return short_hash([self.split_key(s) for s in splits],
                          self.cfg.section_hash("frontend", "model"), train, seed,
                          self.environment())

    def model_dir(self, seed: int | None = None) -> Path:
        """Folder of one detector: weights, config, logs, predictions.

        ``models/seed<seed>-<key>`` for a trained one, ``models/given-<digest>-<key>`` for a
        given one (the same folder for every seed).
        """
        if self.given_model() is not None:
            return self.root / "models" / f"given-{self.model_digest()}-{self.model_key()}"
        seed = self.cfg.train.seeds[0] if seed is None else seed
        return self.root / "models" / f"seed{seed}-{self.model_key(seed)}"

    def predictions_path(self, split: str, seed: int | None = None) -> Path:
        """Per-frame predictions of one detector on one split (changes with the split's files)."""
        return self.model_dir(seed) / f"predictions-{split}-{self.split_key(split)[:8]}.npz"

    # -- attacks and later stages ---------------------------------------------------------------
    def attack_key(self, domain: str) -> str:
        """Identity of one attack run (model, domain hyper-parameters, split, threshold).

        The contents of the attacked songs are checked song by song (a changed song is
        attacked again, the others are kept), so only their names enter here.
        """
        subset = self.cfg.attack.subset
        return short_hash(self.model_key(), domain,
                          self.cfg.section_hash(f"attack.{domain}", "attack.subset",
                                                "evaluate.threshold"),
                          sorted(self.split_files(subset)))

    def attack_dir(self, domain: str) -> Path:
        """Folder of the adversarial songs and the per-frame log of one attack."""
        name = f"{domain}-{self.cfg.attack.subset}-{self.attack_key(domain)}"
        return self.root / "attacks" / name

    def lime_key(self) -> str:
        """Identity of the LIME settings (segmentation, baseline, samples, kernel, seed)."""
        lime = {k: v for k, v in self.cfg.to_dict()["lime"].items() if k != "batch_size"}
        return short_hash(lime, self.cfg.seed)

    def picks_path(self, domain: str, target: int) -> Path:
        """The picked (original, adversarial) excerpt pairs of one attack and direction."""
        lime = self.cfg.lime
        key = short_hash(self.attack_key(domain), self.split_key(self.cfg.attack.subset),
                         lime.pick_per_file, lime.pick_max_draws, lime.pick_seed)
        return self.root / "picks" / f"{domain}-t{target}-{key}.npz"

    def explanations_path(self, domain: str, target: int) -> Path:
        """LIME explanations of the picked pairs of one attack and direction."""
        key = short_hash(self.picks_path(domain, target).name, self.lime_key())
        return self.root / "explanations" / f"{domain}-t{target}-{key}.npz"

    def subset_path(self, domain: str, target: int, k: int) -> Path:
        """Explanations of the partial adversaries that perturb only ``k`` segments."""
        key = short_hash(self.picks_path(domain, target).name, self.lime_key(), k)
        return self.root / "subset" / f"{domain}-t{target}-k{k}-{key}.npz"

    def benchmark_dir(self, domain: str, target: int) -> Path:
        """The explainer benchmark's per-pair tables of one setting.

        Its key holds the code of the explainers and the measures (and captum's version), so a
        change to an explainer gives a new benchmark, not a stale one.
        """
        key = short_hash(self.explanations_path(domain, target).name,
                         self.cfg.section_hash("benchmark", "experiment.subset_ks",
                                               "evaluate.threshold"),
                         _explainer_code())
        return self.root / "benchmark" / f"{domain}-t{target}-{key}"

    def proxies_dir(self, domain: str, target: int) -> Path:
        """The proxy metrics of one setting's benchmark run, and their meta-evaluation.

        Its key chains the benchmark's (the explainers' and the metrics' code included) with
        the ``proxies`` settings, the bootstrap, Table 1's k, the baseline and Quantus's
        version (or its absence: then its two metrics are missing).
        """
        key = short_hash(self.benchmark_dir(domain, target).name,
                         self.cfg.section_hash("proxies", "experiment.bootstrap",
                                               "experiment.table1_k", "lime.baseline"),
                         _quantus_version())
        return self.root / "proxies" / f"{domain}-t{target}-{key}"

    def horses_path(self) -> Path:
        """The drawn horses and their explanations."""
        key = short_hash(self.model_key(), self.split_key("test"), self.lime_key(),
                         self.cfg.experiment.horses_per_shape, self.cfg.evaluate.threshold)
        return self.root / "horses" / f"horses-{key}.npz"

    def experiments_dir(self) -> Path:
        """Figures and tables of the paper's experiments."""
        key = short_hash(self.model_key(), self.lime_key(), self.attack_key("wave"),
                         self.attack_key("spec"), self.split_key(self.cfg.attack.subset),
                         self.split_key("test"),
                         self.cfg.section_hash("experiment", "evaluate.threshold"))
        return self.root / "experiments" / f"{self.cfg.profile}-{key}"

    def work_dir(self, name: str) -> Path:
        """A scratch folder for resumable partial work of a stage."""
        return self.root / "work" / name


def corpus_layout(store: Store) -> Layout:
    """The layout of the configured corpus (generated or external), checked.

    Every file list is read and checked, and a song in two splits is refused unless
    ``paths.allow_shared_songs`` is true (see :func:`svdlib.data.jamendo.check_splits`).
    """
    root = store.data_root()
    if not store.external_data:
        from svdlib.data.synthetic.generate import corpus_complete

        if not corpus_complete(root):
            raise MissingArtifactError(f"the embedded corpus '{root}' has not been generated "
                                       "(or its generation was interrupted)", "corpus")
    layout = open_layout(root)
    check_splits(layout, store.cfg.paths.allow_shared_songs)
    return layout


def provenance_path(artifact: str | Path) -> Path:
    """Where an artifact's provenance lives: ``provenance.json`` in a folder, else beside it."""
    artifact = Path(artifact)
    if artifact.is_dir() or not artifact.suffix:
        return artifact / "provenance.json"
    return artifact.with_name(artifact.name + ".provenance.json")


def artifact_files(artifact: str | Path) -> dict[str, dict]:
    """The recorded digests of an artifact's files: ``name -> {"sha256", "size"}``.

    For a folder, its files (not its provenance); for a file, the file itself.
    """
    from svdlib.digests import is_sidecar, recorded_digest

    artifact = Path(artifact)
    files = sorted(artifact.iterdir()) if artifact.is_dir() else [artifact]
    found = {}
    for path in files:
        if path.is_file() and not is_sidecar(path) and path.name != "provenance.json":
            recorded = recorded_digest(path)
            if recorded is not None:
                found[path.name] = recorded
    return found


def _cpu_capability() -> str:
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


@functools.lru_cache(maxsize=1)
def _quantus_version() -> str:
    """Quantus's version, or ``none`` when it is not installed (read without importing it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quantus")
    except PackageNotFoundError:
        return "none"


@functools.lru_cache(maxsize=1)
def _explainer_code() -> tuple[str, str, str]:
    """The versions of svdlib and captum, and the explainers' and measures' code fingerprint."""
    from importlib.metadata import version

    import svdlib
    from svdlib.provenance import code_fingerprint

    return (svdlib.__version__, version("captum"), code_fingerprint(("explain", "veracity")))
