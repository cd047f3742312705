"""Heavy stages as independent work items that read and write through the store.

An item names one artifact (an attacked song, an explained pair, an explained partial
adversary) and carries the JSON-able parameters that produce it. A worker function computes
the artifact from the configuration and the item alone, and writes it atomically, so any item
can run in any process on any machine that sees the results folder, and a finished item (its
output exists and reads back as written) is never computed again.
:mod:`svdlib.experiments.execution.executors` runs a list of items in this process or on a
Dask cluster.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from svdlib.digests import artifact_done
from svdlib.errors import SvdError


@dataclass(frozen=True)
class WorkItem:
    """One unit of heavy work.

    Attributes
    ----------
    stage : str
        The stage it belongs to, e.g. ``"explain"``.
    name : str
        A readable unique name, e.g. ``"explain wave t1 pair 7"``.
    output : str
        The artifact the item writes last; the item is done when it exists and matches its
        recorded digest (and so do the files of ``also``).
    params : dict
        JSON-able parameters (what the worker needs besides the configuration).
    also : tuple of str
        Other artifact files the item writes before ``output``; one missing makes the item
        pending again.
    """

    stage: str
    name: str
    output: str
    params: dict = field(default_factory=dict)
    also: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        """Whether the item's files exist and read back as written.

        Raises
        ------
        ArtifactError
            If one exists but does not match its recorded digest (it is never reused).
        """
        if not artifact_done(self.output):
            return False
        return all([artifact_done(path) for path in self.also])


Worker = Callable[[dict, WorkItem], Any]


@dataclass
class ItemFailure:
    """A failed item with the error's type, message and traceback."""

    item: WorkItem
    error: str
    traceback: str = ""

    def line(self) -> str:
        """One line: the item, its parameters and the error."""
        return f"{self.item.name} {self.item.params}: {self.error}"


def run_in_process(items: Sequence[WorkItem], worker: Worker, cfg_dict: dict,
                   desc: str = "work", progress: bool = False) -> list[ItemFailure]:
    """Run the items that are not done, here, one after the other; failures do not stop the rest.

    Another process (a second run on the same results folder) may work on the same items:
    each item is computed under its artifact's lock (:mod:`svdlib.locks`). Items another
    process holds are left for later and the free ones done first; when only held ones are
    left, this process waits for one, and reuses its artifact if the holder finished it.

    Parameters
    ----------
    items : sequence of WorkItem
        The work; items whose output exists are skipped.
    worker : callable
        ``worker(cfg_dict, item)``.
    cfg_dict : dict
        The configuration as plain data (``Config.to_dict()``).
    desc : str
        Progress bar label.
    progress : bool
        Show a progress bar.

    Returns
    -------
    list of ItemFailure
        Empty when everything succeeded.

    Raises
    ------
    OSError
        At once, for a full or read-only file system (every other item would fail the same
        way).
    """
    remaining = [item for item in items if not item.done]
    bar: Any = None
    if progress and remaining:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(remaining), desc=desc, unit="item")
    failures: list[ItemFailure] = []
    try:
        while remaining:
            held_elsewhere = [item for item in remaining
                              if not _attempt(item, worker, cfg_dict, False, failures, bar)]
            if held_elsewhere and len(held_elsewhere) == len(remaining):
                _attempt(held_elsewhere[0], worker, cfg_dict, True, failures, bar)
                held_elsewhere = held_elsewhere[1:]
            remaining = held_elsewhere
    finally:
        if bar is not None:
            bar.close()
    return failures


def is_fatal(err: BaseException) -> bool:
    """Whether an error is the file system's, not one item's: no space, read-only, over quota.

    Every other item would fail the same way, so the run stops at the first.
    """
    import errno

    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT)


def _attempt(item: WorkItem, worker: Worker, cfg_dict: dict, blocking: bool,
             failures: list[ItemFailure], bar: Any) -> bool:
    """Run one item under its lock; False if another process holds it (and not blocking)."""
    from svdlib.locks import artifact_lock

    with artifact_lock(item.output, blocking=blocking) as mine:
        if not mine:
            return False
        try:
            if not item.done:      # another process may have finished it meanwhile
                worker(cfg_dict, item)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # reported per item; the others continue
            if is_fatal(err):
                raise
            failures.append(item_failure(item, err, traceback.format_exc()))
    if bar is not None:
        bar.update(1)
    return True


def item_failure(item: WorkItem, err: BaseException, trace: str = "") -> ItemFailure:
    """The failure of an item, its error on one line (library messages can span several)."""
    message = " ".join(str(err).split()) or type(err).__name__
    shown = message if isinstance(err, SvdError) else f"{type(err).__name__}: {message}"
    return ItemFailure(item, shown, trace)


def raise_failures(failures: Sequence[ItemFailure], stage: str) -> None:
    """Raise one :class:`SvdError` listing every failed item (a re-run retries only them)."""
    if not failures:
        return
    lines = "; ".join(f.line() for f in failures[:5])
    more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
    raise SvdError(f"{len(failures)} {stage} item(s) failed: {lines}{more}; re-run to retry "
                   "only the failed ones")
