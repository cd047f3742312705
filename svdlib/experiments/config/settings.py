"""One typed configuration for every stage, filled from a YAML profile.

A profile (``svdlib/profiles/quick.yml``, ``paper.yml`` or any YAML file) is a nested
mapping whose sections mirror the dataclasses below. Keys are checked: an unknown key is an
error, so a typo never silently falls back to a default. Overrides use dotted names
(``train.epochs=2``), the same names the CLI's ``--set`` and the notebooks' ``overrides``
parameter take. The original project's ``.vars`` files (``key = value`` lines) load too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from svdlib.attacks.settings import AttackDomainConfig
from svdlib.audio.settings import FrontEndConfig
from svdlib.constants import EXPLAINERS
from svdlib.detector.settings import ModelConfig, TrainConfig
from svdlib.errors import ConfigError

#: Settings that name a file, by section: left out of section hashes, since the file's contents
#: (not its path) are part of the identity of what is computed from it.
FILE_SETTINGS = {"model": "checkpoint"}


@dataclass
class EvalConfig:
    """Prediction post-processing and the decision threshold used by later stages."""

    smooth_width: int = 56
    smooth_method: str = "median"
    threshold: float = 0.51


@dataclass
class AttackConfig:
    """The two attacks and the split they run on."""

    subset: str = "test"
    wave: AttackDomainConfig = field(default_factory=AttackDomainConfig)
    spec: AttackDomainConfig = field(
        default_factory=lambda: AttackDomainConfig(lr=5e-4, alpha=15.0, clip_eps=0.1)
    )


@dataclass
class LimeConfig:
    """LIME over time-frequency segments (audioLIME semantics) and adversary picking."""

    n_time_segments: int = 5
    n_freq_segments: int = 4
    baseline: str = "mean"
    num_samples: int = 8192
    kernel_width: float = 0.25
    distance_metric: str = "cosine"
    feature_selection: str = "auto"
    batch_size: int = 256
    pick_per_file: int = 10
    pick_max_draws: int = 100000
    pick_seed: int = 2021


@dataclass
class ExperimentConfig:
    """The paper's experiments."""

    subset_ks: list[int] = field(default_factory=lambda: [1, 3, 5])
    table1_k: int = 3
    bootstrap: int = 2000
    horses_per_shape: int = 3
    horse_probability: float = 0.9


@dataclass
class BenchmarkConfig:
    """The explainer benchmark (``svd benchmark``): which explainers, and their settings."""

    explainers: list[str] = field(default_factory=lambda: list(EXPLAINERS))
    kernelshap_samples: int = 0      # 0: as many as LIME (lime.num_samples)
    ig_steps: int = 32
    max_k: int = 3                   # the exhaustive search's largest subset
    forest_trees: int = 50           # lime_forest's random forest


@dataclass
class ProxiesConfig:
    """Which faithfulness metric can you trust (the proxies stage): the metrics' settings.

    Every metric is computed from the benchmark's stored relevances, except
    ``sensitivity_max``, which explains noisy copies of every excerpt again
    (``sensitivity_samples + 1`` explanations a pair): only the explainers named in
    ``sensitivity_explainers`` (among those the benchmark ran) get it.
    """

    judge: str = "area"              # the planted judge: area, table1 or area+table1
    infidelity_samples: int = 32     # random removals per excerpt (captum's n_perturb_samples)
    p_off: float = 0.5               # the chance that a removal switches a segment off
    sensitivity_samples: int = 8     # noisy copies per excerpt (captum's n_perturb_samples)
    sensitivity_radius: float = 0.02     # the noise's half-width, in log-mel units
    sensitivity_explainers: list[str] = field(default_factory=lambda: [
        "occlusion", "integrated_gradients", "saliency", "gradient_x_input", "random"])
    quantus_runs: int = 100          # FaithfulnessCorrelation's random subsets (nr_runs)
    quantus_subset: int = 5          # segments in each of them (subset_size)


@dataclass
class CorpusConfig:
    """The embedded default corpus (ignored when ``paths.data`` points at real data)."""

    seed: int = 0
    n_train: int = 10
    n_valid: int = 3
    n_test: int = 3
    bars: int = 12


@dataclass
class PathsConfig:
    """Where data and results live.

    A relative path written in a profile (or given as an ``overrides`` value, as notebooks
    do) is relative to the project root (:func:`project_root`), wherever the process runs. One
    given on the command line (``--results``, ``--data``) or in the environment
    (``SVD_RESULTS``, ``SVD_DATA``) is relative to the current directory, as for every
    command-line tool: :func:`load_config` stores it as an absolute path.
    """

    data: str = ""
    results: str = "results"
    allow_shared_songs: bool = False   # a song in two file lists: refused unless true


@dataclass
class RunConfig:
    """Run-time settings.

    ``device`` and ``num_threads`` change the numbers (reductions run in another order), so they
    are resolved when the configuration loads (``auto`` becomes ``cpu`` or ``cuda``; 0 threads
    becomes torch's default, or the cores shared out among local Dask workers) and are part of
    every artifact's identity. The others never change results.
    """

    device: str = "auto"
    num_threads: int = 0
    progress: bool = True
    scheduler: str = ""
    workers: int = 0
    book_jobs: int = 0   # notebooks `svd book` runs at once (0: two where two CPUs allow)


@dataclass
class Config:
    """The whole configuration of one profile."""

    profile: str = "default"
    seed: int = 0
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    lime: LimeConfig = field(default_factory=LimeConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    proxies: ProxiesConfig = field(default_factory=ProxiesConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        # where each set value came from (a profile's line, --set, a .vars line), for messages;
        # not a field: it changes no numbers
        self.sources: dict[str, str] = {}

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a nested plain dictionary."""
        return dataclasses.asdict(self)

    def section_hash(self, *names: str) -> str:
        """Hash of the named sections (dotted names allowed), stable across runs.

        Parameters
        ----------
        *names : str
            Section or field names, e.g. ``"model"``, ``"train"``, ``"attack.wave"``.

        Returns
        -------
        str
            The first 12 hex digits of a SHA-256 over the canonical JSON of those values.
        """
        payload = {name: _to_plain(get_value(self, name)) for name in names}
        for name in names:   # a given file enters keys by its contents (Store.model_key)
            if isinstance(payload[name], dict) and name in FILE_SETTINGS:
                payload[name].pop(FILE_SETTINGS[name], None)
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return value


def field_names(obj: Any) -> set[str]:
    """The field names of a configuration dataclass."""
    return {f.name for f in dataclasses.fields(obj)}


def get_value(cfg: Any, dotted: str) -> Any:
    """Return the value at a dotted name such as ``"attack.wave.lr"``."""
    obj = cfg
    for part in dotted.split("."):
        if not dataclasses.is_dataclass(obj) or part not in field_names(obj):
            raise ConfigError(f"unknown configuration key '{dotted}'; "
                              "see svdlib/profiles/quick.yml")
        obj = getattr(obj, part)
    return obj
