"""Atomic file writes and plain-array / JSON / CSV files (never pickles).

The writers here record each artifact's digest beside it and the readers check it
(:mod:`svdlib.digests`).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import re
import socket
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from svdlib.digests import (
    accounted,
    remember,
    sha256_file,
    sidecar_path,
    verification_enabled,
    verify_artifact,
)
from svdlib.errors import SvdError


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "", digest: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    The file gets the permissions of any file created under the process's umask (``mkstemp``
    alone would leave it readable by its owner only). Temporary files that an earlier, killed
    writer of the same ``path`` on this machine left behind are removed once the new file is
    in place.

    Parameters
    ----------
    path : str or Path
        The final destination. Its parent folders are created.
    suffix : str
        Suffix of the temporary file, for writers that insist on an extension (``.npz``).
    digest : bool
        The file is an artifact: record its digest (:mod:`svdlib.digests`) before it is
        renamed into place, so that its readers can check it.

    Yields
    ------
    Path
        Where to write. It is removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{_HOST}-"
    fd, tmp_name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=suffix or ".tmp",
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        if digest:
            record_digest(tmp, path)
        os.replace(tmp, path)
        if digest:
            remember(path)
        _remove_stale_temporaries(path.parent, prefix)
    except Exception as err:
        if _device_full(tmp, err):   # libraries report a full disk in words of their own
            tmp.unlink(missing_ok=True)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from err
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def record_digest(written: str | Path, final: str | Path) -> None:
    """Record the digest of ``written`` as that of ``final``, before it is renamed to it.

    With digests turned off, a digest left from an earlier write of ``final`` is removed
    instead (it would no longer match).
    """
    side = sidecar_path(final)
    if not verification_enabled():
        side.unlink(missing_ok=True)
        return
    with accounted():
        hexdigest, size = sha256_file(written)
        with atomic_path(side) as tmp:
            tmp.write_text(json.dumps({"sha256": hexdigest, "size": size}) + "\n",
                           encoding="utf-8")


_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:40] or "host"


def _device_full(tmp: Path, err: Exception) -> bool:
    """Whether a write failed because the file system of ``tmp`` is full.

    That is ENOSPC, a library's error that quotes it (safetensors), or another error of a
    library (numpy's short write, torch's zip writer) on a device left with less than 64 KiB.
    """
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    if os.strerror(errno.ENOSPC) in str(err):
        return True
    try:
        stats = os.statvfs(tmp.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_stale_temporaries(folder: Path, prefix: str) -> None:
    """Delete ``prefix<pid>-*`` files of this host whose writing process no longer runs."""
    for leftover in folder.glob(f"{glob.escape(prefix)}*"):
        pid_text = leftover.name[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            leftover.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def save_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically, with its digest (an artifact)."""
    with atomic_path(path, digest=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default),
                       encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def load_json(path: str | Path) -> Any:
    """Read a JSON artifact, with a clear error if it is missing, corrupt or changed."""
    path = Path(path)
    if path.is_file():
        verify_artifact(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SvdError(f"missing artifact '{path}'; run the stage that writes it first") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SvdError(f"corrupt JSON artifact '{path}' ({err}); delete it and re-run") from None


def save_arrays(path: str | Path, **arrays: Any) -> None:
    """Write named numpy arrays to an uncompressed ``.npz``, atomically (no pickles).

    The file is an artifact: its digest is recorded beside it.
    """
    clean = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in clean.items():
        if value.dtype == object:
            raise TypeError(f"array '{name}' has dtype object; store plain arrays only")
    with atomic_path(path, suffix=".npz", digest=True) as tmp:
        np.savez(tmp, **clean)


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read an ``.npz`` written by :func:`save_arrays` (``allow_pickle=False``), checked."""
    path = Path(path)
    if not path.is_file():
        raise SvdError(f"missing artifact '{path}'; run the stage that writes it first")
    verify_artifact(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise SvdError(f"corrupt array file '{path}' ({err}); delete it and re-run") from None


def save_csv(path: str | Path, table: Any, **options: Any) -> None:
    """Write a pandas DataFrame as CSV, atomically, with its digest (an artifact)."""
    with atomic_path(path, suffix=".csv", digest=True) as tmp:
        table.to_csv(tmp, **options)


def load_csv(path: str | Path, **options: Any) -> Any:
    """Read a CSV artifact (checked against its digest) into a pandas DataFrame.

    Raises
    ------
    SvdError
        If it is missing, does not match its recorded digest, or cannot be parsed.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise SvdError(f"missing artifact '{path}'; run the stage that writes it first")
    verify_artifact(path)
    try:
        return pd.read_csv(path, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SvdError(f"corrupt CSV artifact '{path}' ({str(err).strip().splitlines()[0]}); "
                       "delete it and re-run") from None


def prefix_keys(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The same arrays with ``prefix`` added to every key (several records in one file)."""
    return {f"{prefix}{key}": value for key, value in arrays.items()}


def strip_prefix(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays whose keys start with ``prefix``, with the prefix removed."""
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


def short_hash(*values: Any) -> str:
    """A 12-digit hash of JSON-serialisable values."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
