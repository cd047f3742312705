"""One papermill execution of one notebook run, in this process or in a worker process.

A :class:`NotebookJob` holds everything one execution needs (plain, picklable values), so the
batch runner (:mod:`svdlib.book.execute`) can hand it to a worker process when several
notebooks run at once: papermill changes the working directory and this module captures file
descriptor 2 while a kernel runs, both process-wide, so concurrent executions each get a
process of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svdlib.book.runs import INJECTED_TAG, NotebookRun, RunError
from svdlib.book.stamps import METADATA_KEY

#: Cells papermill adds to a failed notebook to mark the error.
_ERROR_MARKER_TAG = "papermill-error-cell-tag"


@dataclass(frozen=True)
class NotebookJob:
    """What one execution of a :class:`NotebookRun` needs.

    Attributes
    ----------
    run : NotebookRun
        The run (its output name and subtitle).
    source : Path
        The source notebook.
    output_dir : Path
        Where ``<output>.ipynb`` (or ``<output>.failed.ipynb``) is written.
    parameters : dict
        The parameters papermill injects.
    stamp : str
        The run's stamp, written into the output's metadata.
    cwd : str
        The kernel's working directory.
    kernel_name : str
        The Jupyter kernel.
    timeout : float or None
        Seconds a single cell may run (None: no limit); past it the notebook runs once more.
    progress_bar : bool
        Show papermill's per-cell progress bar (kernel stderr is then not filtered).
    environment : dict
        Variables set while the notebook runs (the kernel inherits them), e.g.
        ``OMP_WAIT_POLICY``; the process's own values are restored afterwards.
    """

    run: NotebookRun
    source: Path
    output_dir: Path
    parameters: Mapping[str, Any] = field(default_factory=dict)
    stamp: str = ""
    cwd: str = "."
    kernel_name: str = "python3"
    timeout: float | None = None
    progress_bar: bool = False
    environment: Mapping[str, str] = field(default_factory=dict)


def execute_job(job: NotebookJob) -> tuple[RunError | None, float]:
    """Execute ``job.source`` into ``<output>.ipynb``; on failure keep ``<output>.failed.ipynb``.

    The notebook runs into a temporary file that is renamed into place on success, with the
    stamp in its metadata; a failure leaves the executed notebook as ``<output>.failed.ipynb``
    and no temporary file. A cell that runs past ``job.timeout`` stops the run; the notebook
    then runs once more in a fresh kernel (a kernel that never answered a cell's request,
    seen now and then, is not a failure of the notebook), and a second timeout fails it.

    Parameters
    ----------
    job : NotebookJob
        The execution.

    Returns
    -------
    (RunError or None, float)
        The failure (None on success) and the seconds the executions took.
    """
    error, seconds = _execute_once(job)
    if error is None or error.ename != "CellTimeoutError":
        return error, seconds
    cell = f"cell {error.cell_index}" if error.cell_index is not None else "a cell"
    print(f"{job.run.name}: {cell} ran past its {job.timeout:g} s limit; running the notebook "
          f"once more in a fresh kernel", file=sys.stderr, flush=True)
    error, again = _execute_once(job)
    if error is not None and error.ename == "CellTimeoutError":
        error.evalue = (f"a cell ran past its {job.timeout:g} s limit twice (set a longer "
                        f"one with `svd book --cell-timeout SECONDS`, 0 for none): "
                        f"{error.evalue}")
    return error, seconds + again


def _execute_once(job: NotebookJob) -> tuple[RunError | None, float]:
    """One execution of :func:`execute_job`."""
    from papermill import execute_notebook
    from papermill.exceptions import PapermillExecutionError

    name = job.run.name
    tmp = job.output_dir / f".{name}.running.ipynb"
    failed = job.output_dir / f"{name}.failed.ipynb"
    t0 = time.monotonic()
    error = None
    try:
        with _without_kernel_noise(not job.progress_bar), _environment(job.environment):
            execute_notebook(
                str(job.source), str(tmp), parameters=dict(job.parameters),
                kernel_name=job.kernel_name, cwd=job.cwd, progress_bar=job.progress_bar,
                execution_timeout=job.timeout,
            )
        _finish_output(tmp, job, time.monotonic() - t0)
        os.replace(tmp, job.output_dir / f"{name}.ipynb")
        discard(failed)
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
        discard(tmp)
    return error, time.monotonic() - t0


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


def _finish_output(tmp: Path, job: NotebookJob, seconds: float) -> None:
    """Write the stamp into the executed notebook and hide the default parameters cell."""
    import nbformat

    from svdlib import __version__

    nb = nbformat.read(tmp, as_version=4)
    nb.metadata[METADATA_KEY] = {
        "stamp": job.stamp,
        "notebook": job.run.notebook,
        "output": job.run.name,
        "parameters": json.loads(json.dumps(dict(job.parameters), default=str)),
        "svdlib_version": __version__,
        "seconds": round(seconds, 1),
    }
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            # the injected cell right below shows the values this page was run with
            cell.metadata["tags"] = [*tags, "remove-cell"]
    if job.run.subtitle:
        _add_subtitle(nb, job.run.subtitle)
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


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block (kernels started in it inherit them)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


def discard(path: Path) -> None:
    """Remove ``path`` if it exists.

    Parameters
    ----------
    path : Path
        A file.
    """
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
