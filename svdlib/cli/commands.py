"""The ``svd`` subcommands: each runs its stage through the orchestrator and reports."""

from __future__ import annotations

import argparse

from svdlib.cli import reports
from svdlib.errors import SvdError
from svdlib.experiments import stages
from svdlib.experiments.config.settings import Config
from svdlib.experiments.storage.store import Store

EXPERIMENTS = ("flip_counts", "table1", "table2", "subset", "fidelity", "horses", "all")


def cmd_corpus(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Generate the embedded corpus (or check an external one); ``--check`` reports on it."""
    reports.corpus(store, stages.corpus(store))
    if getattr(args, "check", False):
        from svdlib.experiments.artifacts.corpus_checks import corpus_baselines
        from svdlib.experiments.storage.splits import check_lines

        for line in check_lines(store):
            print(f"check: {line}")
        report = corpus_baselines(store)
        print(f"test-split AUROC of frame loudness: {report['loudness_auroc']:.3f}; "
              f"of a linear model on log-mel frames: {report['linear_auroc']:.3f}")
    return 0


def cmd_train(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Train the detector for every seed of the profile."""
    from svdlib.experiments.artifacts.training import train_all

    seeds = [args.seed] if args.seed is not None else None
    paths = train_all(cfg, store, seeds, args.validate, args.save_errors)
    reports.trained(store, paths)
    return 0


def cmd_predict(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Predict per-frame probabilities for the validation and test songs."""
    from svdlib.experiments.artifacts.evaluation import predict_all

    seeds = [args.seed] if args.seed is not None else None
    reports.paths("predictions", predict_all(store, args.splits.split(","), seeds))
    return 0


def cmd_eval(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Evaluate the predictions: threshold on validation, metrics on test."""
    from svdlib.experiments.artifacts.evaluation import evaluate_all

    reports.evaluation(store, evaluate_all(store, args.threshold), args.auroc)
    return 0


def cmd_attack(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Compute adversarial songs (waveform and/or spectrogram) for the attack subset."""
    from svdlib.constants import DOMAINS
    from svdlib.experiments.artifacts.attack import run_attack
    from svdlib.experiments.config.loading import validate
    from svdlib.experiments.config.overrides import set_value

    domains = list(DOMAINS) if args.domain in (None, "both") else [args.domain]
    if any(d not in DOMAINS for d in domains):
        raise SvdError(f"unknown attack domain '{args.domain}'; use wave, spec or both")
    if args.subset is not None:
        if args.subset not in ("test", "valid"):
            raise SvdError(f"unknown subset '{args.subset}'; use test or valid")
        set_value(cfg, "attack.subset", args.subset)
    if args.threshold is not None:
        set_value(cfg, "evaluate.threshold", args.threshold)
    validate(cfg)
    store = Store(cfg)
    for domain in domains:   # this stage alone: a missing model is an error, not trained here
        reports.attack(cfg, domain, run_attack(store, domain))
    return 0


def selected_settings(args: argparse.Namespace) -> list[tuple[str, int]]:
    """The (domain, target) settings selected by --domain and --target."""
    from svdlib.constants import DOMAINS
    from svdlib.experiments.config.checks import check_setting, settings

    domains = DOMAINS if args.domain in (None, "both") else [args.domain]
    if args.target in (None, "both"):
        targets = [1, 0]
    elif str(args.target) in ("0", "1"):
        targets = [int(args.target)]
    else:
        raise SvdError(f"unknown target '{args.target}'; use 1 (no sing -> sing), 0 or both")
    for domain in domains:
        check_setting(domain, targets[0])
    return [s for s in settings() if s[0] in domains and s[1] in targets]


def cmd_pick(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Pick successful adversarial excerpts (up to lime.pick_per_file per song)."""
    for domain, target in selected_settings(args):
        reports.picks(store, domain, target, stages.picks(store, domain, target))
    return 0


def cmd_explain(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Explain the picked pairs (original and adversarial excerpt) with LIME."""
    if args.horses:
        return cmd_horses(args, cfg, store)
    for domain, target in selected_settings(args):
        path = stages.explanations(store, domain, target)
        reports.explanations(store, domain, target, path)
    return 0


def cmd_horses(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Draw horses into "no sing" excerpts, calibrate them to flip, and explain them."""
    reports.horses(cfg, store, stages.horses(store))
    return 0


def cmd_experiment(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Run the paper's experiments from the stored artifacts; write tables and figures."""
    if args.name not in EXPERIMENTS:
        raise SvdError(f"unknown experiment '{args.name}'; use one of {', '.join(EXPERIMENTS)}")
    cmd_horses(args, cfg, store)
    reports.experiment(store, args.name, *stages.experiments(store))
    return 0


def _report_stage(cfg: Config, store: Store, name: str, result: object) -> None:
    """What ``svd run`` prints after each stage (as the stage's own command does)."""
    if name == "corpus":
        reports.corpus(store, result)
    elif name == "train":
        reports.trained(store, result)
    elif name == "predict":
        reports.paths("predictions", result)
    elif name == "eval":
        reports.evaluation(store, result, auroc=True)
    elif name.startswith("attack "):
        reports.attack(cfg, name.split()[1], result)
    elif name in ("pick", "explain"):
        report = reports.picks if name == "pick" else reports.explanations
        for (domain, target), path in zip(stages.settings_in_order(), result, strict=True):
            report(store, domain, target, path)
    elif name == "experiment all":
        reports.horses(cfg, store, str(store.horses_path()))
        reports.experiment(store, "all", *result)
    elif name == "benchmark":
        reports.benchmark(result)
    elif name == "proxies":
        reports.proxies(result)


def cmd_run(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Run every stage in order; finished stages are skipped."""
    seconds = stages.run_pipeline(
        store, before=lambda name: print(f"== svd {name} (profile {cfg.profile})", flush=True),
        after=lambda name, result: _report_stage(cfg, store, name, result))
    total = sum(seconds.values())
    print("== wall time per stage (s): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
          + f"; total {total:.0f} s ({total / 60:.1f} min)")
    return 0


def cmd_benchmark(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Every explainer on the picked pairs of every setting, beside chance and attainable."""
    from svdlib.experiments.config.overrides import set_value

    if args.explainers:
        set_value(cfg, "benchmark.explainers", [e.strip() for e in args.explainers.split(",")])
        from svdlib.experiments.config.loading import validate

        validate(cfg)
        store = Store(cfg)
    reports.benchmark(stages.benchmark(store))
    return 0


def cmd_proxies(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Every proxy metric of the benchmark runs, judged by the planted truth."""
    reports.proxies(stages.proxies(store))
    return 0


def cmd_book(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Run the notebooks with papermill (skipping up-to-date ones) and build the book."""
    from svdlib.book.build import book

    del store
    if args.cell_timeout is not None and not args.cell_timeout >= 0:
        raise SvdError(f"--cell-timeout must be 0 (no limit) or a number of seconds, got "
                       f"{args.cell_timeout:g}")
    return book(cfg, profile=args.profile, only=args.only, force=args.force,
                build=not args.no_build, keep_going=args.keep_going,
                progress_bar=args.cell_progress, compute=not args.no_compute,
                cell_timeout=args.cell_timeout)
