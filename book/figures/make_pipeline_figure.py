"""Draw the book's pipeline figure (``book/figures/pipeline.svg``) with matplotlib.

Run ``.venv/bin/python book/figures/make_pipeline_figure.py`` after changing it; the SVG is
committed (text is converted to paths, so it looks the same everywhere).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

HERE = Path(__file__).resolve().parent

# (key, x centre, y centre, title, detail, colour)
BOXES = [
    ("corpus", 1.3, 3.0, "Corpus", "Jamendo layout\n(embedded synthetic\nsongs by default)",
     "#e8eef7"),
    ("model", 4.0, 3.0, "Voice detector", "CNN on 115 × 80 log-mel\nexcerpts → P(sing)",
     "#e8eef7"),
    ("attack", 6.7, 3.0, "Adversarial attacks", "waveform | spectrogram:\nflip every frame",
     "#fbe9e7"),
    ("picks", 9.4, 3.0, "Picked excerpts", "(original, adversarial)\npairs whose label\nflipped",
     "#fbe9e7"),
    ("horses", 1.3, 0.9, "Horses", "drawn spectrogram\nedits: no sing → sing", "#fbe9e7"),
    ("lime", 4.0, 0.9, "LIME", "5 × 4 time-frequency\nsegments, mean baseline", "#e9f5ea"),
    ("compare", 6.7, 0.9, "Veracity tests", "flip counts (Fig. 2, Tab. 1–2)\nsubset perturbations "
     "(Fig. 3)\nfidelity (Fig. 4)", "#fff5d6"),
    ("truth", 9.4, 0.9, "Known cause", "the perturbation:\nits energy per segment", "#fbe9e7"),
]
ARROWS = [
    ("corpus", "model"), ("model", "attack"), ("attack", "picks"), ("picks", "lime"),
    ("picks", "truth"), ("horses", "lime"), ("lime", "compare"), ("truth", "compare"),
]
WIDTH, HEIGHT = 2.4, 1.45


def _anchor(box: tuple, other: tuple) -> tuple[float, float]:
    """The point on ``box``'s border facing ``other``."""
    _, x, y, *_ = box
    _, ox, oy, *_ = other
    if abs(oy - y) < 0.1:
        return (x + WIDTH / 2 * (1 if ox > x else -1), y)
    return (x, y + HEIGHT / 2 * (1 if oy > y else -1))


def draw(path: Path) -> None:
    """Draw the figure and save it to ``path``."""
    plt.rcParams.update({"svg.fonttype": "path", "font.family": "DejaVu Sans"})
    fig, ax = plt.subplots(figsize=(10.7, 4.1))
    ax.set_xlim(0, 10.7)
    ax.set_ylim(-0.05, 4.05)
    ax.axis("off")
    boxes = {b[0]: b for b in BOXES}
    for key, x, y, title, detail, colour in BOXES:
        del key
        ax.add_patch(FancyBboxPatch((x - WIDTH / 2, y - HEIGHT / 2), WIDTH, HEIGHT,
                                    boxstyle="round,pad=0.02,rounding_size=0.12",
                                    facecolor=colour, edgecolor="#44546a", linewidth=1.2))
        ax.text(x, y + HEIGHT / 2 - 0.22, title, ha="center", va="center", fontsize=11,
                fontweight="bold", color="#1f2d3d")
        ax.text(x, y - 0.12, detail, ha="center", va="center", fontsize=8.6, color="#2b2b2b",
                linespacing=1.3)
    for start, end in ARROWS:
        a, b = boxes[start], boxes[end]
        if start == "picks" and end == "lime":
            posa, posb = (a[1] - 0.8, a[2] - HEIGHT / 2), (b[1] + 0.5, b[2] + HEIGHT / 2)
        else:
            posa, posb = _anchor(a, b), _anchor(b, a)
        ax.add_patch(FancyArrowPatch(posa, posb, arrowstyle="-|>", mutation_scale=14,
                                     linewidth=1.3, color="#44546a", shrinkA=2, shrinkB=2))
    ax.text(5.35, 3.95, "Does LIME point at the perturbation that flipped the label?",
            ha="center", va="center", fontsize=11.5, style="italic", color="#1f2d3d")
    fig.savefig(path, bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)


if __name__ == "__main__":
    draw(HERE / "pipeline.svg")
