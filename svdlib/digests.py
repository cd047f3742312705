"""Digests of artifacts: SHA-256 and size, recorded when a file is written, checked on reading.

Every artifact file the pipeline writes (weights, training checkpoints, spectrogram caches,
arrays, tables, JSON, audio of adversaries) gets a hidden sidecar ``.NAME.sha256`` beside it,
written before the file itself is renamed into place (:func:`svdlib.files.atomic_path` with
``digest=True``), so that a file never exists without its digest unless an older svdlib wrote
it or someone changed it by hand. Every read or reuse of an artifact, "is this already done?"
included, calls :func:`verify_artifact` first: a file whose size or contents differ from the
recorded digest, or that has none, is refused in one line that names it and the fix, and is
never used. A file verified once is not hashed again by the same process while its size,
modification time and inode (and its sidecar's) stay the same.

Recording is opt-in at the writer and checking is done by the readers of artifacts, so files
that are not artifacts (the corpus's audio and labels, notebooks, a model file of the user's
given to the method's functions) get no sidecar and need none.

``SVD_VERIFY=0`` in the environment turns recording and checking off. It exists to measure
what they cost (``bench/bench_verify.py``) and for nothing else: files written so have no
digest, and a run with checking on refuses them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from functools import wraps
from pathlib import Path
from typing import TypeVar

from svdlib.errors import ArtifactError, MissingArtifactError

#: The environment variable that turns digests off (``0``), for benchmarking only.
VERIFY_ENV = "SVD_VERIFY"
SIDECAR_SUFFIX = ".sha256"
FIX = "delete it; the next run recomputes it"

_VERIFIED: dict[str, tuple] = {}
_STATS = {"files": 0, "bytes": 0, "seconds": 0.0, "overhead_seconds": 0.0, "calls": 0}
_DEPTH = [0]
_F = TypeVar("_F", bound=Callable)


@contextlib.contextmanager
def accounted() -> Iterator[None]:
    """Count the time of the block as digest overhead (outermost blocks only, not nested)."""
    _DEPTH[0] += 1
    started = time.perf_counter()
    try:
        yield
    finally:
        _DEPTH[0] -= 1
        if not _DEPTH[0]:
            _STATS["overhead_seconds"] += time.perf_counter() - started
            _STATS["calls"] += 1


def _accounted(function: _F) -> _F:
    @wraps(function)
    def wrapper(*args, **kwargs):
        with accounted():
            return function(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


def verification_enabled() -> bool:
    """Whether digests are recorded and checked (``SVD_VERIFY`` is not ``0``)."""
    return os.environ.get(VERIFY_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def sidecar_path(path: str | Path) -> Path:
    """Where the digest of ``path`` is recorded: the hidden ``.NAME.sha256`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}{SIDECAR_SUFFIX}")


def is_sidecar(path: str | Path) -> bool:
    """Whether ``path`` is the digest file of another file."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(SIDECAR_SUFFIX)


def sha256_file(path: str | Path) -> tuple[str, int]:
    """SHA-256 (hex) and size in bytes of a file's contents, read in 1 MiB blocks."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    _STATS["files"] += 1
    _STATS["bytes"] += size
    _STATS["seconds"] += time.perf_counter() - started
    return digest.hexdigest(), size


def digest_stats() -> dict[str, float]:
    """What digests cost this process so far.

    ``files``, ``bytes`` and ``seconds``: what was hashed and the seconds hashing took;
    ``overhead_seconds`` and ``calls``: every second spent in recording, remembering and
    checking digests (hashing, sidecar reads and writes, stat calls), and how many calls.
    """
    return dict(_STATS)


@_accounted
def remember(path: str | Path) -> None:
    """Note that ``path`` (just renamed into place over its recorded digest) is verified."""
    if not verification_enabled():
        return
    path = Path(path)
    _VERIFIED[os.path.abspath(path)] = (_signature(path), _signature(sidecar_path(path)))


def _signature(path: Path) -> tuple[int, int, int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev


@_accounted
def recorded_digest(path: str | Path) -> dict | None:
    """The digest recorded for ``path`` (``{"sha256", "size"}``), or None if there is none."""
    side = sidecar_path(path)
    try:
        recorded = json.loads(side.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not (isinstance(recorded, dict) and isinstance(recorded.get("sha256"), str)
            and isinstance(recorded.get("size"), int)):
        return None
    return recorded


@_accounted
def verify_artifact(path: str | Path) -> None:
    """Check that an artifact file reads back as it was written.

    Raises
    ------
    MissingArtifactError
        If the file does not exist.
    ArtifactError
        If it has no (readable) recorded digest, or its size or SHA-256 differ from it.
    """
    if not verification_enabled():
        return
    path = Path(path)
    side = sidecar_path(path)
    try:
        signature = (_signature(path), None)
    except FileNotFoundError:
        raise MissingArtifactError(f"missing artifact '{path}'; run the stage that writes it "
                                   "first") from None
    if not side.is_file():
        raise ArtifactError(f"artifact '{path}' has no recorded digest ('{side.name}' is missing: "
                            f"written by an older svdlib, or copied without it); {FIX}")
    key = os.path.abspath(path)
    signature = (signature[0], _signature(side))
    if _VERIFIED.get(key) == signature:
        return
    recorded = recorded_digest(path)
    if recorded is None:
        raise ArtifactError(f"artifact '{path}' has an unreadable digest file '{side.name}'; "
                            f"{FIX}")
    size = signature[0][0]
    if size != recorded["size"]:
        what = "truncated" if size < recorded["size"] else "longer than it was written"
        raise ArtifactError(f"artifact '{path}' is {what} ({size} bytes, {recorded['size']} "
                            f"when it was written); {FIX}")
    if sha256_file(path)[0] != recorded["sha256"]:
        raise ArtifactError(f"artifact '{path}' has changed since it was written (its SHA-256 "
                            f"differs from the recorded one); {FIX}")
    _VERIFIED[key] = signature


@_accounted
def artifact_done(path: str | Path) -> bool:
    """Whether an artifact exists (False) and, if it does, reads back as written (True).

    Raises
    ------
    ArtifactError
        If it exists but does not verify (see :func:`verify_artifact`): a damaged artifact is
        an error, never "done".
    """
    path = Path(path)
    if not path.is_file():
        return False
    verify_artifact(path)
    return True


def remove_artifact(path: str | Path) -> None:
    """Delete an artifact file and its recorded digest (either may be missing)."""
    Path(path).unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)
