"""Range checks of every setting, run when a configuration loads; every bound lives here.

Each group is a generator of ``(ok, key, expected)`` checks, in an order where a check only
uses settings whose own checks came before it (the validation stops at the first failure), so
a bound may depend on other settings (LIME's segments on ``frontend.mel_bands``, a batch size
on ``model.width``).

Sizes that decide an allocation are bounded so that the allocation fits in this machine's
memory (:mod:`svdlib.experiments.config.sizes` says what each one allocates). Counts that only cost
time are capped at :data:`MAX_COUNT`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from svdlib.constants import DOMAINS, EXCERPT_FRAMES, EXPLAINERS, SPLITS, TARGETS
from svdlib.errors import SvdError
from svdlib.experiments.config import sizes
from svdlib.experiments.config.settings import Config, get_value

# Values that svdlib.explain accepts (FEATURE_SELECTION there; tests keep the two equal) and the
# sklearn distance metrics that give finite, non-constant distances between 0/1 LIME masks.
FEATURE_SELECTIONS = ("none", "auto", "forward_selection", "highest_weights", "lasso_path")
DISTANCE_METRICS = ("cosine", "euclidean", "sqeuclidean", "l1", "l2", "cityblock", "manhattan",
                    "chebyshev", "minkowski", "hamming", "braycurtis", "canberra", "jaccard",
                    "dice", "rogerstanimoto", "russellrao", "sokalsneath")
# The detector's convolutions and poolings leave ((bands - 4) // 3 - 4) // 3 >= 1 bands only
# from 25 mel bands on (7 for 80).
MIN_MEL_BANDS = 25
# The planted judges of svdlib.veracity.metaeval (JUDGES there; tests keep the two equal).
JUDGES = ("area", "table1", "area+table1")
# Fewer resamples than this make the 2.5 % / 97.5 % quantiles of a bootstrap a few draws.
MIN_BOOTSTRAP = 100
#: Counts that only cost time (epochs, batches an epoch, attack iterations, the smoothing
#: width, horses): the paper's largest is 2000, and a million steps of the cheapest of them
#: (a training batch, an attack step: milliseconds each) already take hours, so more is a slip.
MAX_COUNT = 10 ** 6
MAX_TIME = f" (at most {MAX_COUNT:,}: a million steps take hours)"
#: Seeds are 32-bit, like the per-item seeds derived from them (svdlib.seeding).
MAX_SEED = 2 ** 32 - 1
#: Each training seed trains one detector (the paper trains 5).
MAX_SEEDS = 100
MAX_SAMPLE_RATE = 384_000
MAX_FRAME_LEN = 65_536
MAX_MEL_BANDS = 512
MAX_WIDTH = 16.0
#: The exhaustive search's subsets a pair, one forward pass each (1,350 in the paper's setup;
#: a million take minutes a pair on a CPU).
MAX_SUBSETS = 10 ** 6
#: song_auroc refits an AUROC per resample (about a millisecond): 10^5 take minutes an interval.
MAX_BOOTSTRAP = 100_000
#: captum's Gauss-Legendre rule solves an ig_steps x ig_steps eigenproblem twice per batch:
#: seconds at 1024 steps, about a minute at 4096 (2-core CPU); 32 is the default.
MAX_IG_STEPS = 1024
#: lime.pick_max_draws only truncates a permutation of a song's flipped frames (no allocation);
#: 10^9 frames are 4,000 hours at 70 fps.
MAX_PICK_DRAWS = 10 ** 9
#: Threads of workers behind a remote scheduler (their CPUs are not this machine's).
MAX_REMOTE_THREADS = 1024
#: No array may hold more elements than an int64 counts.
MAX_SIZE = 2 ** 63 - 1

_Check = tuple[bool, str, str]
Checks = Iterator[_Check]


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and abs(value) < float("inf"))


def is_integer(value: Any) -> bool:
    """An int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(cfg: Config, key: str) -> _Check:
    value = get_value(cfg, key)
    return (is_number(value) and value > 0, key, "a positive number")


def _int_in(cfg: Config, key: str, low: int, high: int, why: str = "") -> _Check:
    value = get_value(cfg, key)
    return (is_integer(value) and low <= value <= high, key, f"an integer in {low}..{high}{why}")


def _count(cfg: Config, key: str, low: int = 1) -> _Check:
    return _int_in(cfg, key, low, MAX_COUNT, MAX_TIME)


def _seed(cfg: Config, key: str) -> _Check:
    return _int_in(cfg, key, 0, MAX_SEED, " (a 32-bit seed)")


def _in_range(cfg: Config, key: str, low: float, high: float, bounds: str = "[]",
              why: str = "") -> _Check:
    value = get_value(cfg, key)
    ok = is_number(value) and (low < value if bounds[0] == "(" else low <= value) and (
        value < high if bounds[1] == ")" else value <= high)
    return (ok, key, f"a number in {bounds[0]}{low}, {high}{bounds[1]}{why}")


def _one_of(cfg: Config, key: str, choices: tuple[str, ...]) -> _Check:
    return (get_value(cfg, key) in choices, key, "one of " + "|".join(choices))


def _int_list(cfg: Config, key: str, low: int, high: int, why: str = "",
              longest: int = MAX_SEEDS) -> _Check:
    values = get_value(cfg, key)
    ok = (isinstance(values, list) and 1 <= len(values) <= longest
          and all(is_integer(v) and low <= v <= high for v in values)
          and len(set(values)) == len(values))
    return (ok, key, f"a list of 1 to {longest} distinct integers in {low}..{high}{why}")


def sized(cfg: Config, key: str, low: int, cost: Callable[[int], int], what: str,
          cap: int = MAX_SIZE, cap_why: str = "") -> _Check:
    """An integer from ``low`` whose allocation ``cost(value)`` fits in this machine's memory.

    ``what`` names what must fit; past ``cap`` the count is refused for ``cap_why`` instead.
    """
    limit, memory = sizes.memory_budget(cfg)
    high = sizes.largest(cost, limit, low, cap)
    value = get_value(cfg, key)
    if high < low:
        return (False, key, f"an integer >= {low}, but even at {low} {what} needs "
                            f"{sizes.gib(cost(low))} and there is {memory}")
    why = cap_why if high == cap and cap_why else f"{what} must fit in {memory}"
    return (is_integer(value) and low <= value <= high, key, f"an integer in {low}..{high} ({why})")


def _frontend_model_checks(cfg: Config) -> Checks:
    fe = cfg.frontend
    yield _int_in(cfg, "frontend.sample_rate", 1, MAX_SAMPLE_RATE,
                  " (the highest rate of common audio hardware)")
    yield _int_in(cfg, "frontend.frame_len", 2, MAX_FRAME_LEN, " (3 s at 22050 Hz)")
    yield _int_in(cfg, "frontend.fps", 1, fe.sample_rate, " (the sample rate: a 1-sample hop)")
    hop = fe.sample_rate // fe.fps
    yield (1 <= hop <= fe.frame_len, "frontend.fps", f"an integer whose hop sample_rate // fps "
           f"(now {hop}) is in 1..frame_len ({fe.frame_len})")
    yield _one_of(cfg, "frontend.filterbank", ("mel_orig", "mel"))
    yield _int_in(cfg, "frontend.mel_bands", MIN_MEL_BANDS, min(fe.n_bins, MAX_MEL_BANDS),
                  f" (25 for the detector's poolings; at most one per STFT bin, and "
                  f"{MAX_MEL_BANDS})")
    yield _in_range(cfg, "frontend.mel_min", 0.0, fe.sample_rate / 2, "[)")
    yield (is_number(fe.mel_max) and fe.mel_min < fe.mel_max <= fe.sample_rate / 2,
           "frontend.mel_max", f"a number in (mel_min, sample_rate / 2] = ({fe.mel_min}, "
           f"{fe.sample_rate / 2}]")
    yield _one_of(cfg, "frontend.magscale", ("log", "log1p", "none"))
    yield _one_of(cfg, "model.arch", ("ismir2015",))
    yield _in_range(cfg, "model.width", 0.0, MAX_WIDTH, "(]", " (16 times the paper's channels)")
    limit, memory = sizes.memory_budget(cfg)
    yield (sizes.model_bytes(cfg) <= limit, "model.width",
           f"a width whose detector ({sizes.parameters(cfg):,} parameters, with gradients and "
           f"Adam's moments: {sizes.gib(sizes.model_bytes(cfg))}) fits in {memory}")
    yield (cfg.model.blocklen == EXCERPT_FRAMES, "model.blocklen", "115 (the receptive field)")
    yield _one_of(cfg, "model.convdrop", ("none", "independent"))


def _train_checks(cfg: Config) -> Checks:
    tr = cfg.train
    yield _one_of(cfg, "train.learn_scheme", ("adam", "nesterov", "momentum"))
    yield _positive(cfg, "train.initial_eta")
    yield _in_range(cfg, "train.eta_decay", 0.0, 1.0, "(]")
    yield _count(cfg, "train.eta_decay_every")
    yield _in_range(cfg, "train.momentum", 0.0, 1.0, "[)")
    yield (tr.learn_scheme != "nesterov" or tr.momentum > 0, "train.momentum",
           "a number in (0, 1) with learn_scheme nesterov")
    yield _count(cfg, "train.epochs")
    yield _count(cfg, "train.epochsize")
    yield _in_range(cfg, "train.l2_decay", 0.0, float("inf"), "[)")
    yield _in_range(cfg, "train.max_stretch", 0.0, 1.0, "[)")
    yield _in_range(cfg, "train.max_shift", 0.0, 1.0, "[)")
    yield _in_range(cfg, "train.max_db", 0.0, float("inf"), "[)")
    yield _int_in(cfg, "train.spline_order", 0, 5, " (scipy's affine_transform)")
    yield _in_range(cfg, "train.label_low", 0.0, 1.0, "[)")
    yield _in_range(cfg, "train.label_high", tr.label_low, 1.0, "(]", " (above label_low)")
    yield _int_list(cfg, "train.seeds", 0, MAX_SEED, " (one detector each)")


def _corpus_checks(cfg: Config) -> Checks:
    """The corpus sizes and the training batch: what the training and attack stages hold."""
    c = cfg.corpus
    yield _seed(cfg, "seed")
    yield _seed(cfg, "corpus.seed")
    # sizes of one stage are checked in turn, each beside the ones checked before it and the
    # later ones at their least: the last one checks the stage as configured
    train, attack = sizes.train_stage_bytes, sizes.attack_stage_bytes
    limit, memory = sizes.memory_budget(cfg)
    most = sizes.largest(lambda b: attack(cfg, b, 1), limit, 4, MAX_SIZE)
    most -= most % 2
    yield (is_integer(c.bars) and 4 <= c.bars <= most and c.bars % 2 == 0, "corpus.bars",
           f"an even integer in 4..{most} (a whole song attacked with the detector's gradients, "
           f"up to 3 s a bar, must fit in {memory})")
    song = f"({sizes.gib(sizes.song_bytes(cfg))} a song at most)"
    yield sized(cfg, "corpus.n_train", 1, lambda n: train(cfg, c.bars, n, 1, 1),
                f"the train songs' spectrograms {song}")
    yield sized(cfg, "corpus.n_valid", 1,
                lambda n: max(train(cfg, c.bars, c.n_train, n, 1), attack(cfg, c.bars, n)),
                f"the valid songs' spectrograms {song} beside the train songs or an attacked song")
    yield sized(cfg, "corpus.n_test", 1, lambda n: attack(cfg, c.bars, max(c.n_valid, n)),
                f"the test songs' spectrograms {song} and an attacked song")
    excerpt = sizes.gib(sizes.train_excerpt_bytes(cfg))
    yield sized(cfg, "train.batchsize", 1,
                lambda b: train(cfg, c.bars, c.n_train, c.n_valid, b),
                f"a training batch ({excerpt} an excerpt with its gradients), the detector and "
                "the train and valid songs")


def _evaluate_attack_checks(cfg: Config) -> Checks:
    yield _int_in(cfg, "evaluate.smooth_width", 1, MAX_COUNT,
                  " (frames: 10^6 frames are 4 hours at 70 fps)")
    yield _one_of(cfg, "evaluate.smooth_method", ("median", "mean", "none"))
    yield _in_range(cfg, "evaluate.threshold", 0.0, 1.0, "()")
    yield _one_of(cfg, "attack.subset", SPLITS[::-1])
    for domain in ("wave", "spec"):
        yield _positive(cfg, f"attack.{domain}.lr")
        yield _positive(cfg, f"attack.{domain}.alpha")
        yield _positive(cfg, f"attack.{domain}.clip_eps")
        # 0 iterations: the clean song is predicted and recorded, nothing is optimised
        yield _count(cfg, f"attack.{domain}.max_iterations", 0)
        yield _in_range(cfg, f"attack.{domain}.req_change_factor", 0.0, 1.0, "(]")


def _lime_checks(cfg: Config) -> Checks:
    lime, frames, bands = cfg.lime, cfg.model.blocklen, cfg.frontend.mel_bands
    model = sizes.model_bytes(cfg)
    yield _int_in(cfg, "lime.n_time_segments", 1, frames, f" (the excerpt's {frames} frames)")
    yield sized(cfg, "lime.n_freq_segments", 1,
                lambda f: model + sizes.neighbourhood_bytes(lime.n_time_segments * f, 2),
                f"the surrogate's Gram matrix of ({lime.n_time_segments} x n)^2 float64",
                bands, f"the excerpt's {bands} mel bands")
    n = lime.n_time_segments * lime.n_freq_segments
    yield _one_of(cfg, "lime.baseline", ("zero", "min", "mean", "max", "unif", "shuffle"))
    yield _positive(cfg, "lime.kernel_width")
    yield _one_of(cfg, "lime.distance_metric", DISTANCE_METRICS)
    yield _one_of(cfg, "lime.feature_selection", FEATURE_SELECTIONS)
    stage = sizes.lime_stage_bytes
    yield sized(cfg, "lime.batch_size", 1, lambda b: stage(cfg, b, 2),
                f"LIME's batch of perturbed {frames}x{bands} excerpts through the detector "
                f"({sizes.gib(sizes.infer_excerpt_bytes(cfg))} each)")
    yield sized(cfg, "lime.num_samples", 2, lambda s: stage(cfg, lime.batch_size, s),
                f"LIME's neighbourhood ({n} segments a sample, with sklearn's float64 copies) "
                f"and its batch of {lime.batch_size}")
    songs, pair = sizes.split_songs(cfg, cfg.attack.subset), sizes.pair_bytes(cfg)
    yield sized(cfg, "lime.pick_per_file", 1, lambda p: model + p * songs * pair,
                f"the picked pairs of {songs} {cfg.attack.subset} song(s) "
                f"({sizes.gib(pair)} a pair)")
    yield _int_in(cfg, "lime.pick_max_draws", lime.pick_per_file, MAX_PICK_DRAWS,
                  " (from lime.pick_per_file; it only cuts a song's frames: 10^9 frames are "
                  "4,000 hours)")
    yield _seed(cfg, "lime.pick_seed")


def _pairs(cfg: Config) -> int:
    return sizes.split_songs(cfg, cfg.attack.subset) * cfg.lime.pick_per_file


def _experiment_checks(cfg: Config) -> Checks:
    n = cfg.lime.n_time_segments * cfg.lime.n_freq_segments
    why = " (the number of LIME segments)"
    yield _int_list(cfg, "experiment.subset_ks", 1, n, why, longest=n)
    yield _int_in(cfg, "experiment.table1_k", 1, n, why)
    pairs = _pairs(cfg)
    yield sized(cfg, "experiment.bootstrap", MIN_BOOTSTRAP,
                lambda b: 8 * b * (pairs + 2),
                f"the resampled counts of {pairs} pairs (int64)", MAX_BOOTSTRAP,
                f"from {MIN_BOOTSTRAP} for the 2.5 %/97.5 % quantiles to {MAX_BOOTSTRAP:,}: "
                "a refitted AUROC each, minutes an interval")
    horse = 3 * sizes.FLOAT32 * EXCERPT_FRAMES * cfg.frontend.mel_bands
    yield sized(cfg, "experiment.horses_per_shape", 1, lambda h: 3 * h * horse,
                "three shapes' horses with their originals and explanations", MAX_COUNT,
                MAX_TIME[2:-1] + ", and each horse is a LIME run")
    yield _in_range(cfg, "experiment.horse_probability", cfg.evaluate.threshold, 1.0, "()",
                    " (above evaluate.threshold)")


def _benchmark_checks(cfg: Config) -> Checks:
    n = cfg.lime.n_time_segments * cfg.lime.n_freq_segments
    chosen = cfg.benchmark.explainers
    yield (isinstance(chosen, list) and len(chosen) >= 1 and len(set(chosen)) == len(chosen)
           and all(name in EXPLAINERS for name in chosen), "benchmark.explainers",
           "a non-empty list of distinct names from " + ", ".join(EXPLAINERS))
    model = sizes.model_bytes(cfg)
    fixed = model + 256 * sizes.infer_excerpt_bytes(cfg)  # KernelSHAP's 256 inputs a call
    check = sized(cfg, "benchmark.kernelshap_samples", 2,
                  lambda s: fixed + sizes.neighbourhood_bytes(n, s),
                  f"KernelSHAP's coalitions of {n} segments with their float64 fit")
    yield (cfg.benchmark.kernelshap_samples == 0 or check[0], check[1],
           "0 (as many as lime.num_samples) or " + check[2])
    yield sized(cfg, "benchmark.ig_steps", 1, lambda s: model + 24 * s * s,
                "captum's Gauss-Legendre eigenproblem (ig_steps^2 float64, three copies)",
                MAX_IG_STEPS, f"at most {MAX_IG_STEPS}: the Gauss-Legendre nodes come from an "
                "ig_steps x ig_steps eigenproblem, minutes beyond")
    most = sizes.largest(lambda k: sizes.subsets(n, k), MAX_SUBSETS, 1, min(n, 4))
    pairs = _pairs(cfg)
    yield sized(cfg, "benchmark.max_k", 1,
                lambda k: model + sizes.SUBSET_BYTES * pairs * sizes.subsets(n, k),
                f"the exhaustive search's flags and margins of {pairs} pairs", most,
                f"{sizes.subsets(n, most):,} subsets a pair of {n} segments, one forward pass "
                f"each; at most {min(n, 4)} and {MAX_SUBSETS:,}")
    yield _count(cfg, "benchmark.forest_trees")


def _proxies_checks(cfg: Config) -> Checks:
    n, px = cfg.lime.n_time_segments * cfg.lime.n_freq_segments, cfg.proxies
    yield _one_of(cfg, "proxies.judge", JUDGES)
    yield sized(cfg, "proxies.infidelity_samples", 1, lambda s: sizes.infidelity_bytes(cfg, s),
                "captum's infidelity of an excerpt (all its removals at once, float64)")
    yield _in_range(cfg, "proxies.p_off", 0.0, 1.0, "(]")
    yield sized(cfg, "proxies.sensitivity_samples", 1, lambda s: sizes.sensitivity_bytes(cfg, s),
                "the noisy copies of an excerpt, explained at once with their gradients,")
    yield _in_range(cfg, "proxies.sensitivity_radius", 0.0, 10.0, "(]",
                    " (log-mel units; the excerpts span a few tens)")
    chosen = px.sensitivity_explainers      # those the benchmark ran are explained again
    yield (isinstance(chosen, list) and len(set(chosen)) == len(chosen)
           and all(name in EXPLAINERS for name in chosen), "proxies.sensitivity_explainers",
           "a list of distinct names from " + ", ".join(EXPLAINERS))
    yield _count(cfg, "proxies.quantus_runs")
    yield _int_in(cfg, "proxies.quantus_subset", 1, n - 1,
                  f" (segments Quantus removes at once: fewer than all {n})")


def _run_checks(cfg: Config, local_threads: bool) -> Checks:
    device, run = cfg.run.device, cfg.run
    yield (device in ("auto", "cpu", "cuda")
           or (device.startswith("cuda:") and device[5:].isdigit()), "run.device",
           "auto|cpu|cuda|cuda:N")
    cpus = sizes.cpu_count()
    yield _int_in(cfg, "run.workers", 0, cpus, f" (local Dask worker processes: this process "
                  f"may use {cpus} CPUs)")
    yield _int_in(cfg, "run.book_jobs", 0, cpus, f" (notebooks svd book runs at once; 0: two "
                  f"where two CPUs allow; this process may use {cpus} CPUs)")
    if run.scheduler or not local_threads:
        yield _int_in(cfg, "run.num_threads", 0, MAX_REMOTE_THREADS,
                      " (0: one a worker; the remote workers' CPUs)")
        return
    shared = max(1, run.workers)
    most = max(1, cpus // shared)
    among = f"{shared} local Dask workers share" if shared > 1 else "this process may use"
    yield _int_in(cfg, "run.num_threads", 0, most,
                  f" (0: choose; {among} {cpus} CPUs and more threads only queue up: give "
                  f"--threads {most} or fewer)")


def all_checks(cfg: Config, local_threads: bool = True) -> Checks:
    """Every check of a configuration, in an order where each relies only on earlier ones.

    ``local_threads``: bound ``run.num_threads`` by this machine's CPUs (not on a worker that
    rebuilds a configuration another machine resolved).
    """
    yield from _run_checks(cfg, local_threads)  # first: the memory budget uses run.workers
    for group in (_frontend_model_checks, _train_checks, _corpus_checks,
                  _evaluate_attack_checks, _lime_checks, _experiment_checks, _benchmark_checks,
                  _proxies_checks):
        yield from group(cfg)


def settings() -> list[tuple[str, int]]:
    """The four (attack domain, target) settings in the paper's panel order.

    Returns
    -------
    list of (str, int)
        ``(domain, target)`` pairs: wave and spec, towards singing first.
    """
    return [("wave", 1), ("spec", 1), ("wave", 0), ("spec", 0)]


def check_setting(domain: str, target: int) -> None:
    """Raise a one-line error for an unknown attack domain or direction.

    Parameters
    ----------
    domain : str
        The attack domain, ``wave`` or ``spec``.
    target : int
        The direction: 1 (no sing → sing) or 0 (sing → no sing).

    Raises
    ------
    SvdError
        Naming the unknown value and the known ones.
    """
    if domain not in DOMAINS:
        raise SvdError(f"unknown attack domain '{domain}'; use wave or spec")
    if target not in TARGETS:
        raise SvdError(f"unknown target {target}; use 1 (no sing → sing) or 0 (sing → no sing)")
