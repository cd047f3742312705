"""Heavy stages on Dask: a local cluster of two workers loses one mid-run and still produces
every artifact, identical to an in-process run with the same seed."""

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import toy_config

from svdlib.experiments import stages
from svdlib.experiments.artifacts.explanations import explanation_items
from svdlib.experiments.execution.executors import run_items
from svdlib.experiments.execution.work import WorkItem
from svdlib.experiments.storage.store import Store
from svdlib.files import load_arrays, save_json
from svdlib.seeding import item_seed

pytest.importorskip("dask.distributed")

# two of the four settings keep the test short; the others run the same code
SETTINGS = [("wave", 1), ("spec", 1)]

# the quick profile's LIME settings on the toy detector's adversarial pairs
QUICK_LIME = {"lime.num_samples": 1024, "lime.pick_per_file": 3,
              "attack.wave.lr": 3e-3, "attack.wave.alpha": 50.0, "attack.wave.clip_eps": 0.02,
              "attack.wave.max_iterations": 12, "attack.spec.lr": 0.05,
              "attack.spec.alpha": 1e5, "attack.spec.clip_eps": 1.0,
              "attack.spec.max_iterations": 12}


def _copy_until_picks(source: Store, root: Path) -> None:
    for folder in ("models", "spectra", "attacks", "picks"):
        shutil.copytree(source.root / folder, root / folder)


@pytest.fixture(scope="module")
def picked(toy_store, toy_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("scale_base") / "results"
    shutil.copytree(toy_store.root, root)
    # one torch thread, as the Dask workers run; the thread count is part of every key
    store = Store(toy_config(root, toy_corpus, **QUICK_LIME, **{"run.num_threads": 1}))
    for domain, target in SETTINGS:
        stages.picks(store, domain, target)
    return store


def _explanation_files(store: Store) -> dict[str, dict[str, np.ndarray]]:
    files = {}
    for domain, target in SETTINGS:
        for item in explanation_items(store, domain, target):
            files[Path(item.output).name + f"-{domain}{target}"] = load_arrays(item.output)
    return files


def test_killed_worker_does_not_lose_or_corrupt_work(picked, toy_corpus, tmp_path):
    from dask.distributed import Client, LocalCluster

    # reference: in-process, one torch thread (as the Dask workers run)
    local_root = tmp_path / "local"
    _copy_until_picks(picked, local_root)
    local = Store(toy_config(local_root, toy_corpus, **QUICK_LIME,
                             **{"run.num_threads": 1}))
    for domain, target in SETTINGS:
        stages.explanations(local, domain, target)

    dask_root = tmp_path / "dask"
    _copy_until_picks(picked, dask_root)
    cfg = toy_config(dask_root, toy_corpus, **QUICK_LIME, **{"run.workers": 2,
                                                             "run.num_threads": 1})
    store = Store(cfg)
    items = [item for domain, target in SETTINGS
             for item in explanation_items(store, domain, target)]
    assert len(items) >= 8
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50)
    client = Client(cluster)
    try:
        from svdlib.experiments.artifacts.explanations import explain_pair_worker
        from svdlib.experiments.execution.dask import run_items_dask

        outcome = {}

        def run() -> None:
            outcome["failures"] = run_items_dask(items, explain_pair_worker, cfg,
                                                 progress=False, client=client)

        runner = threading.Thread(target=run)
        runner.start()
        deadline = time.time() + 120
        while not any(item.done for item in items) and time.time() < deadline:
            time.sleep(0.2)
        assert any(item.done for item in items), "no item finished in time"
        assert not all(item.done for item in items), "all items done before the kill"
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)          # a worker dies mid-run
        runner.join(timeout=300)
        assert not runner.is_alive()
        assert outcome["failures"] == []
    finally:
        client.close()
        cluster.close()
    assert all(item.done for item in items)
    # assemble the stacked files exactly as the in-process stage does
    for domain, target in SETTINGS:
        stages.explanations(store, domain, target)
    ours, reference = _explanation_files(store), _explanation_files(local)
    assert ours.keys() == reference.keys()
    for name, arrays in ours.items():
        for key, value in arrays.items():
            if value.dtype.kind in "fc":
                np.testing.assert_allclose(value, reference[name][key], rtol=1e-6, atol=1e-9,
                                           err_msg=f"{name}:{key}")
            else:
                assert np.array_equal(value, reference[name][key]), f"{name}:{key}"


def _failing_worker(cfg_dict: dict, item: WorkItem) -> None:
    if item.params["fail"]:
        raise ValueError(f"bad item {item.params['n']}")
    save_json(item.output, item_seed(0, item.params["n"]))   # an artifact, with its digest


def test_failures_are_reported_per_item_and_retried_alone(tmp_path):
    cfg = toy_config(tmp_path, tmp_path)
    items = [WorkItem("demo", f"demo {n}", str(tmp_path / f"{n}.txt"),
                      {"n": n, "fail": n in (2, 4)}) for n in range(6)]
    failures = run_items(items, _failing_worker, cfg)
    assert [f.item.params["n"] for f in failures] == [2, 4]
    assert "ValueError: bad item 2" in failures[0].line()
    assert "'n': 2" in failures[0].line()
    stamps = {item.output: Path(item.output).stat().st_mtime_ns for item in items if item.done}
    fixed = [WorkItem(i.stage, i.name, i.output, {**i.params, "fail": False}) for i in items]
    assert run_items(fixed, _failing_worker, cfg) == []
    assert all(Path(out).stat().st_mtime_ns == stamp for out, stamp in stamps.items())
    assert all(item.done for item in fixed)


def test_item_seeds_are_independent_of_order():
    assert item_seed(0, "explain", "wave", 1, 3) == item_seed(0, "explain", "wave", 1, 3)
    assert item_seed(0, "explain", "wave", 1, 3) != item_seed(0, "explain", "wave", 1, 4)
    assert item_seed(1, "explain", "wave", 1, 3) != item_seed(0, "explain", "wave", 1, 3)
