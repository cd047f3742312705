"""Executing the book's notebooks with papermill: the batch, with progress and stamps.

Runs execute one after the other, or several at once in worker processes
(``run.book_jobs``); each execution is :func:`svdlib.book.notebook.execute_job`.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

from svdlib.book.notebook import NotebookJob, discard, execute_job
from svdlib.book.runs import (
    NotebookRun,
    RunError,
    RunReport,
    RunResult,
    notebook_parameters,
    select_runs,
)
from svdlib.book.stamps import (
    clock,
    package_hash,
    read_stamp,
    recorded_seconds,
    relative_path,
    run_stamp,
)
from svdlib.experiments.config.paths import project_root
from svdlib.experiments.config.settings import Config
from svdlib.experiments.config.sizes import cpu_count


def print_line(message: str) -> None:
    """Print one line of progress at once (flushed, so logs interleave in order).

    Parameters
    ----------
    message : str
        The line.
    """
    print(message, flush=True)


def book_jobs(cfg: Config) -> int:
    """How many notebooks run at once: ``run.book_jobs``, or 0 for two where two CPUs allow.

    Parameters
    ----------
    cfg : Config
        The configuration.

    Returns
    -------
    int
        At least 1.
    """
    if cfg.run.book_jobs > 0:
        return cfg.run.book_jobs
    return min(2, cpu_count())


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
    jobs: int


@dataclass(frozen=True)
class _Pending:
    """A run to execute: its place in the batch, its progress prefix and its job."""

    index: int
    prefix: str
    job: NotebookJob
    expected: float


def run_notebooks(
    cfg: Config, *, profile: str | None = None, runs: Sequence[NotebookRun] | None = None,
    only: Iterable[str] | None = None, force: bool = False,
    notebook_dir: str | Path | None = None, output_dir: str | Path | None = None,
    cwd: str | Path | None = None, kernel_name: str = "python3", timeout: float | None = None,
    progress_bar: bool = False, log: Callable[[str], None] | None = None,
    jobs: int | None = None,
) -> RunReport:
    """Execute the book's notebooks with papermill, skipping outputs that are up to date.

    Every run executes ``<notebook_dir>/<notebook>.ipynb`` into a temporary file next to
    ``<output_dir>/<output>.ipynb`` and renames it into place on success, with the stamp
    (:func:`run_stamp`) in its metadata. A run whose output carries the current stamp is
    skipped. A failure is recorded and the next run starts; the failed notebook is kept as
    ``<output>.failed.ipynb`` and any older output of that run is removed.

    With ``jobs`` above 1, that many run at once in worker processes (a run ``alone``
    alone), the longest first (:attr:`NotebookRun.expected`, or what the last output took);
    the report keeps table order. Notebooks computing one artifact wait at its lock.

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
    kernel_name, timeout : str, float
        The Jupyter kernel; a cell's time limit (see :meth:`NotebookRun.cell_timeout`).
    progress_bar, log : bool, callable, optional
        Show papermill's per-cell progress bar; receives progress lines (default: print).
    jobs : int, optional
        Notebooks run at once (default :func:`book_jobs`); 1 (and ``progress_bar``): one
        after the other, in this process.

    Returns
    -------
    RunReport
        Per-run outcomes; ``report.ok`` is False if anything failed.
    """
    # imported first, so that a missing papermill fails before anything is written
    import papermill  # noqa: F401

    notebook_dir, output_dir = _directories(notebook_dir, output_dir)
    jobs = 1 if progress_bar else (book_jobs(cfg) if jobs is None else max(1, int(jobs)))
    batch = _Batch(cfg, profile, force, notebook_dir, output_dir, cwd or notebook_dir,
                   kernel_name, timeout, progress_bar, log or print_line, jobs)
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
    """Run ``selected`` (one after the other, or ``batch.jobs`` at once) with progress."""
    svdlib_hash = package_hash()
    started = time.monotonic()
    width = len(str(len(selected)))
    batch.say(f"svd book: {len(selected)} notebook runs, profile {batch.cfg.profile} → "
              f"{relative_path(batch.output_dir)}"
              + (f", {batch.jobs} at once" if batch.jobs > 1 else ""))
    results: list[RunResult | None] = []
    pending: list[_Pending] = []
    for number, run in enumerate(selected, start=1):
        prefix = f"[{number:>{width}}/{len(selected)}] {run.name}"
        ready = _prepare(batch, run, prefix, svdlib_hash, number - 1)
        if isinstance(ready, RunResult):
            results.append(ready)
        elif batch.jobs == 1:
            _say_running(batch, ready, started)
            results.append(_outcome(batch, ready, *execute_job(ready.job)))
        else:
            results.append(None)
            pending.append(ready)
    for index, result in _run_pool(batch, pending, started).items():
        results[index] = result
    report = RunReport([r for r in results if r is not None], time.monotonic() - started)
    batch.say(report.summary())
    return report


def _prepare(batch: _Batch, run: NotebookRun, prefix: str, svdlib_hash: str,
             index: int) -> RunResult | _Pending:
    """The run's result if it need not execute (up to date, or no notebook), else its job."""
    source = batch.notebook_dir / f"{run.notebook}.ipynb"
    output = batch.output_dir / f"{run.name}.ipynb"
    parameters = notebook_parameters(batch.cfg, run, batch.profile)
    if not source.is_file():
        error = RunError("FileNotFoundError", f"notebook {relative_path(source)} does not exist")
        discard(output)
        batch.say(f"{prefix}: FAILED: {error.evalue}")
        return RunResult(run, source, "failed", 0.0, output, parameters, error)
    stamp = run_stamp(batch.cfg, source, parameters, svdlib_hash)
    if not batch.force and output.is_file() and read_stamp(output) == stamp:
        batch.say(f"{prefix}: up to date")
        return RunResult(run, source, "skipped", 0.0, output, parameters)
    job = NotebookJob(run, source, batch.output_dir, parameters, stamp, str(batch.cwd),
                      batch.kernel_name, run.cell_timeout(batch.cfg.profile, batch.timeout),
                      batch.progress_bar)
    return _Pending(index, prefix, job, recorded_seconds(output) or run.expected)


def _say_running(batch: _Batch, pending: _Pending, started: float) -> None:
    batch.say(f"{pending.prefix}: running {pending.job.run.describe(pending.job.source)} "
              f"(elapsed {clock(time.monotonic() - started)})")


def _outcome(batch: _Batch, pending: _Pending, error: RunError | None,
             seconds: float) -> RunResult:
    """Report one execution's end (done, or failed: the old output removed); its result."""
    job, prefix = pending.job, pending.prefix
    output = job.output_dir / f"{job.run.name}.ipynb"
    if error is None:
        batch.say(f"{prefix}: done in {seconds:.1f} s")
        return RunResult(job.run, job.source, "ran", seconds, output, dict(job.parameters))
    discard(output)
    cell = f" in cell {error.cell_index}" if error.cell_index is not None else ""
    first = (error.evalue.strip().splitlines() or [""])[0]
    batch.say(f"{prefix}: FAILED after {seconds:.1f} s{cell}: {error.ename}: {first}")
    return RunResult(job.run, job.source, "failed", seconds, output, dict(job.parameters), error)


def _run_pool(batch: _Batch, pending: Sequence[_Pending],
              started: float) -> dict[int, RunResult]:
    """Execute ``pending`` in ``batch.jobs`` worker processes, the longest first.

    A worker process that dies fails the runs in flight; the rest go on in a fresh pool.
    """
    queue = sorted(pending, key=lambda p: -p.expected)     # stable: table order among equals
    results: dict[int, RunResult] = {}
    context = multiprocessing.get_context("spawn")          # no fork of a process with threads
    while queue:
        with ProcessPoolExecutor(max_workers=min(batch.jobs, len(queue)),
                                 mp_context=context) as pool:
            running: dict[Future, tuple[_Pending, float]] = {}
            try:
                broken = _drain(batch, pool, queue, running, results, started)
            finally:
                for future in running:
                    future.cancel()
        if not broken:
            break
    return results


def _shared_cpus(item: _Pending) -> NotebookJob:
    """The job of a run that shares the CPUs: its kernel's threads wait passively.

    Two kernels' torch threads on the same CPUs wait for each other at every parallel
    region; spinning while waiting keeps the CPU from the thread being waited for (a
    2-thread QR took 40 times as long on a loaded machine). ``OMP_WAIT_POLICY=PASSIVE``
    changes how idle threads wait, never the work each thread does, so no number changes.
    A run ``alone`` and a policy set by the user are left as they are.
    """
    if item.job.run.alone or "OMP_WAIT_POLICY" in os.environ:
        return item.job
    return replace(item.job, environment={**item.job.environment, "OMP_WAIT_POLICY": "PASSIVE"})


def _may_start(item: _Pending, running: Sequence[_Pending]) -> bool:
    """Whether ``item`` may start beside ``running`` (a run ``alone`` has no neighbour)."""
    return not running or not (item.job.run.alone or any(r.job.run.alone for r in running))


def _drain(batch: _Batch, pool: ProcessPoolExecutor, queue: list[_Pending],
           running: dict[Future, tuple[_Pending, float]], results: dict[int, RunResult],
           started: float) -> bool:
    """Keep ``batch.jobs`` runs going until ``queue`` is empty; True if the pool broke."""
    broken = False
    while (queue and not broken) or running:
        while queue and not broken and len(running) < batch.jobs:
            held = [h for h, _ in running.values()]
            # the longest run that may start now: a run alone waits for the others to end
            # without keeping the next ones from starting beside what is running
            ready = next((i for i, p in enumerate(queue) if _may_start(p, held)), None)
            if ready is None:
                break
            item = queue.pop(ready)
            _say_running(batch, item, started)
            running[pool.submit(execute_job, _shared_cpus(item))] = (item, time.monotonic())
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            item, t0 = running.pop(future)
            try:
                error, seconds = future.result()
            except Exception as err:   # the worker process died (e.g. killed)
                broken = True
                error, seconds = RunError(type(err).__name__, "the process running the "
                                          f"notebook ended: {err}"), time.monotonic() - t0
            results[item.index] = _outcome(batch, item, error, seconds)
    return broken


#: A log line that reports a problem, and an ANSI colour code (stripped before matching).
WARNING_LINE = re.compile(r"(WARNING|ERROR|CRITICAL|SEVERE)\b|Exception|Traceback")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


