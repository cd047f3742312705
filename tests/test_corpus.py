"""Tests of the embedded default corpus generator (svdlib.data.synthetic).

A tiny corpus (2 train, 1 valid, 1 test songs of 4 bars, about 10 s each) is generated once per
module; the tests then check its layout, labels, audio, determinism and resumability.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import unicodedata

import numpy as np
import pytest
import soundfile as sf

import svdlib.data.synthetic.generate as generate_module
from svdlib.constants import SPLITS
from svdlib.data.synthetic.generate import corpus_complete, generate_corpus
from svdlib.data.synthetic.mix import _segments, _vocal_activity, synthesize_song
from svdlib.data.synthetic.plan import SongSpec, corpus_plan
from svdlib.errors import MissingArtifactError, SvdError
from svdlib.experiments import stages
from svdlib.experiments.config.loading import load_config
from svdlib.experiments.storage.splits import load_store_split
from svdlib.experiments.storage.store import Store, corpus_layout

SEED = 1234
SIZES = {"n_train": 2, "n_valid": 1, "n_test": 1}
BARS = 4
RATE = 22050
FRAME_S = 315 / RATE


class _Interrupted(Exception):
    """Stands in for Ctrl-C or a crash in the middle of a run."""


def _generate(root: pathlib.Path, seed: int = SEED) -> pathlib.Path:
    return generate_corpus(root, seed, bars=BARS, progress=False, **SIZES)


def _read_lab(path: pathlib.Path) -> list[tuple[float, float, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        start, end, label = line.split()
        rows.append((float(start), float(end), label))
    return rows


def _filelist(root: pathlib.Path, split: str) -> list[str]:
    return (root / "filelists" / split).read_text(encoding="utf-8").splitlines()


def _all_names(root: pathlib.Path) -> list[str]:
    return [name for split in SPLITS for name in _filelist(root, split)]


def _mtimes(root: pathlib.Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for sub in ("audio", "labels")
        for p in (root / sub).iterdir()
    }


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return _generate(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return _generate(tmp_path_factory.mktemp("corpus_again"))


def test_layout_has_audio_labels_and_filelists(root: pathlib.Path) -> None:
    assert sorted(p.name for p in root.iterdir()) == [".complete", "audio", "filelists", "labels"]
    assert corpus_complete(root)
    assert sorted(p.name for p in (root / "filelists").iterdir()) == ["test", "train", "valid"]
    assert [len(_filelist(root, s)) for s in SPLITS] == [2, 1, 1]


def test_filelists_list_exactly_the_audio_files(root: pathlib.Path) -> None:
    names = _all_names(root)
    assert len(set(names)) == len(names) == 4
    assert sorted(names) == sorted(os.listdir(root / "audio"))
    assert all(name.endswith(".flac") for name in names)
    stems = sorted(name.removesuffix(".flac") + ".lab" for name in names)
    assert stems == sorted(os.listdir(root / "labels"))


def test_names_are_jamendo_like_with_spaces_non_ascii_and_apostrophes(root: pathlib.Path) -> None:
    names = _all_names(root)
    assert all(" - " in name for name in names)
    assert any(not name.isascii() for name in names)
    assert any("'" in name for name in names)
    assert all(unicodedata.is_normalized("NFC", name) for name in names)


def test_non_ascii_names_round_trip_through_the_file_system(root: pathlib.Path) -> None:
    name = next(n for n in _all_names(root) if not n.isascii())
    audio, rate = sf.read(root / "audio" / name)
    assert rate == RATE
    assert audio.size > 0
    assert (root / "labels" / (name.removesuffix(".flac") + ".lab")).is_file()
    assert name in os.listdir(root / "audio")


def test_labels_parse_alternate_and_cover_the_song(root: pathlib.Path) -> None:
    seen = set()
    for name in _all_names(root):
        rows = _read_lab(root / "labels" / (name.removesuffix(".flac") + ".lab"))
        info = sf.info(root / "audio" / name)
        assert rows[0][0] == 0.0
        assert abs(rows[-1][1] - info.frames / info.samplerate) <= FRAME_S
        for (_, end, label), (start, _, next_label) in itertools.pairwise(rows):
            assert end == start
            assert label != next_label
        assert all(end > start and label in ("sing", "nosing") for start, end, label in rows)
        seen |= {label for _, _, label in rows}
    assert seen == {"sing", "nosing"}


def test_audio_is_mono_22050_finite_and_within_full_scale(root: pathlib.Path) -> None:
    for name in _all_names(root):
        info = sf.info(root / "audio" / name)
        assert (info.channels, info.samplerate, info.format) == (1, RATE, "FLAC")
        audio, _ = sf.read(root / "audio" / name, dtype="float32")
        assert audio.ndim == 1
        assert np.isfinite(audio).all()
        assert 0.1 < np.abs(audio).max() <= 1.0
        assert 5.0 < len(audio) / RATE < 20.0


def test_same_seed_gives_identical_labels_and_audio(
    root: pathlib.Path, regenerated: pathlib.Path
) -> None:
    assert _all_names(root) == _all_names(regenerated)
    for name in _all_names(root):
        lab = pathlib.Path("labels") / (name.removesuffix(".flac") + ".lab")
        assert (root / lab).read_bytes() == (regenerated / lab).read_bytes()
        first, _ = sf.read(root / "audio" / name, dtype="int16")
        second, _ = sf.read(regenerated / "audio" / name, dtype="int16")
        np.testing.assert_array_equal(first, second)


def test_different_seed_gives_a_different_corpus(root: pathlib.Path) -> None:
    plan = corpus_plan(SEED, bars=BARS, **SIZES)
    other = corpus_plan(SEED + 1, bars=BARS, **SIZES)
    assert [s.seed for s in plan] != [s.seed for s in other]
    assert [s.name for s in plan] != [s.name for s in other]
    audio, _ = synthesize_song(other[0])
    mine, _ = sf.read(root / "audio" / plan[0].name, dtype="float32")
    assert len(audio) != len(mine) or not np.allclose(audio, mine, atol=1e-3)


def test_synthesize_song_matches_the_files(root: pathlib.Path) -> None:
    spec = corpus_plan(SEED, bars=BARS, **SIZES)[-1]
    audio, segments = synthesize_song(spec)
    assert audio.dtype == np.float32
    stored, _ = sf.read(root / "audio" / spec.name, dtype="float32")
    np.testing.assert_allclose(audio, stored, atol=1 / 32768 + 1e-7)
    rows = _read_lab(root / "labels" / f"{spec.stem}.lab")
    assert [(a, b, on) for a, b, on in segments] == [(a, b, lab == "sing") for a, b, lab in rows]


def test_rerun_skips_existing_songs_and_leaves_files_untouched(root: pathlib.Path) -> None:
    before = _mtimes(root)
    lists_before = {s: (root / "filelists" / s).stat().st_mtime_ns for s in SPLITS}
    _generate(root)
    assert _mtimes(root) == before
    assert {s: (root / "filelists" / s).stat().st_mtime_ns for s in SPLITS} == lists_before


def test_interrupted_run_leaves_no_filelists_and_resumes(
    tmp_path: pathlib.Path, root: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = synthesize_song
    calls = []
    crash_at = [2]  # crash on the second song, once

    def fail_on_second_song(spec: SongSpec, sample_rate: int = RATE):
        calls.append(spec.name)
        if len(calls) == crash_at[0]:
            crash_at[0] = 0
            raise _Interrupted
        return real(spec, sample_rate)

    monkeypatch.setattr(generate_module, "synthesize_song", fail_on_second_song)
    with pytest.raises(_Interrupted):
        _generate(tmp_path)
    assert not any((tmp_path / "filelists").iterdir())
    assert not corpus_complete(tmp_path)
    assert len(os.listdir(tmp_path / "audio")) == len(os.listdir(tmp_path / "labels")) == 1
    (tmp_path / "audio" / ".stale.flac.1.partial").write_bytes(b"half a file")

    calls.clear()
    _generate(tmp_path)
    assert corpus_complete(tmp_path)
    assert len(calls) == 3  # the first song was kept
    assert sorted(os.listdir(tmp_path / "audio")) == sorted(os.listdir(root / "audio"))
    for name in _all_names(root):
        lab = pathlib.Path("labels") / (name.removesuffix(".flac") + ".lab")
        assert (tmp_path / lab).read_bytes() == (root / lab).read_bytes()


def test_song_with_missing_label_is_regenerated(tmp_path: pathlib.Path, root: pathlib.Path) -> None:
    _generate(tmp_path)
    name = _all_names(tmp_path)[0]
    lab = tmp_path / "labels" / (name.removesuffix(".flac") + ".lab")
    lab.unlink()
    _generate(tmp_path)
    assert lab.read_bytes() == (root / "labels" / lab.name).read_bytes()


def _tiny_store(tmp_path: pathlib.Path) -> Store:
    """A store whose embedded corpus has this module's recipe (so it equals ``root``)."""
    overrides = {f"corpus.{key}": value for key, value in SIZES.items()}
    overrides.update({"corpus.seed": SEED, "corpus.bars": BARS, "run.progress": False})
    return Store(load_config("tiny", overrides, results=str(tmp_path / "results")))


def _assert_same_corpus(made: pathlib.Path, root: pathlib.Path) -> None:
    assert _all_names(made) == _all_names(root)
    for name in _all_names(root):
        lab = pathlib.Path("labels") / (name.removesuffix(".flac") + ".lab")
        assert (made / lab).read_bytes() == (root / lab).read_bytes()
        np.testing.assert_array_equal(sf.read(made / "audio" / name, dtype="int16")[0],
                                      sf.read(root / "audio" / name, dtype="int16")[0])


def test_killed_generation_is_finished_by_the_corpus_stage(
    tmp_path: pathlib.Path, root: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _tiny_store(tmp_path)
    real, calls = synthesize_song, []

    def killed_on_second_song(spec: SongSpec, sample_rate: int = RATE):
        calls.append(spec.name)
        if len(calls) == 2:
            raise _Interrupted
        return real(spec, sample_rate)

    monkeypatch.setattr(generate_module, "synthesize_song", killed_on_second_song)
    with pytest.raises(_Interrupted):
        stages.corpus(store)
    monkeypatch.undo()
    made = store.data_root()
    assert (made / "filelists").is_dir()  # what used to pass for a finished corpus
    with pytest.raises(MissingArtifactError, match="has not been generated") as caught:
        corpus_layout(store)
    assert caught.value.command == "corpus"   # the CLI's hint: run `svd corpus`
    assert not corpus_complete(made)

    assert stages.corpus(store) == made
    assert corpus_complete(made)
    assert [song.name for song in load_store_split(store, "train")] == _filelist(root, "train")
    _assert_same_corpus(made, root)


def test_corpus_stage_regenerates_a_folder_with_only_empty_filelists(
    tmp_path: pathlib.Path, root: pathlib.Path
) -> None:
    store = _tiny_store(tmp_path)
    for folder in ("audio", "labels", "filelists"):
        (store.data_root() / folder).mkdir(parents=True)
    assert stages.corpus(store) == store.data_root()
    assert len(load_store_split(store, "test")) == 1
    _assert_same_corpus(store.data_root(), root)


def test_completion_marker_names_the_recipe(root: pathlib.Path) -> None:
    recipe = {"seed": SEED, "bars": BARS, "sample_rate": RATE, **SIZES}
    assert corpus_complete(root, recipe)
    assert not corpus_complete(root, {**recipe, "seed": SEED + 1})


def test_plan_is_deterministic_and_sized(root: pathlib.Path) -> None:
    plan = corpus_plan(7, n_train=61, n_valid=16, n_test=16, bars=24)
    assert plan == corpus_plan(7, n_train=61, n_valid=16, n_test=16, bars=24)
    assert [s.split for s in plan].count("train") == 61
    assert len({s.name.casefold() for s in plan}) == 93
    assert not plan[0].name.isascii()
    assert "'" in plan[1].name
    assert sum(not s.name.isascii() for s in plan) >= 10


@pytest.mark.parametrize(
    ("sizes", "bars"),
    [((0, 1, 1), 4), ((1, -1, 0), 4), ((1, 0, 0), 2), ((1, 0, 0), 5)],
)
def test_plan_rejects_bad_arguments(sizes: tuple[int, int, int], bars: int) -> None:
    with pytest.raises(SvdError):
        corpus_plan(0, *sizes, bars=bars)


def test_vocal_activity_closes_short_gaps_and_drops_short_islands() -> None:
    rate, hop = RATE, 315
    voice = np.zeros(rate * 4)
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)
    voice[rate // 2 : rate // 2 + rate] = tone  # 0.5..1.5 s sung
    voice[rate // 2 + rate // 2 : rate // 2 + rate // 2 + rate // 10] = 0.0  # 100 ms gap
    voice[3 * rate : 3 * rate + rate // 40] = tone[: rate // 40]  # 25 ms island
    segments = _segments(_vocal_activity(voice, rate), len(voice), rate)
    assert [on for _, _, on in segments] == [False, True, False]
    (_, start, _), (_, end, _) = segments[0], segments[1]
    assert abs(start - 0.5) < 2 * hop / rate
    assert abs(end - 1.5) < 2 * hop / rate
    assert segments[-1][1] == round(len(voice) / rate, 3)
