"""The explanation stage on Dask: 1 worker vs 2 workers, and Dask vs in-process.

Run: ``.venv/bin/python bench/bench_scale.py [--profile quick] [--setting wave-1] [--pairs 16]``

Needs the picked pairs of the profile (``svd pick --profile quick``). The same explanation
items (one per picked pair: LIME on the original and the adversarial excerpt) are computed
three times side by side, each into a fresh temporary folder: in this process with torch's
default threads, on a local Dask cluster with one single-threaded worker, and with two.
The ratios are what carries over to other machines: 2 workers vs 1 (how well items
parallelise) and 1 Dask worker vs in-process with one thread (Dask's own overhead per item).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from svdlib.experiments.artifacts.explanations import explain_pair_worker, explanation_items
from svdlib.experiments.config.loading import load_config
from svdlib.experiments.execution.dask import run_items_dask
from svdlib.experiments.execution.executors import run_items
from svdlib.experiments.execution.work import WorkItem
from svdlib.experiments.storage.store import Store


def relocated(items: list[WorkItem], folder: Path) -> list[WorkItem]:
    """The same items writing into ``folder``."""
    return [dataclasses.replace(item, output=str(folder / Path(item.output).name))
            for item in items]


def main() -> None:
    """Time the three executions and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--setting", default="wave-1", help="DOMAIN-TARGET, e.g. spec-0")
    parser.add_argument("--pairs", type=int, default=16, help="items (pairs) to explain")
    args = parser.parse_args()
    domain, target = args.setting.split("-")
    cfg = load_config(args.profile, {"run.progress": False})
    store = Store(cfg)
    items = explanation_items(store, domain, int(target))[:args.pairs]
    if not items:
        raise SystemExit(f"no picked pairs for {args.setting}; run `svd pick` first")
    from dask.distributed import Client, LocalCluster

    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        threads = torch.get_num_threads()
        for name, n_threads in (("in-process, 1 thread", 1),
                                (f"in-process, {threads} threads", threads)):
            torch.set_num_threads(n_threads)
            batch = relocated(items, scratch_path / name.replace(" ", "_").replace(",", ""))
            explain_pair_worker(cfg.to_dict(), batch[0])       # warm-up (model load, caches)
            Path(batch[0].output).unlink()
            start = time.perf_counter()
            assert run_items(batch, explain_pair_worker, cfg) == []
            times[name] = time.perf_counter() - start
        torch.set_num_threads(threads)
        for workers in (1, 2):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=50)
            client = Client(cluster)
            try:
                warm = relocated(items[:workers], scratch_path / f"warm{workers}")
                run_items_dask(warm, explain_pair_worker, cfg, progress=False, client=client)
                batch = relocated(items, scratch_path / f"dask{workers}")
                start = time.perf_counter()
                failures = run_items_dask(batch, explain_pair_worker, cfg, progress=False,
                                          client=client)
                times[f"dask, {workers} worker(s)"] = time.perf_counter() - start
                assert failures == []
            finally:
                client.close()
                cluster.close()
    print(f"{len(items)} explanation items ({args.setting}, {cfg.lime.num_samples} LIME "
          f"samples, profile {cfg.profile}); wall time after warm-up")
    for name, seconds in times.items():
        print(f"  {name:28s} {seconds:7.1f} s  ({seconds / len(items):.2f} s/item)")
    one, two = times["dask, 1 worker(s)"], times["dask, 2 worker(s)"]
    print(f"speed-up of 2 workers over 1: {one / two:.2f}x")
    print(f"Dask overhead, 1 worker vs in-process with 1 thread: "
          f"{one / times['in-process, 1 thread']:.2f}x")
    print(f"2 Dask workers vs in-process with {threads} threads: "
          f"{times[f'in-process, {threads} threads'] / two:.2f}x faster")


if __name__ == "__main__":
    main()
