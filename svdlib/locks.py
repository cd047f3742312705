"""Locks on artifacts, so that concurrent runs on one results folder share the work.

A lock is an ``fcntl.flock`` on a small file beside the artifact (``.NAME.lock``). The kernel
releases it when the process that holds it ends, however it ends (a SIGKILL included), so a
killed run never blocks the next one. The holder removes the file when it lets go; a process
that was waiting on a file removed meanwhile notices (the path no longer names the file it
locked) and locks the new one, so two processes never both hold the lock of one artifact.

The pattern every stage follows::

    if not done(): with artifact_lock(path): if not done(): compute()

The second check matters: a process that waited finds the artifact the first one made and
reuses it. ``flock`` works across the processes of one machine and, on NFSv4 and most
cluster file systems, across machines.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

#: Locks this process holds: (lock file, thread) -> [file descriptor, depth], so that a stage
#: that takes the lock of an artifact whose lock it already holds does not wait on itself.
_HELD: dict[tuple[str, int], list[int]] = {}
_GUARD = threading.Lock()


def lock_path(artifact: str | Path) -> Path:
    """The lock file of an artifact (a file or a folder): ``.NAME.lock`` beside it."""
    artifact = Path(artifact)
    return artifact.with_name(f".{artifact.name}.lock")


def try_lock(path: str | Path, blocking: bool = False) -> int | None:
    """Take the lock file ``path``; returns its descriptor, or None if another holds it.

    Parameters
    ----------
    path : str or Path
        The lock file; it and its folder are created.
    blocking : bool
        Wait until the lock is free instead of returning None.

    Returns
    -------
    int or None
        The descriptor to hand to :func:`unlock`.

    Raises
    ------
    OSError
        If the lock file cannot be created (a read-only or full file system, no permission).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        # read-only is enough for flock, and works on a lock file another user created
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)   # the holder removed the file while we waited: lock the current one


def unlock(path: str | Path, fd: int) -> None:
    """Remove the lock file ``path`` and release the lock ``fd`` (from :func:`try_lock`)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.close(fd)


@contextlib.contextmanager
def artifact_lock(artifact: str | Path, blocking: bool = True,
                  on_wait: Callable[[Path], None] | None = None) -> Iterator[bool]:
    """Hold the lock of an artifact for the block; re-entrant within a thread.

    Parameters
    ----------
    artifact : str or Path
        The artifact (file or folder) the block computes.
    blocking : bool
        Wait for another holder to finish (the default); with False the block runs at once
        and gets False when another process holds the lock (then it must not compute).
    on_wait : callable, optional
        Called with the artifact's path before waiting for another process.

    Yields
    ------
    bool
        Whether this process holds the lock (always True when blocking).
    """
    path = lock_path(artifact)
    key = (str(path.absolute()), threading.get_ident())
    with _GUARD:
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield True
        finally:
            with _GUARD:
                held[1] -= 1
        return
    fd = try_lock(path)
    if fd is None and blocking:
        if on_wait is not None:
            on_wait(Path(artifact))
        fd = try_lock(path, blocking=True)
    if fd is None:
        yield False
        return
    with _GUARD:
        _HELD[key] = [fd, 1]
    try:
        yield True
    finally:
        with _GUARD:
            del _HELD[key]
        unlock(path, fd)
