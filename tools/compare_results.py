"""Compare every CSV table of two runs, to tell whether the numbers are unchanged.

Usage::

    python tools/compare_results.py BEFORE AFTER [--profile quick]

BEFORE and AFTER are experiments folders (``results/experiments/quick-<key>``) or results
roots, in which case the newest ``experiments/<profile>-*`` folder is taken. Every CSV of either
folder is compared cell by cell: the same files, the same columns, the same rows and exactly
equal values (NaN equals NaN). Columns that hold wall-clock times (``seconds``,
``seconds_per_explanation``, ``s / explanation``) are left out and named, since no two runs take
the same time. Exits 0 when everything is identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TIMING_COLUMNS = ("seconds", "seconds_per_explanation", "s / explanation")


def experiments_folder(path: Path, profile: str) -> Path:
    """The folder itself if it holds CSVs, else the newest ``experiments/<profile>-*``."""
    if any(path.glob("*.csv")):
        return path
    candidates = sorted((path / "experiments").glob(f"{profile}-*"),
                        key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise SystemExit(f"compare_results: no CSV in '{path}' and no "
                         f"'{path / 'experiments'}/{profile}-*' folder")
    return candidates[-1]


def compare_table(before: pd.DataFrame, after: pd.DataFrame) -> list[str]:
    """The differences between two tables, one line each (empty when identical)."""
    problems = []
    if list(before.columns) != list(after.columns):
        return [f"columns differ: {list(before.columns)} vs {list(after.columns)}"]
    if len(before) != len(after):
        return [f"{len(before)} rows vs {len(after)}"]
    for column in before.columns:
        if column in TIMING_COLUMNS:
            continue
        a, b = before[column], after[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(float), b.to_numpy(float)
            same = (x == y) | (np.isnan(x) & np.isnan(y))
            if not same.all():
                gap = np.nanmax(np.abs(x - y)[~same]) if np.isfinite(x - y)[~same].any() \
                    else float("nan")
                problems.append(f"column '{column}': {int((~same).sum())} cells differ "
                                f"(largest difference {gap:g})")
        else:
            same = ((a.astype(str) == b.astype(str)) | (a.isna() & b.isna())).to_numpy()
            if not same.all():
                problems.append(f"column '{column}': {int((~same).sum())} cells differ")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Compare the CSVs of two runs; print one line per file; 0 when all are identical."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args(argv)
    before = experiments_folder(args.before, args.profile)
    after = experiments_folder(args.after, args.profile)
    names = sorted({p.name for p in before.glob("*.csv")} | {p.name for p in after.glob("*.csv")})
    print(f"before: {before}\nafter:  {after}\n(timing columns left out: "
          f"{', '.join(TIMING_COLUMNS)})")
    differing = 0
    for name in names:
        if not (before / name).is_file() or not (after / name).is_file():
            print(f"{name}: only in {'after' if (after / name).is_file() else 'before'}")
            differing += 1
            continue
        problems = compare_table(pd.read_csv(before / name), pd.read_csv(after / name))
        print(f"{name}: " + ("identical" if not problems else "; ".join(problems)))
        differing += bool(problems)
    print(f"{len(names) - differing} of {len(names)} tables identical")
    return 0 if differing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
