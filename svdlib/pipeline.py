"""The papermill batch runner and the book build behind ``svd book``.

Every chapter of the book is a parameterized notebook in ``notebooks/`` executed by papermill
into ``book/generated/<output>.ipynb``; :data:`RUNS` is the table of those executions. A run is
skipped when its output is up to date: the output notebook's metadata holds a stamp (a hash of
the source notebook, the parameters, the resolved configuration without run-only settings, and
the svdlib sources), and the run is repeated only when that stamp changes. A run executes into a
temporary file that is renamed into place on success; a failed run leaves no output, only the
executed notebook as ``<output>.failed.ipynb`` for inspection. Afterwards :func:`build_book`
vendors the browser assets (``tools/vendor_web_assets.sh``) and runs
``jupyter-book build --all`` at the repository root, rendering the stored outputs as they are.

The notebooks never depend on this module: ``papermill notebooks/attacks.ipynb out.ipynb -p
profile quick -p attack_type spec`` runs one by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import (
    PROFILES_DIR,
    Config,
    load_config,
    project_root,
    resolve_path,
    resolve_profile_path,
)
from .errors import SvdError
from .provenance import numeric_environment

#: Version of the stamp's recipe; bump it to invalidate every stored output.
STAMP_VERSION = 1
#: Key under the output notebook's metadata that holds the stamp and run details.
METADATA_KEY = "svdlib"
#: Configuration sections left out of a notebook's stamp; the numeric environment they
#: resolve to (device, threads) enters it separately, since it changes the numbers.
RUN_ONLY_SECTIONS = ("run",)
#: The tag papermill gives the cell it injects after the ``parameters`` cell.
INJECTED_TAG = "injected-parameters"
#: Cells papermill adds to a failed notebook to mark the error.
_ERROR_MARKER_TAG = "papermill-error-cell-tag"


@dataclass(frozen=True)
class NotebookRun:
    """One papermill execution of a parameterized notebook.

    Parameters
    ----------
    notebook : str
        The notebook's name in ``notebooks/`` without ``.ipynb``.
    parameters : Mapping
        Section parameters injected besides ``profile`` and ``overrides``
        (e.g. ``{"attack_type": "wave"}``).
    output : str
        Name of the executed notebook in ``book/generated/`` without ``.ipynb``; defaults to
        ``notebook``. It is also the page's name in the book (``_toc.yml``).
    subtitle : str
        Appended to the first ``# heading`` of the executed notebook (``# Flip counts`` becomes
        ``# Flip counts — waveform attack``), so that runs of one notebook get distinct page
        titles in the book; empty leaves the heading alone.
    """

    notebook: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    output: str = ""
    subtitle: str = ""

    @property
    def name(self) -> str:
        """The output's name (``output``, or ``notebook`` when that is empty)."""
        return self.output or self.notebook

    def describe(self, source: str | Path | None = None) -> str:
        """A short human-readable description: the notebook and the section parameters."""
        where = _rel(Path(source)) if source else f"notebooks/{self.notebook}.ipynb"
        if not self.parameters:
            return where
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"{where} with {params}"


#: Every notebook execution of the book, in the order they run (and appear in the book).
#: Later notebooks reuse the artifacts earlier ones computed (through the store).
RUNS: tuple[NotebookRun, ...] = (
    NotebookRun("model"),
    NotebookRun("attacks", {"attack_type": "wave"}, "attacks-wave", "waveform attack"),
    NotebookRun("attacks", {"attack_type": "spec"}, "attacks-spec", "spectrogram attack"),
    NotebookRun("horses"),
    NotebookRun("flip_counts", {"attack_type": "wave"}, "flip_counts-wave", "waveform attack"),
    NotebookRun("flip_counts", {"attack_type": "spec"}, "flip_counts-spec",
                "spectrogram attack"),
    NotebookRun("subset_perturbations", {"attack_type": "wave"}, "subset_perturbations-wave",
                "waveform attack"),
    NotebookRun("subset_perturbations", {"attack_type": "spec"}, "subset_perturbations-spec",
                "spectrogram attack"),
    NotebookRun("fidelity", {"attack_type": "wave"}, "fidelity-wave", "waveform attack"),
    NotebookRun("fidelity", {"attack_type": "spec"}, "fidelity-spec", "spectrogram attack"),
    NotebookRun("results"),
    NotebookRun("explorer"),
)


@dataclass
class RunError:
    """Why a notebook run failed.

    Attributes
    ----------
    ename, evalue : str
        The exception's class name and message.
    cell_index : int or None
        0-based index of the failing cell in the source notebook (None when no cell failed,
        e.g. the kernel did not start).
    exec_count : int or None
        The failing cell's execution count (``In [n]``) in the failed notebook.
    failed_notebook : Path or None
        The executed notebook kept for inspection (``<output>.failed.ipynb``).
    """

    ename: str
    evalue: str
    cell_index: int | None = None
    exec_count: int | None = None
    failed_notebook: Path | None = None


@dataclass
class RunResult:
    """The outcome of one :class:`NotebookRun`.

    Attributes
    ----------
    run : NotebookRun
        What was run.
    source : Path
        The source notebook.
    status : {"ran", "skipped", "failed"}
        ``skipped`` means the output was up to date.
    seconds : float
        Wall time of the execution (0 when skipped).
    output : Path
        The output notebook (absent when the run failed).
    parameters : dict
        The parameters injected into the notebook.
    error : RunError or None
        Details of a failure.
    """

    run: NotebookRun
    source: Path
    status: str
    seconds: float
    output: Path
    parameters: dict[str, Any]
    error: RunError | None = None


@dataclass
class RunReport:
    """The outcomes of a batch of notebook runs.

    Attributes
    ----------
    results : list of RunResult
        One per run, in order.
    seconds : float
        Wall time of the whole batch.
    """

    results: list[RunResult]
    seconds: float

    @property
    def failures(self) -> list[RunResult]:
        """The runs that failed."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        """Whether every run succeeded or was up to date."""
        return not self.failures

    def summary(self) -> str:
        """One line: how many runs ran, were up to date, failed, and the total time."""
        counts = {s: sum(r.status == s for r in self.results) for s in ("ran", "skipped", "failed")}
        return (f"{len(self.results)} notebook runs: {counts['ran']} ran, "
                f"{counts['skipped']} up to date, {counts['failed']} failed "
                f"({_clock(self.seconds)})")

    def failure_report(self) -> str:
        """Every failure with its notebook, parameters, cell and exception (empty if none)."""
        if not self.failures:
            return ""
        lines = [f"{len(self.failures)} of {len(self.results)} notebook runs failed:"]
        for result in self.failures:
            lines.extend(_describe_failure(result))
        return "\n".join(lines)


def _describe_failure(result: RunResult) -> list[str]:
    error = result.error or RunError("Error", "unknown")
    lines = [f"  {result.run.name}: {result.run.describe(result.source)}"]
    if error.cell_index is not None:
        where = f"    cell {error.cell_index} (0-based) of {_rel(result.source)}"
        if error.exec_count is not None:
            where += f", In [{error.exec_count}]"
        lines.append(where)
    message = error.evalue.strip().splitlines()
    text = f"{error.ename}: {message[0]}" if message else error.ename
    if len(message) > 1:
        text += f" (+{len(message) - 1} more lines)"
    lines.append(f"    {text}")
    if error.failed_notebook is not None:
        lines.append(f"    executed notebook: {_rel(error.failed_notebook)}")
    return lines


# -- selection, parameters and stamps ----------------------------------------------------------


def select_runs(only: Iterable[str] | None = None,
                runs: Sequence[NotebookRun] | None = None) -> list[NotebookRun]:
    """Pick runs by notebook name or output name.

    Parameters
    ----------
    only : iterable of str, optional
        Names: a notebook (``attacks``: all its runs) or an output (``attacks-wave``);
        comma-separated lists are split. None or empty selects every run.
    runs : sequence of NotebookRun, optional
        The table to select from (default :data:`RUNS`).

    Returns
    -------
    list of NotebookRun
        The selected runs, in table order.

    Raises
    ------
    SvdError
        If a name matches no run.
    """
    table = list(RUNS if runs is None else runs)
    names = [n.strip() for item in (only or []) for n in item.split(",") if n.strip()]
    if not names:
        return table
    known = {r.notebook for r in table} | {r.name for r in table}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SvdError(f"unknown notebook run '{unknown[0]}'; known: "
                       f"{', '.join(sorted(known))}")
    return [r for r in table if r.notebook in names or r.name in names]


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def notebook_profile(profile: str) -> str:
    """The ``profile`` parameter handed to a notebook.

    A profile of ``profiles/`` stays a name; a YAML file becomes an absolute path, so that
    it resolves from the notebook's working directory too.
    """
    path = resolve_profile_path(profile)
    if path.resolve() == (PROFILES_DIR / f"{path.stem}.yml").resolve():
        return path.stem
    return str(path.resolve())


def config_overrides(cfg: Config, profile: str) -> dict[str, Any]:
    """The dotted overrides that turn ``profile``'s configuration into ``cfg``.

    The notebooks rebuild their configuration with ``load_config(profile, overrides)``; these
    overrides make it equal to ``cfg`` (whatever came from ``--set``, ``--results``,
    ``--data``, ``--device``). Relative results and data paths become absolute, so they mean
    the same from the notebook's working directory.

    Parameters
    ----------
    cfg : Config
        The configuration the notebooks must see.
    profile : str
        The profile the notebooks load (name or YAML path).

    Returns
    -------
    dict
        Dotted keys to values, only where ``cfg`` differs from the profile.
    """
    base = _flatten(load_config(profile).to_dict())
    wanted = _flatten(cfg.to_dict())
    overrides = {key: value for key, value in wanted.items()
                 if key != "profile" and base.get(key) != value}
    for key in ("paths.results", "paths.data"):
        if overrides.get(key):
            overrides[key] = str(resolve_path(str(overrides[key])))
    return overrides


def notebook_parameters(cfg: Config, run: NotebookRun, profile: str | None = None,
                        progress: bool = False) -> dict[str, Any]:
    """The parameters papermill injects into one run's notebook.

    Parameters
    ----------
    cfg : Config
        The configuration; the notebook rebuilds it from ``profile`` and ``overrides``.
    run : NotebookRun
        The run, whose section parameters are added.
    profile : str, optional
        The profile name or path (default ``cfg.profile``).
    progress : bool
        Whether progress bars inside the notebook stay on (``run.progress``); off by default
        because they would end up in the book.

    Returns
    -------
    dict
        ``{"profile": ..., "overrides": {...}, **run.parameters}``.
    """
    name = notebook_profile(profile or cfg.profile)
    overrides = config_overrides(cfg, name)
    if not progress:
        overrides["run.progress"] = False
    return {"profile": name, "overrides": overrides, **dict(run.parameters)}


def package_hash() -> str:
    """SHA-256 over the svdlib package's Python sources (relative paths and bytes)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def stable_config(cfg: Config) -> dict[str, Any]:
    """``cfg.to_dict()`` without run-only settings, with resolved results and data paths."""
    data = {k: v for k, v in cfg.to_dict().items() if k not in RUN_ONLY_SECTIONS}
    paths = dict(data["paths"])
    paths["results"] = str(resolve_path(paths["results"]))
    if paths["data"]:
        paths["data"] = str(resolve_path(paths["data"]))
    data["paths"] = paths
    return data


def run_stamp(cfg: Config, source: str | Path, parameters: Mapping[str, Any],
              svdlib_hash: str | None = None) -> str:
    """The stamp that identifies one run's output.

    Parameters
    ----------
    cfg : Config
        The resolved configuration; run-only settings (``run.*``) are left out.
    source : str or Path
        The source notebook; its bytes are hashed.
    parameters : Mapping
        The injected parameters; ``run.*`` overrides are left out.
    svdlib_hash : str, optional
        :func:`package_hash`, when already computed.

    Returns
    -------
    str
        A SHA-256 hex digest.
    """
    params = dict(parameters)
    if isinstance(params.get("overrides"), Mapping):
        params["overrides"] = {k: v for k, v in params["overrides"].items()
                               if k.split(".")[0] not in RUN_ONLY_SECTIONS}
    payload = {
        "version": STAMP_VERSION,
        "source": hashlib.sha256(Path(source).read_bytes()).hexdigest(),
        "parameters": params,
        "config": stable_config(cfg),
        "environment": numeric_environment(cfg.run.device, cfg.run.num_threads),
        "svdlib": svdlib_hash or package_hash(),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_stamp(path: str | Path) -> str | None:
    """The stamp stored in an output notebook, or None if absent or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            nb = json.load(handle)
        return nb["metadata"][METADATA_KEY]["stamp"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


# -- running -----------------------------------------------------------------------------------


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _rel(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


def _print(message: str) -> None:
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

    from . import __version__

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


def run_notebooks(
    cfg: Config,
    *,
    profile: str | None = None,
    runs: Sequence[NotebookRun] | None = None,
    only: Iterable[str] | None = None,
    force: bool = False,
    notebook_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    cwd: str | Path | None = None,
    kernel_name: str = "python3",
    timeout: float | None = None,
    progress_bar: bool = False,
    log: Callable[[str], None] | None = None,
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
        :func:`~svdlib.config.project_root`.
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
    import papermill
    from papermill.exceptions import PapermillExecutionError

    say = log or _print
    root = project_root()
    notebook_dir = Path(notebook_dir) if notebook_dir else root / "notebooks"
    output_dir = Path(output_dir) if output_dir else root / "book" / "generated"
    output_dir.mkdir(parents=True, exist_ok=True)
    selected = select_runs(only, runs)
    svdlib_hash = package_hash()
    results: list[RunResult] = []
    started = time.monotonic()
    width = len(str(len(selected)))
    say(f"svd book: {len(selected)} notebook runs, profile {cfg.profile} → {_rel(output_dir)}")
    for number, run in enumerate(selected, start=1):
        prefix = f"[{number:>{width}}/{len(selected)}] {run.name}"
        source = notebook_dir / f"{run.notebook}.ipynb"
        output = output_dir / f"{run.name}.ipynb"
        failed = output_dir / f"{run.name}.failed.ipynb"
        parameters = notebook_parameters(cfg, run, profile)
        if not source.is_file():
            error = RunError("FileNotFoundError", f"notebook {_rel(source)} does not exist")
            _discard(output)
            say(f"{prefix}: FAILED: {error.evalue}")
            results.append(RunResult(run, source, "failed", 0.0, output, parameters, error))
            continue
        stamp = run_stamp(cfg, source, parameters, svdlib_hash)
        if not force and output.is_file() and read_stamp(output) == stamp:
            say(f"{prefix}: up to date")
            results.append(RunResult(run, source, "skipped", 0.0, output, parameters))
            continue
        elapsed = _clock(time.monotonic() - started)
        say(f"{prefix}: running {run.describe(source)} (elapsed {elapsed})")
        tmp = output_dir / f".{run.name}.running.ipynb"
        t0 = time.monotonic()
        error = None
        try:
            with _without_kernel_noise(not progress_bar):
                papermill.execute_notebook(
                    str(source), str(tmp), parameters=parameters, kernel_name=kernel_name,
                    cwd=str(cwd or notebook_dir), progress_bar=progress_bar,
                    execution_timeout=timeout,
                )
            seconds = time.monotonic() - t0
            _finish_output(tmp, stamp, run, parameters, seconds)
            os.replace(tmp, output)
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
        seconds = time.monotonic() - t0
        if error is None:
            say(f"{prefix}: done in {seconds:.1f} s")
            results.append(RunResult(run, source, "ran", seconds, output, parameters))
        else:
            _discard(output)
            cell = f" in cell {error.cell_index}" if error.cell_index is not None else ""
            first = (error.evalue.strip().splitlines() or [""])[0]
            say(f"{prefix}: FAILED after {seconds:.1f} s{cell}: {error.ename}: {first}")
            results.append(RunResult(run, source, "failed", seconds, output, parameters, error))
    report = RunReport(results, time.monotonic() - started)
    say(report.summary())
    return report


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


# -- the book ----------------------------------------------------------------------------------


def vendor_web_assets(root: str | Path | None = None, static_dir: str | Path | None = None,
                      force: bool = False, log: Callable[[str], None] | None = None) -> Path:
    """Fetch RequireJS, the ipywidgets HTML manager and MathJax into the book's static folder.

    Runs ``tools/vendor_web_assets.sh``, which does nothing when the pinned versions are
    already there.

    Parameters
    ----------
    root : str or Path, optional
        The repository root (default :func:`~svdlib.config.project_root`).
    static_dir : str or Path, optional
        The destination (default ``<root>/book/_static``).
    force : bool
        Fetch again even when present.
    log : callable, optional
        Receives the script's report line (default: print to stdout).

    Returns
    -------
    Path
        The static folder.

    Raises
    ------
    SvdError
        If npm is missing or the packages cannot be fetched.
    """
    root = Path(root) if root else project_root()
    static_dir = Path(static_dir) if static_dir else root / "book" / "_static"
    script = root / "tools" / "vendor_web_assets.sh"
    command = ["bash", str(script), str(static_dir), *(["--force"] if force else [])]
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        reason = " ".join(detail.split()) if detail else f"{script} failed"
        raise SvdError(f"could not vendor the book's browser assets: {reason}")
    for line in proc.stdout.strip().splitlines():
        (log or _print)(line.replace(f"{root}{os.sep}", ""))
    return static_dir


def toc_files(root: str | Path | None = None) -> list[str]:
    """Every document named in ``_toc.yml`` (root first), as paths without suffix."""
    import yaml

    root = Path(root) if root else project_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8")) or {}
    files = [toc["root"]] if "root" in toc else []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [re.sub(r"\.(md|ipynb)$", "", f) for f in files]


def missing_outputs(root: str | Path | None = None,
                    runs: Sequence[NotebookRun] | None = None) -> list[Path]:
    """Executed notebooks that the book needs but that do not exist (yet)."""
    root = Path(root) if root else project_root()
    table = RUNS if runs is None else runs
    return [p for p in (root / "book" / "generated" / f"{r.name}.ipynb" for r in table)
            if not p.is_file()]


_WARNING = re.compile(r"(WARNING|ERROR|CRITICAL|SEVERE)\b|Exception|Traceback")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def build_book(
    root: str | Path | None = None,
    *,
    strict: bool = True,
    vendor: bool = True,
    all_pages: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Build the Jupyter Book (HTML) from the repository root.

    Runs ``jupyter-book build --all --keep-going [-W] <root>``; notebooks are not executed
    (``execute_notebooks: off``), the executed notebooks in ``book/generated/`` are rendered
    as they are. The full log goes to ``_build/book-build.log``; warnings are echoed.

    Parameters
    ----------
    root : str or Path, optional
        The repository root holding ``_config.yml`` and ``_toc.yml`` (default
        :func:`~svdlib.config.project_root`).
    strict : bool
        Turn warnings into a failed build (``-W``; all warnings are still reported). It is
        dropped, with a message, when executed notebooks are missing.
    vendor : bool
        Vendor the browser assets first if missing (:func:`vendor_web_assets`).
    all_pages : bool
        Rebuild every page (``--all``), not only changed ones.
    log : callable, optional
        Receives progress lines (default: print to stdout).

    Returns
    -------
    Path
        The HTML folder, ``<root>/_build/html``.

    Raises
    ------
    SvdError
        If the configuration is missing, the assets cannot be vendored, or the build fails.
    """
    say = log or _print
    root = Path(root).resolve() if root else project_root()
    for name in ("_config.yml", "_toc.yml"):
        if not (root / name).is_file():
            raise SvdError(f"no {name} in {root}; run svd book from the repository root")
    if vendor:
        vendor_web_assets(root, log=say)
    missing = missing_outputs(root)
    if missing:
        say("svd book: these executed notebooks are missing (not run yet, or failed), so their "
            "pages will be missing and the build is not strict: "
            + ", ".join(_rel(p) for p in missing))
        strict = False
    command = [sys.executable, "-c",
               "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
               "build", *(["--all"] if all_pages else []), "--keep-going",
               *(["-W"] if strict else []), str(root)]
    log_path = root / "_build" / "book-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say(f"svd book: jupyter-book build{' --all' if all_pages else ''} --keep-going"
        f"{' -W' if strict else ''} . (log: {_rel(log_path)})")
    started = time.monotonic()
    env = dict(os.environ, PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore"))
    with open(log_path, "w", encoding="utf-8") as handle:
        proc = subprocess.run(command, cwd=root, stdout=handle, stderr=subprocess.STDOUT,
                              text=True, check=False, env=env)
    text = _ANSI.sub("", log_path.read_text(encoding="utf-8", errors="replace"))
    warnings = [line.replace(f"{root}{os.sep}", "") for line in text.splitlines()
                if _WARNING.search(line)]
    for line in warnings[:50]:
        say(f"  {line}")
    if len(warnings) > 50:
        say(f"  … {len(warnings) - 50} more in {_rel(log_path)}")
    html = root / "_build" / "html"
    if proc.returncode != 0 or not (html / "index.html").is_file():
        raise SvdError(f"the book build failed (exit code {proc.returncode}, "
                       f"{len(warnings)} warnings/errors); see {_rel(log_path)}")
    say(f"svd book: built {_rel(html / 'index.html')} in {time.monotonic() - started:.1f} s")
    return html


def book(
    cfg: Config,
    *,
    profile: str | None = None,
    only: Iterable[str] | None = None,
    force: bool = False,
    build: bool = True,
    keep_going: bool = False,
    progress_bar: bool = False,
    compute: bool = True,
    log: Callable[[str], None] | None = None,
) -> int:
    """Compute every stage, run the notebooks, then build the book; what ``svd book`` does.

    With ``only``, the stages are left to the selected notebooks.

    Parameters
    ----------
    cfg : Config
        The configuration.
    profile : str, optional
        Profile name or YAML path handed to the notebooks (default ``cfg.profile``).
    only : iterable of str, optional
        Run only these notebooks or outputs.
    force : bool
        Rerun notebooks even when up to date.
    build : bool
        Build the book after running the notebooks.
    keep_going : bool
        Build the book even when a notebook failed (the exit code is still 1).
    progress_bar : bool
        Show papermill's per-cell progress bar.
    compute : bool
        Compute every stage before running the notebooks (with progress bars in the
        terminal); otherwise each notebook computes what it needs.
    log : callable, optional
        Receives progress lines (default: print to stdout).

    Returns
    -------
    int
        0 on success, 1 if a notebook or the build failed.
    """
    say = log or _print
    if compute and not only:
        # compute every artifact first, with progress bars in the terminal; the notebooks
        # then only load and show them
        from . import stages
        from .store import Store

        say(f"svd book: computing every stage (profile {cfg.profile}; finished stages are "
            "skipped)")
        start = time.monotonic()
        stages.everything(Store(cfg))
        say(f"svd book: stages done in {time.monotonic() - start:.0f} s")
    report = run_notebooks(cfg, profile=profile, only=only, force=force,
                           progress_bar=progress_bar, log=say)
    if not report.ok:
        say(report.failure_report())
    if not build or (not report.ok and not keep_going):
        if not report.ok and build:
            say("svd book: not building the book because notebooks failed (--keep-going builds "
                "it anyway)")
        return 0 if report.ok else 1
    try:
        build_book(strict=report.ok, log=say)
    except SvdError as err:
        say(f"svd book: error: {err}")
        return 1
    return 0 if report.ok else 1


__all__ = [
    "METADATA_KEY",
    "RUNS",
    "NotebookRun",
    "RunError",
    "RunReport",
    "RunResult",
    "book",
    "build_book",
    "config_overrides",
    "missing_outputs",
    "notebook_parameters",
    "notebook_profile",
    "package_hash",
    "read_stamp",
    "run_notebooks",
    "run_stamp",
    "select_runs",
    "stable_config",
    "toc_files",
    "vendor_web_assets",
]
