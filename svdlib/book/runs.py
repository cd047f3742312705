"""Which notebooks run, with which parameters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svdlib.book.stamps import clock, relative_path
from svdlib.errors import SvdError
from svdlib.experiments.config.loading import PROFILES_DIR, load_config, resolve_profile_path
from svdlib.experiments.config.paths import resolve_path
from svdlib.experiments.config.settings import Config

#: The tag papermill gives the cell it injects after the ``parameters`` cell.
INJECTED_TAG = "injected-parameters"


#: Profiles whose run times :attr:`NotebookRun.expected` describes; only there a cell gets a
#: time limit by default, ``CELL_TIMEOUT_FACTOR`` times the expected run, at least
#: ``CELL_TIMEOUT_FLOOR`` seconds.
TIMED_PROFILES = ("tiny", "quick")
CELL_TIMEOUT_FACTOR = 5.0
CELL_TIMEOUT_FLOOR = 300.0


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
    expected : float
        About how many seconds the run takes on the quick profile; when several notebooks run
        at once the longest start first (a run's last output, when there is one, records
        what it took, which counts instead).
    alone : bool
        When several notebooks run at once, run this one with no other beside it: it keeps
        every CPU busy with torch's threads, which would wait for each other on CPUs shared
        with another notebook.
    """

    notebook: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    output: str = ""
    subtitle: str = ""
    expected: float = 10.0
    alone: bool = False

    @property
    def name(self) -> str:
        """The output's name (``output``, or ``notebook`` when that is empty)."""
        return self.output or self.notebook

    def cell_timeout(self, profile: str, given: float | None = None) -> float | None:
        """Seconds one cell of this run may run before the notebook is run once more.

        Parameters
        ----------
        profile : str
            The configuration's profile.
        given : float, optional
            The user's limit (``svd book --cell-timeout``); 0 means none.

        Returns
        -------
        float or None
            ``given``, else on the profiles :attr:`expected` describes (quick, tiny)
            ``max(300, 5 · expected)`` seconds, else None (no limit: larger profiles' cells
            may run for hours).

        Examples
        --------
        >>> run = NotebookRun("explorer", expected=40.0)
        >>> run.cell_timeout("quick"), run.cell_timeout("paper"), run.cell_timeout("quick", 0)
        (300.0, None, None)
        >>> NotebookRun("pretrained_vad", expected=90.0).cell_timeout("quick")
        450.0
        """
        if given is not None:
            return float(given) if given > 0 else None
        if profile not in TIMED_PROFILES:
            return None
        return max(CELL_TIMEOUT_FLOOR, CELL_TIMEOUT_FACTOR * self.expected)

    def describe(self, source: str | Path | None = None) -> str:
        """A short human-readable description: the notebook and the section parameters."""
        where = relative_path(Path(source)) if source else f"notebooks/{self.notebook}.ipynb"
        if not self.parameters:
            return where
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return f"{where} with {params}"


#: Every notebook execution of the book, in the order they appear in the book (and run, one at
#: a time; several at once start the longest first). Notebooks reuse the artifacts others
#: computed (through the store, under its locks).
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
    NotebookRun("results", expected=25.0),
    NotebookRun("benchmark"),
    NotebookRun("proxies", expected=20.0),
    NotebookRun("own_model", expected=80.0, alone=True),
    NotebookRun("pretrained_vad", expected=90.0),
    # the explorer's widgets: alone (one run beside another once never got its cells' replies)
    NotebookRun("explorer", expected=40.0, alone=True),
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
                f"({clock(self.seconds)})")

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
        where = f"    cell {error.cell_index} (0-based) of {relative_path(result.source)}"
        if error.exec_count is not None:
            where += f", In [{error.exec_count}]"
        lines.append(where)
    message = error.evalue.strip().splitlines()
    text = f"{error.ename}: {message[0]}" if message else error.ename
    if len(message) > 1:
        text += f" (+{len(message) - 1} more lines)"
    lines.append(f"    {text}")
    if error.failed_notebook is not None:
        lines.append(f"    executed notebook: {relative_path(error.failed_notebook)}")
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
    ``--data``, ``--device``, ``--model``, ``--vars``, ``SVD_RESULTS``, ``SVD_DATA``). Relative
    results, data and checkpoint paths become absolute, so they mean the same from the
    notebook's working directory (where the kernel would resolve a relative ``SVD_RESULTS``
    against ``notebooks/``).

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
    base = _flatten(load_config(profile, environment=False).to_dict())   # SVD_* in `cfg`
    wanted = _flatten(cfg.to_dict())
    overrides = {key: value for key, value in wanted.items()
                 if key != "profile" and base.get(key) != value}
    for key in ("paths.results", "paths.data", "model.checkpoint"):
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
