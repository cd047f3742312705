"""Artifact identity: what changes the numbers changes the key, and nothing is reused silently.

Seen before these tests: a model trained on 1 thread and one trained on 2 (weights differing by
up to 1.3) were stored under the same folder; an edited audio file was read from a stale cached
spectrogram; `svd train` over a truncated model reported success; artifacts were private to
their owner (mode 0600); a killed write left its temporary file forever.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import run_cli, write_toy_corpus

from svdlib.detector.checkpoint import load_original_state_dict
from svdlib.digests import is_sidecar
from svdlib.errors import SvdError
from svdlib.experiments.config.loading import load_config
from svdlib.experiments.storage.store import Store, provenance_path
from svdlib.files import atomic_path

FAST = ["--profile", "tiny", "--set", "train.epochs=1", "--set", "train.epochsize=5",
        "--set", "train.batchsize=8", "--set", "attack.spec.max_iterations=3", "--quiet"]


run = run_cli


@pytest.fixture
def corpus(tmp_path):
    return write_toy_corpus(tmp_path / "jamendo", 2, 1, 2, seconds=4.0)


def test_atomic_writes_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "out.npz"
    # what a writer killed mid-write leaves: its temporary, named after its (dead) process
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    with atomic_path(target) as tmp:
        prefix = tmp.name.split("-", 1)[0]          # ".out.npz.<host>"
    leftover = tmp_path / f"{prefix}-{pid}-abc123.npz"
    alive = tmp_path / f"{prefix}-{os.getppid()}-def456.npz"   # a running writer's: kept
    leftover.write_bytes(b"half")
    alive.write_bytes(b"busy")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert not leftover.exists()
    assert alive.exists()


def test_thread_count_is_part_of_the_identity(capsys, tmp_path, corpus):
    results = tmp_path / "r"
    common = [*FAST, "--data", str(corpus), "--results", str(results)]
    threads_before = torch.get_num_threads()
    try:
        assert run(capsys, "train", "--threads", "1", *common)[0] == 0
        assert run(capsys, "train", "--threads", "2", *common)[0] == 0
    finally:
        torch.set_num_threads(threads_before)
    folders = sorted((results / "models").iterdir())
    assert len(folders) == 2                       # kept apart, never one overwriting the other
    recorded = sorted(json.loads(provenance_path(f).read_text())["environment"]["threads"]
                      for f in folders)
    assert recorded == [1, 2]
    for folder in folders:
        env = json.loads(provenance_path(folder).read_text())["environment"]
        assert env["torch"] == torch.__version__ and env["device"].startswith("cpu/")


def test_an_artifact_from_another_environment_is_refused(capsys, tmp_path, corpus):
    # a results folder copied from a machine with another thread count, renamed into the key
    # this machine computes: the stage refuses it in one line instead of reusing it
    results = tmp_path / "r"
    common = [*FAST, "--data", str(corpus), "--results", str(results)]
    threads_before = torch.get_num_threads()
    try:
        assert run(capsys, "train", "--threads", "1", *common)[0] == 0
        trained = next((results / "models").iterdir())
        cfg = load_config("tiny", {"run.num_threads": 2, "train.epochs": 1,
                                   "train.epochsize": 5, "train.batchsize": 8},
                          results=str(results), data=str(corpus))
        shutil.copytree(trained, Store(cfg).model_dir())
        code, _, err = run(capsys, "predict", "--threads", "2", *common)
    finally:
        torch.set_num_threads(threads_before)
    assert code == 2 and err.count("\n") == 1
    assert "another numeric environment" in err and "threads 1 vs 2" in err


def _stamps(folder):
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns
            for p in folder.rglob("*") if p.is_file() and not is_sidecar(p)}


def test_editing_one_audio_file_recomputes_exactly_what_depends_on_it(capsys, tmp_path,
                                                                      corpus):
    results = tmp_path / "r"
    common = [*FAST, "--data", str(corpus), "--results", str(results)]
    for stage in (["train"], ["predict"], ["attack", "--domain", "spec"]):
        assert run(capsys, *stage, *common)[0] == 0, stage
    before = _stamps(results)
    changed = (corpus / "filelists" / "test").read_text().split("\n")[0]
    kept = (corpus / "filelists" / "test").read_text().split("\n")[1]
    signal, rate = sf.read(corpus / "audio" / changed)
    sf.write(corpus / "audio" / changed, signal * 0.5, rate)   # a fixed (quieter) file
    for stage in (["train"], ["predict"], ["attack", "--domain", "spec"]):
        assert run(capsys, *stage, *common)[0] == 0, stage
    after = _stamps(results)

    def changed_files(prefix):
        return sorted(k for k in after if k.startswith(prefix) and after[k] != before.get(k))

    model = next(k for k in before if k.endswith("model.safetensors"))
    assert after[model] == before[model]                  # training data unchanged: not retrained
    spectra = changed_files("spectra/")
    assert len(spectra) == 1 and spectra[0].split("/")[-1].startswith(changed[:10])
    predictions = changed_files("models/")
    assert len(predictions) == 2                           # the test split's new predictions
    assert all("predictions-test-" in p for p in predictions)  # (+ provenance); valid kept
    attack = changed_files("attacks/")
    from svdlib.attacks.records import song_key

    assert any(song_key(changed) in p for p in attack)     # the edited song attacked again
    assert not any(song_key(kept) in p for p in attack)    # the other one kept
    assert any(p.endswith("summary.json") for p in attack)  # and the summary rebuilt
    store = Store(load_config("tiny", results=str(results), data=str(corpus)))
    record = np.load(next(results.glob(f"attacks/*/{song_key(changed)}.npz")))
    assert str(record["source"]) == store.song_fingerprint("test", changed)


def test_train_over_a_truncated_model_is_an_error_and_later_stages_say_it_once(capsys, tmp_path,
                                                                              corpus):
    common = [*FAST, "--data", str(corpus), "--results", str(tmp_path / "r")]
    assert run(capsys, "train", *common)[0] == 0
    model = next((tmp_path / "r" / "models").glob("*/model.safetensors"))
    model.write_bytes(model.read_bytes()[:1000])
    code, _, err = run(capsys, "train", *common)
    assert code == 2 and err.count("\n") == 1 and str(model) in err and "truncated" in err
    code, _, err = run(capsys, "attack", "--domain", "spec", *common)
    assert code == 2 and err.count("\n") == 1 and "truncated" in err


def test_a_pickled_checkpoint_is_refused_in_one_line(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"conv1.weight": torch.zeros(1), "extra": {1, 2}, "fn": sorted}, path)
    with pytest.raises(SvdError) as caught:
        load_original_state_dict(path, load_config("tiny").frontend)
    message = str(caught.value)
    assert "\n" not in message and "pickled" in message and str(path) in message
    assert "weights_only=False" not in message


def test_the_code_fingerprint_follows_the_code_and_not_its_prose(tmp_path):
    from svdlib.provenance import code_fingerprint

    package = tmp_path / "method"
    package.mkdir()
    source = package / "rank.py"
    source.write_text('"""Rank segments."""\n\ndef rank(w):\n    """Descending."""\n'
                      "    return sorted(w, reverse=True)\n")
    before = code_fingerprint(("method",), tmp_path)
    source.write_text('"""Rank the segments, most relevant first."""\n\n# a comment\n'
                      'def rank(w):\n    """Descending order."""\n'
                      "    return sorted(w, reverse=True)  # largest first\n")
    assert code_fingerprint(("method",), tmp_path) == before
    source.write_text('"""Rank segments."""\n\ndef rank(w):\n    """Descending."""\n'
                      "    return sorted(w)\n")
    assert code_fingerprint(("method",), tmp_path) != before

