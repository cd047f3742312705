"""Range checks of every setting, run when a profile loads."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from svdlib.constants import EXCERPT_FRAMES, EXPLAINERS
from svdlib.errors import ConfigError

if TYPE_CHECKING:
    from svdlib.experiments.config import Config


def get_value(cfg: Any, dotted: str) -> Any:
    """Return the value at a dotted name such as ``"attack.wave.lr"``."""
    obj = cfg
    for part in dotted.split("."):
        if not dataclasses.is_dataclass(obj) or part not in _field_names(obj):
            raise ConfigError(f"unknown configuration key '{dotted}'; "
                              "see svdlib/profiles/quick.yml")
        obj = getattr(obj, part)
    return obj


def _field_names(obj: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(obj)}


# Values that svdlib.explain accepts (FEATURE_SELECTION there; tests keep the two equal) and the
# sklearn distance metrics that give finite, non-constant distances between 0/1 LIME masks.
FEATURE_SELECTIONS = ("none", "auto", "forward_selection", "highest_weights", "lasso_path")
DISTANCE_METRICS = ("cosine", "euclidean", "sqeuclidean", "l1", "l2", "cityblock", "manhattan",
                    "chebyshev", "minkowski", "hamming", "braycurtis", "canberra", "jaccard",
                    "dice", "rogerstanimoto", "russellrao", "sokalsneath")
# The detector's convolutions and poolings leave ((bands - 4) // 3 - 4) // 3 >= 1 bands only
# from 25 mel bands on (7 for 80).
MIN_MEL_BANDS = 25
# Fewer resamples than this make the 2.5 % / 97.5 % quantiles of a bootstrap a few draws.
MIN_BOOTSTRAP = 100

_Check = tuple[bool, str, str]


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and abs(value) < float("inf"))


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(cfg: Config, key: str) -> _Check:
    value = get_value(cfg, key)
    return (_number(value) and value > 0, key, "a positive number")


def _at_least(cfg: Config, key: str, low: int, why: str = "") -> _Check:
    value = get_value(cfg, key)
    return (_integer(value) and value >= low, key, f"an integer >= {low}{why}")


def _int_in(cfg: Config, key: str, low: int, high: int, why: str = "") -> _Check:
    value = get_value(cfg, key)
    return (_integer(value) and low <= value <= high, key,
            f"an integer in {low}..{high}{why}")


def _in_range(cfg: Config, key: str, low: float, high: float, bounds: str = "[]",
              why: str = "") -> _Check:
    value = get_value(cfg, key)
    ok = _number(value) and (low < value if bounds[0] == "(" else low <= value) and (
        value < high if bounds[1] == ")" else value <= high)
    return (ok, key, f"a number in {bounds[0]}{low}, {high}{bounds[1]}{why}")


def _one_of(cfg: Config, key: str, choices: tuple[str, ...]) -> _Check:
    return (get_value(cfg, key) in choices, key, "one of " + "|".join(choices))


def _int_list(cfg: Config, key: str, low: int, high: int | None = None,
              why: str = "") -> _Check:
    values = get_value(cfg, key)
    ok = (len(values) >= 1 and len(set(values)) == len(values)
          and all(_integer(v) and v >= low and (high is None or v <= high) for v in values))
    span = f">= {low}" if high is None else f"in {low}..{high}"
    return (ok, key, f"a non-empty list of distinct integers {span}{why}")


def _frontend_model_checks(cfg: Config) -> list[_Check]:
    fe = cfg.frontend
    hop = fe.sample_rate // fe.fps if _integer(fe.fps) and fe.fps > 0 else 0
    return [
        _at_least(cfg, "frontend.sample_rate", 1),
        _at_least(cfg, "frontend.frame_len", 2),
        _at_least(cfg, "frontend.fps", 1),
        (1 <= hop <= fe.frame_len, "frontend.fps", f"an integer whose hop sample_rate // fps "
         f"(now {hop}) is in 1..frame_len ({fe.frame_len})"),
        _one_of(cfg, "frontend.filterbank", ("mel_orig", "mel")),
        _at_least(cfg, "frontend.mel_bands", MIN_MEL_BANDS, " (the detector's poolings)"),
        _in_range(cfg, "frontend.mel_min", 0.0, fe.sample_rate / 2, "[)"),
        (_number(fe.mel_max) and fe.mel_min < fe.mel_max <= fe.sample_rate / 2,
         "frontend.mel_max", f"a number in (mel_min, sample_rate / 2] = ({fe.mel_min}, "
         f"{fe.sample_rate / 2}]"),
        _one_of(cfg, "frontend.magscale", ("log", "log1p", "none")),
        _one_of(cfg, "model.arch", ("ismir2015",)),
        _positive(cfg, "model.width"),
        (cfg.model.blocklen == EXCERPT_FRAMES, "model.blocklen", "115 (the receptive field)"),
        _one_of(cfg, "model.convdrop", ("none", "independent")),
    ]


def _train_checks(cfg: Config) -> list[_Check]:
    tr = cfg.train
    return [
        _one_of(cfg, "train.learn_scheme", ("adam", "nesterov", "momentum")),
        _at_least(cfg, "train.batchsize", 1),
        _positive(cfg, "train.initial_eta"),
        _in_range(cfg, "train.eta_decay", 0.0, 1.0, "(]"),
        _at_least(cfg, "train.eta_decay_every", 1),
        _in_range(cfg, "train.momentum", 0.0, 1.0, "[)"),
        (tr.learn_scheme != "nesterov" or tr.momentum > 0, "train.momentum",
         "a number in (0, 1) with learn_scheme nesterov"),
        _at_least(cfg, "train.epochs", 1),
        _at_least(cfg, "train.epochsize", 1),
        _in_range(cfg, "train.l2_decay", 0.0, float("inf"), "[)"),
        _in_range(cfg, "train.max_stretch", 0.0, 1.0, "[)"),
        _in_range(cfg, "train.max_shift", 0.0, 1.0, "[)"),
        _in_range(cfg, "train.max_db", 0.0, float("inf"), "[)"),
        _int_in(cfg, "train.spline_order", 0, 5, " (scipy's affine_transform)"),
        _in_range(cfg, "train.label_low", 0.0, 1.0, "[)"),
        _in_range(cfg, "train.label_high", tr.label_low, 1.0, "(]", " (above label_low)"),
        _int_list(cfg, "train.seeds", 0),
    ]


def _evaluate_attack_checks(cfg: Config) -> list[_Check]:
    checks = [
        _at_least(cfg, "evaluate.smooth_width", 1),
        _one_of(cfg, "evaluate.smooth_method", ("median", "mean", "none")),
        _in_range(cfg, "evaluate.threshold", 0.0, 1.0, "()"),
        _one_of(cfg, "attack.subset", ("test", "valid", "train")),
    ]
    for domain in ("wave", "spec"):
        checks += [
            _positive(cfg, f"attack.{domain}.lr"),
            _positive(cfg, f"attack.{domain}.alpha"),
            _positive(cfg, f"attack.{domain}.clip_eps"),
            # 0 iterations: the clean song is predicted and recorded, nothing is optimised
            _at_least(cfg, f"attack.{domain}.max_iterations", 0),
            _in_range(cfg, f"attack.{domain}.req_change_factor", 0.0, 1.0, "(]"),
        ]
    return checks


def _lime_checks(cfg: Config) -> list[_Check]:
    frames, bands = cfg.model.blocklen, cfg.frontend.mel_bands
    return [
        _int_in(cfg, "lime.n_time_segments", 1, frames, f" (the excerpt's {frames} frames)"),
        _int_in(cfg, "lime.n_freq_segments", 1, bands, f" (the excerpt's {bands} mel bands)"),
        _one_of(cfg, "lime.baseline", ("zero", "min", "mean", "max", "unif", "shuffle")),
        _at_least(cfg, "lime.num_samples", 2),
        _positive(cfg, "lime.kernel_width"),
        _one_of(cfg, "lime.distance_metric", DISTANCE_METRICS),
        _one_of(cfg, "lime.feature_selection", FEATURE_SELECTIONS),
        _at_least(cfg, "lime.batch_size", 1),
        _at_least(cfg, "lime.pick_per_file", 1),
        _at_least(cfg, "lime.pick_max_draws", max(1, cfg.lime.pick_per_file),
                  " (at least lime.pick_per_file)"),
        _at_least(cfg, "lime.pick_seed", 0),
    ]


def _benchmark_checks(cfg: Config) -> list[_Check]:
    n = cfg.lime.n_time_segments * cfg.lime.n_freq_segments
    chosen = cfg.benchmark.explainers
    return [
        (isinstance(chosen, list) and len(chosen) >= 1 and len(set(chosen)) == len(chosen)
         and all(name in EXPLAINERS for name in chosen), "benchmark.explainers",
         "a non-empty list of distinct names from " + ", ".join(EXPLAINERS)),
        _at_least(cfg, "benchmark.kernelshap_samples", 0, " (0: lime.num_samples)"),
        _at_least(cfg, "benchmark.ig_steps", 1),
        _int_in(cfg, "benchmark.max_k", 1, min(n, 4), " (1350 subsets at 3 of 20 segments)"),
    ]


def _experiment_checks(cfg: Config) -> list[_Check]:
    n = cfg.lime.n_time_segments * cfg.lime.n_freq_segments
    why = " (the number of LIME segments)"
    threshold = cfg.evaluate.threshold
    return [
        _int_list(cfg, "experiment.subset_ks", 1, n, why),
        _int_in(cfg, "experiment.table1_k", 1, n, why),
        _at_least(cfg, "experiment.bootstrap", MIN_BOOTSTRAP, " (resamples per interval)"),
        _at_least(cfg, "experiment.horses_per_shape", 1),
        _in_range(cfg, "experiment.horse_probability", threshold, 1.0, "()",
                  " (above evaluate.threshold)"),
    ]


def _corpus_run_checks(cfg: Config) -> list[_Check]:
    device = cfg.run.device
    return [
        _at_least(cfg, "seed", 0),
        _at_least(cfg, "corpus.seed", 0),
        _at_least(cfg, "corpus.n_train", 1),
        _at_least(cfg, "corpus.n_valid", 1),
        _at_least(cfg, "corpus.n_test", 1),
        (_integer(cfg.corpus.bars) and cfg.corpus.bars >= 4 and cfg.corpus.bars % 2 == 0,
         "corpus.bars", "an even integer >= 4"),
        (device in ("auto", "cpu", "cuda")
         or (device.startswith("cuda:") and device[5:].isdigit()), "run.device",
         "auto|cpu|cuda|cuda:N"),
        _at_least(cfg, "run.num_threads", 0),
        _at_least(cfg, "run.workers", 0),
    ]
