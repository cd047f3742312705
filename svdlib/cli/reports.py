"""What each command prints about the artifacts it made."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from svdlib.experiments.config.settings import Config
from svdlib.experiments.storage.store import Store
from svdlib.files import load_csv


def corpus(store: Store, root: Path) -> None:
    """The corpus: its folder, or an external corpus's song counts."""
    if not store.external_data:
        print(f"corpus: {root}")
        return
    from svdlib.constants import SPLITS
    from svdlib.data.jamendo import read_filelist
    from svdlib.experiments.storage.store import corpus_layout

    layout = corpus_layout(store)
    counts = {split: len(read_filelist(layout, split)) for split in SPLITS}
    print(f"external corpus {layout.root}: " +
          ", ".join(f"{n} {split}" for split, n in counts.items()))


def paths(label: str, files: list[Path]) -> None:
    """One line per file."""
    for path in files:
        print(f"{label}: {path}")


def trained(store: Store, files: list[Path]) -> None:
    """The trained detectors, or why nothing was trained (a given detector)."""
    if store.given_model() is not None:
        from svdlib.experiments.artifacts.training import skip_line

        print(skip_line(store))
        return
    paths("model", files)


def evaluation(store: Store, report: dict, auroc: bool) -> None:
    """Per-seed test metrics and their mean ± std (one detector: its values)."""
    for run in report["runs"]:
        who = f"given {run['detector']}" if run.get("detector") else f"seed {run['seed']}"
        line = (f"{who}: thr {run['threshold']:.2f}, "
                f"prec {100 * run['precision']:.2f}, rec {100 * run['recall']:.2f}, "
                f"spec {100 * run['specificity']:.2f}, f1 {100 * run['f1']:.2f}, "
                f"err {100 * run['error']:.2f}")
        if auroc:
            line += f", auroc {100 * run['auroc']:.2f}"
        print(line)
    line = report["line"]
    if not auroc:
        line = line.split(", auroc")[0]
    print(f"test set of {'the external corpus' if store.external_data else 'the embedded corpus'}"
          f", {line}")


def attack(cfg: Config, domain: str, folder: Path) -> None:
    """An attack's success and distortion."""
    from svdlib.attacks.records import read_log
    from svdlib.attacks.statistics import overall_statistics

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


def picks(store: Store, domain: str, target: int, path: Path) -> None:
    """A setting's picked pairs."""
    from svdlib.experiments.artifacts.picks import load_picks

    chosen = load_picks(store, domain, target)
    print(f"pick {domain} t{target}: {len(chosen)} pairs from "
          f"{len(set(chosen.songs.tolist()))} songs -> {path}")


def explanations(store: Store, domain: str, target: int, path: Path) -> None:
    """A setting's explanations and their mean fidelity."""
    from svdlib.experiments.artifacts.explanations import stacked_weights

    _, fidelity = stacked_weights(store, domain, target, "adv")
    mean = f"{fidelity.mean():.3f}" if len(fidelity) else "n/a"
    print(f"explain {domain} t{target}: {len(fidelity)} pairs, mean fidelity of the "
          f"adversarial explanations {mean} -> {path}")


def horses(cfg: Config, store: Store, path: str) -> None:
    """Every horse: found or not, and whether LIME points at it."""
    from svdlib.experiments.artifacts.horses import load_horses
    from svdlib.experiments.config.factories import segmentation_from
    from svdlib.veracity.horses import SHAPES, horse_found

    segmentation = segmentation_from(cfg.lime)
    made = load_horses(store)
    threshold = cfg.evaluate.threshold
    for horse in made:
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
        count = sum(h.flipped for h in made if h.shape == shape)
        if 0 < count < wanted:
            print(f"horse {shape:9s}: {count} of {wanted} found")
        elif not any(h.shape == shape for h in made):
            print(f"horse {shape:9s} NOT FOUND: no excerpt left to draw it into")
    print(f"horses: {path}")


def experiment(store: Store, name: str, tables: dict[str, Path],
               figures: dict[str, list[Path]]) -> None:
    """Tables 1 and 2 as text, then every table and figure file."""
    from svdlib.experiments.artifacts.tables import load_table
    from svdlib.viz.tables_text import format_table1, format_table2

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        if name in ("table1", "flip_counts", "all"):
            print("Table 1: % flipped by the 3 most relevant LIME segments (95 % CI), vs paper")
            print(format_table1(load_table(store, "table1")).to_string())
        if name in ("table2", "all"):
            print("Table 2: all positively relevant LIME segments vs as many highest-energy "
                  "segments")
            print(format_table2(load_table(store, "table2")).to_string())
    for table, path in tables.items():
        print(f"table {table}: {path}")
    for figure, files in figures.items():
        print(f"{figure}: {files[0]}")


def benchmark(paths: dict[str, Path]) -> None:
    """The ranked table of every setting (Table 1 rate with its interval, and the rest)."""
    table = load_csv(paths["benchmark"])
    columns = ["method", "percent", "ci_low", "ci_high", "area_vs_energy", "table2 %",
               "subset recovery %", "contains smallest %", "s / explanation"]
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.1f}".format):
        for (domain, target), rows in table.groupby(["domain", "target"], sort=False):
            print(f"benchmark {domain} t{target}: % flipped by each explainer's top k "
                  "segments (95 % CI over songs)")
            print(rows[[c for c in columns if c in rows]].to_string(index=False))
    for name, path in paths.items():
        print(f"table {name}: {path}")


def proxies(paths: dict[str, Path]) -> None:
    """The τ table: each metric's agreement with the planted truth, per setting and pooled."""
    table = load_csv(paths["proxies"])
    columns = ["metric", "mean_tau", "ci_low", "ci_high", "n_pairs", "n_songs", "n_nan",
               "verdict"]
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.2f}".format):
        for (domain, target), rows in table.groupby(["domain", "target"], sort=False):
            where = "all settings" if domain == "all" else f"{domain} t{target}"
            print(f"proxies {where}: Kendall's tau of each metric's order of the explainers "
                  "with the planted truth's (95 % CI over songs)")
            print(rows[columns].to_string(index=False))
    for name, path in paths.items():
        print(f"table {name}: {path}")
