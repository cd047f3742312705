"""Running work items on Dask: a local cluster, a remote scheduler, SLURM or GPU workers.

:class:`svdlib.experiments.execution.executors.DaskExecutor` hands its items here when
``run.workers`` > 0 (a ``LocalCluster`` of that many single-threaded worker processes on this
machine) or ``run.scheduler`` is set (the address of a running Dask scheduler, e.g.
``tcp://10.0.0.5:8786``; its workers may run anywhere that sees the results folder, e.g. SLURM
jobs started with dask-jobqueue). Every item writes its own artifact atomically through the
store, so a worker that dies mid-item leaves nothing half-written: Dask reschedules the item on
another worker, and a re-run skips every item whose artifact exists. Without Dask installed the
items run in-process.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from svdlib.experiments.config.settings import Config
from svdlib.experiments.execution.work import (
    ItemFailure,
    Worker,
    WorkItem,
    is_fatal,
    item_failure,
    run_in_process,
)

_CLIENTS: dict[tuple[str, int], Any] = {}


def dask_available() -> bool:
    """Whether ``dask.distributed`` can be imported."""
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return False
    return True


def get_client(scheduler: str = "", workers: int = 0) -> Any:
    """A Dask client: connected to ``scheduler``, or to a local cluster of ``workers`` processes.

    Clients are created once per process and closed at exit. A local cluster uses one thread
    per worker process (torch parallelises inside a process; one thread each avoids
    oversubscribing the cores) and no dashboard.
    """
    from dask.distributed import Client, LocalCluster

    key = (scheduler, workers)
    client = _CLIENTS.get(key)
    if client is not None and client.status == "running":
        return client
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        n = workers if workers > 0 else max(1, os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    _CLIENTS[key] = client
    return client


@atexit.register
def close_clients() -> None:
    """Close every client (and local cluster) this process opened."""
    for client in list(_CLIENTS.values()):
        try:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
        except Exception:
            pass
    _CLIENTS.clear()


@functools.cache
def _relax_malloc_trimming() -> bool:
    """Undo the Dask nanny's ``MALLOC_TRIM_THRESHOLD_=65536`` inside a worker process.

    With that variable glibc stops adapting its mmap threshold, so every activation tensor of
    the detector is a fresh ``mmap``: LIME ran 3x slower on a Dask worker than in-process
    (measured in ``bench/bench_scale.py``). Restoring large thresholds with ``mallopt`` at run
    time gives the in-process speed back.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
                and libc.mallopt(m_trim_threshold, 256 * 1024 * 1024))


def _run_one(worker: Worker, cfg_dict: dict, item: WorkItem,
             expected: dict | None = None) -> str:
    """Run one item on a Dask worker with the run's thread count, no progress bars.

    A worker whose numeric environment (torch or numpy version, device, instruction set)
    differs from the one the run's artifact keys name refuses the item: its numbers would be
    stored under another environment's identity. The item is computed under its artifact's
    lock, so a second run on the same results folder waits for it and reuses the artifact.
    """
    import torch

    from svdlib.errors import SvdError
    from svdlib.locks import artifact_lock
    from svdlib.provenance import describe_difference, numeric_environment

    _relax_malloc_trimming()
    run = cfg_dict.get("run", {})
    threads = int(run.get("num_threads", 0)) or 1
    torch.set_num_threads(threads)
    if expected is not None:
        found = numeric_environment(str(run.get("device", "cpu")), threads)
        if found != expected:
            raise SvdError(f"worker's numeric environment differs from the run's "
                           f"({describe_difference(found, expected)}); give every worker the "
                           "same torch, numpy and device")
    if not item.done:
        with artifact_lock(item.output):
            if not item.done:
                worker(cfg_dict, item)
    return item.output


def _local_dict(cfg: Config) -> dict:
    """The configuration as workers get it: no progress bars, no cluster of their own."""
    cfg_dict = cfg.to_dict()
    cfg_dict["run"] = {**cfg_dict["run"], "progress": False, "scheduler": "", "workers": 0}
    return cfg_dict


def _collect(futures: dict[Any, WorkItem], bar: Any) -> list[ItemFailure]:
    """Wait for every future; one failure per item that raised."""
    from dask.distributed import as_completed

    failures = []
    for future in as_completed(futures):
        try:
            future.result()
        except Exception as err:
            if is_fatal(err):      # a full or read-only file system: stop the whole run
                for other in futures:
                    other.cancel()
                if bar is not None:
                    bar.close()
                raise
            failures.append(item_failure(futures[future], err))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return failures


def run_items_dask(items: Sequence[WorkItem], worker: Worker, cfg: Config,
                   desc: str = "work", progress: bool | None = None,
                   client: Any = None) -> list[ItemFailure]:
    """Run the items that are not done on a Dask cluster; failures do not stop the others.

    Parameters
    ----------
    items : sequence of WorkItem
        The work; items whose output exists are skipped.
    worker : callable
        A module-level function ``worker(cfg_dict, item)``.
    cfg : Config
        The configuration (``run.scheduler`` / ``run.workers`` choose the cluster).
    desc : str
        Progress bar label.
    progress : bool, optional
        Show a progress bar over finished items (default ``cfg.run.progress``).
    client : dask.distributed.Client, optional
        Use this client instead of :func:`get_client`.

    Returns
    -------
    list of ItemFailure
        One per item that raised (after Dask's own retries for lost workers).
    """
    pending = [item for item in items if not item.done]
    show = cfg.run.progress if progress is None else progress
    if not pending:
        return []
    if client is None and not dask_available():
        warnings.warn("dask.distributed is not installed; running the items in this process",
                      stacklevel=2)
        return run_in_process(pending, worker, _local_dict(cfg), desc, show)
    from svdlib.provenance import numeric_environment

    client = client or get_client(cfg.run.scheduler, cfg.run.workers)
    expected = numeric_environment(cfg.run.device, cfg.run.num_threads)
    futures = {client.submit(_run_one, worker, _local_dict(cfg), item, expected,
                             key=f"svd-{item.stage}-{abs(hash(item.output)):x}", pure=False): item
               for item in pending}
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(futures), desc=f"{desc} (dask, "
                   f"{len(client.scheduler_info().get('workers', {}))} workers)", unit="item")
    return _collect(futures, bar)
