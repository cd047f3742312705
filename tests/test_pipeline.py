"""The papermill batch runner: injected parameters, up-to-date stamps, failures, the TOC.

Real papermill runs of tiny throwaway notebooks (no svdlib imports in the kernel), so the whole
file takes some 30 seconds.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from conftest import run_cli

from svdlib.book import runs as pipeline
from svdlib.book.build import toc_files
from svdlib.book.execute import book_jobs, run_notebooks
from svdlib.book.runs import RUNS, NotebookRun, config_overrides, notebook_parameters, select_runs
from svdlib.book.stamps import read_stamp
from svdlib.cli import main
from svdlib.errors import SvdError
from svdlib.experiments.config.loading import load_config

REPO = Path(__file__).resolve().parent.parent


def write_notebook(path: Path, *code: str, title: str = "Echo") -> Path:
    """A notebook: a heading, a parameters cell, then one code cell per argument."""
    cells = [
        nbformat.v4.new_markdown_cell(f"# {title}\n\nA throwaway notebook."),
        nbformat.v4.new_code_cell('profile = "quick"\noverrides = {}\nx = 0',
                                  metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(source) for source in code),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


ECHO = 'print(f"x={x} profile={profile} epochs={overrides.get(\'train.epochs\')}")'


@pytest.fixture
def books(tmp_path):
    """Notebook and output folders, a configuration, and a small table of runs."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "echo.ipynb", ECHO)
    # cell 0 heading, 1 parameters, 2 fails
    write_notebook(notebooks / "boom.ipynb", 'raise ValueError("boom in cell 2")', "y = 1",
                   title="Boom")
    table = [
        NotebookRun("echo", {"x": 1}, "echo-1", "first"),
        NotebookRun("boom"),
        NotebookRun("echo", {"x": 2}, "echo-2"),
    ]
    cfg = load_config("tiny", results=str(tmp_path / "results"))
    lines: list[str] = []

    def run(cfg=cfg, runs=table, **kwargs):
        lines.clear()
        return run_notebooks(cfg, runs=runs, notebook_dir=notebooks,
                             output_dir=tmp_path / "generated", log=lines.append, **kwargs)

    return {"run": run, "cfg": cfg, "table": table, "notebooks": notebooks,
            "out": tmp_path / "generated", "lines": lines}


def statuses(report) -> list[str]:
    return [r.status for r in report.results]


def stdout_of(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


def test_runs_skip_rerun_and_report_failures(books):
    run, out, table = books["run"], books["out"], books["table"]

    report = run()
    assert statuses(report) == ["ran", "failed", "ran"]
    assert not report.ok
    # outputs carry the injected parameters and the stamp
    assert "x=1 profile=tiny epochs=None" in stdout_of(out / "echo-1.ipynb")
    assert "x=2 profile=tiny" in stdout_of(out / "echo-2.ipynb")
    executed = nbformat.read(out / "echo-1.ipynb", as_version=4)
    assert executed.metadata.papermill.parameters["x"] == 1
    assert executed.metadata.svdlib["stamp"] == read_stamp(out / "echo-1.ipynb")
    assert executed.cells[0].source.startswith("# Echo — first")
    assert "remove-cell" in executed.cells[1].metadata.tags          # the defaults
    assert "injected-parameters" in executed.cells[2].metadata.tags  # shown instead
    # the failure: reported with notebook, cell and exception; no output, the failed nb kept
    failure = report.failures[0]
    assert failure.run.name == "boom"
    assert (failure.error.ename, failure.error.cell_index) == ("ValueError", 2)
    assert "boom in cell 2" in failure.error.evalue
    text = report.failure_report()
    assert "boom.ipynb" in text
    assert "cell 2" in text
    assert "ValueError: boom in cell 2" in text
    assert not (out / "boom.ipynb").exists()
    assert (out / "boom.failed.ipynb").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["boom.failed.ipynb", "echo-1.ipynb",
                                                      "echo-2.ipynb"]
    assert any("[2/3] boom: FAILED" in line and "ValueError" in line for line in books["lines"])
    assert "3 notebook runs: 2 ran, 0 up to date, 1 failed" in books["lines"][-1]

    # up to date: skipped (the failing one is tried again)
    assert statuses(run()) == ["skipped", "failed", "skipped"]
    good = table[::2]

    # a changed parameter reruns only that run
    changed = [good[0], NotebookRun("echo", {"x": 3}, "echo-2")]
    assert statuses(run(runs=changed)) == ["skipped", "ran"]
    assert "x=3" in stdout_of(out / "echo-2.ipynb")

    # a changed configuration reruns; so does another thread count (the numbers depend on it),
    # but not a setting that only changes speed or display (progress bars)
    cfg2 = load_config("tiny", {"train.epochs": 5}, results=books["cfg"].paths.results)
    assert statuses(run(cfg=cfg2, runs=changed[:1])) == ["ran"]
    assert "epochs=5" in stdout_of(out / "echo-1.ipynb")
    cfg3 = load_config("tiny", {"train.epochs": 5, "run.progress": False},
                       results=books["cfg"].paths.results)
    assert statuses(run(cfg=cfg3, runs=changed[:1])) == ["skipped"]
    threads = 1 if cfg2.run.num_threads != 1 else 2
    cfg4 = load_config("tiny", {"train.epochs": 5, "run.num_threads": threads},
                       results=books["cfg"].paths.results)
    assert statuses(run(cfg=cfg4, runs=changed[:1])) == ["ran"]
    cfg2 = load_config("tiny", {"train.epochs": 5}, results=books["cfg"].paths.results)

    # --force reruns what is up to date
    assert statuses(run(cfg=cfg2, runs=changed, force=True)) == ["ran", "ran"]

    # a changed source reruns; when it now fails, the stale outputs are removed
    write_notebook(books["notebooks"] / "echo.ipynb", ECHO, "1 / 0")
    report = run(cfg=cfg2, runs=changed)
    assert statuses(report) == ["failed", "failed"]
    assert [f.error.ename for f in report.failures] == ["ZeroDivisionError"] * 2
    assert [f.error.cell_index for f in report.failures] == [3, 3]
    assert not (out / "echo-1.ipynb").exists()
    assert not (out / "echo-2.ipynb").exists()
    assert not list(out.glob(".*")), "temporary files left behind"


def test_runs_at_once_report_as_one_after_the_other(books):
    """Two at a time: the same outcomes, outputs, failure report and lines; longest first."""
    out, table = books["out"], books["table"]
    sequential = books["run"](jobs=1)
    names = sorted(p.name for p in out.iterdir())
    for path in out.iterdir():
        path.unlink()
    runs = [table[0], table[1], NotebookRun("echo", {"x": 2}, "echo-2", expected=60.0)]
    report = books["run"](runs=runs, jobs=2)
    lines = books["lines"]
    assert statuses(report) == statuses(sequential) == ["ran", "failed", "ran"]
    assert [r.run.name for r in report.results] == ["echo-1", "boom", "echo-2"]
    assert report.failure_report() == sequential.failure_report()
    assert report.failures[0].error.cell_index == 2
    assert sorted(p.name for p in out.iterdir()) == names     # no temporary file left
    assert "x=2 profile=tiny" in stdout_of(out / "echo-2.ipynb")
    assert nbformat.read(out / "echo-1.ipynb", as_version=4).cells[0].source.startswith(
        "# Echo — first")
    assert lines[0].endswith(", 2 at once")
    started = [line.split(":")[0] for line in lines if ": running " in line]
    assert started == ["[3/3] echo-2", "[1/3] echo-1", "[2/3] boom"]     # the longest first
    assert any("[2/3] boom: FAILED" in line and "ValueError" in line for line in lines)
    assert "3 notebook runs: 2 ran, 0 up to date, 1 failed" in lines[-1]
    # up to date: skipped, whatever the number of jobs
    assert statuses(books["run"](runs=runs, jobs=2)) == ["skipped", "failed", "skipped"]


def test_two_jobs_run_at_the_same_time(books, tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    write_notebook(books["notebooks"] / "nap.ipynb", "import os, pathlib, time\n"
                   "start = time.time()\ntime.sleep(3)\n"
                   f"pathlib.Path({str(marks)!r}, f'{{x}}.txt').write_text("
                   "f'{start} {time.time()} {os.environ.get(\"OMP_WAIT_POLICY\")}')")
    # longest first puts the run alone second: it must not keep nap-2 from starting beside
    # nap-1 (it runs when both have ended)
    runs = [NotebookRun("nap", {"x": 1}, "nap-1", expected=90.0),
            NotebookRun("nap", {"x": 2}, "nap-2", expected=10.0),
            NotebookRun("nap", {"x": 3}, "nap-3", expected=80.0, alone=True)]
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert statuses(books["run"](runs=runs, jobs=2)) == ["ran", "ran", "ran"]
    marked = [(marks / f"{x}.txt").read_text().split() for x in (1, 2, 3)]
    (a0, a1), (b0, b1), (c0, c1) = ([float(v) for v in m[:2]] for m in marked)
    assert max(a0, b0) < min(a1, b1), "the two notebooks did not overlap"
    assert c1 < min(a0, b0) or c0 > max(a1, b1), "a notebook ran beside one that runs alone"
    # the kernels that share the CPUs wait passively; the one alone as it would by itself
    assert [m[2] for m in marked] == ["PASSIVE", "PASSIVE", "None"]
    assert "OMP_WAIT_POLICY" not in os.environ


def test_book_jobs_setting(tmp_path, capsys):
    cfg = load_config("tiny")
    assert book_jobs(cfg) == min(2, len(os.sched_getaffinity(0)))
    assert book_jobs(load_config("tiny", {"run.book_jobs": 1})) == 1
    results = tmp_path / "results"
    code, _, err = run_cli(capsys, "book", "--profile", "tiny", "--jobs", "100000",
                           "--results", str(results), "--no-build")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "run.book_jobs" in err
    assert not results.exists()


def test_only_selects_by_notebook_or_output():
    assert [r.name for r in select_runs(["attacks"])] == ["attacks-wave", "attacks-spec"]
    assert [r.name for r in select_runs(["fidelity-spec,model"])] == ["model", "fidelity-spec"]
    assert select_runs(None) == list(RUNS)
    with pytest.raises(SvdError, match="unknown notebook run 'atacks'"):
        select_runs(["atacks"])


def test_missing_notebook_is_a_reported_failure(books):
    report = books["run"](runs=[NotebookRun("nope", {"x": 1}), books["table"][0]])
    assert statuses(report) == ["failed", "ran"]
    assert report.failures[0].error.ename == "FileNotFoundError"
    assert "nope.ipynb" in report.failure_report()


def test_overrides_rebuild_the_same_configuration(tmp_path):
    cfg = load_config("quick", {"train.epochs": 2, "lime.num_samples": 64,
                                "attack.spec.alpha": 3.5, "train.seeds": [1, 2]},
                      results=str(tmp_path / "res"), data=str(tmp_path / "jamendo"))
    params = notebook_parameters(cfg, NotebookRun("attacks", {"attack_type": "spec"}))
    assert params["profile"] == "quick"
    assert params["attack_type"] == "spec"
    overrides = params["overrides"]
    assert overrides["train.epochs"] == 2
    assert overrides["run.progress"] is False
    assert overrides["paths.results"] == str(tmp_path / "res")
    rebuilt = load_config("quick", overrides)
    expected = cfg.to_dict()
    expected["run"]["progress"] = False
    assert rebuilt.to_dict() == expected
    # nothing to override for the profile itself; JSON-able for papermill
    assert config_overrides(load_config("paper"), "paper") == {}
    json.dumps(params)


def test_profile_file_becomes_an_absolute_path(tmp_path):
    profile = tmp_path / "mine.yml"
    profile.write_text((REPO / "svdlib" / "profiles" / "tiny.yml").read_text(), encoding="utf-8")
    cfg = load_config(str(profile))
    params = notebook_parameters(cfg, NotebookRun("model"), profile=str(profile))
    assert params["profile"] == str(profile.resolve())
    assert load_config(params["profile"], params["overrides"]).paths == cfg.paths


def test_toc_lists_every_run_in_order():
    generated = [f.removeprefix("book/generated/") for f in toc_files(REPO)
                 if f.startswith("book/generated/")]
    assert generated == [r.name for r in RUNS]
    assert len({r.name for r in RUNS}) == len(RUNS)
    for doc in toc_files(REPO):
        if not doc.startswith("book/generated/"):
            assert (REPO / f"{doc}.md").is_file(), doc


def test_svd_book_exits_1_and_lists_failures(books, tmp_path, monkeypatch, capsys):
    root = tmp_path / "root"
    (root / "notebooks").mkdir(parents=True)
    for name in ("echo", "boom"):
        (root / "notebooks" / f"{name}.ipynb").write_bytes(
            (books["notebooks"] / f"{name}.ipynb").read_bytes())
    monkeypatch.chdir(root)
    monkeypatch.setattr(pipeline, "RUNS", tuple(books["table"][:2]))
    code = main(["book", "--profile", "tiny", "--results", str(tmp_path / "res"), "--quiet",
                 "--no-compute"])
    out = capsys.readouterr().out
    assert code == 1
    assert "1 of 2 notebook runs failed" in out
    assert "boom.ipynb" in out
    assert "cell 2" in out
    assert "ValueError: boom in cell 2" in out
    assert "not building the book" in out
    assert (root / "book" / "generated" / "echo-1.ipynb").is_file()
    # the second time the good run is up to date; --only picks runs
    code = main(["book", "--profile", "tiny", "--results", str(tmp_path / "res"), "--quiet",
                 "--only", "echo", "--no-build"])
    assert code == 0
    assert "[1/1] echo-1: up to date" in capsys.readouterr().out


def test_a_cell_past_its_limit_runs_the_notebook_once_more(books, tmp_path, capfd):
    # the first execution hangs in cell 2 (as a kernel that never answers would), the second
    # goes through: the run is done, its output complete, and the retry is said
    marker = tmp_path / "first-try"
    write_notebook(books["notebooks"] / "stall.ipynb", "import pathlib, time\n"
                   f"first = not pathlib.Path({str(marker)!r}).exists()\n"
                   f"pathlib.Path({str(marker)!r}).touch()\n"
                   "if first:\n    time.sleep(60)", 'print("through")')
    started = time.monotonic()
    report = books["run"](runs=[NotebookRun("stall")], timeout=3, jobs=1)
    assert statuses(report) == ["ran"] and time.monotonic() - started < 50
    assert "through" in stdout_of(books["out"] / "stall.ipynb")
    assert "stall: a cell ran past its 3 s limit; running the notebook once more" \
        in capfd.readouterr().err
    # a cell that always runs too long fails the run after the second try, saying so
    write_notebook(books["notebooks"] / "slow.ipynb", "import time\ntime.sleep(60)")
    report = books["run"](runs=[NotebookRun("slow")], timeout=2, jobs=1)
    assert statuses(report) == ["failed"]
    failure = report.failures[0].error
    assert failure.ename == "CellTimeoutError" and "past its 2 s limit twice" in failure.evalue
    assert "--cell-timeout" in failure.evalue


def test_cell_timeouts_by_profile():
    explorer = NotebookRun("explorer", expected=40.0)
    assert explorer.cell_timeout("tiny") == 300.0
    assert NotebookRun("long", expected=200.0).cell_timeout("quick") == 1000.0
    assert explorer.cell_timeout("standard") is None and explorer.cell_timeout("paper") is None
    assert explorer.cell_timeout("paper", 30) == 30.0 and explorer.cell_timeout("quick", 0) is None


def test_svd_book_refuses_a_negative_cell_timeout(capsys):
    assert main(["book", "--cell-timeout", "-5", "--no-build"]) == 2
    assert "--cell-timeout must be 0 (no limit) or a number of seconds, got -5" \
        in capsys.readouterr().err
