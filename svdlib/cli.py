"""The ``svd`` command: every stage of the reproduction, driven by one profile.

Each subcommand takes ``--profile NAME|PATH`` (default ``quick``), finds the artifacts of the
stages before it in the store, skips work whose artifact exists, and reports a user error as one
line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from svdlib.experiments.config import Config, load_config, parse_overrides
from svdlib.experiments.factories import segmentation_from
from svdlib.experiments.store import Store

from .errors import SvdError

Handler = Callable[[argparse.Namespace, Config, Store], int | None]


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration")
    group.add_argument("--profile", default="quick",
                       help="profile name (quick, paper, tiny) or path to a YAML file")
    group.add_argument("--results", default=None,
                       help="results root (default: the profile's paths.results, or $SVD_RESULTS)")
    group.add_argument("--data", default=None,
                       help="a corpus in the Jamendo layout instead of the embedded one "
                            "(default: the profile's paths.data, or $SVD_DATA)")
    group.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a configuration value, e.g. "
                       "train.epochs=2 (repeatable)")
    group.add_argument("--device", default=None, help="auto (a GPU when present), cpu, cuda:N")
    group.add_argument("--threads", type=int, default=None,
                       help="CPU threads for torch (default: torch's choice; part of every "
                            "artifact's identity, since results depend on it)")
    group.add_argument("--quiet", action="store_true", help="no progress bars")
    group.add_argument("--workers", type=int, default=None,
                       help="run the heavy stages on a local Dask cluster of N worker processes")
    group.add_argument("--scheduler", default=None,
                       help="run the heavy stages on the Dask cluster at this address "
                            "(e.g. tcp://host:8786)")


def _configure(args: argparse.Namespace) -> Config:
    overrides = parse_overrides(args.overrides)
    if args.device:
        overrides["run.device"] = args.device
    if args.threads:
        overrides["run.num_threads"] = args.threads
    if args.quiet:
        overrides["run.progress"] = False
    if args.workers is not None:
        overrides["run.workers"] = args.workers
    if args.scheduler:
        overrides["run.scheduler"] = args.scheduler
    return load_config(args.profile, overrides, results=args.results, data=args.data)


def cmd_corpus(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Generate the embedded corpus (or check an external one)."""
    from svdlib.constants import SPLITS
    from svdlib.data.jamendo import read_filelist
    from svdlib.experiments.splits import corpus_layout

    if store.external_data:
        layout = corpus_layout(store)
        counts = {split: len(read_filelist(layout, split)) for split in SPLITS}
        print(f"external corpus {layout.root}: " +
              ", ".join(f"{n} {split}" for split, n in counts.items()))
        return 0
    from svdlib.data.synthetic.generate import generate_corpus

    c = cfg.corpus
    root = generate_corpus(store.data_root(), seed=c.seed, n_train=c.n_train, n_valid=c.n_valid,
                           n_test=c.n_test, bars=c.bars, sample_rate=cfg.frontend.sample_rate,
                           progress=cfg.run.progress)
    print(f"corpus: {root}")
    if args.check:
        from svdlib.experiments.corpus_checks import corpus_baselines

        report = corpus_baselines(store)
        print(f"test-split AUROC of frame loudness: {report['loudness_auroc']:.3f}; "
              f"of a linear model on log-mel frames: {report['linear_auroc']:.3f}")
    return 0


def cmd_train(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Train the detector for every seed of the profile."""
    from svdlib.experiments.training import train_all

    seeds = [args.seed] if args.seed is not None else None
    validate = None if args.validate is None else args.validate
    for path in train_all(cfg, store, seeds, validate, args.save_errors):
        print(f"model: {path}")
    return 0


def cmd_predict(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Predict per-frame probabilities for the validation and test songs."""
    from svdlib.experiments.evaluation import predict_all

    seeds = [args.seed] if args.seed is not None else None
    for path in predict_all(store, args.splits.split(","), seeds):
        print(f"predictions: {path}")
    return 0


def cmd_eval(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Evaluate the predictions: threshold on validation, metrics on test."""
    from svdlib.experiments.evaluation import evaluate_all

    report = evaluate_all(store, args.threshold)
    for run in report["runs"]:
        line = (f"seed {run['seed']}: thr {run['threshold']:.2f}, "
                f"prec {100 * run['precision']:.2f}, rec {100 * run['recall']:.2f}, "
                f"spec {100 * run['specificity']:.2f}, f1 {100 * run['f1']:.2f}, "
                f"err {100 * run['error']:.2f}")
        if args.auroc:
            line += f", auroc {100 * run['auroc']:.2f}"
        print(line)
    line = report["line"]
    if not args.auroc:
        line = line.split(", auroc")[0]
    print(f"test set of {'the external corpus' if store.external_data else 'the embedded corpus'}"
          f", {line}")
    return 0


def cmd_attack(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Compute adversarial songs (waveform and/or spectrogram) for the attack subset."""
    from svdlib.attacks.records import read_log
    from svdlib.attacks.statistics import overall_statistics
    from svdlib.constants import DOMAINS
    from svdlib.experiments.attack import run_attack
    from svdlib.experiments.config import set_value, validate

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
    for domain in domains:
        folder = run_attack(store, domain)
        stats = overall_statistics(read_log(folder), domain)
        if domain == "wave":
            distortion = f"mean SNR {stats['mean_snr_db']:.1f} dB"
        else:
            distortion = f"mean |delta|^2 {stats['mean_delta_sq']:.4g}"
        print(f"attack {domain} ({cfg.attack.subset}, {stats['songs']} songs): "
              f"{100 * stats['flip_rate']:.1f} % of frames flipped (sing -> no sing "
              f"{100 * stats['sing_to_nosing']:.1f} %, no sing -> sing "
              f"{100 * stats['nosing_to_sing']:.1f} %), {distortion}; "
              f"{stats['songs_without_flips']} song(s) without flips")
        print(f"attack: {folder}")
    return 0


def _settings(args: argparse.Namespace) -> list[tuple[str, int]]:
    """The (domain, target) settings selected by --domain and --target."""
    from svdlib.constants import DOMAINS
    from svdlib.experiments.picks import check_setting
    from svdlib.experiments.tables import settings

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
    from svdlib.experiments import stages
    from svdlib.experiments.picks import load_picks

    for domain, target in _settings(args):
        path = stages.picks(store, domain, target)
        picks = load_picks(store, domain, target)
        print(f"pick {domain} t{target}: {len(picks)} pairs from "
              f"{len(set(picks.songs.tolist()))} songs -> {path}")
    return 0


def cmd_explain(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Explain the picked pairs (original and adversarial excerpt) with LIME."""
    from svdlib.experiments import stages
    from svdlib.experiments.explanations import stacked_weights

    if args.horses:
        return cmd_horses(args, cfg, store)
    for domain, target in _settings(args):
        path = stages.explanations(store, domain, target)
        _, fidelity = stacked_weights(store, domain, target, "adv")
        mean = f"{fidelity.mean():.3f}" if len(fidelity) else "n/a"
        print(f"explain {domain} t{target}: {len(fidelity)} pairs, mean fidelity of the "
              f"adversarial explanations {mean} -> {path}")
    return 0


def cmd_horses(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Draw horses into "no sing" excerpts, calibrate them to flip, and explain them."""
    from svdlib.experiments import stages
    from svdlib.experiments.horses import load_horses
    from svdlib.veracity.horses import SHAPES, horse_found

    path = stages.horses(store)
    segmentation = segmentation_from(cfg.lime)
    horses = load_horses(store)
    threshold = cfg.evaluate.threshold
    for horse in horses:
        if not horse.flipped:
            print(f"horse {horse.shape:9s} NOT FOUND: no placement flipped the detector; "
                  f"closest attempt in '{horse.song}' frame {horse.frame}: P(sing) "
                  f"{horse.p_original:.3f} -> {horse.p_horse:.3f} (threshold {threshold:.2f})")
            continue
        found = horse_found(horse, segmentation)
        print(f"horse {horse.shape:9s} in '{horse.song}' frame {horse.frame}: P(sing) "
              f"{horse.p_original:.3f} -> {horse.p_horse:.3f}; LIME fidelity "
              f"{found['fidelity']:.2f}, top segment on the shape: "
              f"{'yes' if found['top1_on_shape'] else 'no'}, shape covered by the top 3: "
              f"{100 * found['coverage']:.0f} %")
    wanted = cfg.experiment.horses_per_shape
    for shape in SHAPES:
        made = sum(h.flipped for h in horses if h.shape == shape)
        if 0 < made < wanted:
            print(f"horse {shape:9s}: {made} of {wanted} found")
        elif not any(h.shape == shape for h in horses):
            print(f"horse {shape:9s} NOT FOUND: no excerpt left to draw it into")
    print(f"horses: {path}")
    return 0


EXPERIMENTS = ("flip_counts", "table1", "table2", "subset", "fidelity", "horses", "all")


def cmd_experiment(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Run the paper's experiments from the stored artifacts; write tables and figures."""
    import pandas as pd

    from svdlib.experiments import stages
    from svdlib.experiments.tables import load_table
    from svdlib.viz.tables_text import format_table1, format_table2

    if args.name not in EXPERIMENTS:
        raise SvdError(f"unknown experiment '{args.name}'; use one of {', '.join(EXPERIMENTS)}")
    cmd_horses(argparse.Namespace(), cfg, store)
    paths = stages.tables(store)
    figures = stages.figures(store)

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        if args.name in ("table1", "flip_counts", "all"):
            print("Table 1: % flipped by the 3 most relevant LIME segments (95 % CI), vs paper")
            print(format_table1(load_table(store, "table1")).to_string())
        if args.name in ("table2", "all"):
            print("Table 2: all positively relevant LIME segments vs as many highest-energy "
                  "segments")
            print(format_table2(load_table(store, "table2")).to_string())
    for name, path in paths.items():
        print(f"table {name}: {path}")
    for name, files in figures.items():
        print(f"{name}: {files[0]}")
    return 0


def cmd_run(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Run every stage in order; finished stages are skipped."""
    stages: list[tuple[str, Callable[[], int | None]]] = [
        ("corpus", lambda: cmd_corpus(argparse.Namespace(check=False), cfg, store)),
        ("train", lambda: cmd_train(argparse.Namespace(seed=None, validate=None,
                                                       save_errors=False), cfg, store)),
        ("predict", lambda: cmd_predict(argparse.Namespace(splits="valid,test", seed=None),
                                        cfg, store)),
        ("eval", lambda: cmd_eval(argparse.Namespace(auroc=True, threshold=None), cfg, store)),
        ("attack wave", lambda: cmd_attack(argparse.Namespace(domain="wave", subset=None,
                                                              threshold=None), cfg, store)),
        ("attack spec", lambda: cmd_attack(argparse.Namespace(domain="spec", subset=None,
                                                              threshold=None), cfg, store)),
        ("pick", lambda: cmd_pick(argparse.Namespace(domain="both", target="both"), cfg,
                                  store)),
        ("explain", lambda: cmd_explain(argparse.Namespace(domain="both", target="both",
                                                           horses=False), cfg, store)),
        ("subsets", lambda: _run_subsets(store)),
        ("horses", lambda: _compute_horses(store)),
        ("experiment all", lambda: cmd_experiment(argparse.Namespace(name="all"), cfg,
                                                  store)),
    ]
    seconds: dict[str, float] = {}
    for name, stage in stages:
        print(f"== svd {name} (profile {cfg.profile})", flush=True)
        started = time.perf_counter()
        stage()
        seconds[name] = round(time.perf_counter() - started, 1)
    total = sum(seconds.values())
    print("== wall time per stage (s): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
          + f"; total {total:.0f} s ({total / 60:.1f} min)")
    from svdlib.files import save_json

    save_json(store.experiments_dir() / "run_timings.json",
              {"seconds": seconds, "total": round(total, 1),
               "threads": cfg.run.num_threads, "device": cfg.run.device,
               "note": "this invocation only; stages found finished take about 0 s"})
    return 0


def _compute_horses(store: Store) -> None:
    from svdlib.experiments import stages

    stages.horses(store)   # `svd experiment` prints them


def _run_subsets(store: Store) -> None:
    from svdlib.experiments import stages
    from svdlib.experiments.tables import settings

    for domain, target in settings():
        stages.subsets(store, domain, target)


def cmd_book(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Run the notebooks with papermill (skipping up-to-date ones) and build the book."""
    from svdlib.book.build import book

    del store
    return book(cfg, profile=args.profile, only=args.only, force=args.force,
                build=not args.no_build, keep_going=args.keep_going,
                progress_bar=args.cell_progress, compute=not args.no_compute)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``svd`` with all subcommands."""
    parser = argparse.ArgumentParser(prog="svd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("corpus", help="generate the embedded corpus (Jamendo layout)")
    p.add_argument("--check", action="store_true",
                   help="also report how well loudness and a linear model separate the classes")
    p.set_defaults(handler=cmd_corpus)

    p = sub.add_parser("train", help="train the singing voice detector")
    p.add_argument("--seed", type=int, default=None, help="train only this seed")
    p.add_argument("--validate", dest="validate", action="store_true", default=None,
                   help="validate after every epoch (default: train.validate)")
    p.add_argument("--no-validate", dest="validate", action="store_false")
    p.add_argument("--save-errors", action="store_true",
                   help="also write per-epoch losses as .err.npz files")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("predict", help="per-frame predictions for validation and test songs")
    p.add_argument("--splits", default="valid,test", help="comma-separated splits")
    p.add_argument("--seed", type=int, default=None, help="only this seed")
    p.set_defaults(handler=cmd_predict)

    p = sub.add_parser("eval", help="error, recall, specificity (and AUROC) on the test set")
    p.add_argument("--auroc", action="store_true", help="also report the AUROC")
    p.add_argument("--threshold", type=float, default=None,
                   help="fixed threshold instead of the best one on validation")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("attack", help="adversarial songs: whole-song attacks flipping every "
                       "frame's prediction")
    p.add_argument("--domain", default="both",
                   help="wave (perturb the samples), spec (perturb the STFT magnitudes) or both")
    p.add_argument("--subset", default=None,
                   help="test or valid (default: the profile's attack.subset)")
    p.add_argument("--threshold", type=float, default=None,
                   help="decision threshold, p > threshold is 'sing' (default: the profile's "
                        "evaluate.threshold, 0.51 in the paper)")
    p.set_defaults(handler=cmd_attack)

    for name, handler, text in (("pick", cmd_pick, "pick successful adversarial excerpts"),
                                ("explain", cmd_explain, "LIME on the picked pairs")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--domain", default="both", help="wave, spec or both")
        p.add_argument("--target", default="both",
                       help="1 (no sing -> sing), 0 (sing -> no sing) or both")
        if name == "explain":
            p.add_argument("--horses", action="store_true", help="explain the horses instead")
        p.set_defaults(handler=handler)

    p = sub.add_parser("horses", help="draw shapes that flip 'no sing' to 'sing'; explain them")
    p.set_defaults(handler=cmd_horses)

    p = sub.add_parser("experiment", help="the paper's experiments: tables and figures")
    p.add_argument("name", nargs="?", default="all", help=" | ".join(EXPERIMENTS))
    p.set_defaults(handler=cmd_experiment)

    p = sub.add_parser("book", help="run the notebooks (papermill) and build the Jupyter Book",
                       description="Execute every notebook of the book into book/generated/ "
                       "(skipping those whose output is up to date), then build the HTML book "
                       "into _build/html.")
    p.add_argument("--force", action="store_true",
                   help="rerun every notebook even when its output is up to date")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only this notebook (e.g. attacks) or output (e.g. attacks-wave); "
                        "repeatable or comma-separated")
    p.add_argument("--no-build", action="store_true", help="run the notebooks, do not build")
    p.add_argument("--keep-going", action="store_true",
                   help="build the book even when notebooks failed (the exit code is still 1)")
    p.add_argument("--no-compute", action="store_true",
                   help="do not compute the stages first (each notebook computes what it needs)")
    p.add_argument("--cell-progress", action="store_true",
                   help="show papermill's per-cell progress bar")
    p.set_defaults(handler=cmd_book)

    p = sub.add_parser("run", help="run every stage in order (skipping finished ones)")
    p.set_defaults(handler=cmd_run)

    for name, choice in sub.choices.items():
        del name
        _common(choice)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``svd``; returns the exit code (2 for errors the user can fix)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = _configure(args)
        store = Store(cfg)
        handler: Handler = args.handler
        return int(handler(args, cfg, store) or 0)
    except SvdError as err:
        print(f"svd: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("svd: interrupted; finished work is kept and a re-run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
