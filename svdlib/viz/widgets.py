"""An interactive explorer of the explanations of adversarial excerpts (ipywidgets).

Choose an attack, a direction, a pair, an explainer and k; see the original, the adversarial
excerpt and the perturbation, the explainer's relevances on the 5 × 4 grid next to the
perturbation energy, the k segments each selects and what the detector says when only those
carry the perturbation; and listen to the original, the adversarial excerpt and the two
partial versions. In a static page (the
built book) the widgets render from their embedded state with the first selection; a static
figure is shown as well, for readers without JavaScript.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from svdlib.audio.io import load_audio
from svdlib.explain.segments import Segmentation
from svdlib.veracity.flips import is_flipped
from svdlib.veracity.tables import DIRECTION_NAMES, DOMAIN_NAMES
from svdlib.viz.benchmark import method_name
from svdlib.viz.figures import explanation_grid, style


@dataclass
class PairView:
    """Everything the explorer shows for one pair and one k."""

    domain: str
    target: int
    index: int
    k: int
    song: str
    frame: int
    original: np.ndarray
    adversarial: np.ndarray
    weights: np.ndarray
    energy: np.ndarray
    explainer_ids: np.ndarray
    energy_ids: np.ndarray
    p_original: float
    p_adversarial: float
    p_explainer: float
    p_energy: float
    fidelity: float
    threshold: float
    explainer: str = "LIME (paper)"
    signed: bool = True

    @property
    def label(self) -> str:
        """The explainer's display name."""
        return method_name(self.explainer)

    @property
    def delta(self) -> np.ndarray:
        """The log-mel perturbation."""
        return self.adversarial - self.original


def pair_figure(view: PairView, segmentation: Segmentation) -> plt.Figure:
    """Original, adversarial, perturbation; LIME weights and perturbation energy on the grid."""
    style()
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.6))
    limits = (min(view.original.min(), view.adversarial.min()),
              max(view.original.max(), view.adversarial.max()))
    for ax, image, title in ((axes[0, 0], view.original, f"original, P(sing) = "
                              f"{view.p_original:.2f}"),
                             (axes[0, 1], view.adversarial, f"adversarial, P(sing) = "
                              f"{view.p_adversarial:.2f}")):
        ax.imshow(image.T, origin="lower", aspect="auto", cmap="magma", vmin=limits[0],
                  vmax=limits[1])
        ax.set_title(title, fontsize=10)
    bound = float(np.abs(view.delta).max()) or 1.0
    axes[0, 2].imshow(view.delta.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-bound,
                      vmax=bound)
    axes[0, 2].set_title("perturbation δ (log-mel)", fontsize=10)
    for ax in axes[0]:
        ax.grid(False)
        ax.set_xlabel("frame")
        ax.set_ylabel("mel band")
        for t in segmentation.time_borders[1:-1]:
            ax.axvline(t - 0.5, color="white", linewidth=0.5, alpha=0.7)
        for b in segmentation.freq_borders[1:-1]:
            ax.axhline(b - 0.5, color="white", linewidth=0.5, alpha=0.7)
    flip = {True: "flips", False: "does not flip"}
    what = "relevance (\"sing\")" if view.signed else "|relevance|"
    score = f", fidelity {view.fidelity:.2f}" if np.isfinite(view.fidelity) else ""
    explanation_grid(view.weights, segmentation, axes[1, 0],
                     highlight=view.explainer_ids.tolist(), title=f"{view.label} {what}{score}")
    energy = view.energy / max(float(view.energy.max()), 1e-12)
    explanation_grid(energy, segmentation, axes[1, 1], highlight=view.energy_ids.tolist(),
                     title="perturbation energy (relative)")
    ax = axes[1, 2]
    names = ["original", "adversarial", f"{view.label} top-{view.k}", f"energy top-{view.k}"]
    values = [view.p_original, view.p_adversarial, view.p_explainer, view.p_energy]
    ax.barh(names[::-1], values[::-1], color=["0.6", "C3", "C0", "C1"][::-1])
    ax.axvline(view.threshold, color="k", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(sing)")
    mine = bool(is_flipped(view.p_explainer, view.target, view.threshold))
    energy_flips = bool(is_flipped(view.p_energy, view.target, view.threshold))
    ax.set_title(f"{view.label} {flip[mine]}, energy {flip[energy_flips]}", fontsize=10)
    fig.suptitle(f"{DOMAIN_NAMES[view.domain]} attack, {DIRECTION_NAMES[view.target]}: pair "
                 f"{view.index} ('{view.song}', frame {view.frame}), k = {view.k}", fontsize=11)
    fig.tight_layout()
    return fig


@functools.lru_cache(maxsize=8)
def song_stft(path: str, sample_rate: int, frame_len: int, hop: int) -> np.ndarray:
    """The complex STFT of a whole song, frames first (cached for the last eight songs).

    Parameters
    ----------
    path : str
        The audio file.
    sample_rate : int
        The rate it is read at.
    frame_len, hop : int
        The STFT's frame length and hop, in samples.

    Returns
    -------
    numpy.ndarray
        ``(frames, frame_len // 2 + 1)`` complex values.
    """
    signal = torch.from_numpy(load_audio(path, sample_rate))
    window = torch.hann_window(frame_len, periodic=True)
    return torch.stft(signal, frame_len, hop, frame_len, window, center=True, pad_mode="reflect",
                      return_complex=True).T.numpy()


def explainers_figure(views: list[PairView], segmentation: Segmentation) -> plt.Figure:
    """One pair through every explainer: each one's relevances, its top k, flip or not."""
    style()
    columns = min(len(views), 4)
    rows = -(-len(views) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.9 * columns, 2.5 * rows), squeeze=False)
    for ax, view in zip(axes.ravel(), views, strict=False):
        flips = bool(is_flipped(view.p_explainer, view.target, view.threshold))
        explanation_grid(view.weights, segmentation, ax, highlight=view.explainer_ids.tolist(),
                         title=f"{view.label}: top-{view.k} "
                               f"{'flips' if flips else 'does not flip'}")
        ax.title.set_fontsize(9)
    for ax in axes.ravel()[len(views):]:
        ax.set_visible(False)
    first = views[0]
    fig.suptitle(f"{DOMAIN_NAMES[first.domain]} attack, {DIRECTION_NAMES[first.target]}: pair "
                 f"{first.index} ('{first.song}', frame {first.frame}), each explainer's top "
                 f"{first.k} outlined", fontsize=10)
    fig.tight_layout()
    return fig
