"""The one orchestrator: the stages in order, each making sure the ones before it ran.

Finished work is skipped. Notebooks, ``svd run``, every ``svd`` subcommand and ``svd book`` call
these, so they compute exactly the same artifacts and whichever comes first does the work.
:func:`run_pipeline` runs them all in order and times them.

Runs in several processes on one results folder share the work: every artifact is computed
under its lock (:mod:`svdlib.locks`; work items under theirs), and a process that finds the
lock held waits, then reuses what the holder made.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from svdlib.digests import artifact_done
from svdlib.experiments.storage.store import Store, corpus_layout, provenance_path
from svdlib.locks import artifact_lock


def corpus(store: Store) -> Path:
    """The corpus folder: generated (embedded corpus, needs the ``corpus`` extra) or checked.

    An embedded corpus whose generation did not finish (no completion marker, see
    :func:`svdlib.data.synthetic.generate.corpus_complete`) is generated again; finished songs
    are kept.
    """
    from svdlib.data.synthetic.generate import corpus_complete, generate_corpus

    root = store.data_root()
    if not store.external_data and not corpus_complete(root):
        with artifact_lock(root, on_wait=waiting(store)):
            if not corpus_complete(root):
                c = store.cfg.corpus
                generate_corpus(root, seed=c.seed, n_train=c.n_train, n_valid=c.n_valid,
                                n_test=c.n_test, bars=c.bars,
                                sample_rate=store.cfg.frontend.sample_rate,
                                progress=store.cfg.run.progress)
    return corpus_layout(store).root


def models(store: Store) -> list[Path]:
    """The trained detectors, one per seed of ``train.seeds``."""
    from svdlib.experiments.artifacts.training import train_all

    corpus(store)
    return train_all(store.cfg, store)


def predictions(store: Store) -> list[Path]:
    """Per-frame predictions of every trained seed on the validation and test songs."""
    from svdlib.experiments.artifacts.evaluation import predict_all

    models(store)
    return predict_all(store)


def evaluation(store: Store) -> dict:
    """Test metrics of every seed and their mean ± std (see :func:`evaluate_all`)."""
    from svdlib.experiments.artifacts.evaluation import evaluate_all

    predictions(store)
    return evaluate_all(store)


def attack(store: Store, domain: str) -> Path:
    """The adversarial songs of one attack domain."""
    from svdlib.experiments.artifacts.attack import run_attack

    models(store)
    return run_attack(store, domain)


def picks(store: Store, domain: str, target: int) -> Path:
    """The picked (original, adversarial) pairs of one setting."""
    from svdlib.experiments.artifacts.picks import pick_adversaries

    attack(store, domain)
    path = store.picks_path(domain, target)
    if not artifact_done(path):       # (no lock to take in a finished, perhaps read-only, folder)
        with artifact_lock(path, on_wait=waiting(store)):
            pick_adversaries(store, domain, target)
    _record(store, path, f"pick {domain} t{target}", attack=store.attack_dir(domain).name)
    return path


def explanations(store: Store, domain: str, target: int) -> Path:
    """LIME explanations of the picked pairs of one setting."""
    from svdlib.experiments.artifacts.explanations import explain_pairs

    picks(store, domain, target)
    path = explain_pairs(store, domain, target)
    _record(store, path, f"explain {domain} t{target}",
            picks=store.picks_path(domain, target).name)
    return path


def subsets(store: Store, domain: str, target: int) -> list[Path]:
    """LIME explanations of the partial adversaries of one setting (every k)."""
    from svdlib.experiments.artifacts.subsets import explain_subsets

    explanations(store, domain, target)
    paths = explain_subsets(store, domain, target)
    for path in paths:
        _record(store, path, f"subset {domain} t{target}",
                picks=store.picks_path(domain, target).name)
    return paths


def horses(store: Store) -> str:
    """The horses and their explanations."""
    from svdlib.experiments.artifacts.horses import horses_stage

    predictions(store)
    if artifact_done(store.horses_path()):
        result = str(store.horses_path())
    else:
        with artifact_lock(store.horses_path(), on_wait=waiting(store)):
            result = horses_stage(store)
    _record(store, store.horses_path(), "horses", model=store.model_dir().name,
            songs=store.split_files("test"))
    return result


def tables(store: Store) -> dict[str, Path]:
    """Every experiment table (CSV), after every setting's subsets and the horses.

    The tables are computed afresh unless their record says they were computed from the same
    artifacts, settings and code (:mod:`~svdlib.experiments.artifacts.freshness`), or this
    process waited for another one computing them from the same artifacts: it takes that one's
    tables.
    """
    from svdlib.experiments.artifacts.freshness import (
        inputs_fingerprint,
        record_path,
        up_to_date,
        write_record,
    )
    from svdlib.experiments.artifacts.tables import TABLE_GROUPS, experiment_tables

    for domain, target in settings_in_order():
        subsets(store, domain, target)
    horses(store)
    out = store.experiments_dir()
    waited: list[Path] = []
    with artifact_lock(out / "tables", on_wait=waiting(store, waited)):
        paths = {name: out / f"{name}.csv" for names in TABLE_GROUPS.values() for name in names}
        fingerprint = inputs_fingerprint(store, _table_inputs(store), store.model_key())
        record = record_path(out, "tables")
        if up_to_date(record, fingerprint, [*paths.values(), out / "config.json"]):
            return paths
        if waited and (out / "config.json").is_file() and all(artifact_done(p)
                                                               for p in paths.values()):
            return paths
        written = experiment_tables(store)
        write_record(record, fingerprint, written.values())
        return written


def _table_inputs(store: Store) -> list[Path]:
    """The artifact files the experiment tables are computed from (a given detector aside)."""
    files = [path for domain, target in settings_in_order()
             for path in (store.picks_path(domain, target),
                          store.explanations_path(domain, target),
                          *(store.subset_path(domain, target, k)
                            for k in store.cfg.experiment.subset_ks))]
    if store.given_model() is None:
        files.append(store.model_dir() / "model.safetensors")
    return files


def figures(store: Store) -> dict[str, list[Path]]:
    """Figures 1–4 (PNG and SVG) in the experiments folder."""
    tables(store)
    return _draw_figures(store)


def experiments(store: Store) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Every table and figure of the experiments (the tables computed once)."""
    paths = tables(store)
    return paths, _draw_figures(store)


#: The figures of the experiments folder, in the order they are drawn.
FIGURES = ("figure2", "figure3", "figure4", "segment_profiles", "figure1")


def _draw_figures(store: Store) -> dict[str, list[Path]]:
    """Draw the figures unless their record says they are up to date (as for the tables)."""
    from svdlib.experiments.artifacts.figures import paper_figures
    from svdlib.experiments.artifacts.freshness import (
        inputs_fingerprint,
        record_path,
        up_to_date,
        write_record,
    )

    out = store.experiments_dir()
    with artifact_lock(out / "figures", on_wait=waiting(store)):
        drawn = {name: [out / f"{name}.png", out / f"{name}.svg"] for name in FIGURES}
        fingerprint = inputs_fingerprint(store, [record_path(out, "tables"),
                                                 store.horses_path(), *_table_inputs(store)],
                                         store.model_key())
        record = record_path(out, "figures")
        if not up_to_date(record, fingerprint, [p for pair in drawn.values() for p in pair]):
            drawn = paper_figures(store)
            write_record(record, fingerprint, [p for pair in drawn.values() for p in pair])
    inputs = {f"{domain} t{target}": store.explanations_path(domain, target).name
              for domain, target in settings_in_order()}
    _record(store, out, "experiments", **inputs)
    return drawn


def benchmark(store: Store) -> dict[str, Path]:
    """The explainer benchmark of every setting, and its tables in the experiments folder.

    The tables are written afresh unless their record says they were computed from the same
    benchmark, picks, settings and code (:mod:`~svdlib.experiments.artifacts.freshness`).
    """
    from svdlib.experiments.artifacts.benchmark import TABLES, write_benchmark_tables
    from svdlib.experiments.artifacts.benchmark import benchmark as run_benchmark_stage
    from svdlib.experiments.artifacts.freshness import (
        inputs_fingerprint,
        record_path,
        up_to_date,
        write_record,
    )

    all_explanations(store)
    folders = run_benchmark_stage(store)
    out = store.experiments_dir()
    with artifact_lock(out / "benchmark_tables", on_wait=waiting(store)):
        paths = {name: out / f"{name}.csv"
                 for name in ("benchmark", "benchmark_curves", "benchmark_curve_rates")}
        inputs = [*(folder / name for folder in folders
                    for name in ("attributions.npz", *(f"{t}.csv" for t in TABLES))),
                  *(store.picks_path(domain, target) for domain, target in settings_in_order())]
        fingerprint = inputs_fingerprint(store, inputs)
        record = record_path(out, "benchmark")
        outputs = [*paths.values(), out / "benchmark_config.json"]
        if up_to_date(record, fingerprint, outputs):
            return paths
        written = write_benchmark_tables(store)
        write_record(record, fingerprint, outputs)
        return written


def proxies(store: Store) -> dict[str, Path]:
    """The proxy metrics of every benchmark run, judged by the planted truth, and their tables.

    It needs the benchmark's runs (computed if missing), not its tables.
    """
    from svdlib.experiments.artifacts.benchmark import benchmark as run_benchmark_stage
    from svdlib.experiments.artifacts.proxies import proxies as run_proxies_stage
    from svdlib.experiments.artifacts.proxies import write_proxies_tables

    all_explanations(store)
    run_benchmark_stage(store)
    run_proxies_stage(store)
    return write_proxies_tables(store)


def everything(store: Store) -> dict[str, list[Path]]:
    """All stages: the paper's (the detector's evaluation included), the benchmark, proxies."""
    evaluation(store)
    drawn = figures(store)
    benchmark(store)
    proxies(store)
    return drawn


def all_picks(store: Store) -> list[Path]:
    """The picks of every setting."""
    return [picks(store, domain, target) for domain, target in settings_in_order()]


def all_explanations(store: Store) -> list[Path]:
    """The explanations of every setting."""
    return [explanations(store, domain, target) for domain, target in settings_in_order()]


def all_subsets(store: Store) -> list[Path]:
    """The subset explanations of every setting."""
    return [path for domain, target in settings_in_order()
            for path in subsets(store, domain, target)]


def pipeline(store: Store) -> list[tuple[str, Callable[[], Any]]]:
    """Every stage of a run, in order, as ``(name, stage)``; the names are ``svd`` commands."""
    return [("corpus", lambda: corpus(store)), ("train", lambda: models(store)),
            ("predict", lambda: predictions(store)), ("eval", lambda: evaluation(store)),
            ("attack wave", lambda: attack(store, "wave")),
            ("attack spec", lambda: attack(store, "spec")),
            ("pick", lambda: all_picks(store)), ("explain", lambda: all_explanations(store)),
            ("subsets", lambda: all_subsets(store)), ("horses", lambda: horses(store)),
            ("experiment all", lambda: experiments(store)),
            ("benchmark", lambda: benchmark(store)), ("proxies", lambda: proxies(store))]


def run_pipeline(store: Store, before: Callable[[str], None] | None = None,
                 after: Callable[[str, Any], None] | None = None) -> dict[str, float]:
    """Run every stage in order, timing each; write ``run_timings.json`` to the experiments.

    Parameters
    ----------
    store : Store
        The run's artifact store.
    before, after : callable, optional
        Called with a stage's name before it runs, and with its name and result after (the CLI
        prints its reports there).

    Returns
    -------
    dict
        Wall-clock seconds per stage (about 0 for a stage found finished).
    """
    from svdlib.files import save_json

    seconds: dict[str, float] = {}
    for name, stage in pipeline(store):
        if before is not None:
            before(name)
        started = time.perf_counter()
        result = stage()
        seconds[name] = round(time.perf_counter() - started, 1)
        if after is not None:
            after(name, result)
    save_json(store.experiments_dir() / "run_timings.json",
              {"seconds": seconds, "total": round(sum(seconds.values()), 1),
               "threads": store.cfg.run.num_threads, "device": store.cfg.run.device,
               "note": "this invocation only; stages found finished take about 0 s"})
    return seconds


def settings_in_order() -> list[tuple[str, int]]:
    """The paper's four (domain, target) settings, in the order every table lists them."""
    from svdlib.experiments.config.checks import settings

    return settings()


def waiting(store: Store, seen: list[Path] | None = None) -> Callable[[Path], None]:
    """The callback before waiting for another process's artifact.

    It says so on stderr when progress is on, and notes the artifact in ``seen``.
    """
    def say(path: Path) -> None:
        if seen is not None:
            seen.append(path)
        if store.cfg.run.progress:
            import sys

            print(f"waiting for another process computing '{path}'", file=sys.stderr,
                  flush=True)

    return say


def _record(store: Store, artifact: Path, stage: str, **inputs: object) -> None:
    """Write an artifact's provenance once (a finished artifact keeps the one it has)."""
    if Path(artifact).exists() and not provenance_path(artifact).is_file():
        store.write_provenance(artifact, stage, **inputs)
