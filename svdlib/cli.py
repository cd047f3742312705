"""The ``svd`` command: every stage of the reproduction, driven by one profile.

Each subcommand takes ``--profile NAME|PATH`` (default ``quick``), finds the artifacts of the
stages before it in the store, skips work whose artifact exists, and reports a user error as one
line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .config import Config, load_config, parse_overrides
from .errors import SvdError
from .store import Store

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
    group.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    group.add_argument("--quiet", action="store_true", help="no progress bars")


def _configure(args: argparse.Namespace) -> Config:
    overrides = parse_overrides(args.overrides)
    if args.device:
        overrides["run.device"] = args.device
    if args.threads:
        overrides["run.num_threads"] = args.threads
    if args.quiet:
        overrides["run.progress"] = False
    cfg = load_config(args.profile, overrides, results=args.results, data=args.data)
    if cfg.run.num_threads > 0:
        import torch

        torch.set_num_threads(cfg.run.num_threads)
    return cfg


def cmd_corpus(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Generate the embedded corpus (or check an external one)."""
    from .data import SPLITS, corpus_layout, read_filelist

    if store.external_data:
        layout = corpus_layout(store)
        counts = {split: len(read_filelist(layout, split)) for split in SPLITS}
        print(f"external corpus {layout.root}: " +
              ", ".join(f"{n} {split}" for split, n in counts.items()))
        return 0
    from .corpus import generate_corpus

    c = cfg.corpus
    root = generate_corpus(store.data_root(), seed=c.seed, n_train=c.n_train, n_valid=c.n_valid,
                           n_test=c.n_test, bars=c.bars, sample_rate=cfg.frontend.sample_rate,
                           progress=cfg.run.progress)
    print(f"corpus: {root}")
    if args.check:
        from .baselines import corpus_baselines

        report = corpus_baselines(store)
        print(f"test-split AUROC of frame loudness: {report['loudness_auroc']:.3f}; "
              f"of a linear model on log-mel frames: {report['linear_auroc']:.3f}")
    return 0


def cmd_train(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Train the detector for every seed of the profile."""
    from .train import train_all

    seeds = [args.seed] if args.seed is not None else None
    validate = None if args.validate is None else args.validate
    for path in train_all(cfg, store, seeds, validate, args.save_errors):
        print(f"model: {path}")
    return 0


def cmd_predict(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Predict per-frame probabilities for the validation and test songs."""
    from .evaluate import predict_all

    seeds = [args.seed] if args.seed is not None else None
    for path in predict_all(store, args.splits.split(","), seeds):
        print(f"predictions: {path}")
    return 0


def cmd_eval(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Evaluate the predictions: threshold on validation, metrics on test."""
    from .evaluate import evaluate_all

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


def cmd_run(args: argparse.Namespace, cfg: Config, store: Store) -> int:
    """Run every stage in order; finished stages are skipped."""
    stages: list[tuple[str, Callable[[], int | None]]] = [
        ("corpus", lambda: cmd_corpus(argparse.Namespace(check=False), cfg, store)),
        ("train", lambda: cmd_train(argparse.Namespace(seed=None, validate=None,
                                                       save_errors=False), cfg, store)),
        ("predict", lambda: cmd_predict(argparse.Namespace(splits="valid,test", seed=None),
                                        cfg, store)),
        ("eval", lambda: cmd_eval(argparse.Namespace(auroc=True, threshold=None), cfg, store)),
    ]
    for name, stage in stages:
        print(f"== svd {name} (profile {cfg.profile})", flush=True)
        stage()
    return 0


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
