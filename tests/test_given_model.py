"""A given detector (``--model``, ``model.checkpoint``) in every stage, instead of training one.

The given file here is the toy detector of ``conftest.toy_store`` re-saved in the layout of the
paper's released ``model.pt`` (as ``test_model.py`` builds it: the unused ismir2016 layer and
first-layer bias included), read back only with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli, write_toy_corpus

from svdlib.audio.settings import FrontEndConfig
from svdlib.book.runs import RUNS, notebook_parameters
from svdlib.book.stamps import run_stamp
from svdlib.cli.app import configure
from svdlib.cli.parser import build_parser
from svdlib.detector.checkpoint import save_model
from svdlib.detector.inference import load_predictions
from svdlib.detector.model import build_model
from svdlib.detector.settings import ModelConfig
from svdlib.experiments.artifacts.training import describe_detector
from svdlib.experiments.config.loading import load_config
from svdlib.experiments.storage.splits import load_store_split
from svdlib.experiments.storage.store import Store

WIDTH = 0.25   # the tiny profile's detector


def original_layout(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detector's state dict as the original's ``model.pt`` holds it (unused layers too)."""
    state = dict(net.state_dict())
    channels = state["conv4.weight"].shape[0]
    state["conv_16.weight"] = torch.zeros(2 * channels, channels, 3, 18)   # ismir2016 only
    state["conv_16.bias"] = torch.zeros(2 * channels)
    for name in ("weight", "bias", "running_mean", "running_var"):
        state[f"bn_16.{name}"] = torch.ones(2 * channels)
    state["conv1.bias"] = torch.zeros(state["conv1.weight"].shape[0])   # unused by 0mean
    return state


def random_net(width: float = WIDTH, bands: int = 80, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelConfig(width=width), FrontEndConfig(mel_bands=bands)).eval()


@pytest.fixture(scope="module")
def given_pt(toy_store, tmp_path_factory) -> Path:
    """The toy detector in the original's layout, as ``model.pt``."""
    from svdlib.experiments.artifacts.detectors import load_trained

    path = tmp_path_factory.mktemp("given") / "model.pt"
    torch.save(original_layout(load_trained(toy_store, device="cpu")), path)
    return path


def cli_config(*args: str):
    """The configuration ``svd`` builds from a command line."""
    return configure(build_parser().parse_args(list(args)))


def provenance_stages(results: Path) -> set[str]:
    return {json.loads(p.read_text(encoding="utf-8"))["stage"]
            for p in results.rglob("*provenance.json")}


# Enough of every stage to run it; the numbers mean nothing.
SHORT = ("--set", "attack.wave.max_iterations=8", "--set", "attack.spec.max_iterations=8",
         "--set", "lime.num_samples=32", "--set", "lime.pick_per_file=1",
         "--set", "benchmark.explainers=[occlusion,saliency]", "--set", "benchmark.max_k=1",
         "--set", "experiment.bootstrap=100", "--set", "experiment.subset_ks=[1]",
         "--set", "train.seeds=[0,1,2]")


@pytest.mark.slow   # every stage once: about 45 s of CPU, plus the shared toy detector
def test_run_with_a_given_model_trains_nothing_and_predicts_with_it(given_pt, tmp_path, capsys):
    corpus = write_toy_corpus(tmp_path / "corpus", n_train=1, n_valid=1, n_test=1, seconds=6.0,
                              seed=1)   # a song each: the stages run, their numbers mean nothing
    results = tmp_path / "results"
    args = ("--profile", "tiny", "--model", str(given_pt), "--data", str(corpus),
            "--results", str(results), "--quiet", *SHORT)
    code, out, err = run_cli(capsys, "run", *args)
    assert code == 0, err
    # training was skipped, in one line, and nothing of it was written
    skipped = [line for line in out.splitlines() if line.startswith("train: ")]
    assert len(skipped) == 1 and "skipped" in skipped[0] and str(given_pt) in skipped[0]
    (model_dir,) = (results / "models").iterdir()
    store = Store(cli_config("run", *args))
    assert model_dir == store.model_dir()
    assert model_dir.name.startswith(f"given-{store.model_digest()}-")
    assert not list(results.rglob("seed*")) and not list(results.rglob("*.safetensors"))
    assert not list(results.rglob("history.json"))
    assert "train" not in provenance_stages(results)
    assert {"given model", "predict", "attack wave", "attack spec"} <= provenance_stages(results)
    # three seeds, one detector: one evaluation, without a spread
    evaluation = json.loads((model_dir / "eval.json").read_text(encoding="utf-8"))
    assert evaluation["seed"] is None and given_pt.name in evaluation["detector"]
    assert re.search(r"^test set of .*, 1 run\(s\): error [\d.]+ %, ", out, flags=re.M)
    assert len(re.findall(r"^given model\.pt \(sha256 ", out, flags=re.M)) == 1
    # every later stage chained from the given model
    for domain in ("wave", "spec"):
        assert store.attack_dir(domain).is_dir()
    assert (store.experiments_dir() / "table1.csv").is_file()
    assert (store.experiments_dir() / "benchmark.csv").is_file()

    # the predictions are the given model's: an independent forward pass, excerpt by excerpt
    state = torch.load(given_pt, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items()
             if not k.startswith(("conv_16.", "bn_16.")) and k != "conv1.bias"}
    net = build_model(ModelConfig(width=WIDTH), FrontEndConfig())
    net.load_state_dict(state, strict=True)
    net.eval()
    song = load_store_split(store, "test")[0]
    predicted = load_predictions(store.predictions_path("test"))[song.name]
    padded = np.pad(song.spec, ((57, 57), (0, 0)))
    frames = np.linspace(0, len(song.spec) - 1, 12).astype(int)
    excerpts = torch.from_numpy(np.stack([padded[f:f + 115] for f in frames]).astype(np.float32))
    with torch.no_grad():
        direct = torch.sigmoid(net(excerpts)[:, 0]).numpy()
    assert len(predicted) == len(song.spec)
    np.testing.assert_allclose(predicted[frames], direct, atol=1e-5)


def test_train_with_a_given_model_says_why_it_skips(given_pt, toy_corpus, tmp_path,
                                                    monkeypatch, capsys):
    work = tmp_path / "here"
    work.mkdir()
    shutil.copy(given_pt, work / "released.pt")
    monkeypatch.chdir(work)   # a relative --model resolves against the current folder
    results = tmp_path / "results"
    args = ("--profile", "tiny", "--model", "released.pt", "--data", str(toy_corpus),
            "--results", str(results), "--set", "train.seeds=[0,1]")
    assert cli_config("train", *args).model.checkpoint == str(work / "released.pt")
    code, out, err = run_cli(capsys, "train", *args)
    assert code == 0 and err == ""
    assert out.count("\n") == 1 and out.startswith("train: skipped, the detector is given")
    assert str(work / "released.pt") in out
    assert [p.name.split("-")[0] for p in (results / "models").iterdir()] == ["given"]


def _mismatches(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Files that do not fit the tiny profile, and what the error must say."""
    cases: dict[str, tuple[Path, str]] = {}

    def pt(name, obj, expected):
        torch.save(obj, tmp / name)
        cases[name] = (tmp / name, expected)

    pt("wider.pt", original_layout(random_net(width=0.5)), "shape")
    pt("bands.pt", original_layout(random_net(bands=64)), "shape")
    missing = original_layout(random_net())
    del missing["fc3.bias"]
    pt("missing.pt", missing, "lacks weights ['fc3.bias']")
    extra = original_layout(random_net())
    extra["fc4.weight"] = torch.zeros(1)
    pt("extra.pt", extra, "fc4.weight")
    pt("list.pt", list(random_net().state_dict().values()), "does not hold a state dict")
    pt("checkpoint.pt", {"model": random_net().state_dict(), "epoch": 3},
       "not a state dict of tensors")
    pt("pickled.pt", random_net(), "pickled Python objects")
    (tmp / "noise.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    cases["noise.pt"] = (tmp / "noise.pt", "cannot be read as a state dict")
    save_model(tmp / "wider.safetensors", random_net(width=0.5))
    cases["wider.safetensors"] = (tmp / "wider.safetensors", "another architecture")
    cases["absent.pt"] = (tmp / "absent.pt", "does not exist")
    return cases


@pytest.fixture(scope="module")
def mismatches(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return _mismatches(tmp_path_factory.mktemp("mismatch"))


@pytest.mark.parametrize("name", ["wider.pt", "bands.pt", "missing.pt", "extra.pt", "list.pt",
                                  "checkpoint.pt", "pickled.pt", "noise.pt",
                                  "wider.safetensors", "absent.pt"])
def test_a_checkpoint_that_does_not_fit_is_one_line(mismatches, name, toy_corpus, tmp_path,
                                                     capsys):
    path, expected = mismatches[name]
    results = tmp_path / "results"
    code, out, err = run_cli(capsys, "train", "--profile", "tiny", "--model", str(path),
                             "--data", str(toy_corpus), "--results", str(results))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("svd: error: ")
    assert f"'{path}'" in err and expected in err, err
    assert not (results / "models").exists()   # nothing recorded for a file that does not fit


def test_a_later_stage_reports_the_mismatch_before_reading_songs(mismatches, toy_corpus,
                                                                 tmp_path, capsys):
    path, _ = mismatches["wider.pt"]
    results = tmp_path / "results"
    code, out, err = run_cli(capsys, "predict", "--profile", "tiny", "--model", str(path),
                             "--data", str(toy_corpus), "--results", str(results))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "shape" in err and str(path) in err
    assert not list(results.rglob("*.npz")) and not list(results.rglob("*.npy"))


def _artifacts(store: Store) -> list[Path]:
    paths = [store.model_dir(), store.predictions_path("valid"), store.predictions_path("test"),
             store.horses_path(), store.experiments_dir()]
    for domain in ("wave", "spec"):
        paths.append(store.attack_dir(domain))
        for target in (0, 1):
            paths += [store.picks_path(domain, target), store.explanations_path(domain, target),
                      store.subset_path(domain, target, 3), store.benchmark_dir(domain, target)]
    return paths


def test_two_checkpoints_never_share_an_artifact(given_pt, toy_corpus, tmp_path, capsys):
    other = tmp_path / "other.pt"
    state = torch.load(given_pt, map_location="cpu", weights_only=True)
    state["fc3.bias"] = state["fc3.bias"] + 0.5
    torch.save(state, other)
    copy = tmp_path / "elsewhere" / "model.pt"
    copy.parent.mkdir()
    shutil.copy(given_pt, copy)
    results = tmp_path / "results"

    def store(checkpoint: str = "", **more) -> Store:
        return Store(load_config("tiny", {"model.checkpoint": checkpoint, **more},
                                 results=str(results), data=str(toy_corpus)))

    one, two, trained = _artifacts(store(str(given_pt))), _artifacts(store(str(other))), \
        _artifacts(store())
    assert not set(one) & set(two) and not set(one) & set(trained)
    assert not set(two) & set(trained)
    assert _artifacts(store(str(copy))) == one   # the contents identify a model, not its path
    assert not set(_artifacts(store(str(given_pt), **{"frontend.magscale": "log1p"}))) & set(one)
    # and on disk: predictions of both, side by side
    for path in (given_pt, other):
        code, _, err = run_cli(capsys, "predict", "--profile", "tiny", "--model", str(path),
                               "--data", str(toy_corpus), "--results", str(results), "--quiet",
                               "--splits", "test")
        assert code == 0, err
    first, second = (load_predictions(p) for p in sorted(results.rglob("predictions-test-*.npz")))
    assert len(list(results.rglob("predictions-test-*.npz"))) == 2
    name = next(iter(first))
    assert not np.allclose(first[name], second[name])


def test_vars_file_applies_like_the_original_and_set_wins(given_pt, tmp_path):
    released = tmp_path / "model.vars"   # the released model.vars (paper-method-spec 1.2)
    released.write_text(
        "sample_rate = 22050\nframe_len = 1024\nfps = 70\nfilterbank = mel_orig\n"
        "mel_bands = 80\nmel_min = 27.5\nmel_max = 8000\nmagscale = log\nblocklen = 115\n"
        "learn_scheme = adam\nbatchsize = 32\ninitial_eta = 0.001\neta_decay = 0.85\n"
        "eta_decay_every = 1\nmomentum = 0.9\nepochs = 20\nepochsize = 2000\nl2_decay = 0\n"
        "first_params = 1\nfirst_params_eta_scale = 1\nfirst_params_log = 0\n"
        "spline_order = 2\nmax_stretch = 0.3\nmax_shift = 0.3\nmax_db = 10\nbg_threads = 3\n"
        "bg_processes = 0\narch = ismir2015\narch.batch_norm = 1\narch.convdrop = none\n"
        "arch.firstconv_zeromean = 0mean\n", encoding="utf-8")
    base = ("--profile", "tiny", "--model", str(given_pt), "--results", str(tmp_path / "r"))
    cfg = cli_config("attack", *base, "--vars", str(released), "--set", "train.epochs=3")
    assert cfg.train.epochs == 3 and cfg.train.epochsize == 2000   # --set wins over --vars
    assert cfg.frontend.magscale == "log" and cfg.model.firstconv_zeromean is True
    log1p = tmp_path / "log1p.vars"
    log1p.write_text("magscale = log1p\n", encoding="utf-8")
    plain = Store(cli_config("attack", *base))
    other = Store(cli_config("attack", *base, "--vars", str(log1p)))
    assert other.cfg.frontend.magscale == "log1p"
    assert other.model_dir() != plain.model_dir()   # the front end is part of its identity


def test_book_runs_get_the_given_model_and_name_it(given_pt, toy_corpus, tmp_path):
    checkpoint = tmp_path / "model.pt"
    shutil.copy(given_pt, checkpoint)
    cfg = cli_config("book", "--profile", "tiny", "--model", str(checkpoint),
                     "--data", str(toy_corpus), "--results", str(tmp_path / "r"))
    parameters = notebook_parameters(cfg, RUNS[0], "tiny")
    assert parameters["overrides"]["model.checkpoint"] == str(checkpoint)
    again = load_config(parameters["profile"], parameters["overrides"])
    assert Store(again).model_dir() == Store(cfg).model_dir()
    text = describe_detector(Store(cfg))
    assert "loaded, not trained" in text and "model.pt" in text
    assert Store(cfg).model_digest() in text
    trained = describe_detector(Store(load_config("tiny", {"train.seeds": [3, 4]},
                                                  results=str(tmp_path / "r"))))
    assert trained.startswith("The detector is trained here: seeds 3, 4, width 0.25")
    # the notebooks rerun when the checkpoint's contents change at the same path
    source = Path(__file__).resolve().parent.parent / "notebooks" / "model.ipynb"
    before = run_stamp(cfg, source, parameters, svdlib_hash="x")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["fc3.bias"] = state["fc3.bias"] + 1.0
    state["extra.unused"] = torch.zeros(3)
    torch.save(state, checkpoint)
    assert run_stamp(cfg, source, parameters, svdlib_hash="x") != before
