"""Operating-system errors are user errors: one line naming the path, exit code 2, nothing
half-written; and relative paths from the command line resolve against the current directory.

The read-only and full file systems are real: small tmpfs mounts (the tests that need one are
skipped, with the reason, where ``mount`` is not allowed). Tests run as root here, where
``chmod`` stops nothing, so an unreadable file is a link to ``/proc/self/mem`` (reading it
fails with EIO even for root) and a path that cannot be created lies under ``/proc``.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, write_toy_corpus

from svdlib.book.runs import config_overrides
from svdlib.experiments.config.loading import load_config
from svdlib.experiments.execution.work import WorkItem, raise_failures, run_in_process
from svdlib.experiments.storage.store import Store
from svdlib.files import save_arrays

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--profile", "tiny", "--set", "train.epochs=1", "--set", "train.epochsize=5",
        "--set", "train.batchsize=8", "--quiet"]


@pytest.fixture
def corpus(tmp_path):
    return write_toy_corpus(tmp_path / "jamendo", 2, 1, 1, seconds=4.0)


def _mount_tmpfs(folder: Path, size: str = "3m") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); "
                    "a full or read-only file system needs one")


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs, unmounted afterwards."""
    folder = tmp_path / "disk"
    _mount_tmpfs(folder)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def _one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.startswith("svd: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def _nothing_half_written(root: Path) -> None:
    """No temporary or lock file, and no model (training never finished)."""
    if root.exists():
        leftovers = [p for p in root.rglob("*") if p.name.startswith(".")]
        assert not leftovers, leftovers
        assert not list(root.rglob("model.safetensors"))


def test_results_naming_a_file(capsys, tmp_path, corpus):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    code, _, err = run_cli(capsys, "train", "--data", str(corpus), "--results", str(target),
                           *FAST)
    _one_line(code, err, f"results folder '{target}' is a file", "--results")
    assert target.read_text() == "mine\n"
    code, _, err = run_cli(capsys, "train", "--data", str(corpus), "--results",
                           str(target / "sub"), *FAST)
    _one_line(code, err, f"'{target / 'sub'}' cannot be created: '{target}' is a file")
    assert target.read_text() == "mine\n"


def test_data_naming_a_file(capsys, tmp_path):
    target = tmp_path / "corpus.zip"
    target.write_bytes(b"PK")
    results = tmp_path / "r"
    code, _, err = run_cli(capsys, "train", "--data", str(target), "--results", str(results),
                           *FAST)
    _one_line(code, err, f"data folder '{target}' is a file", "--data")
    assert not results.exists()


def test_results_that_cannot_be_created(capsys, corpus):
    results = Path("/proc/svd-results")    # /proc takes no new folders, not even from root
    code, _, err = run_cli(capsys, "train", "--data", str(corpus), "--results", str(results),
                           *FAST)
    _one_line(code, err, f"'{results}'", "no such file or directory", "--results")
    assert not results.exists()


def test_read_only_results_folder(capsys, tmp_path, corpus, small_disk):
    results = small_disk / "results"
    results.mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, _, err = run_cli(capsys, "train", "--data", str(corpus), "--results", str(results),
                           *FAST)
    _one_line(code, err, f"'{results}", "read-only file system",
              "give a writable folder with --results")
    assert not list(results.rglob("*"))


def test_full_disk(capsys, tmp_path, corpus, small_disk):
    results = small_disk / "results"
    # a corpus whose spectrograms alone do not fit on 3 MB
    big = write_toy_corpus(tmp_path / "big", 3, 1, 1, seconds=30.0)
    code, _, err = run_cli(capsys, "train", "--data", str(big), "--results", str(results),
                           *FAST)
    _one_line(code, err, f"'{results}", "no space left on device", "free some space")
    _nothing_half_written(results)


def test_full_disk_inside_work_items_stops_the_run(small_disk):
    """ENOSPC in an item is the file system's error, not the item's: raised at once, by path."""
    items = [WorkItem("fill", f"fill {i}", str(small_disk / f"item-{i}.npz"), {"i": i})
             for i in range(4)]
    with pytest.raises(OSError) as info:
        run_in_process(items, _fill_worker, {})
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == items[1].output       # the first fits, the second does not
    # the finished item and its digest; nothing of the second
    assert sorted(p.name for p in small_disk.iterdir()) == [".item-0.npz.sha256", "item-0.npz"]


def _fill_worker(cfg_dict: dict, item: WorkItem) -> None:
    save_arrays(item.output, x=np.ones(2_000_000 // 8))      # 2 MB each


def test_unreadable_audio_file(capsys, tmp_path, corpus):
    name = "01 - Chanson d'été 1.flac"
    audio = corpus / "audio" / name
    if os.geteuid() == 0:       # root reads anything chmod allows nobody to read
        audio.unlink()
        audio.symlink_to("/proc/self/mem")          # every read of it fails (EIO)
        reason = "input/output error"
    else:
        audio.chmod(0)
        reason = "permission denied"
    results = tmp_path / "r"
    code, _, err = run_cli(capsys, "train", "--data", str(corpus), "--results", str(results),
                           *FAST)
    _one_line(code, err, f"'{audio}'", reason)
    _nothing_half_written(results)


def test_errors_inside_work_items_end_as_one_line(tmp_path):
    items = [WorkItem("demo", f"demo {i}", str(tmp_path / f"{i}.json"), {"i": i})
             for i in range(2)]
    failures = run_in_process(items, _multiline_worker, {})
    assert len(failures) == 2
    with pytest.raises(Exception) as info:
        raise_failures(failures, "demo")
    message = str(info.value)
    assert "\n" not in message and "first line second line" in message
    assert "PermissionError: [Errno 13] no access: '/some/file'" in message
    assert not [p for p in tmp_path.iterdir()]       # no lock file left either


def _multiline_worker(cfg_dict: dict, item: WorkItem) -> None:
    if item.params["i"] == 0:
        raise ValueError("first line\nsecond line")
    raise PermissionError(errno.EACCES, "no access", "/some/file")


# -- relative paths ------------------------------------------------------------------------------
def test_relative_data_and_results_resolve_against_the_current_directory(capsys, tmp_path,
                                                                         monkeypatch):
    write_toy_corpus(tmp_path / "mycorpus", 2, 1, 1, seconds=4.0)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--data", "mycorpus", "--results", "res", *FAST)
    assert code == 0, err
    assert list((tmp_path / "res" / "models").glob("*/model.safetensors"))
    monkeypatch.setenv("SVD_RESULTS", "from-env")
    monkeypatch.setenv("SVD_DATA", "mycorpus")
    # nothing trained there: the error names where the model was looked for
    code, _, err = run_cli(capsys, "predict", *FAST)
    assert code == 2 and f"no trained model at '{tmp_path / 'from-env' / 'models'}" in err, err
    monkeypatch.delenv("SVD_RESULTS")
    code, _, err = run_cli(capsys, "predict", "--set", "paths.results=via-set", *FAST)
    assert code == 2 and f"no trained model at '{tmp_path / 'via-set' / 'models'}" in err, err


def test_relative_profile_path_and_profile_paths(tmp_path, monkeypatch):
    (tmp_path / "mine.yml").write_text("paths: {results: out/mine}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SVD_RESULTS", raising=False)
    monkeypatch.delenv("SVD_DATA", raising=False)
    cfg = load_config("mine.yml")
    assert cfg.profile == "mine"
    # a path inside a profile stays relative to the project root, as do notebook overrides
    monkeypatch.chdir(ROOT / "notebooks")
    assert Store(load_config("tiny")).root == ROOT / "results" / "tiny"
    assert Store(load_config("tiny", {"paths.results": "results/x"})).root == \
        ROOT / "results" / "x"


def test_notebooks_get_the_absolute_path_of_a_relative_environment_variable(tmp_path,
                                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SVD_RESULTS", "rel")
    cfg = load_config("tiny")
    assert cfg.paths.results == str(tmp_path / "rel")
    overrides = config_overrides(cfg, "tiny")
    assert overrides["paths.results"] == str(tmp_path / "rel")
    # the notebook's kernel runs in notebooks/ with the same environment and these overrides
    monkeypatch.chdir(ROOT / "notebooks")
    assert Store(load_config("tiny", overrides)).root == tmp_path / "rel"


def test_the_book_shows_paths_below_the_project_relative_to_it(tmp_path, monkeypatch):
    from svdlib.experiments.config.paths import project_path

    project = tmp_path / "project"
    (project / "svdlib").mkdir(parents=True)
    (project / "_config.yml").write_text("title: x\n", encoding="utf-8")
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")            # where the notebooks run
    assert project_path(project / "results" / "corpus" / "gen-1") == "results/corpus/gen-1"
    assert project_path(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")   # the user's own
