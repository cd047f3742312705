"""Concurrent runs on one results folder share the work, and a killed run blocks nothing.

The count of computations is read from what the processes wrote: every atomic write of an
artifact is logged (a wrapper around :func:`svdlib.files.atomic_path` that then does the real
write), so the assertions do not depend on how loaded the machine is.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from conftest import write_toy_corpus

from svdlib.digests import is_sidecar
from svdlib.files import load_arrays
from svdlib.locks import artifact_lock, lock_path

ROOT = Path(__file__).resolve().parent.parent

#: Runs ``svd`` with every finished atomic write logged as "<pid> <path>" to argv[1].
_LOGGING_SVD = """
import contextlib, os, sys
import svdlib.files as files
log, real = sys.argv[1], files.atomic_path

@contextlib.contextmanager
def logged(path, *args, **kwargs):
    with real(path, *args, **kwargs) as tmp:
        yield tmp
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {os.path.abspath(path)}\\n")

files.atomic_path = logged
from svdlib.cli import main
sys.exit(main(sys.argv[2:]))
"""

#: The tiny profile made smaller still (the whole ``svd run`` is measured in the README).
SMALL = ["--profile", "tiny", "--quiet", "--set", "train.epochs=1", "--set", "train.epochsize=8",
         "--set", "train.batchsize=8", "--set", "attack.wave.max_iterations=8",
         "--set", "attack.spec.max_iterations=8", "--set", "lime.num_samples=32",
         "--set", "lime.pick_per_file=2"]


def _svd(log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _LOGGING_SVD, str(log), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


#: Cheap files that both runs may write: summaries, assembled files, tables, the spectrogram
#: cache (each a deterministic function of finished artifacts or of the audio).
_CHEAP_FOLDERS = ("/spectra/", "/experiments/", "/explanations/", "/subset/")
_CHEAP_NAMES = ("config.json", "summary.json", "logger.csv", "eval.json", "provenance.json")


def _heavy(path: str) -> bool:
    """Artifacts that cost real computation: models, predictions, attacked songs, work items,
    picks, horses, the benchmark of a setting."""
    return not (any(part in path for part in _CHEAP_FOLDERS) or path.endswith(_CHEAP_NAMES)
                or is_sidecar(path))       # a digest goes with its file, which is judged


def test_two_concurrent_runs_compute_every_artifact_once(tmp_path):
    """Two ``svd explain`` (training, both attacks, picks, explanations) on one folder."""
    data = write_toy_corpus(tmp_path / "corpus", 2, 1, 2, seconds=4.0)
    log, shared = tmp_path / "writes.log", tmp_path / "shared"
    args = ["explain", "--data", str(data), "--results", str(shared), *SMALL]
    first, second = _svd(log, *args), _svd(log, *args)
    for process in (first, second):
        _, err = process.communicate(timeout=900)
        assert process.returncode == 0, err
    writes = [line.split(" ", 1) for line in log.read_text(encoding="utf-8").splitlines()]
    writers: dict[str, set[str]] = {}
    for pid, path in writes:
        if _heavy(path):
            writers.setdefault(path, set()).add(pid)
    twice = [path for path, pids in writers.items() if len(pids) > 1]
    assert not twice, twice                                   # computed by one process only
    assert any(p.endswith("model.safetensors") for p in writers)
    assert sum("/work/explain/" in p for p in writers) >= 2
    assert sum("/picks/" in p for p in writers) == 4
    # both took part: the attacked songs and the explained pairs were shared out
    assert len({pid for pid, path in writes if "/work/" in path or "/attacks/" in path}) == 2
    assert not [p for p in shared.rglob(".*") if not is_sidecar(p)]   # no lock or temporary left
    # the same numbers as a run alone (on a copy of the model: one process trained it anyway)
    alone = tmp_path / "alone"
    shutil.copytree(shared / "models", alone / "models")
    single = _svd(tmp_path / "alone.log", "explain", "--data", str(data), "--results",
                  str(alone), *SMALL)
    _, err = single.communicate(timeout=900)
    assert single.returncode == 0, err
    for folder in ("picks", "explanations"):
        files = sorted(p.name for p in (alone / folder).glob("*.npz"))
        assert len(files) == 4 and files == sorted(p.name for p in (shared / folder).glob("*.npz"))
        for name in files:
            ours, theirs = load_arrays(shared / folder / name), load_arrays(alone / folder / name)
            assert ours.keys() == theirs.keys()
            for key in ours:
                np.testing.assert_array_equal(ours[key], theirs[key], err_msg=f"{name} {key}")


def test_a_lock_held_by_a_killed_run_blocks_nothing(tmp_path):
    data = write_toy_corpus(tmp_path / "corpus", 2, 1, 1, seconds=4.0)
    results = tmp_path / "r"
    args = ["train", "--data", str(data), "--results", str(results), *SMALL[:9]]
    victim = _svd(tmp_path / "victim.log", *args)
    deadline = time.monotonic() + 300
    while not list((results / "models").glob(".*.lock")) and victim.poll() is None:
        assert time.monotonic() < deadline, "the run never took its model's lock"
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    [stale] = (results / "models").glob(".*.lock")     # a killed process removes nothing
    assert not list(results.rglob("model.safetensors"))
    again = _svd(tmp_path / "again.log", *args)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert list(results.rglob("model.safetensors"))
    assert not stale.exists()


_HOLD = """
import sys, time
from svdlib.locks import artifact_lock
with artifact_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_artifact_lock_waits_for_another_process_and_not_for_itself(tmp_path):
    artifact = tmp_path / "thing.npz"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(artifact)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with artifact_lock(artifact, blocking=False) as mine:
            assert not mine                    # another process holds it
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        waited = []
        with artifact_lock(artifact, on_wait=waited.append) as mine:
            assert mine and not waited        # the kernel released the killed holder's lock
            with artifact_lock(artifact, blocking=False) as again:
                assert again                   # re-entrant: a stage inside a stage
        assert not lock_path(artifact).exists()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


_SHARE = """
import json, os, sys, time
from pathlib import Path
from svdlib.experiments.execution.work import WorkItem, run_in_process
from svdlib.files import save_json
folder = Path(sys.argv[1])
(folder / f"ready-{os.getpid()}").touch()
while len(list(folder.glob("ready-*"))) < 2:      # start together
    time.sleep(0.01)

def work(cfg, item):
    time.sleep(0.3)
    save_json(item.output, {"pid": os.getpid()})      # an artifact, with its digest
    with open(folder / "log", "a") as log:
        log.write(f"{os.getpid()} {item.name}\\n")

items = [WorkItem("demo", f"item {i}", str(folder / f"out-{i}.json")) for i in range(8)]
sys.exit(len(run_in_process(items, work, {})))
"""


def test_work_items_are_shared_between_processes(tmp_path):
    processes = [subprocess.Popen([sys.executable, "-c", _SHARE, str(tmp_path)], cwd=ROOT)
                 for _ in range(2)]
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    lines = [line.split() for line in (tmp_path / "log").read_text().splitlines()]
    done = Counter(f"{a} {b}" for _, a, b in lines)
    assert sorted(done) == sorted(f"item {i}" for i in range(8))
    assert set(done.values()) == {1}                       # each item computed once
    assert len({pid for pid, *_ in lines}) == 2            # by both processes
    assert not list(tmp_path.glob(".*.lock"))
