"""Where relative paths point, and a first check of the results and data folders.

A relative path written in a profile, or given to
:func:`~svdlib.experiments.config.loading.load_config` as an ``overrides`` value (as the
notebooks do), is relative to the project root (:func:`project_root`), wherever the process
runs. One given on the command line (``--results``, ``--data``, ``--profile PATH``) or in the
environment (``SVD_RESULTS``, ``SVD_DATA``) is relative to the current directory, as for every
command-line tool; ``load_config`` stores it absolute (:func:`absolute_path`).
"""

from __future__ import annotations

import os
from pathlib import Path

from svdlib.errors import ConfigError


def project_root() -> Path:
    """The directory that relative paths in a profile are relative to.

    It is the nearest ancestor of the working directory holding ``_config.yml`` and
    ``svdlib/`` (the repository root, also when notebooks run from ``notebooks/``), or
    the working directory itself.
    """
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "svdlib").is_dir() and (candidate / "_config.yml").is_file():
            return candidate
    return here


def resolve_path(path: str) -> Path:
    """Resolve a configured path: absolute paths stay, relative ones join the project root.

    Paths from the command line and the environment are already absolute
    (:func:`absolute_path`); relative ones come from a profile or ``overrides``.
    """
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else project_root() / p


def absolute_path(path: str) -> str:
    """A path from the command line or the environment, absolute against the current directory.

    ``~`` is expanded; symbolic links are kept.
    """
    return os.path.abspath(os.path.expanduser(path))


def check_paths(results: str, data: str = "") -> None:
    """Refuse a results or data path that is a file (or lies under one), in one line.

    Parameters
    ----------
    results, data : str
        ``paths.results`` and ``paths.data`` (empty: the embedded corpus).

    Raises
    ------
    ConfigError
        Naming the path, what is wrong and where to set it.
    """
    root = resolve_path(results)
    where = "--results (or SVD_RESULTS, paths.results)"
    if root.exists() and not root.is_dir():
        raise ConfigError(f"results folder '{root}' is a file, not a folder; give a folder "
                          f"with {where}")
    blocking = next((p for p in root.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ConfigError(f"results folder '{root}' cannot be created: '{blocking}' is a "
                          f"file; give another folder with {where}")
    if data:
        corpus = resolve_path(data)
        if corpus.exists() and not corpus.is_dir():
            raise ConfigError(f"data folder '{corpus}' is a file, not a folder; give a corpus "
                              "folder in the Jamendo layout with --data (or SVD_DATA, "
                              "paths.data)")


def project_path(path: str | Path) -> str:
    """A path as the book shows it: relative to the project root when it lies below it.

    The built book must not show the absolute paths of the machine that built it; a path
    outside the project (a ``--results`` or ``--data`` given elsewhere) is the user's own and
    is shown as given.

    Parameters
    ----------
    path : str or Path
        Any path.

    Returns
    -------
    str
        E.g. ``results/corpus/gen-eb83f4051c3b``.

    Examples
    --------
    >>> from pathlib import Path
    >>> project_path(project_root() / "results" / "corpus")
    'results/corpus'
    >>> project_path("/elsewhere/results")
    '/elsewhere/results'
    """
    path = Path(path)
    try:
        return path.resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return str(path)
