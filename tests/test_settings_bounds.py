"""Every number is checked when a configuration loads: NaN, infinities, values of the wrong
type and sizes the machine cannot hold are one line naming the key, its range, the value and
where it came from, whatever the source (--set, a profile, a .vars file, a mapping)."""

import dataclasses
import math
import os
import re
import typing

import pytest
import torch
from conftest import run_cli

from svdlib.errors import ConfigError
from svdlib.experiments.config import sizes
from svdlib.experiments.config.loading import PROFILES_DIR, config_from_dict, load_config
from svdlib.experiments.config.settings import Config
from svdlib.experiments.config.vars import apply_vars

MEMORY = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
HUGE = "9" * 5000  # more digits than Python's int() reads


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """Loading a configuration sets torch's thread count; put it back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _refused(capsys, tmp_path, *args):
    """Run ``svd`` expecting a settings error: exit 2, one line, nothing written."""
    results = tmp_path / "results"
    code, _, err = run_cli(capsys, *args, "--results", str(results), "--quiet")
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert list(tmp_path.iterdir()) == []
    return lines[0]


@pytest.mark.parametrize("key,value,shown", [
    ("train.epochs", "nan", "nan"), ("train.epochs", ".nan", "nan"),
    ("train.epochsize", "1e400", "1e400"), ("train.epochsize", "inf", "inf"),
    ("attack.wave.lr", ".inf", "inf"), ("attack.spec.clip_eps", "-.inf", "-inf"),
    ("frontend.mel_max", "1e400", "1e400"), ("lime.kernel_width", "1.0e+400", "inf"),
    ("train.epochs", str(10 ** 30), str(10 ** 30)),
    ("lime.num_samples", HUGE, f"{HUGE[:40]}... (5000 characters)"),
    ("train.epochs", "2.5", "2.5"), ("lime.batch_size", "abc", "abc"),
    ("attack.wave.alpha", "abc", "abc"), ("train.seeds", "[0, x]", "[0, 'x']"),
    ("experiment.subset_ks", "[1, 2.5]", "[1, 2.5]"), ("train.seeds", "[0, .nan]", "[0, nan]"),
    ("seed", "true", "True"), ("train.seeds", "[1, 2", "[1, 2"), ("corpus.n_test", "", ""),
], ids=lambda v: v[:20])
def test_set_rejects_non_numbers_in_one_line(capsys, tmp_path, key, value, shown):
    line = _refused(capsys, tmp_path, "train", "--profile", "tiny", "--set", f"{key}={value}")
    assert line.startswith(f"svd: error: configuration key '{key}' must be ")
    item = f"{key}={value}"
    item = item if len(item) <= 60 else f"{item[:60]}... ({len(item)} characters)"
    assert line.endswith(f", got '{shown}' (--set {item})")


@pytest.mark.parametrize("text,key,line,value", [
    ("seed: 0\ntrain:\n  epochs: .nan\n", "train.epochs", 3, "nan"),
    ("seed: 0\ntrain:\n  epochs: 3\n  epochsize: .inf\n", "train.epochsize", 4, "inf"),
    ("train: {epochs: -.inf}\n", "train.epochs", 1, "-inf"),
    ("lime:\n  num_samples: 1e400\n", "lime.num_samples", 2, "1e400"),
    ("lime:\n  kernel_width: 1.0e+400\n", "lime.kernel_width", 2, "inf"),
    ("lime:\n  num_samples: 100000000000000000000000000000\n", "lime.num_samples", 2,
     "100000000000000000000000000000"),
    (f"lime:\n  num_samples: {HUGE}\n", "lime.num_samples", 2, HUGE[:40] + "... (5000 chara"),
    ("train:\n  epochs: 2.5\n", "train.epochs", 2, "2.5"),
    ("attack:\n  wave: {lr: fast}\n", "attack.wave.lr", 2, "fast"),
    ("train:\n  epochs:\n", "train.epochs", 2, "None"),
    ("train:\n  seeds: [0, 1.5]\n", "train.seeds", 2, "[0, 1.5]"),
    ("benchmark:\n  explainers: [lime, 3]\n", "benchmark.explainers", 2, "['lime', '3']"),
    ("model:\n  width: .nan\n", "model.width", 2, "nan"),
])
def test_profile_values_fail_with_their_line(tmp_path, text, key, line, value):
    path = tmp_path / "mine.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    message = str(info.value)
    assert message.startswith(f"configuration key '{key}' must be ")
    assert f", got '{value}" in message
    assert message.endswith(f" (profile '{path}', line {line})")
    assert "\n" not in message


def test_profile_error_through_the_cli(capsys, tmp_path):
    profile = tmp_path.parent / f"{tmp_path.name}-bad.yml"
    profile.write_text("seed: 0\ntrain:\n  epochs: .inf\n", encoding="utf-8")
    try:
        line = _refused(capsys, tmp_path, "train", "--profile", str(profile))
    finally:
        profile.unlink()
    assert line == (f"svd: error: configuration key 'train.epochs' must be an integer in "
                    f"1..1000000 (at most 1,000,000: a million steps take hours), got 'inf' "
                    f"(profile '{profile}', line 3)")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "2.5", "abc", "10" * 20])
def test_vars_file_values_fail_with_file_and_line(tmp_path, value):
    path = tmp_path / "model.vars"
    path.write_text(f"sample_rate = 22050\n# the schedule\nepochs = {value}\nmomentum = 0.9\n")
    cfg = load_config("tiny")
    before = cfg.to_dict()
    with pytest.raises(ConfigError) as info:
        apply_vars(cfg, path)
    message = str(info.value)
    assert message.startswith("configuration key 'train.epochs' must be an integer in 1..")
    assert message.endswith(f", got '{value}' (vars file '{path}', line 3)")
    assert cfg.to_dict() == before  # nothing of the file applied


def test_attack_vars_nan_is_refused(tmp_path):
    path = tmp_path / "adv.vars"
    path.write_text("lr = nan\n")
    with pytest.raises(ConfigError, match=r"'attack.wave.lr' must be a positive number, got "
                                          r"'nan' \(vars file '.*adv.vars', line 1\)$"):
        apply_vars(load_config("tiny"), path, attack_domain="wave")


@pytest.mark.parametrize("key,value", [
    ("train.epochs", float("nan")), ("train.epochs", float("inf")),
    pytest.param("train.epochs", 10 ** 5000, id="train.epochs-5001-digits"),
    ("lime.kernel_width", float("-inf")), ("train.epochs", 2.5), ("train.epochs", True),
    ("lime.num_samples", "many"), ("train.seeds", [0, None]),
])
def test_config_from_dict_rejects_non_numbers(key, value):
    mapping = load_config("tiny").to_dict()
    section, name = key.split(".")
    mapping[section][name] = value
    with pytest.raises(ConfigError) as info:
        config_from_dict(mapping)
    message = str(info.value)
    assert message.startswith(f"configuration key '{key}' must be ")
    assert message.endswith(" (config_from_dict)") and "\n" not in message


def _numeric_keys(obj=None, prefix=""):
    obj = Config() if obj is None else obj
    for name, kind in typing.get_type_hints(type(obj)).items():
        value = getattr(obj, name)
        if dataclasses.is_dataclass(value):
            yield from _numeric_keys(value, f"{prefix}{name}.")
        elif kind in (int, float, list[int]):
            yield f"{prefix}{name}"


@pytest.mark.parametrize("key", list(_numeric_keys()))
def test_every_number_has_a_range_check(key):
    """Each numeric setting is refused by its own range check (not only the type net)."""
    kind = typing.get_type_hints(type(_section(key)))[key.rpartition(".")[2]]
    # a float setting may have no upper bound (a learning rate); an integer one always has
    values = [float("nan"), float("inf"), float("-inf"), "x", True, None]
    values += [10 ** 30, [10 ** 30]] if kind is not float else []
    for value in values:
        with pytest.raises(ConfigError) as info:
            load_config("tiny", {key: value})
        message = str(info.value)
        assert message.startswith(f"configuration key '{key}' must be "), (value, message)
        assert not re.search(r"must be (an integer|a finite number|a list of integers), got",
                             message)


def _section(key):
    obj = Config()
    for part in key.split(".")[:-1]:
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("key,value,expected", [
    ("train.epochs", "2.0", 2), ("train.epochs", 3.0, 3), ("lime.num_samples", "1e3", 1000),
    ("lime.num_samples", "1_024", 1024), ("attack.wave.lr", "1e-3", 1e-3),
    ("attack.wave.alpha", 2, 2.0), ("train.seeds", "[1, 2.0]", [1, 2]),
])
def test_values_of_the_right_number_are_taken(key, value, expected):
    got = _value(load_config("tiny", {key: value}), key)
    assert got == expected and type(got) is type(expected)


def test_oversized_lime_samples_refused_before_any_stage(capsys, tmp_path):
    line = _refused(capsys, tmp_path, "run", "--profile", "tiny", "--set",
                    "lime.num_samples=1000000000000")
    match = re.fullmatch(r"svd: error: configuration key 'lime.num_samples' must be an integer "
                         r"in 2\.\.(\d+) \(LIME's neighbourhood \(20 segments a sample.*must fit "
                         r"in ([\d.]+) GiB of memory\), got '1000000000000' "
                         r"\(--set lime.num_samples=1000000000000\)", line)
    assert match, line
    bound, gib = int(match[1]), float(match[2])
    assert abs(gib - sizes.memory_bytes() / 2 ** 30) < 0.06 and sizes.memory_bytes() <= MEMORY
    # the masks alone (a byte per sample and segment) fit at the bound, not at the value
    assert bound * 20 < MEMORY < 10 ** 12 * 20
    # the bound is exact: it loads, one more does not
    assert load_config("tiny", {"lime.num_samples": bound}).lime.num_samples == bound
    with pytest.raises(ConfigError, match=f"in 2..{bound} "):
        load_config("tiny", {"lime.num_samples": bound + 1})


# the sizes a stage checks after this one, at their least (each size is bounded beside the ones
# checked before it)
LEAST = {"corpus.bars": {"corpus.n_train": 1, "corpus.n_valid": 1, "corpus.n_test": 1,
                         "train.batchsize": 1},
         "corpus.n_train": {"corpus.n_valid": 1, "train.batchsize": 1},
         "lime.batch_size": {"lime.num_samples": 2}}


@pytest.mark.parametrize("key", ["lime.batch_size", "lime.num_samples", "train.batchsize",
                                 "corpus.n_train", "corpus.n_test", "corpus.bars",
                                 "lime.pick_per_file", "benchmark.kernelshap_samples",
                                 "experiment.horses_per_shape"])
def test_allocation_sizes_are_bounded_by_memory(key):
    with pytest.raises(ConfigError) as info:
        load_config("tiny", {key: 10 ** 12})
    message = str(info.value)
    assert message.startswith(f"configuration key '{key}' must be ")
    low, bound = map(int, re.search(r"in (\d+)\.\.(\d+) \(", message).groups())
    assert f"must fit in {sizes.memory_bytes() / 2 ** 30:.1f} GiB of memory" in message
    step = 2 if key == "corpus.bars" else 1
    bound -= bound % step
    # exact: the bound loads, the next value does not
    cfg = load_config("tiny", {key: bound, **LEAST.get(key, {})})
    assert _value(cfg, key) == bound
    with pytest.raises(ConfigError, match=f"'{key}' must be .*integer in {low}..{bound} "):
        load_config("tiny", {key: bound + step, **LEAST.get(key, {})})


def _value(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


@pytest.mark.parametrize("key,value,cap", [
    ("train.epochs", 10 ** 6 + 1, "1..1000000"), ("attack.spec.max_iterations", 10 ** 7,
                                                   "0..1000000"),
    ("benchmark.ig_steps", 4096, "1..1024"), ("experiment.bootstrap", 10 ** 6, "100..100000"),
    ("lime.pick_max_draws", 10 ** 10, "3..1000000000"), ("seed", 2 ** 32, "0..4294967295"),
    ("train.seeds", list(range(101)), "1 to 100"), ("benchmark.max_k", 5, "1..4"),
])
def test_time_only_counts_are_capped(key, value, cap):
    with pytest.raises(ConfigError, match=re.escape(cap)):
        load_config("tiny", {key: value})


def test_threads_above_the_cpus_are_refused(capsys, tmp_path):
    line = _refused(capsys, tmp_path, "train", "--profile", "tiny", "--threads", "999")
    assert line == (f"svd: error: configuration key 'run.num_threads' must be an integer in "
                    f"0..{CPUS} (0: choose; this process may use {CPUS} CPUs and more threads "
                    f"only queue up: give --threads {CPUS} or fewer), got '999'")
    assert load_config("tiny", {"run.num_threads": CPUS}).run.num_threads == CPUS


def test_workers_and_their_threads_share_the_cpus(capsys, tmp_path):
    line = _refused(capsys, tmp_path, "train", "--profile", "tiny", "--workers", "999")
    assert f"'run.workers' must be an integer in 0..{CPUS} " in line
    if CPUS >= 2:
        with pytest.raises(ConfigError, match=f"give --threads {CPUS // 2} or fewer"):
            load_config("tiny", {"run.workers": 2, "run.num_threads": CPUS})
    # a worker rebuilding a configuration resolved elsewhere keeps its thread count
    mapping = load_config("tiny").to_dict()
    mapping["run"]["num_threads"] = CPUS + 1
    assert config_from_dict(mapping).run.num_threads == CPUS + 1


@pytest.mark.parametrize("name", sorted(p.stem for p in PROFILES_DIR.glob("*.yml")))
def test_every_shipped_profile_loads_on_a_4_gib_machine(monkeypatch, name):
    """The bounds are generous: every shipped profile (the paper's too) fits in 4 GiB."""
    monkeypatch.setattr(sizes, "memory_bytes", lambda: 4 * 2 ** 30)
    assert load_config(name).profile == name


def test_a_small_machine_refuses_the_paper_profile_in_one_line(monkeypatch):
    monkeypatch.setattr(sizes, "memory_bytes", lambda: 2 ** 30)
    with pytest.raises(ConfigError) as info:
        load_config("paper")
    message = str(info.value)
    assert re.match(r"configuration key '[\w.]+' must be .*1\.0 GiB of memory", message)
    assert "\n" not in message and math.isfinite(len(message))
