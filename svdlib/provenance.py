"""What an artifact's numbers depend on besides its settings: the numeric environment and inputs.

Training a detector on 1 or on 2 CPU threads gives different weights (the reductions run in
another order, and 2000 steps amplify the difference), so the thread count, the device, the
CPU's vector instruction set and the versions of torch and numpy are part of every artifact's
identity, as are the contents of the audio and label files it was computed from. This module
describes both; :mod:`svdlib.experiments.storage.store` folds them into the artifact keys and writes
them next to
each artifact as its provenance.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

_DEFAULT_THREADS: int | None = None
_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def default_threads() -> int:
    """The CPU thread count torch chose for this process before anything changed it."""
    global _DEFAULT_THREADS
    if _DEFAULT_THREADS is None:
        import torch

        _DEFAULT_THREADS = int(torch.get_num_threads())
    return _DEFAULT_THREADS


def resolve_threads(num_threads: int, workers: int = 0, scheduler: str = "") -> int:
    """The thread count every torch computation of a run uses.

    Parameters
    ----------
    num_threads : int
        The setting ``run.num_threads``; 0 means "choose".
    workers, scheduler : int, str
        The Dask settings: a local cluster of ``workers`` processes shares the cores, so each
        gets ``cores // workers`` threads; workers behind a remote scheduler get one.

    Returns
    -------
    int
        At least 1.
    """
    if num_threads > 0:
        return num_threads
    if workers > 0:
        return max(1, (os.cpu_count() or 1) // workers)
    if scheduler:
        return 1
    return default_threads()


def resolve_device(requested: str) -> str:
    """``auto`` becomes ``cuda`` when a GPU is present, else ``cpu``; other values stay."""
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def numeric_environment(device: str, threads: int) -> dict[str, Any]:
    """Everything besides settings and inputs that changes a stage's numbers.

    Parameters
    ----------
    device : str
        ``cpu``, ``cuda`` or ``cuda:N`` (resolved, not ``auto``).
    threads : int
        The torch CPU thread count.

    Returns
    -------
    dict
        ``torch`` and ``numpy`` versions, ``device`` (the CPU's vector instruction set as torch
        uses it, or the GPU's name) and ``threads``.
    """
    import torch

    if device.startswith("cuda"):
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        name = torch.cuda.get_device_name(index) if torch.cuda.is_available() else "unavailable"
        described = f"cuda/{name}"
    else:
        described = f"cpu/{torch.backends.cpu.get_cpu_capability()}"
    return {"torch": torch.__version__, "numpy": np.__version__, "device": described,
            "threads": int(threads)}


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 (first 16 hex digits) of a file's contents, memoised per size and mtime.

    The memo only saves re-reading within one process; a file whose size or modification time
    changed is hashed again, and one that changed without either is still hashed again in the
    next process.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _FINGERPRINTS.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        try:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        except OSError as err:   # a failed read names no file; name it
            raise OSError(err.errno, err.strerror, str(path)) from err
    value = digest.hexdigest()[:16]
    _FINGERPRINTS[key] = value
    return value


def describe_difference(found: dict[str, Any], expected: dict[str, Any]) -> str:
    """``threads 1 vs 2, torch 2.12 vs 2.13``: the fields where two environments differ."""
    keys = sorted(set(found) | set(expected))
    return ", ".join(f"{key} {found.get(key)} vs {expected.get(key)}" for key in keys
                     if found.get(key) != expected.get(key))


def code_fingerprint(packages: tuple[str, ...], root: str | Path | None = None) -> str:
    """A hash of the code of some svdlib subpackages, without comments and docstrings.

    The method's numbers change with its code, not only with its settings: an artifact whose
    key holds this is recomputed after a change to the code that made it, and not after an
    edit of its prose.

    Parameters
    ----------
    packages : tuple of str
        Dotted subpackage names under ``root`` (e.g. ``("explain", "veracity")``).
    root : str or Path, optional
        The package folder (default: svdlib's).

    Returns
    -------
    str
        16 hex digits.
    """
    import ast

    root = Path(root) if root is not None else Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package.replace(".", "/")).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                body = getattr(node, "body", None)
                if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                        isinstance(getattr(body[0], "value", None), ast.Constant) and \
                        isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
            digest.update(path.name.encode())
            digest.update(ast.dump(tree).encode())
    return digest.hexdigest()[:16]
