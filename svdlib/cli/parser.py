"""The argument parser of ``svd``: one subcommand per stage, the same options on each."""

from __future__ import annotations

import argparse

from svdlib.cli import commands

#: What ``svd --help`` says first (the first line of the package's docstring).
DESCRIPTION = "The ``svd`` command: every stage of the reproduction, driven by one profile."


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration")
    group.add_argument("--profile", default="quick",
                       help="profile name (tiny, quick, standard, paper) or path to a YAML file")
    group.add_argument("--results", default=None,
                       help="results root (default: the profile's paths.results, or $SVD_RESULTS)")
    group.add_argument("--data", default=None,
                       help="a corpus in the Jamendo layout instead of the embedded one "
                            "(default: the profile's paths.data, or $SVD_DATA)")
    group.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a configuration value, e.g. "
                       "train.epochs=2 (repeatable)")
    group.add_argument("--model", default=None, metavar="PATH",
                       help="use this detector instead of training one: an svdlib "
                            "model.safetensors or the original's model.pt (model.checkpoint)")
    group.add_argument("--vars", default=None, metavar="PATH",
                       help="apply an original .vars file (e.g. the released model.vars: front "
                            "end, architecture); --set wins over it")
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


def _detector_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="generate the embedded corpus (Jamendo layout)")
    p.add_argument("--check", action="store_true",
                   help="also list the songs a stage cannot use (too short, no labels) and "
                        "report how well loudness and a linear model separate the classes")
    p.set_defaults(handler=commands.cmd_corpus)

    p = sub.add_parser("train", help="train the singing voice detector")
    p.add_argument("--seed", type=int, default=None, help="train only this seed")
    p.add_argument("--validate", dest="validate", action="store_true", default=None,
                   help="validate after every epoch (default: train.validate)")
    p.add_argument("--no-validate", dest="validate", action="store_false")
    p.add_argument("--save-errors", action="store_true",
                   help="also write per-epoch losses as .err.npz files")
    p.set_defaults(handler=commands.cmd_train)

    p = sub.add_parser("predict", help="per-frame predictions for validation and test songs")
    p.add_argument("--splits", default="valid,test", help="comma-separated splits")
    p.add_argument("--seed", type=int, default=None, help="only this seed")
    p.set_defaults(handler=commands.cmd_predict)

    p = sub.add_parser("eval", help="error, recall, specificity (and AUROC) on the test set")
    p.add_argument("--auroc", action="store_true", help="also report the AUROC")
    p.add_argument("--threshold", type=float, default=None,
                   help="fixed threshold instead of the best one on validation")
    p.set_defaults(handler=commands.cmd_eval)


def _veracity_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attack", help="adversarial songs: whole-song attacks flipping every "
                       "frame's prediction")
    p.add_argument("--domain", default="both",
                   help="wave (perturb the samples), spec (perturb the STFT magnitudes) or both")
    p.add_argument("--subset", default=None,
                   help="test or valid (default: the profile's attack.subset)")
    p.add_argument("--threshold", type=float, default=None,
                   help="decision threshold, p > threshold is 'sing' (default: the profile's "
                        "evaluate.threshold, 0.51 in the paper)")
    p.set_defaults(handler=commands.cmd_attack)

    for name, handler, text in (("pick", commands.cmd_pick,
                                 "pick successful adversarial excerpts"),
                                ("explain", commands.cmd_explain, "LIME on the picked pairs")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--domain", default="both", help="wave, spec or both")
        p.add_argument("--target", default="both",
                       help="1 (no sing -> sing), 0 (sing -> no sing) or both")
        if name == "explain":
            p.add_argument("--horses", action="store_true", help="explain the horses instead")
        p.set_defaults(handler=handler)

    p = sub.add_parser("horses", help="draw shapes that flip 'no sing' to 'sing'; explain them")
    p.set_defaults(handler=commands.cmd_horses)

    p = sub.add_parser("benchmark", help="which explainer tells the truth: every explainer on "
                       "the picked pairs, beside chance and attainable")
    p.add_argument("--explainers", default=None,
                   help="comma-separated (default: the profile's benchmark.explainers)")
    p.set_defaults(handler=commands.cmd_benchmark)

    p = sub.add_parser("proxies", help="which faithfulness metric can you trust: proxy metrics "
                       "of the benchmark's explanations, judged by the planted truth")
    p.set_defaults(handler=commands.cmd_proxies)

    p = sub.add_parser("experiment", help="the paper's experiments: tables and figures")
    p.add_argument("name", nargs="?", default="all", help=" | ".join(commands.EXPERIMENTS))
    p.set_defaults(handler=commands.cmd_experiment)


def _book_commands(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="run N notebooks at once (run.book_jobs; default: two where two CPUs "
                        "allow; 1: one after the other)")
    p.add_argument("--cell-progress", action="store_true",
                   help="show papermill's per-cell progress bar (notebooks then run one at a time)")
    p.add_argument("--cell-timeout", type=float, default=None, metavar="SECONDS",
                   help="a cell running longer stops its notebook, which then runs once more "
                        "(default on the quick and tiny profiles: 5 times the notebook's "
                        "expected time, at least 300 s; none on others; 0: no limit)")
    p.set_defaults(handler=commands.cmd_book)

    p = sub.add_parser("run", help="run every stage in order (skipping finished ones)")
    p.set_defaults(handler=commands.cmd_run)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``svd`` with all subcommands."""
    parser = argparse.ArgumentParser(prog="svd", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _detector_commands(sub)
    _veracity_commands(sub)
    _book_commands(sub)
    for choice in sub.choices.values():
        _common(choice)
    return parser
