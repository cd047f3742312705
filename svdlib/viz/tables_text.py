"""Tables 1 and 2 as text, with intervals and paired differences."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svdlib.viz.figures import side_by_side


def format_table1(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1 for display: ours with its song-level 95 % interval next to the paper.

    Beside LIME's rate: the energy ranking's at the same k and the paired difference
    norm-based − LIME with its interval and the within-song sign-flip test's p-value.
    """
    return side_by_side(table, lambda r: {
        ("LIME",): _ci_text(r["LIME %"], r["ci_low"], r["ci_high"], r["n_pairs"],
                            r.get("n_songs")),
        ("paper",): f"{r['paper %']:.0f} %",
        ("norm-based",): _ci_text(r["norm-based %"], r["norm-based ci_low"],
                                  r["norm-based ci_high"]),
        ("norm − LIME",): _difference_text(r)})


def format_table2(table: pd.DataFrame) -> pd.DataFrame:
    """Table 2 for display: LIME vs norm-based, ours with intervals next to the paper."""
    def cells(r: pd.Series) -> dict:
        out = {}
        for method in ("LIME", "norm-based"):
            out[(method, "ours")] = _ci_text(r[f"{method} %"], r[f"{method} ci_low"],
                                             r[f"{method} ci_high"],
                                             r["n_pairs"] if method == "LIME" else None,
                                             r.get("n_songs") if method == "LIME" else None)
            out[(method, "paper")] = f"{r[f'paper {method} %']:.0f} %"
        out[("norm − LIME", "ours")] = _difference_text(r)
        return out

    return side_by_side(table, cells)


def _ci_text(value: float, low: float, high: float, n: int | None = None,
             songs: int | None = None) -> str:
    if not np.isfinite(value):
        return "– (no pairs)"
    text = f"{value:.0f} % [{low:.0f}, {high:.0f}]"
    if n is not None:
        text += f" ({int(n)} pair{'' if int(n) == 1 else 's'}"
        if songs is not None:
            text += f", {int(songs)} song{'' if int(songs) == 1 else 's'}"
        text += ")"
    return text


def _difference_text(r: pd.Series) -> str:
    if "difference" not in r or not np.isfinite(r["difference"]):
        return "–"
    return (f"{r['difference']:+.0f} [{r['diff_ci_low']:+.0f}, {r['diff_ci_high']:+.0f}], "
            f"p = {r['p_value']:.2g}")
