"""Heavy stages as independent work items that read and write through the store.

An item names one artifact (an attacked song, an explained pair, an explained partial
adversary) and carries the JSON-able parameters that produce it. A worker function computes
the artifact from the configuration and the item alone, and writes it atomically, so any item
can run in any process on any machine that sees the results folder, and a finished item (its
output exists and reads back as written) is never computed again.
:mod:`svdlib.experiments.executors` runs a list of items in this process or on a Dask cluster.
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
    """
    pending = [item for item in items if not item.done]
    iterator: Any = pending
    if progress and pending:
        from tqdm.auto import tqdm

        iterator = tqdm(pending, desc=desc, unit="item")
    failures = []
    for item in iterator:
        try:
            worker(cfg_dict, item)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # reported per item; the others continue
            failures.append(ItemFailure(item, f"{type(err).__name__}: {err}",
                                        traceback.format_exc()))
    return failures


def raise_failures(failures: Sequence[ItemFailure], stage: str) -> None:
    """Raise one :class:`SvdError` listing every failed item (a re-run retries only them)."""
    if not failures:
        return
    lines = "; ".join(f.line() for f in failures[:5])
    more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
    raise SvdError(f"{len(failures)} {stage} item(s) failed: {lines}{more}; re-run to retry "
                   "only the failed ones")
