"""Shared fixtures: a toy corpus in the Jamendo layout and a small detector trained on it.

The toy corpus is cheap to make (seconds) and easy to learn: "singing" is a harmonic tone with
vibrato, the rest is noise and clicks. Tests of later stages (attacks, explanations,
experiments) use the detector trained on it; the embedded corpus has its own tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from svdlib.experiments.config.loading import load_config
from svdlib.experiments.config.settings import Config
from svdlib.experiments.storage.store import Store

SR = 22050


def toy_song(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, list]:
    """One toy song: noise and clicks, with sung phrases of a vibrato harmonic tone."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    signal = 0.05 * rng.standard_normal(n)
    for beat in np.arange(0, seconds, 0.5):
        start = int(beat * SR)
        signal[start:start + 300] += 0.3 * rng.standard_normal(min(300, n - start))
    segments = []
    position = rng.uniform(0.3, 1.0)
    while position < seconds - 0.5:
        length = rng.uniform(0.8, 1.6)
        end = min(position + length, seconds)
        mask = (t >= position) & (t < end)
        f0 = rng.uniform(180, 400)
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))) / SR
        tone = sum(np.sin(h * phase) / h for h in range(1, 8))
        signal[mask] += 0.25 * tone[mask]
        segments.append((position, end))
        position = end + rng.uniform(0.6, 1.4)
    signal = (signal / np.abs(signal).max() * 0.8).astype(np.float32)
    labels, previous = [], 0.0
    for start, end in segments:
        if start > previous:
            labels.append((previous, start, "nosing"))
        labels.append((start, end, "sing"))
        previous = end
    if previous < seconds:
        labels.append((previous, seconds, "nosing"))
    return signal, labels


def write_toy_corpus(root: Path, n_train: int = 4, n_valid: int = 1, n_test: int = 2,
                     seconds: float = 8.0, seed: int = 0) -> Path:
    """Write a toy corpus in the Jamendo layout (names with spaces and accents)."""
    rng = np.random.default_rng(seed)
    for folder in ("audio", "filelists", "labels"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    names: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    index = 0
    for split, count in (("train", n_train), ("valid", n_valid), ("test", n_test)):
        for _ in range(count):
            index += 1
            name = f"{index:02d} - Chanson d'été {index}.flac"
            signal, labels = toy_song(rng, seconds)
            sf.write(root / "audio" / name, signal, SR)
            text = "".join(f"{a:.3f} {b:.3f} {lab}\n" for a, b, lab in labels)
            (root / "labels" / (Path(name).stem + ".lab")).write_text(text, encoding="utf-8")
            names[split].append(name)
    for split, listed in names.items():
        (root / "filelists" / split).write_text("\n".join(listed) + "\n", encoding="utf-8")
    return root


def toy_config(results: Path, data: Path, **overrides) -> Config:
    """The tiny profile pointed at a toy corpus and a results folder, without progress bars."""
    base = {"run.progress": False, "train.epochs": 3, "train.epochsize": 40,
            "train.batchsize": 16}
    base.update(overrides)
    return load_config("tiny", base, results=str(results), data=str(data))


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory) -> Path:
    """A toy corpus: 4 train, 1 valid, 2 test songs of 8 s."""
    return write_toy_corpus(tmp_path_factory.mktemp("toy") / "corpus")


@pytest.fixture(scope="session")
def toy_store(tmp_path_factory, toy_corpus) -> Store:
    """A store with a small detector trained (and predictions made) on the toy corpus.

    Treat it as read-only: tests that write artifacts should copy the config to their own
    results folder (see :func:`toy_config`) and reuse the model file.
    """
    from svdlib.experiments.artifacts.evaluation import predict_all
    from svdlib.experiments.artifacts.training import train_all

    cfg = toy_config(tmp_path_factory.mktemp("toy_results"), toy_corpus)
    store = Store(cfg)
    train_all(cfg, store)
    predict_all(store)
    return store


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``svd`` in this process; return the exit code, stdout and stderr."""
    from svdlib.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """`svd run --profile tiny` from an empty results folder, once per session.

    ``tests/test_tiny_run.py`` checks what it printed and wrote; the book test builds the tiny
    book over a copy of its results, so that the stages are not computed twice.
    """
    results = tmp_path_factory.mktemp("tiny") / "results"
    done = subprocess.run(
        [sys.executable, "-m", "svdlib.cli", "run", "--profile", "tiny", "--results",
         str(results), "--quiet"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
        timeout=900)
    return done, results
