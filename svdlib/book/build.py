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

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from svdlib.book import runs as run_table
from svdlib.book.execute import ANSI, WARNING_LINE, print_line, run_notebooks
from svdlib.book.runs import NotebookRun, RunReport
from svdlib.book.stamps import relative_path
from svdlib.errors import SvdError
from svdlib.experiments.config.paths import project_root
from svdlib.experiments.config.settings import Config

# -- the book ----------------------------------------------------------------------------------


def vendor_web_assets(root: str | Path | None = None, static_dir: str | Path | None = None,
                      force: bool = False, log: Callable[[str], None] | None = None) -> Path:
    """Fetch RequireJS, the ipywidgets HTML manager and MathJax into the book's static folder.

    Runs ``tools/vendor_web_assets.sh``, which does nothing when the pinned versions are
    already there.

    Parameters
    ----------
    root : str or Path, optional
        The repository root (default :func:`~svdlib.experiments.config.paths.project_root`).
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
        (log or print_line)(line.replace(f"{root}{os.sep}", ""))
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
    table = run_table.RUNS if runs is None else runs
    return [p for p in (root / "book" / "generated" / f"{r.name}.ipynb" for r in table)
            if not p.is_file()]


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
        :func:`~svdlib.experiments.config.paths.project_root`).
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
    say = log or print_line
    root = Path(root).resolve() if root else project_root()
    _require_config(root)
    if vendor:
        vendor_web_assets(root, log=say)
    if _report_missing_outputs(root, say):
        strict = False
    log_path = root / "_build" / "book-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say(f"svd book: jupyter-book build{' --all' if all_pages else ''} --keep-going"
        f"{' -W' if strict else ''} . (log: {relative_path(log_path)})")
    started = time.monotonic()
    returncode = _run_jupyter_book(root, log_path, all_pages=all_pages, strict=strict)
    warnings = _echo_warnings(root, log_path, say)
    html = root / "_build" / "html"
    if returncode != 0 or not (html / "index.html").is_file():
        raise SvdError(f"the book build failed (exit code {returncode}, "
                       f"{warnings} warnings/errors); see {relative_path(log_path)}")
    say(f"svd book: built {relative_path(html / 'index.html')} "
        f"in {time.monotonic() - started:.1f} s")
    return html


def _require_config(root: Path) -> None:
    for name in ("_config.yml", "_toc.yml"):
        if not (root / name).is_file():
            raise SvdError(f"no {name} in {root}; run svd book from the repository root")


def _report_missing_outputs(root: Path, say: Callable[[str], None]) -> list[Path]:
    """Say which executed notebooks the book lacks; those notebooks."""
    missing = missing_outputs(root)
    if missing:
        say("svd book: these executed notebooks are missing (not run yet, or failed), so their "
            "pages will be missing and the build is not strict: "
            + ", ".join(relative_path(p) for p in missing))
    return missing


def _run_jupyter_book(root: Path, log_path: Path, *, all_pages: bool, strict: bool) -> int:
    """Run ``jupyter-book build`` on ``root``, its output into ``log_path``; the exit code."""
    command = [sys.executable, "-c",
               "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
               "build", *(["--all"] if all_pages else []), "--keep-going",
               *(["-W"] if strict else []), str(root)]
    env = dict(os.environ, PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore"))
    with open(log_path, "w", encoding="utf-8") as handle:
        proc = subprocess.run(command, cwd=root, stdout=handle, stderr=subprocess.STDOUT,
                              text=True, check=False, env=env)
    return proc.returncode


def _echo_warnings(root: Path, log_path: Path, say: Callable[[str], None]) -> int:
    """Echo the build log's warning and error lines (the first 50); how many there are."""
    text = ANSI.sub("", log_path.read_text(encoding="utf-8", errors="replace"))
    warnings = [line.replace(f"{root}{os.sep}", "") for line in text.splitlines()
                if WARNING_LINE.search(line)]
    for line in warnings[:50]:
        say(f"  {line}")
    if len(warnings) > 50:
        say(f"  … {len(warnings) - 50} more in {relative_path(log_path)}")
    return len(warnings)


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
    cell_timeout: float | None = None,
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
    cell_timeout : float, optional
        Seconds one cell may run before its notebook runs once more (default: see
        :meth:`~svdlib.book.runs.NotebookRun.cell_timeout`; 0: no limit).
    log : callable, optional
        Receives progress lines (default: print to stdout).

    Returns
    -------
    int
        0 on success, 1 if a notebook or the build failed.
    """
    say = log or print_line
    if compute and not only:
        _compute_stages(cfg, say)
    report = run_notebooks(cfg, profile=profile, only=only, force=force, timeout=cell_timeout,
                           progress_bar=progress_bar, log=say)
    if not report.ok:
        say(report.failure_report())
    return _build_after(report, build=build, keep_going=keep_going, say=say)


def _compute_stages(cfg: Config, say: Callable[[str], None]) -> None:
    """Compute every artifact, with progress bars in the terminal.

    The notebooks then only load and show them.
    """
    from svdlib.experiments import stages
    from svdlib.experiments.storage.store import Store

    say(f"svd book: computing every stage (profile {cfg.profile}; finished stages are "
        "skipped)")
    start = time.monotonic()
    stages.everything(Store(cfg))
    say(f"svd book: stages done in {time.monotonic() - start:.0f} s")


def _build_after(report: RunReport, *, build: bool, keep_going: bool,
                 say: Callable[[str], None]) -> int:
    """Build the book if asked and the notebooks allow it; the exit code of ``svd book``."""
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
