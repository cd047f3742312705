"""Freshness of derived tables and figures (svdlib.experiments.artifacts.freshness).

A group of derived files (the experiment tables, the figures, the benchmark's tables) is up
to date when its record holds the fingerprint of its inputs' recorded digests, the settings
(not ``run`` or ``paths``), the numeric environment, the libraries' versions and svdlib's code,
and every output still verifies. Everything here runs on small JSON and CSV artifacts in a
temporary folder; no stage is run (the stages themselves are run by test_veracity.py and
test_tiny_run.py, which take minutes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import svdlib
from svdlib.digests import VERIFY_ENV, sidecar_path
from svdlib.errors import ArtifactError
from svdlib.experiments.artifacts.freshness import (
    inputs_fingerprint,
    record_path,
    source_fingerprint,
    up_to_date,
    write_record,
)
from svdlib.experiments.config.loading import load_config
from svdlib.experiments.storage.store import Store
from svdlib.files import atomic_path, load_json, save_json

PACKAGE = Path(svdlib.__file__).resolve().parent
BASE = {"run.progress": False, "run.num_threads": 1}


def make_store(folder: Path, **overrides) -> Store:
    settings = {**BASE, **overrides}
    return Store(load_config("tiny", settings, results=str(folder / "results"),
                             data=str(folder / "data")))


def write_artifact(path: Path, text: str) -> Path:
    """A file written as the stages write theirs: atomically, with its recorded digest."""
    with atomic_path(path, digest=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def edit_by_hand(path: Path) -> None:
    """Change a file without recording its digest (longer, so that its size differs too)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("edited\n")


@pytest.fixture
def group(tmp_path):
    """Two inputs, two outputs and the record of a group computed from them."""
    store = make_store(tmp_path)
    inputs = [write_artifact(tmp_path / "in" / "picks.csv", "song,frame\na,1\n"),
              write_artifact(tmp_path / "in" / "explanations.csv", "w\n0.5\n")]
    outputs = [write_artifact(tmp_path / "out" / "table1.csv", "LIME %\n75\n"),
               write_artifact(tmp_path / "out" / "table2.csv", "LIME %\n50\n")]
    record = record_path(tmp_path / "out", "tables")
    fingerprint = inputs_fingerprint(store, inputs, "model-key")
    write_record(record, fingerprint, outputs)
    return store, inputs, outputs, record, fingerprint


def test_a_group_computed_from_unchanged_inputs_is_up_to_date(group, tmp_path):
    store, inputs, outputs, record, fingerprint = group
    assert record == tmp_path / "out" / "tables.inputs.json"
    assert len(fingerprint) == 12 and int(fingerprint, 16) >= 0
    assert load_json(record) == {"fingerprint": fingerprint,
                                 "outputs": ["table1.csv", "table2.csv"]}
    # computed again, in another Store of the same configuration: the same fingerprint
    again = inputs_fingerprint(make_store(tmp_path), inputs, "model-key")
    assert again == fingerprint
    assert up_to_date(record, again, outputs)
    # rewriting an input with the same bytes (a stage computing it again) keeps it so
    write_artifact(inputs[0], "song,frame\na,1\n")
    assert up_to_date(record, inputs_fingerprint(store, inputs, "model-key"), outputs)


def test_an_input_whose_contents_change_makes_the_group_stale(group):
    store, inputs, outputs, record, fingerprint = group
    write_artifact(inputs[1], "w\n0.25\n")                 # recomputed with other numbers
    changed = inputs_fingerprint(store, inputs, "model-key")
    assert changed != fingerprint
    assert not up_to_date(record, changed, outputs)
    # the order and the set of inputs count too, and the extra values (the model's key)
    assert inputs_fingerprint(store, inputs[::-1], "model-key") != changed
    assert inputs_fingerprint(store, inputs[:1], "model-key") != changed
    assert inputs_fingerprint(store, inputs, "another-model") != changed
    # once computed afresh, the new record holds
    write_record(record, changed, outputs)
    assert up_to_date(record, changed, outputs)


def test_an_input_edited_by_hand_is_refused_and_a_missing_one_is_never_up_to_date(group):
    store, inputs, outputs, record, _ = group
    edit_by_hand(inputs[0])
    with pytest.raises(ArtifactError, match=r"picks\.csv.*longer than it was written"):
        inputs_fingerprint(store, inputs, "model-key")
    inputs[1].unlink()
    assert inputs_fingerprint(store, inputs[1:], "model-key") is None
    assert not up_to_date(record, None, outputs)


def test_settings_and_environment_enter_the_fingerprint_but_not_run_or_paths(group, tmp_path):
    _, inputs, outputs, record, fingerprint = group

    def fingerprint_of(folder: Path = tmp_path, **overrides) -> str | None:
        return inputs_fingerprint(make_store(folder, **overrides), inputs, "model-key")

    bootstrap = make_store(tmp_path).cfg.experiment.bootstrap
    for overrides in ({"experiment.bootstrap": bootstrap + 1}, {"seed": 1234},
                      {"run.num_threads": 2}):         # the thread count: the environment
        changed = fingerprint_of(**overrides)
        assert changed != fingerprint, overrides
        assert not up_to_date(record, changed, outputs)
    # settings that never change numbers, and another results or data folder, do not count
    assert fingerprint_of(**{"run.progress": True, "run.workers": 1}) == fingerprint
    assert fingerprint_of(tmp_path / "elsewhere") == fingerprint
    assert up_to_date(record, fingerprint_of(tmp_path / "elsewhere"), outputs)


def test_a_library_version_change_makes_the_group_stale(group, tmp_path, monkeypatch):
    store, inputs, outputs, record, fingerprint = group
    # another scipy installed in front of this one (its metadata is all the lookup reads)
    site = tmp_path / "site"
    info = site / "scipy-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: scipy\nVersion: 0.0.1\n",
                                   encoding="utf-8")
    before = version("scipy")
    monkeypatch.syspath_prepend(str(site))
    assert version("scipy") == "0.0.1" != before
    changed = inputs_fingerprint(store, inputs, "model-key")
    assert changed != fingerprint
    assert not up_to_date(record, changed, outputs)
    monkeypatch.undo()
    assert version("scipy") == before
    assert inputs_fingerprint(store, inputs, "model-key") == fingerprint


def copy_package(folder: Path) -> Path:
    copy = folder / "svdlib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_code_fingerprint_follows_the_sources_bytes_not_their_times(tmp_path):
    copy = copy_package(tmp_path)
    original = source_fingerprint(copy)
    assert original == source_fingerprint()                  # where it lies does not count
    assert len(original) == 64
    for path in copy.rglob("*"):                             # touched: nothing changed
        os.utime(path, ns=(1, 1))
    assert source_fingerprint(copy) == original
    # compiled files and files other than Python sources do not count
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "errors.cpython-312.pyc").write_bytes(b"\0compiled")
    (copy / "notes.txt").write_text("notes", encoding="utf-8")
    assert source_fingerprint(copy) == original
    # one byte of one source does
    errors = copy / "errors.py"
    text = errors.read_bytes()
    errors.write_bytes(text + b"#")
    assert source_fingerprint(copy) != original
    errors.write_bytes(text)
    assert source_fingerprint(copy) == original
    # and so does a new module, or a module moved elsewhere with the same bytes
    (copy / "extra.py").write_text("", encoding="utf-8")
    assert source_fingerprint(copy) != original
    (copy / "extra.py").unlink()
    (copy / "errors.py").rename(copy / "experiments" / "errors.py")
    assert source_fingerprint(copy) != original


CODE_CHANGE = """
import json, sys
from pathlib import Path
import svdlib
from svdlib.experiments.artifacts.freshness import inputs_fingerprint
from svdlib.experiments.config.loading import load_config
from svdlib.experiments.storage.store import Store

settings, folder, edited, *inputs = sys.argv[1:]
store = Store(load_config("tiny", json.loads(settings), results=folder + "/results",
                          data=folder + "/data"))
print(svdlib.__file__)
print(inputs_fingerprint(store, inputs, "model-key"))
Path(edited).write_text(Path(edited).read_text() + "# edited\\n")
print(inputs_fingerprint(store, inputs, "model-key"))
"""


def test_a_change_to_svdlibs_code_makes_the_group_stale(group, tmp_path):
    """svdlib run from a copy: the same fingerprint, until one of its sources is edited."""
    _, inputs, outputs, record, fingerprint = group
    copy = copy_package(tmp_path / "copy")
    done = subprocess.run(
        [sys.executable, "-c", CODE_CHANGE, json.dumps(BASE), str(tmp_path),
         str(copy / "veracity" / "measures.py"), *map(str, inputs)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(copy.parent)},
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    where, before, after = done.stdout.split()
    assert Path(where) == copy / "__init__.py"
    assert before == fingerprint
    assert after != fingerprint
    assert up_to_date(record, before, outputs)
    assert not up_to_date(record, after, outputs)


def test_a_missing_output_is_never_up_to_date_and_an_edited_one_is_refused(group):
    _, _, outputs, record, fingerprint = group
    edit_by_hand(outputs[1])
    with pytest.raises(ArtifactError, match=r"table2\.csv.*longer than it was written"):
        up_to_date(record, fingerprint, outputs)
    outputs[1].unlink()
    assert not up_to_date(record, fingerprint, outputs)
    write_artifact(outputs[1], "LIME %\n50\n")               # computed again
    assert up_to_date(record, fingerprint, outputs)
    # an output that is not among the record's files is still checked
    assert not up_to_date(record, fingerprint, [*outputs, outputs[0].with_name("new.csv")])


def test_an_absent_or_damaged_record_means_compute_again_never_an_error(group):
    _, _, outputs, record, fingerprint = group
    record_text = record.read_text(encoding="utf-8")
    damages = {
        "absent": lambda: record.unlink(),
        "edited by hand": lambda: edit_by_hand(record),
        "truncated": lambda: record.write_text(record_text[:10], encoding="utf-8"),
        "without its digest": lambda: sidecar_path(record).unlink(),
        "digest unreadable": lambda: sidecar_path(record).write_text("{", encoding="utf-8"),
        "not a record": lambda: save_json(record, ["a", fingerprint]),
        "no fingerprint": lambda: save_json(record, {"outputs": []}),
    }
    for what, damage in damages.items():
        write_record(record, fingerprint, outputs)
        assert up_to_date(record, fingerprint, outputs), what
        damage()
        assert not up_to_date(record, fingerprint, outputs), what
        # computing the group again writes a good record over it
        write_record(record, fingerprint, outputs)
        assert up_to_date(record, fingerprint, outputs), what
        assert load_json(record)["fingerprint"] == fingerprint


def test_without_digests_nothing_is_up_to_date_and_the_record_goes(group, tmp_path,
                                                                   monkeypatch):
    store, inputs, outputs, record, _ = group
    monkeypatch.setenv(VERIFY_ENV, "0")                       # files written with digests off
    plain = write_artifact(tmp_path / "in" / "plain.csv", "x\n1\n")
    assert not sidecar_path(plain).exists()
    fingerprint = inputs_fingerprint(store, [*inputs, plain], "model-key")
    assert fingerprint is None
    assert not up_to_date(record, fingerprint, outputs)
    write_record(record, fingerprint, outputs)
    assert not record.exists() and not sidecar_path(record).exists()
    monkeypatch.delenv(VERIFY_ENV)
    assert not up_to_date(record, inputs_fingerprint(store, inputs, "model-key"), outputs)


def test_the_figures_follow_the_tables_record(group, tmp_path):
    """As in stages._draw_figures, the tables' record is an input of the figures' record.

    (The stage gives the figures the tables' inputs too; left out here, to see the record's
    own part.)
    """
    store, inputs, outputs, tables_record, tables_fp = group
    figures = [write_artifact(tmp_path / "out" / "figure1.png", "png"),
               write_artifact(tmp_path / "out" / "figure1.svg", "svg")]
    figures_record = record_path(tmp_path / "out", "figures")

    def figures_fp() -> str | None:
        return inputs_fingerprint(store, [tables_record], "model-key")

    write_record(figures_record, figures_fp(), figures)
    assert up_to_date(figures_record, figures_fp(), figures)
    # the tables computed again from the same inputs: the figures stay up to date
    write_record(tables_record, tables_fp, outputs)
    assert up_to_date(figures_record, figures_fp(), figures)
    # an input changes: the tables are computed afresh, and then the figures are stale
    write_artifact(inputs[0], "song,frame\nb,2\n")
    new_tables_fp = inputs_fingerprint(store, inputs, "model-key")
    assert not up_to_date(tables_record, new_tables_fp, outputs)
    write_record(tables_record, new_tables_fp, outputs)
    assert not up_to_date(figures_record, figures_fp(), figures)
