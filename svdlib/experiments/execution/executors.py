"""Executors: where a stage's work items run (this process, or a Dask cluster).

A stage makes its :class:`~svdlib.experiments.execution.work.WorkItem` list and hands it to
:func:`run_items`, which picks the executor the configuration asks for (``run.workers`` /
``run.scheduler``). Both executors skip finished items and report failures per item, so the
stage code never knows where its items ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from svdlib.experiments.config.settings import Config
from svdlib.experiments.execution.work import ItemFailure, Worker, WorkItem, run_in_process


class Executor(Protocol):
    """Runs work items that are not done; returns the failures (empty when all succeeded)."""

    def run(self, items: Sequence[WorkItem], worker: Worker, cfg: Config, desc: str = "work",
            progress: bool | None = None) -> list[ItemFailure]:
        """Run ``worker(cfg.to_dict(), item)`` for every pending item."""
        ...


class LocalExecutor:
    """Every item in this process, one after the other."""

    def run(self, items: Sequence[WorkItem], worker: Worker, cfg: Config, desc: str = "work",
            progress: bool | None = None) -> list[ItemFailure]:
        """See :class:`Executor`."""
        show = cfg.run.progress if progress is None else progress
        return run_in_process(items, worker, cfg.to_dict(), desc, show)


class DaskExecutor:
    """Items on a Dask cluster (a local one of ``run.workers`` processes, or ``run.scheduler``).

    Parameters
    ----------
    client : dask.distributed.Client, optional
        Use this client instead of one made from the configuration.
    """

    def __init__(self, client: Any = None) -> None:
        self.client = client

    def run(self, items: Sequence[WorkItem], worker: Worker, cfg: Config, desc: str = "work",
            progress: bool | None = None) -> list[ItemFailure]:
        """See :class:`Executor`."""
        from svdlib.experiments.execution.dask import run_items_dask

        return run_items_dask(items, worker, cfg, desc=desc, progress=progress,
                              client=self.client)


def executor_for(cfg: Config) -> Executor:
    """The executor the configuration asks for: Dask when ``run.workers`` or ``run.scheduler``."""
    if cfg.run.scheduler or cfg.run.workers > 0:
        return DaskExecutor()
    return LocalExecutor()


def run_items(items: Sequence[WorkItem], worker: Worker, cfg: Config, desc: str = "work",
              progress: bool | None = None) -> list[ItemFailure]:
    """Run the items that are not done on the configured executor; see :class:`Executor`.

    Parameters
    ----------
    items : sequence of WorkItem
        The work; items whose output exists are skipped.
    worker : callable
        ``worker(cfg.to_dict(), item)``; a module-level function (so Dask can ship it).
    cfg : Config
        The configuration.
    desc : str
        Progress bar label.
    progress : bool, optional
        Show a progress bar (default ``cfg.run.progress``).

    Returns
    -------
    list of ItemFailure
        Empty when everything succeeded; a failure does not stop the other items.
    """
    return executor_for(cfg).run(items, worker, cfg, desc=desc, progress=progress)
