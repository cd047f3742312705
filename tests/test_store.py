import numpy as np
import pytest

from svdlib.errors import SvdError
from svdlib.experiments.config.loading import load_config
from svdlib.experiments.storage.store import Store
from svdlib.files import atomic_path, load_arrays, load_json, save_arrays, save_json


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash in the middle")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_arrays_roundtrip_and_no_pickles(tmp_path):
    path = tmp_path / "a.npz"
    save_arrays(path, x=np.arange(5), names=np.array(["a b", "é"]))
    data = load_arrays(path)
    assert data["x"].tolist() == [0, 1, 2, 3, 4]
    assert data["names"].tolist() == ["a b", "é"]
    with pytest.raises(TypeError):
        save_arrays(path, bad=np.array([{"a": 1}], dtype=object))


def test_corrupt_artifacts_are_reported(tmp_path, monkeypatch):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    (tmp_path / "bad.json").write_text("{")
    for name in ("bad.npz", "bad.json"):   # written by hand: no recorded digest
        with pytest.raises(SvdError, match="no recorded digest"):
            (load_arrays if name.endswith(".npz") else load_json)(tmp_path / name)
    monkeypatch.setenv("SVD_VERIFY", "0")   # with checking off, the readers' own errors
    with pytest.raises(SvdError, match="corrupt array file"):
        load_arrays(tmp_path / "bad.npz")
    with pytest.raises(SvdError, match="corrupt JSON"):
        load_json(tmp_path / "bad.json")
    monkeypatch.delenv("SVD_VERIFY")
    save_json(tmp_path / "ok.json", {"a": np.float32(1.5)})
    assert load_json(tmp_path / "ok.json") == {"a": 1.5}


def test_paths_follow_the_config_that_produced_them(tmp_path, toy_corpus):
    def cfg(**overrides):
        return load_config("quick", overrides, results=str(tmp_path), data=str(toy_corpus))

    base, changed_train = cfg(), cfg(**{"train.epochs": 1})
    changed_lime, changed_batch = cfg(**{"lime.num_samples": 64}), cfg(**{"lime.batch_size": 7})
    s0, s1, s2, s3 = (Store(c) for c in (base, changed_train, changed_lime, changed_batch))
    assert s0.root == tmp_path
    assert s0.data_root() == s1.data_root()            # the corpus does not depend on training
    assert s0.model_dir() != s1.model_dir()            # the model does
    assert s0.attack_dir("wave") != s1.attack_dir("wave")  # and everything downstream
    assert s0.model_dir() == s2.model_dir()
    assert s0.explanations_path("wave", 1) != s2.explanations_path("wave", 1)
    assert s0.explanations_path("wave", 1) == s3.explanations_path("wave", 1)  # speed only
    assert s0.attack_dir("wave") != s0.attack_dir("spec")


def test_external_data_root(tmp_path):
    cfg = load_config("quick", data=str(tmp_path / "jamendo"), results=str(tmp_path))
    store = Store(cfg)
    assert store.external_data
    assert store.data_root() == tmp_path / "jamendo"
