"""Every artifact reads back as it was written, or is refused; and nothing is ever a pickle.

Issue 21 reproduced on the tiny profile: two bytes flipped in a finished model changed the
predictions by up to 0.96 with exit code 0, a scaled block of a cached spectrogram moved them by
0.22, and a truncated predictions file was reported as done and then crashed `svd eval`. Here
every kind of artifact is damaged three ways in a copy of one computed results folder (bytes
flipped at the same size, truncated, and replaced by a valid file of its format written
without svdlib), and the `svd` command that would use it must refuse it: exit code 2, one line
on stderr naming the file, and nothing computed from it (no file of the results folder written
or changed).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import run_cli, toy_config

from svdlib.digests import (
    artifact_done,
    is_sidecar,
    remember,
    remove_artifact,
    sidecar_path,
    verify_artifact,
)
from svdlib.errors import ArtifactError, SvdError
from svdlib.experiments import stages
from svdlib.experiments.artifacts.tables import load_table
from svdlib.experiments.storage.store import Store
from svdlib.files import record_digest

#: The toy detector's settings (conftest's toy_config) and cheap, strong experiment settings.
SETTINGS = {"train.epochs": 3, "train.epochsize": 40, "train.batchsize": 16,
            "attack.wave.lr": 3e-3, "attack.wave.alpha": 50.0, "attack.wave.clip_eps": 0.02,
            "attack.wave.max_iterations": 12, "attack.spec.lr": 0.05, "attack.spec.alpha": 1e5,
            "attack.spec.clip_eps": 1.0, "attack.spec.max_iterations": 12,
            "lime.num_samples": 64, "lime.pick_per_file": 1, "experiment.bootstrap": 100,
            "experiment.subset_ks": [1], "experiment.horses_per_shape": 1,
            "experiment.horse_probability": 0.7, "benchmark.max_k": 2,
            "benchmark.explainers": ["random"]}
#: A second detector of the same data, interrupted after its first epoch (a checkpoint).
INTERRUPTED = {"train.epochs": 2, "train.epochsize": 5, "train.batchsize": 8}


def cli_args(root: Path, corpus: Path, settings: dict) -> list[str]:
    """``svd`` options for the tiny profile over ``root`` and the toy corpus."""
    pairs = [f"{key}={json.dumps(value) if isinstance(value, list) else value}"
             for key, value in settings.items()]
    return ["--profile", "tiny", "--results", str(root), "--data", str(corpus), "--quiet",
            *[arg for pair in pairs for arg in ("--set", pair)]]


def interrupt_after_first_checkpoint(root: Path, corpus: Path) -> Path:
    """`svd train` of the INTERRUPTED detector, stopped once its first checkpoint is written."""
    import svdlib.detector.training as training
    from svdlib.cli import main

    real = training._save_checkpoint

    def save_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err):
        patch.setattr(training, "_save_checkpoint", save_then_stop)
        code = main(["train", *cli_args(root, corpus, INTERRUPTED)])
    assert code == 130 and "interrupted" in err.getvalue()
    (checkpoint,) = root.glob(f"models/*/{training.CHECKPOINT}")
    return checkpoint


@pytest.fixture(scope="module")
def computed(toy_store, toy_corpus, tmp_path_factory):
    """The stages on the toy corpus, and a detector interrupted after one epoch."""
    from svdlib.experiments.artifacts.benchmark import benchmark_items, benchmark_worker

    root = tmp_path_factory.mktemp("integrity") / "results"
    shutil.copytree(toy_store.root, root)
    store = Store(toy_config(root, toy_corpus, **SETTINGS))
    stages.figures(store)        # every stage of the paper, its tables and figures
    (item,) = [i for i in benchmark_items(store) if i.name == "benchmark spec t1"]
    benchmark_worker(store.cfg.to_dict(), item)    # one setting's benchmark is enough here
    interrupt_after_first_checkpoint(root, toy_corpus)
    return root


@pytest.fixture
def results(computed, tmp_path):
    """A private copy of the computed results folder."""
    root = tmp_path / "results"
    shutil.copytree(computed, root)
    return root


# -- breaking files -------------------------------------------------------------------------------
def flip_bytes(path: Path) -> None:
    """Two bytes in the middle inverted: same size, other contents."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF
    data[middle + 1] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def rewrite(path: Path) -> None:
    """A valid file of the same format with other numbers, written without svdlib."""
    buffer = io.BytesIO()
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        key = next(k for k, v in arrays.items() if v.dtype.kind in "fiub" and v.size)
        arrays[key] = ~arrays[key] if arrays[key].dtype.kind == "b" else arrays[key] + 1
        np.savez(buffer, **arrays)
    elif path.suffix == ".npy":
        np.save(buffer, np.load(path, allow_pickle=False) * 0.5)
    elif path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import save

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata()
            names = handle.keys()
            state = {key: handle.get_tensor(key) for key in names}
        key = next(k for k, v in state.items() if v.is_floating_point())
        state[key] = state[key] * 0.5
        buffer.write(save(state, metadata=meta))
    elif path.suffix == ".wav":
        signal, rate = sf.read(path, dtype="float32")
        sf.write(buffer, signal * 0.5, rate, subtype="FLOAT", format="WAV")
    elif path.suffix == ".csv":
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        buffer.write("".join(lines[:-1]).encode())      # one row fewer
    elif path.suffix == ".json":
        buffer.write(json.dumps({**json.loads(path.read_text()), "edited": 1}).encode())
    else:
        raise AssertionError(path)
    path.write_bytes(buffer.getvalue())


BREAKAGES = {"flipped": flip_bytes, "truncated": truncate, "rewritten": rewrite}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


# -- every kind of artifact, and the command that would use it -------------------------------------
def _one(root: Path, pattern: str) -> Path:
    found = sorted(p for p in root.glob(pattern) if not is_sidecar(p))
    assert found, pattern
    return found[0]


def _test_song_spectrogram(root: Path, corpus: Path) -> Path:
    song = (corpus / "filelists" / "test").read_text(encoding="utf-8").split("\n")[0]
    return _one(root, f"spectra/*/{Path(song).stem}-*.npy")


#: kind -> (file to break, files to delete first so that the command would recompute from
#: the broken one, the command).
CASES = {
    "model weights": ("models/seed0-*/model.safetensors", ["models/*/predictions-*.npz"],
                      ["predict"]),
    "training checkpoint": ("models/*/checkpoint.safetensors", [], ["train"]),
    "spectrogram cache": ("<test song>", ["models/*/predictions-test-*.npz"], ["predict"]),
    "predictions": ("models/seed0-*/predictions-test-*.npz", [], ["eval"]),
    "attack record": ("attacks/spec-test-*/*.npz", ["picks/spec-t1-*.npz"],
                      ["pick", "--domain", "spec", "--target", "1"]),
    "adversarial audio": ("attacks/wave-test-*/*.wav", ["picks/wave-t1-*.npz"],
                          ["pick", "--domain", "wave", "--target", "1"]),
    "attack log (csv)": ("attacks/spec-test-*/logger.csv", ["picks/spec-t1-*.npz"],
                         ["pick", "--domain", "spec", "--target", "1"]),
    "attack summary (json)": ("attacks/spec-test-*/summary.json", ["picks/spec-t1-*.npz"],
                              ["pick", "--domain", "spec", "--target", "1"]),
    "picks": ("picks/spec-t1-*.npz", ["explanations/spec-t1-*.npz"],
              ["explain", "--domain", "spec", "--target", "1"]),
    "explanations": ("explanations/spec-t1-*.npz", [],
                     ["explain", "--domain", "spec", "--target", "1"]),
    "subsets": ("subset/spec-t1-k1-*.npz", [], ["experiment", "all"]),
    "horses": ("horses/*.npz", [], ["horses"]),
    "benchmark arrays": ("benchmark/spec-t1-*/attributions.npz", [], ["benchmark"]),
    "benchmark table (csv)": ("benchmark/spec-t1-*/curve.csv", [], ["benchmark"]),
    "provenance (json)": ("models/seed0-*/provenance.json", [], ["train"]),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
@pytest.mark.parametrize("kind", list(CASES))
def test_a_damaged_artifact_is_refused_in_one_line_and_not_used(capsys, results, toy_corpus,
                                                                 kind, breakage):
    pattern, first_delete, command = CASES[kind]
    path = _test_song_spectrogram(results, toy_corpus) if pattern == "<test song>" \
        else _one(results, pattern)
    for delete in first_delete:
        for found in results.glob(delete):
            remove_artifact(found)
    BREAKAGES[breakage](path)
    before = snapshot(results)
    settings = INTERRUPTED if kind == "training checkpoint" else SETTINGS
    code, _, err = run_cli(capsys, *command, *cli_args(results, toy_corpus, settings))
    assert code == 2, err
    assert err.startswith("svd: error: ") and err.count("\n") == 1, err
    assert f"'{path}'" in err and "delete it" in err, err
    assert snapshot(results) == before       # nothing computed from it, nothing half-written


def test_a_table_of_the_experiments_is_checked_when_read(results, toy_corpus):
    store = Store(toy_config(results, toy_corpus, **SETTINGS))
    table = store.experiments_dir() / "table1.csv"
    assert len(load_table(store, "table1"))
    for breakage in BREAKAGES.values():
        saved = table.read_bytes()
        breakage(table)
        with pytest.raises(ArtifactError) as caught:
            load_table(store, "table1")
        assert str(table) in str(caught.value) and "\n" not in str(caught.value)
        table.write_bytes(saved)
    sidecar_path(table).unlink()        # a file without a recorded digest is refused too
    with pytest.raises(ArtifactError, match="no recorded digest"):
        load_table(store, "table1")


def test_every_file_of_a_results_folder_has_a_digest_and_none_is_a_pickle(computed):
    files = [p for p in computed.rglob("*") if p.is_file() and not is_sidecar(p)]
    kinds = {p.suffix for p in files}
    assert {".npz", ".npy", ".wav", ".csv", ".json", ".safetensors", ".png", ".svg"} <= kinds
    assert any(p.name == "checkpoint.safetensors" for p in files)
    for path in files:
        assert artifact_done(path), path                # recorded, and reads back
        head = path.read_bytes()[:2]
        assert head[:1] != b"\x80", path                # no pickle stream
        if zipfile.is_zipfile(path):                    # .npz only, never torch's zip format
            assert path.suffix == ".npz", path
            with zipfile.ZipFile(path) as archive:
                assert all(name.endswith(".npy") for name in archive.namelist()), path


def test_an_interrupted_training_resumes_to_the_uninterrupted_model(capsys, results, tmp_path,
                                                                     toy_corpus):
    from safetensors.torch import load_file

    from svdlib.detector.state import load_state

    (checkpoint,) = results.glob("models/*/checkpoint.safetensors")
    assert load_state(checkpoint)["epoch"] == 1          # interrupted after its first epoch
    assert run_cli(capsys, "train", *cli_args(results, toy_corpus, INTERRUPTED))[0] == 0
    straight = tmp_path / "straight"
    shutil.copytree(results / "spectra", straight / "spectra")
    assert run_cli(capsys, "train", *cli_args(straight, toy_corpus, INTERRUPTED))[0] == 0
    resumed_model = checkpoint.parent / "model.safetensors"
    (straight_model,) = straight.glob("models/*/model.safetensors")
    assert straight_model.parent.name == checkpoint.parent.name
    a, b = load_file(str(resumed_model)), load_file(str(straight_model))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (resumed_model.parent / "history.json").read_text() == \
        (straight_model.parent / "history.json").read_text()
    assert not checkpoint.exists() and not sidecar_path(checkpoint).exists()


def test_checks_are_memoised_and_see_a_change(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    tmp = tmp_path / "a.tmp"
    tmp.write_bytes(b"0123456789")
    record_digest(tmp, path)
    os.replace(tmp, path)
    remember(path)
    import svdlib.digests as digests

    hashed = digests.digest_stats()["files"]
    verify_artifact(path)
    assert digests.digest_stats()["files"] == hashed     # just written: not hashed again
    path.write_bytes(b"0123456780")                       # same size, new contents
    with pytest.raises(ArtifactError, match="has changed since it was written"):
        verify_artifact(path)
    monkeypatch.setenv("SVD_VERIFY", "0")                 # benchmarking only: no checks
    verify_artifact(path)
    with pytest.raises(SvdError, match="missing artifact"):
        monkeypatch.delenv("SVD_VERIFY")
        verify_artifact(tmp_path / "absent.bin")
