"""The data as read: its identity, no leakage, errors that name what is wrong, nothing dropped
in silence.

Seen before these tests (tiny profile): a reordered or duplicated line in `filelists/train` gave
the same model key although training on it gives other weights, so an old model was reused; a
test song appended to `filelists/train` went through train, predict and eval without a word; a
file list or `.lab` with a UTF-8 byte-order mark was blamed for an invisible character; a
directory where an audio file should be was "not in audio"; a song shorter than one excerpt
was left out of training, and an empty `.lab` made a song "no sing", without a word.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import run_cli, toy_config, write_toy_corpus

from svdlib.data.jamendo import open_layout, read_filelist, read_lab
from svdlib.data.songs import load_split
from svdlib.errors import DataWarning, SvdError
from svdlib.experiments.storage.splits import load_store_split
from svdlib.experiments.storage.store import Store

FAST = ["--profile", "tiny", "--set", "train.epochs=1", "--set", "train.epochsize=5",
        "--set", "train.batchsize=8", "--set", "attack.wave.max_iterations=2",
        "--set", "attack.spec.max_iterations=2", "--quiet"]
TRAIN_1 = "01 - Chanson d'été 1.flac"
TRAIN_2 = "02 - Chanson d'été 2.flac"
VALID = "03 - Chanson d'été 3.flac"
TEST_1 = "04 - Chanson d'été 4.flac"


@pytest.fixture
def corpus(tmp_path):
    return write_toy_corpus(tmp_path / "jamendo", 2, 1, 2, seconds=4.0)


def _lines(corpus: Path, split: str) -> list[str]:
    return (corpus / "filelists" / split).read_text(encoding="utf-8").splitlines()


def _write(corpus: Path, split: str, names: list[str], prefix: str = "") -> None:
    (corpus / "filelists" / split).write_text(prefix + "\n".join(names) + "\n",
                                              encoding="utf-8")


def _store(tmp_path: Path, corpus: Path, **overrides) -> Store:
    return Store(toy_config(tmp_path / "r", corpus, **overrides))


def _one_line_error(code: int, err: str, results: Path, *needles: str) -> None:
    assert code == 2
    assert err.startswith("svd: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    assert not results.exists() or not [p for p in results.rglob("*") if p.is_file()]


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("svd: warning: ")]


# -- identity ---------------------------------------------------------------------------------

def test_reordering_a_list_changes_the_keys_and_an_unchanged_list_keeps_them(tmp_path, corpus):
    before = _store(tmp_path, corpus)
    keys = (before.model_key(), before.split_key("train"), before.predictions_path("test"))
    again = _store(tmp_path, corpus)
    assert (again.model_key(), again.split_key("train"), again.predictions_path("test")) == keys
    _write(corpus, "train", list(reversed(_lines(corpus, "train"))))
    _write(corpus, "test", list(reversed(_lines(corpus, "test"))))
    after = _store(tmp_path, corpus)
    assert after.split_key("train") != keys[1]
    assert after.model_key() != keys[0]
    assert after.predictions_path("test") != keys[2]
    # the stages read the songs in the list's order, as written
    assert [s.name for s in load_store_split(after, "train")] == [TRAIN_2, TRAIN_1]


def test_the_validation_lists_order_is_part_of_a_validated_models_identity(tmp_path):
    corpus = write_toy_corpus(tmp_path / "jamendo", 2, 2, 1, seconds=4.0)
    validated = {"train.validate": True}
    before = _store(tmp_path, corpus, **validated).model_key()
    _write(corpus, "valid", list(reversed(_lines(corpus, "valid"))))
    assert _store(tmp_path, corpus, **validated).model_key() != before


def test_training_on_a_reordered_list_gives_other_weights(capsys, tmp_path, corpus):
    from safetensors.numpy import load_file

    common = [*FAST, "--set", "train.epochsize=2", "--set", "train.batchsize=4", "--data",
              str(corpus), "--results", str(tmp_path / "r")]
    assert run_cli(capsys, "train", *common)[0] == 0
    _write(corpus, "train", list(reversed(_lines(corpus, "train"))))
    assert run_cli(capsys, "train", *common)[0] == 0
    first, second = (load_file(path) for path in (tmp_path / "r").rglob("model.safetensors"))
    assert max(float(np.abs(first[k] - second[k]).max()) for k in first) > 0


# -- lists: duplicates and leakage ------------------------------------------------------------

def test_a_duplicated_entry_is_refused_with_its_line_numbers(capsys, tmp_path, corpus):
    _write(corpus, "train", [TRAIN_1, TRAIN_2, "", TRAIN_1])
    results = tmp_path / "r"
    code, _, err = run_cli(capsys, "train", *FAST, "--data", str(corpus), "--results",
                           str(results))
    _one_line_error(code, err, results, "filelists/train", f"names '{TRAIN_1}' twice",
                    "(lines 1 and 4)")


def test_two_names_of_one_file_are_a_duplicate(tmp_path, corpus):
    _write(corpus, "train", [TRAIN_1, TRAIN_2, f"./{TRAIN_1}"])
    with pytest.raises(SvdError, match=r"the same audio file twice: .* \(line 1\) and .*line 3"):
        read_filelist(open_layout(corpus), "train")


def test_a_song_in_two_splits_is_refused_unless_allowed(capsys, tmp_path, corpus):
    _write(corpus, "train", [TRAIN_1, TRAIN_2, TEST_1])
    results = tmp_path / "r"
    code, _, err = run_cli(capsys, "train", *FAST, "--data", str(corpus), "--results",
                           str(results))
    _one_line_error(code, err, results, f"song '{TEST_1}' is in two splits",
                    "filelists/train' line 3", "filelists/test' line 1",
                    "paths.allow_shared_songs")
    # allowed on purpose: the corpus reads, and the setting is part of the splits' identity
    code, out, err = run_cli(capsys, "corpus", *FAST, "--data", str(corpus), "--results",
                             str(results), "--set", "paths.allow_shared_songs=true")
    assert code == 0 and "3 train, 1 valid, 2 test" in out, err
    allowed = _store(tmp_path, corpus, **{"paths.allow_shared_songs": True})
    assert [s.name for s in load_store_split(allowed, "train")] == [TRAIN_1, TRAIN_2, TEST_1]
    _write(corpus, "train", [TRAIN_1, TRAIN_2])
    assert (_store(tmp_path, corpus, **{"paths.allow_shared_songs": True}).split_key("train")
            != _store(tmp_path, corpus).split_key("train"))


# -- encodings and what stands where a file should be -----------------------------------------

def test_a_byte_order_mark_in_a_list_and_a_label_file_reads_as_without(tmp_path, corpus):
    from svdlib.audio.settings import FrontEndConfig

    frontend = FrontEndConfig()
    plain = load_split(open_layout(corpus), "train", frontend)
    lab = corpus / "labels" / (Path(TRAIN_1).stem + ".lab")
    lab.write_bytes(b"\xef\xbb\xbf" + lab.read_bytes())
    _write(corpus, "train", _lines(corpus, "train"), prefix="\ufeff")
    assert (corpus / "filelists" / "train").read_bytes().startswith(b"\xef\xbb\xbf")
    marked = load_split(open_layout(corpus), "train", frontend)
    assert [s.name for s in marked] == [s.name for s in plain] == [TRAIN_1, TRAIN_2]
    for a, b in zip(plain, marked, strict=True):
        assert np.array_equal(a.targets, b.targets) and np.array_equal(a.spec, b.spec)
    assert _store(tmp_path, corpus).split_files("train").keys() == {TRAIN_1, TRAIN_2}


def test_a_byte_order_mark_inside_the_text_is_named_by_line(tmp_path, corpus):
    _write(corpus, "train", [TRAIN_1, "\ufeff" + TRAIN_2])
    with pytest.raises(SvdError, match=r"filelists/train:2: a byte-order mark \(U\+FEFF\)"):
        read_filelist(open_layout(corpus), "train")
    lab = corpus / "labels" / (Path(TRAIN_1).stem + ".lab")
    lab.write_text("0 1 nosing\n\ufeff1 2 sing\n", encoding="utf-8")
    with pytest.raises(SvdError, match=r"\.lab:2: a byte-order mark"):
        read_lab(lab)


@pytest.mark.parametrize("where,what", [("audio", "directory"), ("audio", "link"),
                                        ("labels", "directory"), ("labels", "link")])
def test_a_directory_or_broken_link_is_named_as_such(capsys, tmp_path, corpus, where, what):
    path = (corpus / "audio" / TRAIN_2 if where == "audio"
            else corpus / "labels" / (Path(TRAIN_2).stem + ".lab"))
    path.unlink()
    if what == "directory":
        path.mkdir()
        needles = [f"'{path}' is a directory"]
    else:
        os.symlink(tmp_path / "gone" / path.name, path)
        needles = [f"'{path}' is a broken link to '{tmp_path / 'gone' / path.name}'"]
    if where == "audio":
        needles.append(f"names '{TRAIN_2}'")
    results = tmp_path / "r"
    code, _, err = run_cli(capsys, "train", *FAST, "--data", str(corpus), "--results",
                           str(results))
    _one_line_error(code, err, results, *needles)
    assert "not in" not in err and "does not exist" not in err


# -- nothing dropped in silence ----------------------------------------------------------------

def _shorten(corpus: Path, name: str, seconds: float) -> None:
    """Cut a song to ``seconds`` (with one label line to match)."""
    signal, rate = sf.read(corpus / "audio" / name)
    sf.write(corpus / "audio" / name, signal[:int(seconds * rate)], rate)
    (corpus / "labels" / (Path(name).stem + ".lab")).write_text(f"0 {seconds} nosing\n")


def _unlabel(corpus: Path, name: str) -> None:
    (corpus / "labels" / (Path(name).stem + ".lab")).write_text("")


def test_short_and_unlabelled_songs_are_named_once_per_stage(capsys, tmp_path):
    corpus = write_toy_corpus(tmp_path / "jamendo", 3, 1, 2, seconds=3.0)
    short, empty_train, empty_test = TRAIN_1, TRAIN_2, "05 - Chanson d'été 5.flac"
    _shorten(corpus, short, 1.0)                 # 70 frames: shorter than any excerpt
    _unlabel(corpus, empty_train)
    _shorten(corpus, empty_test, 1.2)
    _unlabel(corpus, empty_test)
    common = [*FAST, "--data", str(corpus), "--results", str(tmp_path / "r")]

    code, _, err = run_cli(capsys, "train", *common)
    assert code == 0
    assert _warnings(err) == [
        f"svd: warning: 1 song of filelists/train contributes no training excerpt (shorter "
        f"than 164 frames): '{short}'; 1 song of filelists/train has no label lines (every "
        f"frame counts as 'no sing'): '{empty_train}'"]
    assert _warnings(run_cli(capsys, "train", *common)[2]) == []     # finished: read nothing

    assert run_cli(capsys, "predict", *common)[0] == 0
    code, _, err = run_cli(capsys, "eval", *common)
    assert code == 0
    assert _warnings(err) == [f"svd: warning: 1 song of filelists/test has no label lines "
                              f"(every frame counts as 'no sing'): '{empty_test}'"]

    code, _, err = run_cli(capsys, "pick", *common)          # four settings, one warning
    assert code == 0, err
    assert _warnings(err) == [
        f"svd: warning: 1 song of filelists/test contributes no excerpt to pick (shorter than "
        f"115 frames): '{empty_test}'; 1 song of filelists/test has no label lines (every "
        f"frame counts as 'no sing'): '{empty_test}'"]


def test_a_train_split_of_short_songs_only_is_one_error_not_a_warning(capsys, tmp_path, corpus):
    for name in (TRAIN_1, TRAIN_2):
        _shorten(corpus, name, 1.0)
    results = tmp_path / "r"
    code, _, err = run_cli(capsys, "train", *FAST, "--data", str(corpus), "--results",
                           str(results))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("svd: error: no song of the train split is at least 164 frames "
                          "(2.34 s) long"), err
    models = results / "models"                 # only the spectrogram cache was written
    assert not models.exists() or all(p.name.startswith(".") and p.name.endswith(".lock")
                                      for p in models.iterdir())


def test_the_warning_is_a_data_warning_for_library_users(tmp_path, corpus):
    from svdlib.experiments.artifacts.training import train_all

    _shorten(corpus, TRAIN_1, 1.0)
    cfg = toy_config(tmp_path / "r", corpus, **{"train.epochs": 1, "train.epochsize": 2,
                                                "train.batchsize": 4})
    with pytest.warns(DataWarning, match=f"no training excerpt .*'{TRAIN_1}'") as caught:
        train_all(cfg, Store(cfg))
    assert len([w for w in caught if w.category is DataWarning]) == 1


def test_corpus_check_lists_them_for_an_external_corpus(capsys, tmp_path, corpus):
    code, out, _ = run_cli(capsys, "corpus", "--check", *FAST, "--data", str(corpus),
                           "--results", str(tmp_path / "r"))
    assert code == 0
    assert "check: every song has label lines and is long enough" in out
    _shorten(corpus, TRAIN_1, 1.0)
    _unlabel(corpus, VALID)
    code, out, err = run_cli(capsys, "corpus", "--check", *FAST, "--data", str(corpus),
                             "--results", str(tmp_path / "r"))
    assert code == 0 and not _warnings(err)
    checks = [line for line in out.splitlines() if line.startswith("check: ")]
    assert checks == [
        f"check: 1 song of filelists/train contributes no training excerpt (shorter than 164 "
        f"frames): '{TRAIN_1}'",
        f"check: 1 song of filelists/valid has no label lines (every frame counts as "
        f"'no sing'): '{VALID}'"]
    assert "AUROC of frame loudness" in out
