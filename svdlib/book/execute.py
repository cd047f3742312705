"""Executing notebooks with papermill, with progress and stamps."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svdlib.book.runs import (
    INJECTED_TAG,
    NotebookRun,
    RunError,
    RunReport,
    RunResult,
    notebook_parameters,
    select_runs,
)
from svdlib.book.stamps import (
    METADATA_KEY,
    clock,
    package_hash,
    read_stamp,
    relative_path,
    run_stamp,
)
from svdlib.experiments.config.paths import project_root
from svdlib.experiments.config.settings import Config

#: Cells papermill adds to a failed notebook to mark the error.
_ERROR_MARKER_TAG = "papermill-error-cell-tag"


def print_line(message: str) -> None:
    """Print one line of progress at once (flushed, so logs interleave in order).

    Parameters
    ----------
    message : str
        The line.
    """
    print(message, flush=True)


def _source_cell_index(failed: Path, cell_index: int) -> int:
    """Map a cell index of the executed notebook to the source notebook's index."""
    try:
        with open(failed, encoding="utf-8") as handle:
            cells = json.load(handle)["cells"]
    except (OSError, ValueError, KeyError):
        return cell_index
    cells = [c for c in cells if _ERROR_MARKER_TAG not in c.get("metadata", {}).get("tags", [])]
    for index, cell in enumerate(cells):
        if INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
            return cell_index - 1 if cell_index > index else cell_index
    return cell_index


def _finish_output(tmp: Path, stamp: str, run: NotebookRun, parameters: Mapping[str, Any],
                   seconds: float) -> None:
    """Write the stamp into the executed notebook and hide the default parameters cell."""
    import nbformat

    from svdlib import __version__

    nb = nbformat.read(tmp, as_version=4)
    nb.metadata[METADATA_KEY] = {
        "stamp": stamp,
        "notebook": run.notebook,
        "output": run.name,
        "parameters": json.loads(json.dumps(dict(parameters), default=str)),
        "svdlib_version": __version__,
        "seconds": round(seconds, 1),
    }
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            # the injected cell right below shows the values this page was run with
            cell.metadata["tags"] = [*tags, "remove-cell"]
    if run.subtitle:
        _add_subtitle(nb, run.subtitle)
    nbformat.write(nb, tmp)


def _add_subtitle(nb: Any, subtitle: str) -> None:
    """Append ``subtitle`` to the first level-1 Markdown heading of ``nb``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        fenced = False
        for index, line in enumerate(lines):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            elif not fenced and re.match(r"#\s+\S", line):
                lines[index] = f"{line.rstrip()} — {subtitle}"
                cell.source = "\n".join(lines)
                return


@dataclass(frozen=True)
class _Batch:
    """What every run of one :func:`run_notebooks` call shares."""

    cfg: Config
    profile: str | None
    force: bool
    notebook_dir: Path
    output_dir: Path
    cwd: str | Path
    kernel_name: str
    timeout: float | None
    progress_bar: bool
    say: Callable[[str], None]
    execute: Callable[..., Any]  # papermill.execute_notebook


def run_notebooks(
    cfg: Config, *, profile: str | None = None, runs: Sequence[NotebookRun] | None = None,
    only: Iterable[str] | None = None, force: bool = False,
    notebook_dir: str | Path | None = None, output_dir: str | Path | None = None,
    cwd: str | Path | None = None, kernel_name: str = "python3", timeout: float | None = None,
    progress_bar: bool = False, log: Callable[[str], None] | None = None,
) -> RunReport:
    """Execute the book's notebooks with papermill, skipping outputs that are up to date.

    Every run executes ``<notebook_dir>/<notebook>.ipynb`` into a temporary file next to
    ``<output_dir>/<output>.ipynb`` and renames it into place on success, with the stamp
    (:func:`run_stamp`) in its metadata. A run whose output carries the current stamp is
    skipped. A failure is recorded and the next run starts; the failed notebook is kept as
    ``<output>.failed.ipynb`` and any older output of that run is removed.

    Parameters
    ----------
    cfg : Config
        The configuration; notebooks receive it as ``profile`` plus ``overrides``
        (see :func:`notebook_parameters`).
    profile : str, optional
        Profile name or YAML path handed to the notebooks (default ``cfg.profile``).
    runs : sequence of NotebookRun, optional
        The table of runs (default :data:`RUNS`).
    only : iterable of str, optional
        Run only these notebooks or outputs (see :func:`select_runs`).
    force : bool
        Rerun even when outputs are up to date.
    notebook_dir, output_dir : str or Path, optional
        Source notebooks (default ``<root>/notebooks``) and outputs (default
        ``<root>/book/generated``, created if missing), ``<root>`` being
        :func:`~svdlib.experiments.config.paths.project_root`.
    cwd : str or Path, optional
        The kernels' working directory (default ``notebook_dir``, as for jupyter-book).
    kernel_name : str
        The Jupyter kernel.
    timeout : float, optional
        Seconds a single cell may run (default: no limit).
    progress_bar : bool
        Show papermill's per-cell progress bar.
    log : callable, optional
        Receives progress lines (default: print to stdout).

    Returns
    -------
    RunReport
        Per-run outcomes; ``report.ok`` is False if anything failed.
    """
    # imported first, so that a missing papermill fails before anything is written
    from papermill import execute_notebook

    notebook_dir, output_dir = _directories(notebook_dir, output_dir)
    batch = _Batch(cfg, profile, force, notebook_dir, output_dir, cwd or notebook_dir,
                   kernel_name, timeout, progress_bar, log or print_line, execute_notebook)
    return _run_batch(batch, select_runs(only, runs))


def _directories(notebook_dir: str | Path | None,
                 output_dir: str | Path | None) -> tuple[Path, Path]:
    """The source and output folders (defaults under the project root); makes the latter."""
    root = project_root()
    notebook_dir = Path(notebook_dir) if notebook_dir else root / "notebooks"
    output_dir = Path(output_dir) if output_dir else root / "book" / "generated"
    output_dir.mkdir(parents=True, exist_ok=True)
    return notebook_dir, output_dir


def _run_batch(batch: _Batch, selected: Sequence[NotebookRun]) -> RunReport:
    """Run ``selected`` one after the other, reporting progress and a summary."""
    svdlib_hash = package_hash()
    started = time.monotonic()
    width = len(str(len(selected)))
    batch.say(f"svd book: {len(selected)} notebook runs, profile {batch.cfg.profile} → "
              f"{relative_path(batch.output_dir)}")
    results: list[RunResult] = []
    for number, run in enumerate(selected, start=1):
        prefix = f"[{number:>{width}}/{len(selected)}] {run.name}"
        results.append(_run_one(batch, run, prefix, svdlib_hash, started))
    report = RunReport(results, time.monotonic() - started)
    batch.say(report.summary())
    return report


def _run_one(batch: _Batch, run: NotebookRun, prefix: str, svdlib_hash: str,
             started: float) -> RunResult:
    """Run one notebook unless its output is up to date; progress lines start with ``prefix``."""
    source = batch.notebook_dir / f"{run.notebook}.ipynb"
    output = batch.output_dir / f"{run.name}.ipynb"
    parameters = notebook_parameters(batch.cfg, run, batch.profile)
    if not source.is_file():
        error = RunError("FileNotFoundError", f"notebook {relative_path(source)} does not exist")
        _discard(output)
        batch.say(f"{prefix}: FAILED: {error.evalue}")
        return RunResult(run, source, "failed", 0.0, output, parameters, error)
    stamp = run_stamp(batch.cfg, source, parameters, svdlib_hash)
    if not batch.force and output.is_file() and read_stamp(output) == stamp:
        batch.say(f"{prefix}: up to date")
        return RunResult(run, source, "skipped", 0.0, output, parameters)
    elapsed = clock(time.monotonic() - started)
    batch.say(f"{prefix}: running {run.describe(source)} (elapsed {elapsed})")
    t0 = time.monotonic()
    error = _execute(batch, run, source, parameters, stamp)
    seconds = time.monotonic() - t0
    if error is None:
        batch.say(f"{prefix}: done in {seconds:.1f} s")
        return RunResult(run, source, "ran", seconds, output, parameters)
    _discard(output)
    cell = f" in cell {error.cell_index}" if error.cell_index is not None else ""
    first = (error.evalue.strip().splitlines() or [""])[0]
    batch.say(f"{prefix}: FAILED after {seconds:.1f} s{cell}: {error.ename}: {first}")
    return RunResult(run, source, "failed", seconds, output, parameters, error)


def _execute(batch: _Batch, run: NotebookRun, source: Path, parameters: Mapping[str, Any],
             stamp: str) -> RunError | None:
    """Execute ``source`` into ``<output>.ipynb``; on failure keep ``<output>.failed.ipynb``."""
    from papermill.exceptions import PapermillExecutionError

    tmp = batch.output_dir / f".{run.name}.running.ipynb"
    failed = batch.output_dir / f"{run.name}.failed.ipynb"
    t0 = time.monotonic()
    error = None
    try:
        with _without_kernel_noise(not batch.progress_bar):
            batch.execute(
                str(source), str(tmp), parameters=parameters, kernel_name=batch.kernel_name,
                cwd=str(batch.cwd), progress_bar=batch.progress_bar,
                execution_timeout=batch.timeout,
            )
        _finish_output(tmp, stamp, run, parameters, time.monotonic() - t0)
        os.replace(tmp, batch.output_dir / f"{run.name}.ipynb")
        _discard(failed)
    except PapermillExecutionError as err:
        error = RunError(err.ename, str(err.evalue), err.cell_index, err.exec_count)
        if tmp.is_file():
            error.cell_index = _source_cell_index(tmp, err.cell_index)
    except Exception as err:  # kernel death, timeouts, bad notebooks: report, go on
        error = RunError(type(err).__name__, str(err))
    finally:
        if error is not None and tmp.is_file():
            os.replace(tmp, failed)
            error.failed_notebook = failed
        _discard(tmp)
    return error


#: Kernel messages on stderr that say nothing about the notebook (ipykernel 7 / jupyter_client).
_KERNEL_NOISE = re.compile(r"Kernel is running over TCP without encryption|"
                           r"KeyboardInterrupt caught in kernel")


@contextlib.contextmanager
def _without_kernel_noise(active: bool = True) -> Iterator[None]:
    """Capture file descriptor 2 (kernels inherit it) and echo it without known noise.

    Inactive (nothing captured) when ``active`` is False, e.g. while papermill draws its
    progress bar on stderr.
    """
    if not active:
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr is not a real file (e.g. captured)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", errors="replace").splitlines():
                if line.strip() and not _KERNEL_NOISE.search(line):
                    print(line, file=sys.stderr, flush=True)


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


#: A log line that reports a problem, and an ANSI colour code (stripped before matching).
WARNING_LINE = re.compile(r"(WARNING|ERROR|CRITICAL|SEVERE)\b|Exception|Traceback")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


